#!/usr/bin/env bash
# Gateway overhead benchmark (issues 3, 5, 6, 10). One command:
#   bench/run.sh [--record] [--quick] [--profiles "passthrough embedded distributed distributed-nopub"]
# Starts a fast fake OpenAI upstream, the gateway in each profile (see bench/lib/gateway.sh),
# drives load with oha and bench-stream, and prints the tables; --record appends them to
# bench/RESULTS.md with date, commit and machine. Everything runs on 127.0.0.1, every run is
# bounded in time, and every process started here is stopped on exit (by PID).
# Env: DURATION=5s REPEATS=3 CONCURRENCY="1 16 64 256" SSE_CONCURRENCY="1 64"
#      NOPUB_CONCURRENCY="1 64" PACED_C=32 PACED_N=96 PACED_RAMP_MS=1000 HOLD_STREAMS=2000 EVENTS_N=50000
#      MAX_CONCURRENT=4096 UPSTREAM_KEEP_ALIVE=75 BENCH_PG_URL BENCH_REDIS_URL BENCH_NO_BUILD=1
#      KEEP_WORK=1 (keep the work directory; its out/ holds every raw result)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"

RECORD=0
PROFILES="passthrough embedded distributed distributed-nopub"
while [ $# -gt 0 ]; do
  case "$1" in
    --record) RECORD=1 ;;
    --quick) DURATION="${DURATION:-2s}"; REPEATS="${REPEATS:-1}"; CONCURRENCY="${CONCURRENCY:-1 64}"
             PACED_N="${PACED_N:-32}"; HOLD_STREAMS="${HOLD_STREAMS:-500}"; EVENTS_N="${EVENTS_N:-5000}" ;;
    --profiles) PROFILES="${2:?--profiles needs a list}"; shift ;;
    -h|--help) sed -n 2,13p "$0"; exit 0 ;;
    *) echo "bench: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
  shift
done
DURATION="${DURATION:-5s}"; REPEATS="${REPEATS:-3}"; CONCURRENCY="${CONCURRENCY:-1 16 64 256}"
SSE_CONCURRENCY="${SSE_CONCURRENCY:-1 64}"; NOPUB_CONCURRENCY="${NOPUB_CONCURRENCY:-1 64}"
PACED_C="${PACED_C:-32}"; PACED_N="${PACED_N:-96}"; PACED_RAMP_MS="${PACED_RAMP_MS:-1000}"; HOLD_STREAMS="${HOLD_STREAMS:-2000}"
EVENTS_N="${EVENTS_N:-50000}"; MAX_CONCURRENT="${MAX_CONCURRENT:-4096}"

# Settings come from this script only, never from the caller's environment.
for v in $(compgen -e | grep '^LLM_PROXY_' || true); do unset "$v"; done

WORK="$(mktemp -d -t llmp-bench.XXXXXX)"; OUT="$WORK/out"; mkdir -p "$OUT"
# shellcheck source=bench/lib/common.sh
source bench/lib/common.sh
trap cleanup EXIT
trap 'exit 130' INT TERM
source bench/lib/gateway.sh
source bench/lib/measure.sh
source bench/lib/events.sh

need python3 "install python3 (it reads oha's JSON and prints the tables)"
need curl "apt-get install -y curl"
need cargo "install the Rust toolchain"
case " $PROFILES " in *" distributed"*)
  need psql "apt-get install -y postgresql-client (distributed profile)"
  need redis-cli "apt-get install -y redis-tools (distributed profile)"
  psql "$PG_SERVER_URL" -qAtc 'select 1' >/dev/null 2>&1 || die "no Postgres at $PG_SERVER_URL (set BENCH_PG_URL)"
  redis-cli -u "$REDIS_URL" ping >/dev/null 2>&1 || die "no Redis at $REDIS_URL (set BENCH_REDIS_URL)"
  REDIS_PID="$(redis_pid || true)" ;;
esac
[ "$(ulimit -n)" -ge $((HOLD_STREAMS * 2 + 512)) ] || ulimit -n $((HOLD_STREAMS * 2 + 512)) 2>/dev/null \
  || die "open-file limit $(ulimit -n) is too low for $HOLD_STREAMS streams (ulimit -n)"

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/llm-proxy-target}"
TOOLS="$HOME/.cache/llm-proxy-tools"
OHA="$(command -v oha || echo "$TOOLS/bin/oha")"
if [ ! -x "$OHA" ]; then
  say "installing oha (load generator) from crates.io into $TOOLS"
  cargo install oha --locked --root "$TOOLS" >&2 || die "cannot install oha (cargo install oha)"
  OHA="$TOOLS/bin/oha"
fi
if [ -z "${BENCH_NO_BUILD:-}" ]; then
  say "building release binaries (llm-proxy, bench-upstream, bench-stream)"
  cargo build --release -q -p llm-proxy -p llm-proxy-bench || die "cargo build --release failed"
fi
BIN="$CARGO_TARGET_DIR/release"
for b in llm-proxy bench-upstream bench-stream; do
  [ -x "$BIN/$b" ] || die "$BIN/$b is missing (cargo build --release -p llm-proxy -p llm-proxy-bench)"
done

{
  printf 'date\t%s\n' "$(date -u '+%Y-%m-%d %H:%M UTC')"
  printf 'commit\t%s%s\n' "$(git rev-parse --short HEAD)" "$(git diff --quiet HEAD -- . 2>/dev/null || echo ' + uncommitted changes')"
  printf 'binary\t%s\n' "$(date -u -r "$BIN/llm-proxy" '+%Y-%m-%d %H:%M UTC')"
  printf 'cpu\t%s\n' "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
  printf 'nproc\t%s\n' "$(nproc)"
  printf 'load_start\t%s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
  printf 'repeats\t%s\n' "$REPEATS"
  printf 'duration\t%s\n' "$DURATION"
} >"$OUT/machine.tsv"
STARTED=$SECONDS

UP_PORT="$(free_port)"
UPSTREAM_KEEP_ALIVE="${UPSTREAM_KEEP_ALIVE:-75}"
spawn upstream "$BIN/bench-upstream" "$UP_PORT" 64 0 1 "$UPSTREAM_KEEP_ALIVE"
wait_http_post() {
  for _ in $(seq 1 100); do
    curl -sf -o /dev/null -X POST -d '{}' "http://127.0.0.1:$UP_PORT$CHAT" && return 0; sleep 0.1
  done
  die "the fake upstream did not start on port $UP_PORT"
}
wait_http_post

for profile in $PROFILES; do
  say "profile $profile"
  start_profile "$profile"
  sleep 1
  note "$profile" idle_rss_kb "$(rss_kb "$GW_PID")"
  warm_up
  if [ "$profile" = distributed-nopub ]; then
    matrix "$profile" json "$NOPUB_CONCURRENCY"
  else
    matrix "$profile" json "$CONCURRENCY"
    matrix "$profile" sse "$SSE_CONCURRENCY"
    note "$profile" peak_rss_kb "$(hwm_kb "$GW_PID")"
    [ "$PACED_N" -gt 0 ] && paced_streams "$profile"
    [ "$HOLD_STREAMS" -gt 0 ] && hold_streams "$profile"
    [ "$profile" = distributed ] && [ "$EVENTS_N" -gt 0 ] && events_pipeline
  fi
  scrape_metrics "$profile"
  stop_profile
done
for log in "$WORK"/*.log; do cp "$log" "$OUT/log-$(basename "$log")"; done
printf 'load_end\t%s\n' "$(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/machine.tsv"
printf 'elapsed\t%ss\n' "$((SECONDS - STARTED))" >>"$OUT/machine.tsv"

TABLES="$(python3 bench/report.py "$OUT")" || die "report.py failed on $OUT"
HEADER="$(python3 - "$OUT/machine.tsv" "$PROFILES" <<'PY'
import sys
m = dict(l.rstrip("\n").split("\t", 1) for l in open(sys.argv[1]) if "\t" in l)
print(f"## {m['date']} · commit {m['commit']} (llm-proxy binary built {m['binary']}) · {m['nproc']} cores ({m['cpu']}) · load average "
      f"{m['load_start']} at start, {m.get('load_end', '?')} at end · {m['duration']} per cell × "
      f"{m['repeats']} repeats · {m.get('elapsed', '?')} in all · profiles: {sys.argv[2]}")
PY
)"
printf '%s\n\n%s\n' "$HEADER" "$TABLES"
if [ "$RECORD" = 1 ]; then
  printf '\n%s\n\n%s\n' "$HEADER" "$TABLES" >>"$ROOT/bench/RESULTS.md"
  say "appended to bench/RESULTS.md"
fi
