# Shared helpers of bench/run.sh: failing with one line, ports, child processes we started
# (tracked by PID, stopped by PID on exit), /proc readings.

die() { echo "bench: $*" >&2; exit 1; }
say() { echo "==> $*" >&2; }

need() { # command, what to do about it
  command -v "$1" >/dev/null 2>&1 || die "$1 is missing: $2"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

PIDS=()
CLEANUPS=()
# Runs "$@" in the background with output to $WORK/<name>.log; sets LAST_PID.
spawn() {
  local name="$1"; shift
  "$@" >"$WORK/$name.log" 2>&1 &
  LAST_PID=$!
  PIDS+=("$LAST_PID")
}

# Stops one of our children: TERM, then KILL after 5 s.
stop_pid() {
  local pid="$1"
  kill -0 "$pid" 2>/dev/null || return 0
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local pid fn
  for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
  for fn in "${CLEANUPS[@]}"; do "$fn" || true; done
  [ -n "${KEEP_WORK:-}" ] || rm -rf "$WORK"
}

# Waits for a 200 from a URL, failing with the process log if the process died.
wait_http() { # url pid name [seconds]
  local url="$1" pid="$2" name="$3" secs="${4:-60}"
  for _ in $(seq 1 $((secs * 10))); do
    curl -sf -o /dev/null "$url" && return 0
    kill -0 "$pid" 2>/dev/null || { tail -20 "$WORK/$name.log" >&2; die "$name exited during start-up (log above)"; }
    sleep 0.1
  done
  tail -20 "$WORK/$name.log" >&2
  die "$name did not answer $url within ${secs}s"
}

cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
rss_kb() { awk '/^VmRSS/{print $2}' "/proc/$1/status"; }
hwm_kb() { awk '/^VmHWM/{print $2}' "/proc/$1/status"; }

# JSON field from stdin (python3 is required anyway for the report).
json_field() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
