#!/usr/bin/env bash
# Install the Debian packages that pybin2img's build, demo and tests need.
# Idempotent: packages already present are not fetched again.
set -euo pipefail

packages=(
  # compile step (Nuitka)
  gcc patchelf ccache python3-dev python3-venv git netbase
  # the init images get as PID 1 (its static build, /usr/bin/tini-static)
  tini
  # --trace records what the app opens; libmagic is what the trace test's app dlopens
  strace libmagic1
  # engines and second opinions on the image format
  docker.io podman skopeo umoci
  # registry for push tests (one open, one with htpasswd Basic auth)
  docker-registry apache2-utils
  # ccache's remote storage for the CI-cache tests (ci/start-redis.sh)
  redis-server
  # helpers used by the scripts
  ca-certificates curl iproute2 util-linux openssl
  # benchmark baseline: a Debian minbase root with python3 (bench/images.py)
  debootstrap
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "ci/install-system-packages: all present" >&2
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "ci/install-system-packages: need root to install: ${missing[*]}" >&2
  exit 1
fi

echo "ci/install-system-packages: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# The registry's postinst starts a service; keep it from binding 0.0.0.0 on machines without
# systemd by not starting services from maintainer scripts at all.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  created_policy=1
fi
trap '[ "$created_policy" = 1 ] && rm -f "$policy"' EXIT
apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
