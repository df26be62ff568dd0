# Issue 6: events per second end to end (proxy -> Redis Streams -> dispatcher -> file sink).
# 1. drain: with no dispatcher running, EVENTS_N calls leave a backlog in the stream; a
#    dispatcher then starts and the rate at which JSONL lines land in the file sink is measured.
# 2. live: proxy load at c=64 with the dispatcher running; how far the sink lags behind.

stream_len() {
  redis-cli -u "$REDIS_URL" XLEN "$PREFIX:events:0" 2>/dev/null || echo 0
}

sink_bytes() { find "$1" -name '*.jsonl' -printf '%s\n' 2>/dev/null | awk '{s+=$1} END {print s+0}'; }
sink_lines() { find "$1" -name '*.jsonl' -exec cat {} + 2>/dev/null | wc -l; }
now_ms() { date +%s%3N; }
secs() { awk -v ms="$1" 'BEGIN { printf "%.3f", ms / 1000 }'; }

# Polls the sink until it stops growing for 5 s (or the timeout). Prints
# "first_ms first_bytes last_ms last_bytes": the first poll that saw data and the last growth
# (epoch ms; the start when nothing was written).
watch_sink() { # dir start_ms timeout_s
  local dir="$1" start="$2" deadline size last=0 first="" first_bytes=0 lastgrow="" idle=0
  deadline=$(( start + $3 * 1000 ))
  while [ "$(now_ms)" -lt "$deadline" ]; do
    size="$(sink_bytes "$dir")"
    if [ "$size" -gt "$last" ]; then
      [ -n "$first" ] || { first="$(now_ms)"; first_bytes="$size"; }
      lastgrow="$(now_ms)"; last="$size"; idle=0
    else
      idle=$((idle + 1)); [ -n "$first" ] && [ "$idle" -ge 25 ] && break
    fi
    sleep 0.1
  done
  echo "${first:-$start} $first_bytes ${lastgrow:-$start} $last"
}

# N calls at c=64 through the gateway: JSON with oha, or (EVENTS_FILLER=bench-stream, or no
# oha) streamed calls of one chunk with bench-stream.
fill_calls() { # n
  if [ "${EVENTS_FILLER:-oha}" = oha ] && [ -x "$OHA" ]; then
    timeout 300 "$OHA" --no-tui --output-format json -n "$1" -c 64 -t 30s -m POST -H 'Content-Type: application/json' \
      -H "Authorization: Bearer $TOKEN" -d "$BODY" "$GW_URL$CHAT" >"$OUT/events-fill.json" \
      || die "oha failed while filling the event stream"
  else
    timeout 300 "$BIN/bench-stream" --url "$GW_URL$CHAT?chunks=1&delay_ms=0" --token "$TOKEN" \
      --streams "$1" --concurrency 64 --timeout-s 60 >"$OUT/events-fill.json" \
      || die "bench-stream failed while filling the event stream"
  fi
}

events_pipeline() {
  local dir="$WORK/events-sink"
  events_drain "$dir" distributed
  events_live "$dir"
}

# Fills the stream with EVENTS_N calls (no dispatcher running), then starts one dispatcher
# (file sink, daily JSONL, into DIR) and measures how fast it drains. Leaves it running
# (DISPATCHER_PID). Facts go under PROFILE.
events_drain() { # dir profile
  local dir="$1" profile="$2" backlog start lines first last first_bytes last_bytes
  mkdir -p "$dir"
  say "events: stream trimmed; $EVENTS_N calls through the proxy with no dispatcher running"
  redis-cli -u "$REDIS_URL" XTRIM "$PREFIX:events:0" MAXLEN 0 >/dev/null || die "cannot trim the event stream"
  fill_calls "$EVENTS_N"
  sleep 2 # the publisher batches
  backlog="$(stream_len)"
  note "$profile" events_backlog "$backlog"
  say "events: $backlog entries waiting; starting the dispatcher (file sink, daily JSONL)"
  start=$(now_ms)
  start_dispatcher "$dir"
  local perf_pid=""
  if [ -n "${EVENTS_PERF:-}" ]; then # EVENTS_PERF=file: perf samples of the drain
    perf record -F 999 -g -p "$DISPATCHER_PID" -o "$EVENTS_PERF" >/dev/null 2>&1 &
    perf_pid=$!
  fi
  read -r first first_bytes last last_bytes <<<"$(watch_sink "$dir" "$start" 180)"
  [ -z "$perf_pid" ] || { kill -INT "$perf_pid" 2>/dev/null || true; wait "$perf_pid" 2>/dev/null || true; }
  lines="$(sink_lines "$dir")"
  note "$profile" events_drained "$lines"
  # The rate is taken between the first poll that saw data and the last growth, over the bytes
  # written in between (lines are of one size, near enough).
  note "$profile" events_drain_s "$(secs $(( last > first ? last - first : 100 )))"
  note "$profile" events_drain_fraction "$(awk -v a="$first_bytes" -v b="$last_bytes" 'BEGIN { printf "%.4f", (b > 0 ? (b - a) / b : 0) }')"
  note "$profile" events_startup_s "$(secs $(( first - start )))"
  note "$profile" events_drain_cpu_ticks "$(cpu_ticks "$DISPATCHER_PID")"
}

# Proxy load at c=64 for DURATION with the dispatcher running; stops the dispatcher.
events_live() { # dir
  local dir="$1" before start lines first last first_bytes last_bytes
  say "events: live load c=64 for $DURATION with the dispatcher running"
  before="$(sink_lines "$dir")"
  start=$(now_ms)
  oha_run "$OUT/events-live.json" "$DURATION" 64 "$BODY" "$GW_URL$CHAT" "Authorization: Bearer $TOKEN"
  local load_end; load_end=$(now_ms)
  local after_load; after_load="$(sink_lines "$dir")"
  read -r first first_bytes last last_bytes <<<"$(watch_sink "$dir" "$load_end" 120)"
  lines="$(sink_lines "$dir")"
  note distributed live_load_s "$(secs $(( load_end - start )))"
  note distributed live_delivered_during_load "$((after_load - before))"
  note distributed live_delivered_total "$((lines - before))"
  note distributed live_lag_after_load_s "$(secs $(( last > load_end ? last - load_end : 0 )))"
  note distributed dispatcher_cpu_ticks "$(cpu_ticks "$DISPATCHER_PID")"
  stop_pid "$DISPATCHER_PID"
}

# The value of one dispatcher counter of the gateway (`llm-proxy up`) for SINK.
dispatcher_counter() { # name sink
  curl -sf "$GW_URL/metrics/dispatcher" 2>/dev/null \
    | awk -v n="llm_proxy_dispatcher_$1_total" -v s="sink=\"$2\"" 'index($0, n "{") == 1 && index($0, s) { v = $NF } END { print v + 0 }'
}

# Embedded overload (finding 4): `llm-proxy up` at c=64 for DURATION, then waits until the file
# sink has every call (or stops moving for 10 s) and reads delivered/spilled/replayed/dropped.
events_embedded() {
  local calls start load_end delivered last=-1 still=0
  say "events: embedded (llm-proxy up) at c=64 for $DURATION"
  oha_run "$OUT/embedded-load.json" "$DURATION" 64 "$BODY" "$GW_URL$CHAT" "Authorization: Bearer $TOKEN"
  load_end=$(now_ms)
  calls="$(json_field '["statusCodeDistribution"].get("200",0)' <"$OUT/embedded-load.json")"
  note embedded calls "$calls"
  note embedded rps "$(json_field '["summary"]["requestsPerSec"]' <"$OUT/embedded-load.json")"
  note embedded file_delivered_at_load_end "$(dispatcher_counter events_delivered file)"
  note embedded file_spilled_at_load_end "$(dispatcher_counter events_spilled file)"
  start=$(now_ms)
  while [ $(( $(now_ms) - start )) -lt 300000 ]; do
    delivered="$(dispatcher_counter events_delivered file)"
    [ "$delivered" -ge "$calls" ] && break
    if [ "$delivered" = "$last" ]; then still=$((still + 1)); [ "$still" -ge 100 ] && break; else still=0; fi
    last="$delivered"; sleep 0.1
  done
  note embedded file_catch_up_s "$(secs $(( $(now_ms) - load_end )))"
  for c in delivered spilled replayed dropped; do
    note embedded "file_$c" "$(dispatcher_counter "events_$c" file)"
    note embedded "usage_$c" "$(dispatcher_counter "events_$c" usage)"
  done
}
