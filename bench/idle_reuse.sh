#!/usr/bin/env bash
# Does the gateway reuse upstream connections the upstream already closed? Runs a burst at
# c=64, stays idle longer than the upstream's keep-alive, runs another burst, and counts
# non-2xx answers of the second burst. Usage: bench/idle_reuse.sh [UPSTREAM_KEEP_ALIVE_SECS=5]
set -euo pipefail
cd "$(dirname "$0")/.."
KA="${1:-5}"; MAX_CONCURRENT=4096; DURATION=2s; REPEATS=1
for v in $(compgen -e | grep '^LLM_PROXY_' || true); do unset "$v"; done
WORK="$(mktemp -d -t llmp-idle.XXXXXX)"; OUT="$WORK/out"; mkdir -p "$OUT"
source bench/lib/common.sh
trap cleanup EXIT
trap 'exit 130' INT TERM
source bench/lib/gateway.sh
source bench/lib/measure.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/llm-proxy-target}"
BIN="$CARGO_TARGET_DIR/release"
OHA="$(command -v oha || echo "$HOME/.cache/llm-proxy-tools/bin/oha")"
[ -x "$OHA" ] && [ -x "$BIN/llm-proxy" ] && [ -x "$BIN/bench-upstream" ] \
  || die "run bench/run.sh once first (it builds the binaries and installs oha)"
UP_PORT="$(free_port)"
spawn upstream "$BIN/bench-upstream" "$UP_PORT" 64 0 1 "$KA"
sleep 0.5
start_profile passthrough
oha_run "$OUT/first.json" 2s 64 "$BODY" "$GW_URL$CHAT" "Authorization: Bearer $TOKEN"
IDLE="${IDLE:-$KA}"; say "idle for ${IDLE} s (upstream keep-alive ${KA} s)"
sleep "$IDLE"
oha_run "$OUT/second.json" 2s 64 "$BODY" "$GW_URL$CHAT" "Authorization: Bearer $TOKEN"
python3 - "$OUT" "$KA" <<'PY'
import json, sys
for name in ("first", "second"):
    d = json.load(open(f"{sys.argv[1]}/{name}.json"))
    print(f"upstream keep-alive {sys.argv[2]} s, {name} burst: {d['statusCodeDistribution']}")
PY
grep -m3 -i "unreachable\|breaker" "$WORK/passthrough-gateway.log" || true
