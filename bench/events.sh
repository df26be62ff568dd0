#!/usr/bin/env bash
# The event pipeline alone (issue 6), for before/after comparisons:
#   bench/events.sh [drain] [embedded]        (default: both)
# drain:    `llm-proxy admin` + `llm-proxy proxy` (distributed, throwaway Postgres database and
#           Redis prefix); EVENTS_N calls leave a backlog in the stream, then one `llm-proxy
#           dispatcher` (file sink, daily JSONL) drains it: events/s, DRAIN_REPEATS times.
# embedded: `llm-proxy up` at c=64 for DURATION: calls, then how long until the file sink has
#           all of them, and its delivered/spilled/replayed/dropped counters.
# Env: EVENTS_FILLER=oha|bench-stream EVENTS_N=50000 DRAIN_REPEATS=3 DURATION=10s MAX_CONCURRENT=4096 BIN=<dir of binaries>
#      BENCH_PG_URL BENCH_REDIS_URL BENCH_NO_BUILD=1 KEEP_WORK=1
set -euo pipefail
cd "$(dirname "$0")/.."
MODES="${*:-drain embedded}"
EVENTS_N="${EVENTS_N:-50000}"; DRAIN_REPEATS="${DRAIN_REPEATS:-3}"; DURATION="${DURATION:-10s}"
MAX_CONCURRENT="${MAX_CONCURRENT:-4096}"
for v in $(compgen -e | grep '^LLM_PROXY_' || true); do unset "$v"; done

WORK="$(mktemp -d -t llmp-events.XXXXXX)"; OUT="$WORK/out"; mkdir -p "$OUT"
# shellcheck source=bench/lib/common.sh
source bench/lib/common.sh
trap cleanup EXIT
trap 'exit 130' INT TERM
source bench/lib/gateway.sh
source bench/lib/measure.sh
source bench/lib/events.sh

need python3 "install python3"; need curl "apt-get install -y curl"
need psql "apt-get install -y postgresql-client"; need redis-cli "apt-get install -y redis-tools"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/llm-proxy-target}"
OHA="${OHA:-$(command -v oha || echo "$HOME/.cache/llm-proxy-tools/bin/oha")}"
[ -x "$OHA" ] || { EVENTS_FILLER=bench-stream; say "no oha (bench/run.sh installs it): drain fills with bench-stream"; }
if [ -z "${BENCH_NO_BUILD:-}" ] && [ -z "${BIN:-}" ]; then
  say "building release binaries (llm-proxy, bench-upstream)"
  cargo build --release -q -p llm-proxy -p llm-proxy-bench || die "cargo build --release failed"
fi
BIN="${BIN:-$CARGO_TARGET_DIR/release}"
for b in llm-proxy bench-upstream bench-stream; do [ -x "$BIN/$b" ] || die "$BIN/$b is missing"; done

UP_PORT="$(free_port)"
spawn upstream "$BIN/bench-upstream" "$UP_PORT" 64 0 1 75
for _ in $(seq 1 100); do
  curl -sf -o /dev/null -X POST -d '{}' "http://127.0.0.1:$UP_PORT$CHAT" && break; sleep 0.1
done
say "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"

for mode in $MODES; do
  case "$mode" in
    drain)
      psql "$PG_SERVER_URL" -qAtc 'select 1' >/dev/null 2>&1 || die "no Postgres at $PG_SERVER_URL"
      redis-cli -u "$REDIS_URL" ping >/dev/null 2>&1 || die "no Redis at $REDIS_URL"
      start_profile distributed
      [ "${EVENTS_FILLER:-oha}" = oha ] && warm_up
      for rep in $(seq 1 "$DRAIN_REPEATS"); do
        events_drain "$WORK/drain-$rep" "drain-$rep"
        stop_pid "$DISPATCHER_PID"
      done
      stop_profile ;;
    embedded)
      [ "${EVENTS_FILLER:-oha}" = oha ] || die "embedded needs oha"
      start_profile embedded
      events_embedded
      stop_profile ;;
    *) die "unknown mode $mode (drain, embedded)" ;;
  esac
done

# One line per fact, plus the drain rate of each repeat.
python3 - "$OUT/facts.tsv" <<'PY'
import sys
facts = {}
for line in open(sys.argv[1]):
    profile, key, value = line.rstrip("\n").split("\t")
    facts.setdefault(profile, {})[key] = value
    print(f"{profile}\t{key}\t{value}")
for profile, f in facts.items():
    if "events_drain_s" in f:
        n = int(f["events_drained"]) * float(f["events_drain_fraction"])
        cpu = int(f["events_drain_cpu_ticks"]) / 100
        print(f"{profile}: {n / float(f['events_drain_s']):,.0f} events/s "
              f"({f['events_drained']} lines; dispatcher CPU {cpu:.2f} s, "
              f"{cpu / int(f['events_drained']) * 1e6:.0f} µs per event)")
PY
say "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
