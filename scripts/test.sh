#!/usr/bin/env bash
# The whole test suite from a fresh machine: installs what is missing, builds, runs
# every test with ctest, and prints how many ran per label (cpu, emu, gpu). GPU tests
# skip with a reason where no GPU answers.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh
bash scripts/build.sh "$@"
build_dir="${CYGNET_BUILD_DIR:-build}"
for label in cpu emu gpu; do
  n=$(ctest --test-dir "$build_dir" -N -L "^${label}\$" | sed -n 's/^Total Tests: //p')
  echo "label ${label}: ${n:-0} tests"
done
# ctest lists skipped tests without their reasons: run the gpu group alone first and
# print each distinct reason once, then the whole suite (whose summary closes the run).
ctest --test-dir "$build_dir" -L '^gpu$' -Q --timeout 600 || true
log="$build_dir/Testing/Temporary/LastTest.log"
if [ -f "$log" ]; then
  grep -A1 ': Skipped$' "$log" | grep -v -e ': Skipped$' -e '^--$' | sort | uniq -c |
    sed 's/^ *\([0-9]*\) /gpu tests skipped (\1): /' || true
fi
ctest --test-dir "$build_dir" -j "$(nproc)" --output-on-failure --timeout 600
