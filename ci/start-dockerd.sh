#!/usr/bin/env bash
# Make sure a Docker engine answers on the default socket (or $DOCKER_HOST).
# Starts Debian's dockerd in the background when none runs; a stale pid file or a dead socket
# left behind by an earlier, killed engine is cleaned up first.
set -euo pipefail

log=${PYBIN2IMG_DOCKERD_LOG:-/var/log/pybin2img-dockerd.log}
sock=/var/run/docker.sock

engine_up() { timeout 10 docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

if engine_up; then
  echo "ci/start-dockerd: engine already running ($(docker version --format '{{.Server.Version}}'))" >&2
  exit 0
fi
if [ -n "${DOCKER_HOST:-}" ] && [ "${DOCKER_HOST#unix://}" = "$DOCKER_HOST" ]; then
  echo "ci/start-dockerd: DOCKER_HOST=$DOCKER_HOST does not answer and is not a local socket" >&2
  exit 1
fi
command -v dockerd >/dev/null || { echo "ci/start-dockerd: dockerd not installed (run ci/install-system-packages.sh)" >&2; exit 1; }

# A previous engine that was killed leaves its pid file and socket behind; dockerd refuses to
# start while the pid file names a pid (even a recycled one), so drop both when nothing listens.
for pidfile in /var/run/docker.pid /var/run/docker/containerd/containerd.pid; do
  if [ -f "$pidfile" ]; then
    pid=$(cat "$pidfile" 2>/dev/null || true)
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && grep -qa -e dockerd -e containerd "/proc/$pid/cmdline" 2>/dev/null; then
      echo "ci/start-dockerd: stopping unresponsive engine pid $pid" >&2
      kill "$pid" 2>/dev/null || true
      sleep 3
    fi
    rm -f "$pidfile"
  fi
done
rm -f "$sock"

# cgroups v1/v2 and iptables vary between machines; dockerd picks what works.
mkdir -p "$(dirname "$log")"
echo "ci/start-dockerd: starting dockerd (log: $log)" >&2
nohup setsid dockerd >"$log" 2>&1 </dev/null &

for _ in $(seq 1 90); do
  if engine_up; then
    echo "ci/start-dockerd: engine up ($(docker version --format '{{.Server.Version}}'))" >&2
    exit 0
  fi
  sleep 1
done
echo "ci/start-dockerd: dockerd did not come up within 90s; last lines of $log:" >&2
tail -n 20 "$log" >&2
exit 1
