#!/usr/bin/env bash
# Gateway overhead benchmark: through-gateway minus direct latency at the same concurrency, for
# non-streaming and streaming chat completions, against a fast local fake upstream.
# Usage: bench/run.sh [--record]    (env: DURATION=10s, CONCURRENCY="1 64", PROFILE=embedded)
# Everything runs on 127.0.0.1 and stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${DURATION:-10s}"
CONCURRENCY="${CONCURRENCY:-1 64}"
PROFILE="${PROFILE:-embedded}"
RECORD=0; [ "${1:-}" = "--record" ] && RECORD=1
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/llm-proxy-target}"
TOOLS="$HOME/.cache/llm-proxy-tools"

if ! command -v oha >/dev/null && [ ! -x "$TOOLS/bin/oha" ]; then
  echo "==> installing oha (load generator) from crates.io" >&2
  cargo install oha --locked --root "$TOOLS" >&2
fi
OHA="$(command -v oha || echo "$TOOLS/bin/oha")"

echo "==> building release binaries" >&2
cargo build --release -q -p llm-proxy -p llm-proxy-bench
BIN="$CARGO_TARGET_DIR/release"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
WORK="$(mktemp -d)"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

UP_PORT="$(free_port)"; GW_PORT="$(free_port)"
"$BIN/bench-upstream" "$UP_PORT" 64 0 & PIDS+=($!)
MGMT="bench-management-token-0123456789"
LLM_PROXY_DATA_DIR="$WORK/data" LLM_PROXY_SERVER__PORT="$GW_PORT" LLM_PROXY_MANAGEMENT_TOKEN="$MGMT" \
  LLM_PROXY_PROVIDERS__OPENAI__BASE_URL="http://127.0.0.1:$UP_PORT" LLM_PROXY_TELEMETRY__LEVEL=warn \
  "$BIN/llm-proxy" up >"$WORK/gateway.log" 2>&1 & GW_PID=$!; PIDS+=($GW_PID)

for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$GW_PORT/healthz" >/dev/null && break; sleep 0.1; done
PROJECT="$(curl -sf -X POST "http://127.0.0.1:$GW_PORT/manage/projects" -H "Authorization: Bearer $MGMT" \
  -H 'Content-Type: application/json' -d '{"name":"bench","api_key":"sk-bench-0123456789abcdef"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')"
TOKEN="$(curl -sf -X POST "http://127.0.0.1:$GW_PORT/manage/tokens" -H "Authorization: Bearer $MGMT" \
  -H 'Content-Type: application/json' -d "{\"project_id\":\"$PROJECT\",\"duration_minutes\":1440}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')"

BODY='{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hello"}]}'
SBODY='{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Say hello"}]}'

run_oha() { # url concurrency body [auth] -> json file
  local url="$1" c="$2" body="$3" out="$4"; shift 4
  "$OHA" --no-tui --output-format json -z "$DURATION" -c "$c" -m POST -H 'Content-Type: application/json' "$@" -d "$body" "$url" >"$out"
}

RESULTS="$WORK/results.tsv"
for kind in json sse; do
  body="$BODY"; [ "$kind" = sse ] && body="$SBODY"
  for c in $CONCURRENCY; do
    echo "==> $kind c=$c direct" >&2
    run_oha "http://127.0.0.1:$UP_PORT/v1/chat/completions" "$c" "$body" "$WORK/direct-$kind-$c.json"
    echo "==> $kind c=$c gateway" >&2
    run_oha "http://127.0.0.1:$GW_PORT/v1/chat/completions" "$c" "$body" "$WORK/gw-$kind-$c.json" -H "Authorization: Bearer $TOKEN"
    printf '%s\t%s\t%s\t%s\n' "$kind" "$c" "$WORK/direct-$kind-$c.json" "$WORK/gw-$kind-$c.json" >>"$RESULTS"
  done
done
GW_CPU="$(awk '{print $14+$15}' /proc/$GW_PID/stat)"; CLK="$(getconf CLK_TCK)"
GW_RSS="$(awk '/VmHWM/{print $2}' /proc/$GW_PID/status)"

TABLE="$(python3 - "$RESULTS" "$PROFILE" "$GW_CPU" "$CLK" "$GW_RSS" <<'PY'
import json, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
profile, cpu_ticks, clk, rss_kb = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
def load(p):
    d = json.load(open(p))
    pct = d["latencyPercentiles"]
    ok = sum(v for k, v in d.get("statusCodeDistribution", {}).items() if k.startswith("2"))
    total = sum(d.get("statusCodeDistribution", {}).values()) + sum(d.get("errorDistribution", {}).values())
    return pct, d["summary"]["requestsPerSec"], total - ok, total, d.get("firstBytePercentiles") or {}
print("| profile | body | c | direct rps | gateway rps | direct p50 ms | gateway p50 ms | added p50 ms | direct p99 ms | gateway p99 ms | added p99 ms | gateway p99.9 ms | added TTFB p99 ms | non-2xx/errors |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
total_reqs = 0
for kind, c, dp, gp in rows:
    dpct, drps, derr, _, dfb = load(dp)
    gpct, grps, gerr, gtotal, gfb = load(gp)
    ttfb = f"{(gfb['p99'] - dfb['p99']) * 1000:.3f}" if kind == "sse" and gfb.get("p99") is not None and dfb.get("p99") is not None else "-"
    total_reqs += gtotal
    ms = lambda v: v * 1000
    print(f"| {profile} | {kind} | {c} | {drps:,.0f} | {grps:,.0f} | {ms(dpct['p50']):.3f} | {ms(gpct['p50']):.3f} | {ms(gpct['p50']-dpct['p50']):.3f} | {ms(dpct['p99']):.3f} | {ms(gpct['p99']):.3f} | {ms(gpct['p99']-dpct['p99']):.3f} | {ms(gpct['p99.9']):.3f} | {ttfb} | {gerr} |")
cpu_s = cpu_ticks / clk
print()
print(f"gateway CPU: {cpu_s:.2f} s over {total_reqs:,} requests = {cpu_s / max(total_reqs,1) * 1e6:.0f} µs/request; peak RSS {rss_kb/1024:.1f} MiB")
PY
)"
echo "$TABLE"
if [ "$RECORD" = 1 ]; then
  {
    echo
    echo "## $(date -u +%Y-%m-%d) · commit $(git rev-parse --short HEAD) · $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs) · duration $DURATION per cell"
    echo
    echo "$TABLE"
  } >>bench/RESULTS.md
  echo "==> appended to bench/RESULTS.md" >&2
fi
