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
ctest --test-dir "$build_dir" -j "$(nproc)" --output-on-failure --timeout 600
