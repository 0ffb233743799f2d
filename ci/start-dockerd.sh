#!/usr/bin/env bash
# Make sure a Docker engine answers on its socket ($DOCKER_HOST, else /var/run/docker.sock).
#
# An engine that answers is up, whatever client is installed (Debian 13's docker.io has none):
# the socket is asked directly. When nothing answers, Debian's dockerd is started in the
# background. A stale pid file or a dead socket left behind by an engine that is gone is cleaned
# up first. This script never stops a process it did not start: an engine that runs but does not
# answer is waited for, then reported.
set -euo pipefail

log=${PYBIN2IMG_DOCKERD_LOG:-/var/log/pybin2img-dockerd.log}
sock=/var/run/docker.sock
wait_seconds=${PYBIN2IMG_DOCKERD_WAIT:-90}
pidfiles=(/var/run/docker.pid /var/run/docker/containerd/containerd.pid)

case "${DOCKER_HOST:-}" in
  "") ;;
  unix://*) sock=${DOCKER_HOST#unix://} ;;
  *)
    # A remote engine: only its client can ask it (TLS and all).
    if timeout 10 docker version >/dev/null 2>&1; then
      echo "ci/start-dockerd: engine at DOCKER_HOST=$DOCKER_HOST answers" >&2
      exit 0
    fi
    echo "ci/start-dockerd: DOCKER_HOST=$DOCKER_HOST does not answer and is not a local socket" >&2
    exit 1
    ;;
esac

command -v curl >/dev/null || { echo "ci/start-dockerd: curl not installed (run ci/install-system-packages.sh)" >&2; exit 1; }
api() { curl -sf --max-time 10 --unix-socket "$sock" "http://localhost$1" 2>/dev/null; }
engine_up() { [ -S "$sock" ] && api /_ping >/dev/null; }
engine_version() { api /version | grep -o '"Version":"[^"]*"' | head -n 1 | cut -d'"' -f4; }
wait_up() {
  for _ in $(seq 1 "$wait_seconds"); do
    engine_up && return 0
    sleep 1
  done
  return 1
}
# The pid a pid file names when that process runs and is an engine (dockerd or containerd).
live_engine() {
  local pid
  pid=$(cat "$1" 2>/dev/null || true)
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null &&
    grep -qa -e dockerd -e containerd "/proc/$pid/cmdline" 2>/dev/null && echo "$pid"
}

if engine_up; then
  echo "ci/start-dockerd: engine already running ($(engine_version)) on $sock" >&2
  exit 0
fi

# An engine that runs but does not answer yet (still starting) is waited for, never stopped.
running=$(live_engine /var/run/docker.pid || true)
if [ -n "$running" ]; then
  echo "ci/start-dockerd: dockerd (pid $running) runs but does not answer on $sock yet; waiting up to ${wait_seconds}s" >&2
  if wait_up; then
    echo "ci/start-dockerd: engine up ($(engine_version))" >&2
    exit 0
  fi
  echo "ci/start-dockerd: dockerd (pid $running) does not answer on $sock; it was not started by this script, which leaves it alone: stop it (kill $running) and run again" >&2
  exit 1
fi
command -v dockerd >/dev/null || { echo "ci/start-dockerd: dockerd not installed (run ci/install-system-packages.sh)" >&2; exit 1; }

# What an engine that is gone left behind: dockerd refuses to start while its pid file names a
# pid (even one recycled by another program), and a socket nobody listens on. A containerd still
# running from that engine is left alone: dockerd reuses it.
for pidfile in "${pidfiles[@]}"; do
  if [ -f "$pidfile" ] && [ -z "$(live_engine "$pidfile" || true)" ]; then
    echo "ci/start-dockerd: removing stale $pidfile" >&2
    rm -f "$pidfile"
  fi
done
if [ -e "$sock" ]; then
  echo "ci/start-dockerd: removing dead socket $sock" >&2
  rm -f "$sock"
fi

# cgroups v1/v2 and iptables vary between machines; dockerd picks what works.
mkdir -p "$(dirname "$log")"
echo "ci/start-dockerd: starting dockerd (log: $log)" >&2
nohup setsid dockerd ${DOCKER_HOST:+-H "$DOCKER_HOST"} >"$log" 2>&1 </dev/null &

if wait_up; then
  echo "ci/start-dockerd: engine up ($(engine_version))" >&2
  exit 0
fi
echo "ci/start-dockerd: dockerd did not come up within ${wait_seconds}s; last lines of $log:" >&2
tail -n 20 "$log" >&2
exit 1
