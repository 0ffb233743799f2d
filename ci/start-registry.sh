#!/usr/bin/env bash
# Start the registries the push tests use, on 127.0.0.1 only (Debian's docker-registry):
#   127.0.0.1:5000  no auth
#   127.0.0.1:5001  htpasswd Basic auth; user and password in $state/credentials (USER:PASSWORD)
# Idempotent: an instance that already answers on its port is left alone; a stale pid file or
# a dead process from an earlier session is cleaned up first.
set -euo pipefail

state=${PYBIN2IMG_REGISTRY_DIR:-/var/lib/pybin2img-registry}
registry=$(command -v docker-registry || true)
[ -n "$registry" ] || { echo "ci/start-registry: docker-registry not installed (run ci/install-system-packages.sh)" >&2; exit 1; }

# 200 (open) or 401 (auth required) both mean the registry serves the API.
answers() {
  local code
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$1/v2/" || true)
  [ "$code" = 200 ] || [ "$code" = 401 ]
}

credentials() {
  # Generated once and kept, so a running instance and the file always agree.
  local dir=$state
  mkdir -p "$dir"
  chmod 755 "$dir"
  if [ ! -s "$dir/credentials" ] || [ ! -s "$dir/htpasswd" ]; then
    local user=pybin2img password
    password=$(head -c 18 /dev/urandom | base64 | tr -d '/+=' | head -c 20)
    htpasswd -Bbn "$user" "$password" >"$dir/htpasswd"
    printf '%s:%s\n' "$user" "$password" >"$dir/credentials"
    chmod 644 "$dir/credentials" "$dir/htpasswd"
  fi
}

start() {  # name port [auth]
  local name=$1 port=$2 auth=${3:-}
  local dir=$state/$name
  mkdir -p "$dir/storage"
  if answers "$port"; then
    echo "ci/start-registry: $name already answers on 127.0.0.1:$port" >&2
    return 0
  fi
  if [ -f "$dir/pid" ]; then
    local pid
    pid=$(cat "$dir/pid" 2>/dev/null || true)
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && grep -qa docker-registry "/proc/$pid/cmdline" 2>/dev/null; then
      echo "ci/start-registry: stopping unresponsive $name (pid $pid)" >&2
      kill "$pid" 2>/dev/null || true
      sleep 1
    fi
    rm -f "$dir/pid"
  fi
  {
    echo "version: 0.1"
    echo "log: {level: warn, accesslog: {disabled: true}}"
    echo "storage:"
    echo "  filesystem: {rootdirectory: $dir/storage}"
    echo "  delete: {enabled: true}"
    echo "http:"
    echo "  addr: 127.0.0.1:$port"
    echo "  secret: pybin2img-test-$name"
    if [ -n "$auth" ]; then
      echo "auth:"
      echo "  htpasswd: {realm: pybin2img-test, path: $state/htpasswd}"
    fi
  } >"$dir/config.yml"
  echo "ci/start-registry: starting $name on 127.0.0.1:$port (log: $dir/log)" >&2
  nohup setsid "$registry" serve "$dir/config.yml" >"$dir/log" 2>&1 </dev/null &
  echo $! >"$dir/pid"
  for _ in $(seq 1 50); do
    if answers "$port"; then
      return 0
    fi
    sleep 0.2
  done
  echo "ci/start-registry: $name did not answer on 127.0.0.1:$port within 10s; last lines of $dir/log:" >&2
  tail -n 20 "$dir/log" >&2
  exit 1
}

credentials
start open 5000
start basic 5001 htpasswd
echo "ci/start-registry: up: 127.0.0.1:5000 (open), 127.0.0.1:5001 (Basic auth, $state/credentials)" >&2
