#!/usr/bin/env bash
# The whole test suite from a fresh machine: installs what is missing, builds, runs
# every test with ctest, and prints how many ran per label (cpu, emu, gpu). GPU tests
# skip with a reason where no GPU answers.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh
bash scripts/build.sh "$@"
build_dir="${CYGNET_BUILD_DIR:-build}"
# The engine must also build and train without the CUDA toolkit (a laptop CPU): a
# CPU-only build of the apps and a short training run with it, unless the main build is
# already CPU-only (no nvcc), which the suite below then covers.
if [ "${CYGNET_SKIP_CPU_ONLY:-0}" != 1 ] && [ -f "$build_dir/kernels/libcygnet_kernels_cuda.a" ]; then
  echo "test: a CPU-only build of the apps (${build_dir}-cpu-only, as without the CUDA toolkit), then a short run with it"
  CYGNET_BUILD_DIR="${build_dir}-cpu-only" bash scripts/build.sh -DCYGNET_CUDA=OFF -DCYGNET_BUILD_TESTS=OFF > /dev/null
  "${build_dir}-cpu-only/apps/cygnet_onecycle" device=auto run_root="${build_dir}-cpu-only/runs" name=cpu-only \
    data.dataset=synthetic model.name=small_cnn train.epochs=1 train.log_every=1000 | tail -2
fi
for label in cpu emu gpu; do
  n=$(ctest --test-dir "$build_dir" -N -L "^${label}\$" | sed -n 's/^Total Tests: //p')
  echo "label ${label}: ${n:-0} tests"
done
status=0
ctest --test-dir "$build_dir" -j "$(nproc)" --output-on-failure --timeout 600 || status=$?
# Coverage-guided fuzzing of the readers, 30 s a target, where clang's libFuzzer is
# installed (ctest's Fuzz.* ran the plain mutation driver above).
if [ "${CYGNET_SKIP_LIBFUZZER:-0}" != 1 ] && [ "$(bash scripts/fuzz.sh --engine)" = libfuzzer ]; then
  echo "test: the readers' libFuzzer targets, 30 s each (scripts/fuzz.sh)"
  bash scripts/fuzz.sh 30 || status=1
fi
# ctest lists skipped tests without their reasons: every skipped test's reason (the line
# after gtest's "Skipped"), once per distinct reason, from the run's log.
log="$build_dir/Testing/Temporary/LastTest.log"
if [ -f "$log" ]; then
  grep -A1 ': Skipped$' "$log" | grep -v -e ': Skipped$' -e '^--$' | sort | uniq -c |
    sed 's/^ *\([0-9]*\) /tests skipped (\1): /' || true
fi
exit $status
