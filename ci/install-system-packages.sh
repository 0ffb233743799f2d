#!/usr/bin/env bash
# Install the Debian packages that pybin2img's builds, demo and tests need, on Debian 12 or 13
# (and Ubuntu, sid).
#
#   ci/install-system-packages.sh              everything `make test` needs
#   ci/install-system-packages.sh build        only what a default pybin2img build needs
#   ci/install-system-packages.sh --list SET   print SET's package names (build, python, test)
#
# Idempotent: a package counts as present when it is installed, or when an installed package
# provides it (Debian 13 renamed libraries for 64-bit time: libmagic1 is provided by
# libmagic1t64), so a second run installs nothing and needs no root.
set -euo pipefail

# What a default build needs on any build machine: the C compiler and ELF editor Nuitka needs,
# ccache for fast rebuilds, and tini, the image's init. ci/github-release.yml installs the same
# (a test checks that they agree).
build=(gcc patchelf ccache tini ca-certificates)
# Debian's own python3 as the build interpreter: its headers, and venv for build environments.
python=(python3-dev python3-venv)
# The test suite's real components and second opinions.
test=(
  git make netbase
  # /etc/mime.types, which mimetypes reads and the image copies (--compare checks it)
  media-types
  # --trace records what the app opens; libmagic is what the trace test's app dlopens
  strace libmagic1
  # engines and second opinions on the image format
  docker.io podman skopeo umoci
  # registry for push tests (one open, one with htpasswd Basic auth)
  docker-registry apache2-utils
  # ccache's remote storage for the CI-cache tests (ci/start-redis.sh)
  redis-server
  # helpers used by the scripts
  curl iproute2 util-linux openssl
  # other Debian releases' roots (3.13, 3.14 legs) and the slim-Python benchmark baseline
  debootstrap
  # instruction counts and peak RSS of a start (bench/startup.py)
  valgrind time
  # Python packages as apt installs them, for builds with /usr/bin/python3
  # (tests/integration/test_debian_packages.py)
  python3-cryptography python3-yaml
  # GObject introspection through PyGObject (tests/apps/gi): GLib's typelibs come with it
  python3-gi
  # a system library's data in a package of its own source (libproj25 -> proj-data), the
  # local zone by name, package data without a RECORD, and GEOS loaded by its soname
  # (tests/apps/debian)
  python3-pyproj python3-tzlocal python3-netaddr python3-shapely
  # what Pillow finds on the machine in the compatibility suite: a font by its file name, and
  # the FriBiDi library it loads by name for text layout
  fonts-dejavu-core libfribidi0
)

if [ "${1:-}" = "--list" ]; then
  case "${2:-}" in
    build) printf '%s\n' "${build[@]}" ;;
    python) printf '%s\n' "${python[@]}" ;;
    test) printf '%s\n' "${test[@]}" ;;
    *) echo "ci/install-system-packages: --list build|python|test" >&2; exit 2 ;;
  esac
  exit 0
fi
case "${1:-all}" in
  all) packages=("${build[@]}" "${python[@]}" "${test[@]}") ;;
  build) packages=("${build[@]}" "${python[@]}") ;;
  *) echo "ci/install-system-packages: unknown set ${1} (all, build)" >&2; exit 2 ;;
esac

# Installed packages and everything they provide, one name a line.
present=$(dpkg-query -W -f='${Status}|${Package}, ${Provides}\n' 2>/dev/null |
  sed -n 's/^install ok installed|//p' | tr ',' '\n' | sed 's/^ *//; s/ .*//' | sort -u)
missing=()
for p in "${packages[@]}"; do
  grep -qxF "$p" <<<"$present" || missing+=("$p")
done
# Debian 13's docker.io has no client: it is in docker-cli (only recommended). An engine that
# answers needs no client, but the tests' helpers and `make demo` run `docker`.
needs_cli=0
if [ "${1:-all}" = all ] && ! command -v docker >/dev/null; then needs_cli=1; fi

if [ ${#missing[@]} -eq 0 ] && [ "$needs_cli" = 0 ]; then
  echo "ci/install-system-packages: all present" >&2
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  what="${missing[*]}"
  [ "$needs_cli" = 1 ] && what="${what:+$what, }a docker client (docker-cli)"
  echo "ci/install-system-packages: need root to install: $what" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# The registry's and the engine's postinst start services; keep them from binding 0.0.0.0 (or
# starting at all) on machines without systemd by not starting services from maintainer
# scripts.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  created_policy=1
fi
trap '[ "$created_policy" = 1 ] && rm -f "$policy"' EXIT
if [ ${#missing[@]} -gt 0 ]; then
  echo "ci/install-system-packages: installing ${missing[*]}" >&2
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi
if [ "${1:-all}" = all ] && ! command -v docker >/dev/null && apt-cache show docker-cli >/dev/null 2>&1; then
  echo "ci/install-system-packages: installing docker-cli (the docker client)" >&2
  apt-get install -y -qq --no-install-recommends docker-cli >&2
fi
