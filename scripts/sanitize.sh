#!/usr/bin/env bash
# The sanitizer job: a CPU-only build with AddressSanitizer and UndefinedBehaviorSanitizer
# (build-asan/, or $CYGNET_BUILD_DIR), then every test labelled cpu or emu under both:
# the engine, the readers, the apps the end-to-end tests start, and the CUDA kernels on
# the emulation shim (which tells the sanitizers of its fiber switches). Each report,
# from any process, is written as a file under <build>/sanitizer-reports/ (a canary
# checks first that both sanitizers' reports reach such files); the job fails when a
# test fails or a single report was written, and prints the reports.
#   scripts/sanitize.sh [ctest arguments, e.g. -R Loader]
#   scripts/sanitize.sh --thread
# The tests take about 12 minutes on 2 cores, the bf16 end-to-end run most of it.
# --thread: ThreadSanitizer instead, over the emulated kernels and the shim itself
# (test_kernels_emu, test_emu_shim; build-tsan/), with one OpenMP thread: libgomp is not
# built with ThreadSanitizer, so its barriers would be invisible to it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh

# A fresh folder for the reports of this run.
new_reports() { rm -rf "$1" && mkdir -p "$1"; }
# Prints each report and a summary line; fails when there is a report or the tests failed.
finish() {  # finish <reports> <what> <test exit status>
  local count
  count=$(find "$1" -type f | wc -l)
  find "$1" -type f -print0 | sort -z | while IFS= read -r -d '' f; do
    echo "=== $f"
    head -60 "$f"
  done
  echo "sanitize: $count $2 report(s); test exit status $3"
  [ "$count" -eq 0 ] && [ "$3" -eq 0 ]
}

if [ "${1:-}" = --thread ]; then
  build_dir="${CYGNET_BUILD_DIR:-build-tsan}"
  generator=()
  command -v ninja > /dev/null && [ ! -f "$build_dir/CMakeCache.txt" ] && generator=(-G Ninja)
  cmake -S . -B "$build_dir" "${generator[@]}" -DCYGNET_CUDA=OFF -DCYGNET_ONEDNN=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_FLAGS=-fsanitize=thread -DCMAKE_EXE_LINKER_FLAGS=-fsanitize=thread > /dev/null
  cmake --build "$build_dir" -j "$(nproc)" --target test_kernels_emu test_emu_shim
  reports="$PWD/$build_dir/sanitizer-reports"
  new_reports "$reports"
  status=0
  for t in test_emu_shim test_kernels_emu; do
    OMP_NUM_THREADS=1 TSAN_OPTIONS="log_path=$reports/tsan:halt_on_error=1" "$build_dir/tests/$t" ||
      status=$?
  done
  finish "$reports" ThreadSanitizer "$status"
  exit
fi
build_dir="${CYGNET_BUILD_DIR:-build-asan}"
sanitize="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
# Both runtimes linked statically: with GCC's shared libasan and libubsan side by side,
# UBSan's reports ignore log_path and go to stderr only, where a test that expected its
# child process to fail would hide them. Linked statically they share one report path.
CYGNET_BUILD_DIR="$build_dir" bash scripts/build.sh -DCYGNET_CUDA=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  "-DCMAKE_CXX_FLAGS=$sanitize" "-DCMAKE_EXE_LINKER_FLAGS=$sanitize -static-libasan -static-libubsan" \
  "-DCMAKE_SHARED_LINKER_FLAGS=$sanitize"

# A canary, built and linked as the tests are: one heap overflow and one null pointer
# passed to memcmp must each leave a report file, or the job could not see what it
# looks for.
canary="$PWD/$build_dir/sanitizer-canary"
new_reports "$canary"
printf '%s\n' '#include <cstring>' '#include <vector>' 'int main(int argc, char** argv) {' \
  '  std::vector<int> v(3);' '  std::vector<char> none;' \
  '  if (argc == 2) return std::memcmp(none.data(), argv[0], static_cast<size_t>(argc - 2));' \
  '  return v.data()[argc + 5];' '}' > "$canary/canary.cpp"
# shellcheck disable=SC2086  # $sanitize is a list of flags
"${CXX:-c++}" -O1 $sanitize -static-libasan -static-libubsan "$canary/canary.cpp" -o "$canary/canary"
for args in "" "ubsan"; do
  ASAN_OPTIONS="log_path=$canary/asan" UBSAN_OPTIONS="log_path=$canary/ubsan:halt_on_error=1" \
    "$canary/canary" $args 2> /dev/null && { echo "sanitize: the canary${args:+ ($args)} was not stopped" >&2; exit 1; }
done
[ "$(find "$canary" -name 'asan.*' | wc -l)" -eq 1 ] && [ "$(find "$canary" -name 'ubsan.*' | wc -l)" -eq 1 ] || {
  echo "sanitize: the canary's two errors did not each leave a report file in $canary" >&2
  exit 1
}

reports="$PWD/$build_dir/sanitizer-reports"
new_reports "$reports"
# log_path: a report goes to <path>.<pid>, so a report of a child process that a test
# expected to fail is still counted.
export ASAN_OPTIONS="log_path=$reports/asan:detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1"
export UBSAN_OPTIONS="log_path=$reports/ubsan:print_stacktrace=1:halt_on_error=1"
# One test skips here, saying why: a run under `ulimit -v` (ASan's shadow memory alone is
# larger than any such limit).
status=0
mpi_tests='^(Mpi|DataParallel)\.'
ctest --test-dir "$build_dir" -L '^(cpu|emu)$' -E "$mpi_tests" -j "$(nproc)" --output-on-failure --timeout 3000 "$@" ||
  status=$?
# The tests that start ranks with mpirun, apart: OpenMPI's own never-freed allocations are
# suppressed (scripts/sanitize_mpi.supp), which needs its plugins and PMIx's kept loaded
# and whole stacks at every allocation (slow, so only here). A run given ctest arguments
# (a selection) leaves them out.
if [ $# -eq 0 ]; then
  OMPI_MCA_mca_base_component_disable_dlclose=1 PMIX_MCA_mca_base_component_disable_dlclose=1 \
    LSAN_OPTIONS="suppressions=$PWD/scripts/sanitize_mpi.supp:print_suppressions=0" \
    ASAN_OPTIONS="$ASAN_OPTIONS:fast_unwind_on_malloc=0" \
    ctest --test-dir "$build_dir" -L '^(cpu|emu)$' -R "$mpi_tests" --output-on-failure --timeout 3000 || status=$?
fi
finish "$reports" "ASan/UBSan" "$status"
