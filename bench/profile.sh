#!/usr/bin/env bash
# Where the gateway's time goes on the hot path (issue 10).
#   bench/profile.sh [perf|callgrind] [profile]      (default: perf embedded)
# perf: samples the gateway (user and kernel, 999 Hz, no call graphs: no frame pointers) under oha load at c=64 for PROFILE_SECONDS and
#   prints self time by function and by crate. callgrind: runs the gateway under valgrind and
#   counts instructions for PROFILE_REQUESTS calls at c=1 (stable on a noisy machine).
# Output goes to stdout and to $PROFILE_OUT (default /tmp/llmp-profile-<tool>-<profile>).
# Env as in run.sh (BENCH_NO_BUILD=1, BENCH_PG_URL, BENCH_REDIS_URL); PROFILE_SECONDS=15,
# PROFILE_REQUESTS=5000, PROFILE_BODY=json|sse.
set -euo pipefail
cd "$(dirname "$0")/.."
TOOL="${1:-perf}"; PROFILE="${2:-embedded}"
PROFILE_SECONDS="${PROFILE_SECONDS:-15}"; PROFILE_REQUESTS="${PROFILE_REQUESTS:-5000}"
PROFILE_BODY="${PROFILE_BODY:-json}"
PROFILE_OUT="${PROFILE_OUT:-/tmp/llmp-profile-$TOOL-$PROFILE-$PROFILE_BODY}"
MAX_CONCURRENT=4096; DURATION=2s; REPEATS=1
for v in $(compgen -e | grep '^LLM_PROXY_' || true); do unset "$v"; done

WORK="$(mktemp -d -t llmp-profile.XXXXXX)"; OUT="$WORK/out"; mkdir -p "$OUT" "$PROFILE_OUT"
source bench/lib/common.sh
trap cleanup EXIT
trap 'exit 130' INT TERM
source bench/lib/gateway.sh
source bench/lib/measure.sh

need python3 "install python3"
case "$TOOL" in
  perf) need perf "apt-get install -y linux-perf" ;;
  callgrind) need valgrind "apt-get install -y valgrind"; need callgrind_control "apt-get install -y valgrind" ;;
  *) die "unknown tool $TOOL (perf or callgrind)" ;;
esac
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/llm-proxy-target}"
OHA="$(command -v oha || echo "$HOME/.cache/llm-proxy-tools/bin/oha")"
[ -x "$OHA" ] || die "oha is missing: run bench/run.sh once (it installs oha)"
if [ -z "${BENCH_NO_BUILD:-}" ]; then
  cargo build --release -q -p llm-proxy -p llm-proxy-bench || die "cargo build --release failed"
fi
BIN="$CARGO_TARGET_DIR/release"

UP_PORT="$(free_port)"
spawn upstream "$BIN/bench-upstream" "$UP_PORT" 64 0 1
sleep 0.5
body="$BODY"; [ "$PROFILE_BODY" = sse ] && body="$SBODY"

if [ "$TOOL" = callgrind ]; then
  # The gateway itself runs under valgrind: the same start as run.sh with a wrapper.
  real_bin="$BIN"; wrap="$WORK/bin"; mkdir -p "$wrap"
  printf '#!/bin/sh\nexec valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=%s/callgrind.out.%%p %s/llm-proxy "$@"\n' \
    "$PROFILE_OUT" "$real_bin" >"$wrap/llm-proxy"
  chmod +x "$wrap/llm-proxy"; BIN="$wrap"
fi
start_profile "$PROFILE"
BIN="${real_bin:-$BIN}"
oha_run "$OUT/warm.json" 3s 8 "$body" "$GW_URL$CHAT" "Authorization: Bearer $TOKEN"

if [ "$TOOL" = perf ]; then
  t0="$(cpu_ticks "$GW_PID")"; u0="$(awk '{print $14}' "/proc/$GW_PID/stat")"
  perf record -F 999 -o "$PROFILE_OUT/perf.data" -p "$GW_PID" -- sleep "$PROFILE_SECONDS" \
    >"$OUT/perf.log" 2>&1 &
  perf_pid=$!; PIDS+=("$perf_pid")
  oha_run "$OUT/load.json" "${PROFILE_SECONDS}s" 64 "$body" "$GW_URL$CHAT" "Authorization: Bearer $TOKEN"
  wait "$perf_pid" || true
  t1="$(cpu_ticks "$GW_PID")"; u1="$(awk '{print $14}' "/proc/$GW_PID/stat")"
  requests="$(python3 -c 'import json,sys; print(sum(json.load(open(sys.argv[1]))["statusCodeDistribution"].values()))' "$OUT/load.json")"
  perf report -i "$PROFILE_OUT/perf.data" --no-children --sort symbol --stdio \
    --percent-limit 0.3 2>/dev/null | grep -v '^#' | sed '/^$/d; s/[[:space:]-]*$//' | cut -c1-170 \
    >"$PROFILE_OUT/flat.txt"
  perf report -i "$PROFILE_OUT/perf.data" --no-children --sort dso,symbol --stdio \
    2>/dev/null | grep -v '^#' | sed '/^$/d' >"$PROFILE_OUT/all.txt"
  echo "requests: $requests; gateway CPU $(( t1 - t0 )) ticks ($(( u1 - u0 )) user) at $(getconf CLK_TCK)/s"
  python3 bench/perf_groups.py "$PROFILE_OUT/all.txt" "$requests" "$(( t1 - t0 ))" "$(( u1 - u0 ))"
  echo; echo "top functions (self):"; head -40 "$PROFILE_OUT/flat.txt"
else
  callgrind_control -i on "$GW_PID" >/dev/null || die "callgrind_control could not reach the gateway"
  timeout 600 "$OHA" --no-tui --output-format json -n "$PROFILE_REQUESTS" -c 1 -t 30s -m POST -H 'Content-Type: application/json' \
    -H "Authorization: Bearer $TOKEN" -d "$body" "$GW_URL$CHAT" >"$OUT/load.json" || die "oha failed"
  callgrind_control -i off "$GW_PID" >/dev/null
  callgrind_control -d "$GW_PID" >/dev/null
  sleep 1
  stop_pid "$GW_PID"
  # Only the dump taken after the load: instrumentation was off before and after it.
  files=("$PROFILE_OUT"/callgrind.out.*.*)
  callgrind_annotate --inclusive=no "${files[@]}" 2>/dev/null | cut -c1-200 | sed -n 1,70p >"$PROFILE_OUT/self.txt"
  callgrind_annotate --inclusive=yes "${files[@]}" 2>/dev/null | cut -c1-200 | sed -n 1,150p >"$PROFILE_OUT/inclusive.txt"
  total="$(grep -m1 'PROGRAM TOTALS' "$PROFILE_OUT/self.txt" | awk '{gsub(",","",$1); print $1}')"
  case "$total" in ''|*[!0-9]*) die "callgrind collected nothing (see $PROFILE_OUT)" ;; esac
  echo "instructions for $PROFILE_REQUESTS calls: $total (~$(( total / PROFILE_REQUESTS )) per call); answers: $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["statusCodeDistribution"])' "$OUT/load.json")"
  cat "$PROFILE_OUT/self.txt"
fi
echo "(raw data in $PROFILE_OUT)"
