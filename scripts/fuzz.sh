#!/usr/bin/env bash
# Fuzzes the four readers of outside input (tests/fuzz/): CIFAR-10 batches, IDX files
# (plain and gzipped), safetensors and YAML configs (read and validated).
#   bash scripts/fuzz.sh [SECONDS_PER_TARGET (default 300)] [SEED (default 1)]
#   bash scripts/fuzz.sh --engine      prints the engine it would use
# Where clang and its libFuzzer are installed (Debian's clang and libclang-rt-dev), the
# targets are libFuzzer's, coverage-guided, with the readers built by clang under
# AddressSanitizer and UBSan in build-fuzz/ ($CYGNET_FUZZ_BUILD_DIR); the inputs that
# reach new code go to build-fuzz/corpus/<target>/, a finding (a crash, a sanitizer
# report, a leak, a hang over 10 s, an exception other than cyg::Error) to
# build-fuzz/findings/. Elsewhere, or with CYGNET_FUZZ_ENGINE=plain, the plain mutation
# driver (cygnet_fuzz, also run by ctest as Fuzz.*) does it. Add a finding, once fixed,
# to tests/fuzz/corpus/<target>/, so every run tries it.
set -euo pipefail
cd "$(dirname "$0")/.."

# clang links a libFuzzer target with AddressSanitizer and OpenMP (the engine's build
# needs it: libomp-dev): a two-line probe.
libfuzzer_links() {
  local probe
  probe=$(mktemp -d)
  printf '%s\n' '#include <cstddef>' \
    'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, size_t) { return 0; }' > "$probe/probe.cpp"
  clang++ -fsanitize=fuzzer,address -fopenmp "$probe/probe.cpp" -o "$probe/probe" > /dev/null 2>&1
  local status=$?
  rm -rf "$probe"
  return "$status"
}

engine() {
  if [ -n "${CYGNET_FUZZ_ENGINE:-}" ]; then
    echo "$CYGNET_FUZZ_ENGINE"
  elif command -v clang++ > /dev/null && libfuzzer_links; then
    echo libfuzzer
  else
    echo plain
  fi
}
if [ "${1:-}" = --engine ]; then
  engine
  exit
fi
seconds="${1:-300}"
seed="${2:-1}"
targets=(cifar10 idx safetensors config png jpeg)
status=0

case "$(engine)" in
  plain)
    build_dir="${CYGNET_BUILD_DIR:-build}"
    [ -x "$build_dir/tests/cygnet_fuzz" ] || cmake --build "$build_dir" --target cygnet_fuzz
    for target in "${targets[@]}"; do
      "$build_dir/tests/cygnet_fuzz" "$target" "$seconds" "tests/fuzz/corpus/$target" "$seed" || status=1
    done
    ;;
  libfuzzer)
    build_dir="${CYGNET_FUZZ_BUILD_DIR:-build-fuzz}"
    sanitize="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
    generator=()
    command -v ninja > /dev/null && [ ! -f "$build_dir/CMakeCache.txt" ] && generator=(-G Ninja)
    mkdir -p "$build_dir/logs"
    if ! { cmake -S . -B "$build_dir" "${generator[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCYGNET_CUDA=OFF \
      -DCYGNET_ONEDNN=OFF -DCYGNET_MPI=OFF -DCYGNET_LIBFUZZER=ON -DCMAKE_C_COMPILER=clang \
      -DCMAKE_CXX_COMPILER=clang++ "-DCMAKE_CXX_FLAGS=$sanitize" \
      "-DCMAKE_EXE_LINKER_FLAGS=-fsanitize=address,undefined" &&
      cmake --build "$build_dir" -j "$(nproc)" --target "${targets[@]/#/cygnet_libfuzzer_}"; } \
      > "$build_dir/logs/build.log" 2>&1; then
      echo "fuzz: the libFuzzer build failed; the end of $build_dir/logs/build.log:" >&2
      tail -30 "$build_dir/logs/build.log" >&2
      exit 1
    fi
    mkdir -p "$build_dir/findings"
    for target in "${targets[@]}"; do
      mkdir -p "$build_dir/corpus/$target"
      log="$build_dir/logs/$target.log"
      # The first folder takes the new inputs; the repository's seed corpus is only read.
      if ASAN_OPTIONS=detect_leaks=1 "$build_dir/tests/cygnet_libfuzzer_$target" -max_total_time="$seconds" \
        -timeout=10 -seed="$seed" -print_final_stats=1 -artifact_prefix="$build_dir/findings/$target-" \
        "$build_dir/corpus/$target" "tests/fuzz/corpus/$target" > "$log" 2>&1; then
        echo "$target: $(sed -n 's/^stat::number_of_executed_units: *//p' "$log") inputs (libFuzzer)," \
          "$(find "$build_dir/corpus/$target" -type f | wc -l) in its corpus, no finding"
      else
        status=1
        echo "$target: a FINDING (libFuzzer); its input is in $build_dir/findings/, the end of $log:"
        tail -30 "$log"
      fi
      # The target's scratch folder, left behind when libFuzzer ends at a finding.
      rm -rf "${TMPDIR:-/tmp}/cygnet_libfuzzer_${target}_"*
    done
    ;;
  *)
    echo "fuzz: CYGNET_FUZZ_ENGINE is '$(engine)'; expected plain or libfuzzer" >&2
    exit 2
    ;;
esac
exit "$status"
