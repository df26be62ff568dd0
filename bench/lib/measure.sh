# Load cells (oha), streaming runs (bench-stream) and readings. Each result lands in $OUT as a
# file plus one line of $OUT/index.tsv: profile, test, kind, concurrency, repeat, role, file,
# gateway CPU ticks, Redis CPU ticks. report.py reads them.

BODY='{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hello"}]}'
SBODY='{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Say hello"}]}'
CHAT=/v1/chat/completions

redis_pid() { redis-cli -u "$REDIS_URL" info server 2>/dev/null | awk -F: '/^process_id/{print $2+0}'; }
REDIS_PID="$(redis_pid || true)"
redis_ticks() {
  if [ -n "$REDIS_PID" ] && [ -r "/proc/$REDIS_PID/stat" ]; then cpu_ticks "$REDIS_PID"; else echo 0; fi
}

index() { printf '%s\n' "$(IFS=$'\t'; echo "$*")" >>"$OUT/index.tsv"; }
note() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$OUT/facts.tsv"; } # profile key value

oha_run() { # out duration concurrency body url [header...]
  local out="$1" duration="$2" c="$3" body="$4" url="$5"; shift 5
  local headers=(); for h in "$@"; do headers+=(-H "$h"); done
  # -t bounds each request, `timeout` the whole cell (oha waits for requests in flight).
  timeout 120 "$OHA" --no-tui --output-format json -z "$duration" -c "$c" -w -t 30s -m POST \
    -H 'Content-Type: application/json' "${headers[@]}" -d "$body" "$url" >"$out" 2>"$out.err" \
    || die "oha failed against $url: $(head -c 300 "$out.err")"
}

# One measured cell through the gateway (CPU read around it) or direct.
cell() { # profile test kind c rep role
  local profile="$1" test="$2" kind="$3" c="$4" rep="$5" role="$6"
  local body="$BODY"; [ "$kind" = sse ] && body="$SBODY"
  local out="$OUT/$profile-$test-$kind-c$c-r$rep-$role.json" t0 t1 r0 r1
  if [ "$role" = direct ]; then
    oha_run "$out" "$DURATION" "$c" "$body" "http://127.0.0.1:$UP_PORT$CHAT"
    index "$profile" "$test" "$kind" "$c" "$rep" "$role" "$out" 0 0
  else
    t0="$(cpu_ticks "$GW_PID")"; r0="$(redis_ticks)"
    oha_run "$out" "$DURATION" "$c" "$body" "$GW_URL$CHAT" "Authorization: Bearer $TOKEN"
    t1="$(cpu_ticks "$GW_PID")"; r1="$(redis_ticks)"
    index "$profile" "$test" "$kind" "$c" "$rep" "$role" "$out" $((t1 - t0)) $((r1 - r0))
  fi
}

# Direct and gateway interleaved per repeat, so drift on this shared machine hits both alike.
matrix() { # profile kind "concurrencies"
  local profile="$1" kind="$2" c rep
  for c in $3; do
    for rep in $(seq 1 "$REPEATS"); do
      say "$profile $kind c=$c repeat $rep/$REPEATS"
      cell "$profile" load "$kind" "$c" "$rep" direct
      cell "$profile" load "$kind" "$c" "$rep" gateway
    done
  done
}

warm_up() {
  oha_run "$OUT/warmup.json" 2s 16 "$BODY" "$GW_URL$CHAT" "Authorization: Bearer $TOKEN"
  local ok; ok="$(json_field '["statusCodeDistribution"].get("200",0)' <"$OUT/warmup.json")"
  [ "$ok" -gt 0 ] || die "the gateway answered no 200 during warm-up: $(head -c 400 "$OUT/warmup.json")"
}

stream_run() { # profile test role streams concurrency ramp_ms query expect timeout_s
  local profile="$1" test="$2" role="$3" url auth=()
  local out="$OUT/$profile-$test-$role.json"
  if [ "$role" = direct ]; then url="http://127.0.0.1:$UP_PORT$CHAT?$7"; else
    url="$GW_URL$CHAT?$7"; auth=(--token "$TOKEN"); fi
  local t0=0 t1=0
  [ "$role" = gateway ] && t0="$(cpu_ticks "$GW_PID")"
  "$BIN/bench-stream" --url "$url" "${auth[@]}" --streams "$4" --concurrency "$5" --ramp-ms "$6" \
    --expect-events "$8" --timeout-s "$9" >"$out" || die "bench-stream failed against $url"
  [ "$role" = gateway ] && t1="$(cpu_ticks "$GW_PID")"
  index "$profile" "$test" sse "$5" 1 "$role" "$out" $((t1 - t0)) 0
}

# Added time to first event and inter-chunk gaps: 64 chunks 20 ms apart. Twice: PACED_C streams
# opened in the same instant (`paced`: the TTFB includes waiting behind the others' starts) and
# their starts spread over PACED_RAMP_MS (`spread`: what one stream start costs).
paced_streams() { # profile
  local q="chunks=64&delay_ms=20" rep
  for rep in $(seq 1 "$REPEATS"); do
    say "$1 paced streams (64 chunks x 20 ms, c=$PACED_C) repeat $rep/$REPEATS"
    stream_run "$1" "paced$rep" direct "$PACED_N" "$PACED_C" 0 "$q" 66 120
    stream_run "$1" "paced$rep" gateway "$PACED_N" "$PACED_C" 0 "$q" 66 120
    stream_run "$1" "spread$rep" direct "$PACED_N" "$PACED_C" "$PACED_RAMP_MS" "$q" 66 120
    stream_run "$1" "spread$rep" gateway "$PACED_N" "$PACED_C" "$PACED_RAMP_MS" "$q" 66 120
  done
}

# HOLD_STREAMS streams open at once, each lasting ~10 s; RSS sampled while they are open.
hold_streams() { # profile
  local q="chunks=50&delay_ms=200" peak=0 rss sampler
  say "$1 $HOLD_STREAMS concurrent streams (10 s each, ramp 2 s)"
  ( while sleep 0.5; do rss_kb "$GW_PID"; done ) >"$OUT/$1-hold-rss.txt" 2>/dev/null &
  sampler=$!; PIDS+=("$sampler")
  stream_run "$1" hold gateway "$HOLD_STREAMS" "$HOLD_STREAMS" 2000 "$q" 52 90
  stop_pid "$sampler"
  peak="$(sort -n "$OUT/$1-hold-rss.txt" | tail -1)"
  note "$1" hold_rss_kb "${peak:-0}"
}

# Event and drop counters from the gateway's /metrics (events dropped under load are a result).
# `up` serves the in-process dispatcher's counters on /metrics/dispatcher.
scrape_metrics() { # profile
  { curl -sf "$GW_URL/metrics"; curl -sf "$GW_URL/metrics/dispatcher"; } 2>/dev/null \
    | grep -E '^llm_proxy_[a-z_]*(events|dropped|spill)[a-z_]*' >"$OUT/$1-metrics.txt" || true
}
