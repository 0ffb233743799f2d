#!/usr/bin/env bash
# Start the Redis server that the CI-cache tests share as ccache's remote storage, on
# 127.0.0.1:6379 only (Debian's redis-server), without persistence and with a memory cap
# (least recently used keys go first). Idempotent: a server that already answers PING is left
# alone; a stale pid file from an earlier session is cleaned up first.
set -euo pipefail

state=${PYBIN2IMG_REDIS_DIR:-/var/lib/pybin2img-redis}
port=${PYBIN2IMG_REDIS_PORT:-6379}
server=$(command -v redis-server || true)
[ -n "$server" ] || { echo "ci/start-redis: redis-server not installed (run ci/install-system-packages.sh)" >&2; exit 1; }

answers() {
  [ "$(timeout 3 redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null || true)" = PONG ]
}

mkdir -p "$state"
if answers; then
  echo "ci/start-redis: already answers on 127.0.0.1:$port" >&2
  exit 0
fi
if [ -f "$state/pid" ]; then
  pid=$(cat "$state/pid" 2>/dev/null || true)
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && grep -qa redis-server "/proc/$pid/cmdline" 2>/dev/null; then
    echo "ci/start-redis: stopping unresponsive redis-server (pid $pid)" >&2
    kill "$pid" 2>/dev/null || true
    sleep 1
  fi
  rm -f "$state/pid"
fi
echo "ci/start-redis: starting redis-server on 127.0.0.1:$port (log: $state/log)" >&2
nohup setsid "$server" --bind 127.0.0.1 --port "$port" --protected-mode yes \
  --save '' --appendonly no --dir "$state" --maxmemory 512mb --maxmemory-policy allkeys-lru \
  --daemonize no --pidfile "$state/pid" >"$state/log" 2>&1 </dev/null &
for _ in $(seq 1 50); do
  if answers; then
    echo "ci/start-redis: up: 127.0.0.1:$port" >&2
    exit 0
  fi
  sleep 0.2
done
echo "ci/start-redis: redis-server did not answer on 127.0.0.1:$port within 10s; last lines of $state/log:" >&2
tail -n 20 "$state/log" >&2
exit 1
