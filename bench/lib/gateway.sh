# Starting the gateway in one profile. Sets GW_PID (the process whose CPU and RSS are measured),
# GW_URL, TOKEN; distributed profiles also ADMIN_URL, PREFIX. Everything on 127.0.0.1.
#   passthrough       `llm-proxy up`, events.enabled=false, a token without limits (the product
#                     has no static-key mode: admission still looks the token up in its cache)
#   embedded          `llm-proxy up`: SQLite, in-memory limits, token with quota + rate limit,
#                     events through the in-process dispatcher to the file sink
#   distributed       `llm-proxy admin` + `llm-proxy proxy` on a throwaway Postgres database and
#                     a unique Redis key prefix; Redis admission; events to Redis Streams
#   distributed-nopub the same with events.enabled=false (issue 6: publishing on vs off)

MGMT="bench-management-token-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
PG_SERVER_URL="${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
REDIS_URL="${BENCH_REDIS_URL:-redis://127.0.0.1:6379}"
REDIS_HOST_PORT="${REDIS_URL#redis://}"; REDIS_HOST_PORT="${REDIS_HOST_PORT%%/*}"
DB_NAME=""; PREFIX=""

common_env() { # port data_dir name
  echo NO_COLOR=1 LLM_PROXY_SERVER__HOST=127.0.0.1 LLM_PROXY_SERVER__PORT="$1" LLM_PROXY_DATA_DIR="$2" \
    LLM_PROXY_NODE_NAME="$3" LLM_PROXY_MANAGEMENT_TOKEN="$MGMT" LLM_PROXY_TELEMETRY__LEVEL=warn \
    LLM_PROXY_SERVER__SHUTDOWN_TIMEOUT_SECS=1 LLM_PROXY_SERVER__DRAIN_DELAY_SECS=0 \
    LLM_PROXY_PROVIDERS__OPENAI__BASE_URL="http://127.0.0.1:$UP_PORT" \
    LLM_PROXY_PROVIDERS__OPENAI__MAX_CONCURRENT_REQUESTS="$MAX_CONCURRENT"
}

distributed_env() {
  echo LLM_PROXY_DATABASE__URL="$(pg_url "$DB_NAME")" LLM_PROXY_DATABASE__MAX_CONNECTIONS=4 \
    LLM_PROXY_REDIS__URL="$REDIS_URL" LLM_PROXY_REDIS__KEY_PREFIX="$PREFIX" \
    LLM_PROXY_ENCRYPTION_KEY="$ENC_KEY"
}

pg_url() { # database -> URL of that database on the same server
  python3 - "$PG_SERVER_URL" "$1" <<'PY'
import sys
url, db = sys.argv[1], sys.argv[2]
base, _, query = url.partition("?")
scheme, _, rest = base.partition("://")
authority = rest.split("/", 1)[0]
print(f"{scheme}://{authority}/{db}" + (f"?{query}" if query else ""))
PY
}

mint_token() { # management base URL, extra token JSON fields
  local base="$1" extra="$2" project
  project="$(curl -sf -X POST "$base/manage/projects" -H "Authorization: Bearer $MGMT" \
    -H 'Content-Type: application/json' -d '{"name":"bench","api_key":"sk-bench-0123456789abcdef"}' \
    | json_field '["id"]')" || die "cannot create a project through $base/manage/projects"
  TOKEN="$(curl -sf -X POST "$base/manage/tokens" -H "Authorization: Bearer $MGMT" \
    -H 'Content-Type: application/json' \
    -d "{\"project_id\":\"$project\",\"duration_minutes\":1440$extra}" | json_field '["token"]')" \
    || die "cannot create a token through $base/manage/tokens"
}

# Quota and rate limit far above what the benchmark sends: the checks run, never refuse.
LIMITED=',"max_requests":1000000000,"rate_limit_rpm":100000000'

start_up() { # profile, extra env...
  local profile="$1"; shift
  GW_PORT="$(free_port)"
  # shellcheck disable=SC2046
  spawn "$profile-gateway" env $(common_env "$GW_PORT" "$WORK/$profile-data" "bench-$profile") "$@" \
    "$BIN/llm-proxy" up
  GW_PID="$LAST_PID"; GW_URL="http://127.0.0.1:$GW_PORT"
  wait_http "$GW_URL/readyz" "$GW_PID" "$profile-gateway"
}

start_distributed_backends() {
  DB_NAME="llmp_bench_$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  PREFIX="$DB_NAME"
  ENC_KEY="$(head -c 32 /dev/urandom | base64)"
  psql "$PG_SERVER_URL" -qAtc "CREATE DATABASE $DB_NAME" >/dev/null \
    || die "cannot create database $DB_NAME on $PG_SERVER_URL (set BENCH_PG_URL)"
  CLEANUPS+=(drop_distributed_backends)
}

drop_distributed_backends() {
  if [ -n "$DB_NAME" ]; then
    psql "$PG_SERVER_URL" -qAtc "DROP DATABASE IF EXISTS $DB_NAME WITH (FORCE)" >/dev/null \
      || echo "bench: could not drop database $DB_NAME" >&2
  fi
  if [ -n "$PREFIX" ]; then
    redis-cli -u "$REDIS_URL" --scan --pattern "*$PREFIX*" \
      | xargs -r -n 500 redis-cli -u "$REDIS_URL" DEL >/dev/null \
      || echo "bench: could not delete Redis keys under $PREFIX" >&2
  fi
}

start_admin() {
  local port; port="$(free_port)"
  # shellcheck disable=SC2046
  spawn admin env $(common_env "$port" "$WORK/admin-data" bench-admin) $(distributed_env) \
    "$BIN/llm-proxy" admin
  ADMIN_PID="$LAST_PID"; ADMIN_URL="http://127.0.0.1:$port"
  wait_http "$ADMIN_URL/readyz" "$ADMIN_PID" admin
}

start_proxy() { # name, extra env...
  local name="$1"; shift
  GW_PORT="$(free_port)"
  # shellcheck disable=SC2046
  spawn "$name" env $(common_env "$GW_PORT" "$WORK/$name-data" "bench-$name") $(distributed_env) "$@" \
    "$BIN/llm-proxy" proxy
  GW_PID="$LAST_PID"; GW_URL="http://127.0.0.1:$GW_PORT"
  wait_http "$GW_URL/readyz" "$GW_PID" "$name"
}

start_dispatcher() { # events dir
  local port; port="$(free_port)"
  # shellcheck disable=SC2046
  spawn dispatcher env $(common_env "$port" "$WORK/dispatcher-data" bench-dispatcher) $(distributed_env) \
    LLM_PROXY_SINKS__FILE__ENABLED=true LLM_PROXY_SINKS__FILE__LAYOUT=daily \
    LLM_PROXY_SINKS__FILE__DIR="$1" "$BIN/llm-proxy" dispatcher
  DISPATCHER_PID="$LAST_PID"
  wait_http "http://127.0.0.1:$port/readyz" "$DISPATCHER_PID" dispatcher
}

# Starts PROFILE; `stop_profile` ends it (the distributed backends stay until exit).
start_profile() {
  case "$1" in
    passthrough) start_up passthrough LLM_PROXY_EVENTS__ENABLED=false; mint_token "$GW_URL" "" ;;
    embedded) start_up embedded; mint_token "$GW_URL" "$LIMITED" ;;
    distributed|distributed-nopub)
      if [ -z "$DB_NAME" ]; then
        start_distributed_backends
        start_admin
        mint_token "$ADMIN_URL" "$LIMITED"
      fi
      if [ "$1" = distributed ]; then start_proxy proxy; else
        start_proxy proxy-nopub LLM_PROXY_EVENTS__ENABLED=false; fi ;;
    *) die "unknown profile $1 (passthrough, embedded, distributed, distributed-nopub)" ;;
  esac
}

stop_profile() { stop_pid "$GW_PID"; }
