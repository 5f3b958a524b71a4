#!/usr/bin/env bash
# Runs every fuzz target (tests/fuzz/fuzz_parsers.cpp) for longer than ctest does:
#   bash scripts/fuzz.sh [SECONDS_PER_TARGET (default 300)] [SEED (default 1)]
# A finding (an exception other than cyg::Error) or a crash names the input that caused
# it; add it to tests/fuzz/corpus/<target>/ once fixed, so it is tried on every run.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-300}"
seed="${2:-1}"
build_dir="${CYGNET_BUILD_DIR:-build}"
[ -x "$build_dir/tests/cygnet_fuzz" ] || cmake --build "$build_dir" --target cygnet_fuzz
status=0
for target in cifar10 idx safetensors config; do
  "$build_dir/tests/cygnet_fuzz" "$target" "$seconds" "tests/fuzz/corpus/$target" "$seed" || status=1
done
exit "$status"
