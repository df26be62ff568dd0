#!/usr/bin/env bash
# The one command that passes the tests on a fresh machine: makes sure PostgreSQL, Redis,
# Chromium and the browser-test npm packages are there, then runs fmt, clippy and every test.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '==> %s\n' "$*" >&2; }
SUDO=""
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null; then SUDO="sudo"; fi
APT_UPDATED=0
apt_install() {
  command -v apt-get >/dev/null || { log "apt-get not available; install $* yourself"; return 1; }
  if [ "$APT_UPDATED" = 0 ]; then $SUDO apt-get update -qq; APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
}

ensure_postgres() {
  if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then return; fi
  if ! command -v pg_ctlcluster >/dev/null; then
    log "installing PostgreSQL"
    apt_install postgresql postgresql-client
  fi
  local version
  version="$(ls /etc/postgresql | sort -V | tail -1)"
  local hba="/etc/postgresql/$version/main/pg_hba.conf"
  # Tests connect as postgres over TCP without a password, like the machines they run on.
  if ! grep -qE '^host\s+all\s+all\s+127\.0\.0\.1/32\s+trust' "$hba"; then
    $SUDO sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
  fi
  log "starting PostgreSQL $version"
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$version" main start || $SUDO pg_ctlcluster "$version" main start
  for _ in $(seq 1 60); do pg_isready -q -h 127.0.0.1 -p 5432 && return; sleep 0.5; done
  log "PostgreSQL did not come up"; exit 1
}

ensure_redis() {
  if command -v redis-cli >/dev/null && redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then return; fi
  if ! command -v redis-server >/dev/null; then
    log "installing Redis"
    apt_install redis-server
  fi
  log "starting Redis"
  mkdir -p /tmp/llm-proxy-redis
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir /tmp/llm-proxy-redis --logfile /tmp/llm-proxy-redis/redis.log
  for _ in $(seq 1 60); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && return; sleep 0.5; done
  log "Redis did not come up"; exit 1
}

ensure_browser() {
  command -v chromium >/dev/null || { log "installing Chromium"; apt_install chromium; }
  command -v node >/dev/null || { log "installing Node.js"; apt_install nodejs npm; }
  if [ -f admin-node/ui-tests/package.json ] && [ ! -d admin-node/ui-tests/node_modules/playwright-core ]; then
    log "installing browser-test packages"
    (cd admin-node/ui-tests && if [ -f package-lock.json ]; then npm ci --no-audit --no-fund --silent; else npm install --no-audit --no-fund --silent; fi)
  fi
}

# The end-to-end tests run their own nginx (generated config, random ports, as the current
# user); the package's own service must not start, so policy-rc.d denies it during the install.
ensure_nginx() {
  if command -v nginx >/dev/null || [ -x /usr/sbin/nginx ]; then return; fi
  log "installing nginx (its service stays stopped)"
  local policy=/usr/sbin/policy-rc.d created=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
    $SUDO chmod 755 "$policy"
    created=1
  fi
  apt_install nginx
  if [ "$created" = 1 ]; then $SUDO rm -f "$policy"; fi
}

ensure_postgres
ensure_redis
ensure_browser
ensure_nginx

export LLM_PROXY_TEST_DATABASE_URL="${LLM_PROXY_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
export LLM_PROXY_TEST_REDIS_URL="${LLM_PROXY_TEST_REDIS_URL:-redis://127.0.0.1:6379}"
# Slow tests (a stream longer than 35 s) run in CI; set LLM_PROXY_SLOW_TESTS=0 to skip them locally.
export LLM_PROXY_SLOW_TESTS="${LLM_PROXY_SLOW_TESTS:-1}"

log "cargo fmt --check"
cargo fmt --all -- --check
log "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
log "building"
cargo build --workspace --all-targets --locked
log "tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast --failure-output final
else
  cargo test --workspace --locked --no-fail-fast
fi
