#!/usr/bin/env bash
# The whole test suite, as two pytest processes side by side.
#
# The Debian roots' legs (test_platforms.py) and the compatibility suite (test_compat.py) spend
# most of their time on one CPU (Nuitka's Python-level pass, pip's and apt's downloads, dpkg)
# and share nothing with the other tests (roots and builds of their own), so they run beside the
# rest rather than after it: a 2-CPU runner keeps both CPUs busy. The side run's log is printed
# when the main run is done; the exit code is non-zero when either failed.
#
#   ci/run-tests.sh [PYTHON]      PYTHON: the venv's interpreter (default .venv/bin/python)
set -uo pipefail
cd "$(dirname "$0")/.."

python=${1:-.venv/bin/python}
side=(tests/integration/test_compat.py tests/integration/test_platforms.py)
log=build/test-logs/side.log
mkdir -p "$(dirname "$log")"

"$python" -m pytest -v --durations=10 -p no:cacheprovider "${side[@]}" >"$log" 2>&1 &
side_pid=$!
ignore=()
for module in "${side[@]}"; do ignore+=("--ignore=$module"); done
"$python" -m pytest -v --durations=15 tests "${ignore[@]}"
main_rc=$?
echo "ci/run-tests: waiting for ${side[*]} (running beside, log: $log)" >&2
wait "$side_pid"
side_rc=$?
echo "===== ${side[*]}, run beside the rest ====="
cat "$log"
echo "ci/run-tests: main run exit $main_rc, side run exit $side_rc" >&2
[ "$main_rc" -eq 0 ] && [ "$side_rc" -eq 0 ]
