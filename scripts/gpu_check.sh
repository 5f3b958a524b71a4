#!/usr/bin/env bash
# Everything that needs a GPU, in one run of under 8 minutes on one H200: the GPU
# tests, then the demo on CUDA. Prints the device and driver first and a table
# (group, passed, failed) last; exits non-zero on any failure, a GPU test skipped
# included (on this machine a GPU must answer).
#
# Two ways to get binaries, tried in order:
#   1. build here with CMake and nvcc for sm_90: cuDNN from CUDNN_ROOT or PyTorch's
#      nvidia-cudnn wheel; GoogleTest, yaml-cpp, zlib and OpenBLAS installed or carried
#      in .deps/ (scripts/pack_gpu_check.sh makes it);
#   2. the binaries prebuilt by scripts/pack_gpu_check.sh in .deps/gpu-bin.
set -uo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
logs=gpu-check-logs
mkdir -p "$logs"
rows=()
failed_any=0
record() {  # group passed failed note
  rows+=("$(printf '%-28s %7s %7s  %s' "$1" "$2" "$3" "$4")")
  [ "$3" != "0" ] && failed_any=1
  return 0
}

echo "== device"
if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv,noheader
else
  echo "nvidia-smi not found"
fi
command -v nvcc >/dev/null && nvcc --version | tail -1

# cuDNN, cuBLAS and friends from PyTorch's wheels, when there.
wheel_libs=$(python3 - 2>/dev/null <<'PY'
import glob, os
try:
    import nvidia
    roots = list(nvidia.__path__)
except Exception:
    roots = []
dirs = sorted({os.path.dirname(p) for r in roots for p in glob.glob(os.path.join(r, "*", "lib", "lib*.so*"))})
print(":".join(dirs))
PY
)
cudnn_root=$(python3 -c 'import nvidia.cudnn; print(list(nvidia.cudnn.__path__)[0])' 2>/dev/null || true)
[ -n "${CUDNN_ROOT:-}" ] && cudnn_root=$CUDNN_ROOT
export LD_LIBRARY_PATH="${wheel_libs}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

# The carried OpenBLAS is gzipped; unpack it beside the logs (not into .deps, which
# must stay small enough to travel).
openblas_prefix="$PWD/$logs/openblas"
if [ -f .deps/prefix/lib/libopenblas.so.0.gz ]; then
  mkdir -p "$openblas_prefix/lib"
  gunzip -c .deps/prefix/lib/libopenblas.so.0.gz > "$openblas_prefix/lib/libopenblas.so.0"
  ln -sf libopenblas.so.0 "$openblas_prefix/lib/libopenblas.so"
  export LD_LIBRARY_PATH="$openblas_prefix/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi

bin_dir=""
echo "== build (CUDA, sm_90)"
cmake_args=(-DCYGNET_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 -DCMAKE_BUILD_TYPE=Release)
[ -n "$cudnn_root" ] && cmake_args+=(-DCUDNN_ROOT="$cudnn_root")
[ -d .deps/googletest ] && cmake_args+=(-DCYGNET_GTEST_SOURCE="$PWD/.deps/googletest")
[ -d .deps/prefix ] && cmake_args+=(-DCMAKE_PREFIX_PATH="$PWD/.deps/prefix;$openblas_prefix" -DCYGNET_STATIC_DEPS=ON)
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
if cmake --fresh -S . -B build-gpu "${generator[@]}" "${cmake_args[@]}" > "$logs/build.log" 2>&1 &&
   cmake --build build-gpu -j "$(nproc)" >> "$logs/build.log" 2>&1; then
  record "build here" 1 0 "built with nvcc $(nvcc --version | sed -n 's/.*release \([0-9.]*\).*/\1/p')"
  bin_dir=build-gpu
else
  tail -20 "$logs/build.log"
  if [ -d .deps/gpu-bin ]; then
    record "build here" 0 0 "failed (see $logs/build.log); using prebuilt .deps/gpu-bin"
    bin_dir=.deps/gpu-bin
    export LD_LIBRARY_PATH="$PWD/.deps/gpu-bin/lib:$LD_LIBRARY_PATH"
  else
    record "build here" 0 1 "failed (see $logs/build.log) and no .deps/gpu-bin to fall back on"
  fi
fi

find_bin() {  # name -> path in the build tree or the prebuilt folder
  for p in "$bin_dir/tests/$1" "$bin_dir/apps/$1" "$bin_dir/$1"; do
    [ -x "$p" ] && { echo "$p"; return; }
  done
}

run_gtest() {  # group binary [filter]
  local group=$1 bin
  bin=$(find_bin "$2")
  if [ -z "$bin" ]; then record "$group" 0 1 "binary $2 missing"; return; fi
  local log="$logs/$2.log"
  timeout 300 "$bin" --gtest_filter="${3:-*}" > "$log" 2>&1
  local rc=$?
  local passed failed skipped
  passed=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
  failed=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
  skipped=$(sed -n 's/^\[  SKIPPED \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
  passed=${passed:-0}; failed=${failed:-0}; skipped=${skipped:-0}
  local note="exit $rc"
  if [ "$skipped" != "0" ]; then
    note="$note; $skipped skipped: $(grep -m1 -o 'no GPU answers[^]]*' "$log")"
    failed=$((failed + skipped))
  fi
  [ "$rc" != "0" ] && [ "$failed" = "0" ] && failed=1
  grep -E '^\[  FAILED  \] [A-Za-z]' "$log" | head -5
  record "$group" "$passed" "$failed" "$note"
}

if [ -n "$bin_dir" ] && [ -n "$(find_bin cygnet_demo)" ]; then
  libraries=$("$(find_bin cygnet_demo)" --device cpu 2>/dev/null | sed -n 's/^libraries: //p')
  echo "== libraries: $libraries"
fi

if [ -n "$bin_dir" ]; then
  echo "== tests"
  run_gtest "gpu kernels vs cpu" test_kernels_gpu
  run_gtest "gpu engine" test_engine_gpu
  run_gtest "golden resnet18 on gpu" test_golden_gpu
  # Memory errors and shared-memory races in our kernels, on small cases (the sanitizer
  # slows kernels down by orders of magnitude).
  sanitizer=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null || true)
  kernels_bin=$(find_bin test_kernels_gpu)
  if [ -n "$sanitizer" ] && [ -n "$kernels_bin" ]; then
    for tool in memcheck racecheck; do
      if timeout 150 "$sanitizer" --tool "$tool" --error-exitcode 1 "$kernels_bin" \
           --gtest_filter='*BatchNormForwardTrain*:*SumAndMean:*CrossEntropyLossForwardBackward*:*AssembleBatch' \
           > "$logs/sanitizer-$tool.log" 2>&1; then
        record "compute-sanitizer $tool" 1 0 "$(grep -m1 -o 'ERROR SUMMARY: [0-9]* error[s]*' "$logs/sanitizer-$tool.log")"
      else
        record "compute-sanitizer $tool" 0 1 "$(grep -m1 -o 'ERROR SUMMARY: [0-9]* error[s]*' "$logs/sanitizer-$tool.log") (see $logs/sanitizer-$tool.log)"
      fi
    done
  else
    record "compute-sanitizer" 0 0 "not available here"
  fi
  run_gtest "library errors" test_library_errors
  run_gtest "emulated kernels" test_kernels_emu "*SumAndMean:*Relu*"
  echo "== benchmark: resnet18 training step, batch 128"
  bench=$(find_bin cygnet_bench)
  if [ -n "$bench" ] && timeout 180 "$bench" --model resnet18 --batch 128 --device cuda --warmup 5 --steps 20 \
       | tee "$logs/bench.log"; then
    record "bench cygnet (cuda)" 1 0 "$(sed -n 's/.*: \([0-9.]* images\/s\).*/\1/p' "$logs/bench.log")"
  else
    record "bench cygnet (cuda)" 0 1 "see $logs/bench.log"
  fi
  if timeout 180 python3 scripts/bench_pytorch.py --batch 128 --device cuda --warmup 5 --steps 20 \
       | tee "$logs/bench_pytorch.log"; then
    record "bench pytorch (cuda)" 1 0 "$(sed -n 's/.*: \([0-9.]* images\/s\).*/\1/p' "$logs/bench_pytorch.log")"
  else
    record "bench pytorch (cuda)" 0 0 "PyTorch not runnable here (reference only)"
  fi
  echo "== a short training run on cuda (1cycle, ResNet-18, synthetic 32x32 data)"
  onecycle=$(find_bin cygnet_onecycle)
  if [ -n "$onecycle" ] && timeout 240 "$onecycle" device=cuda run_root="$logs/runs" name=gpu-check \
       data.dataset=synthetic data.synthetic_size=32 data.synthetic_train=8192 data.synthetic_val=1024 \
       model.name=resnet18 train.epochs=2 schedule.lr_min=0.01 schedule.lr_max=0.2 | tee "$logs/train.log"; then
    record "training run (cuda)" 1 0 "$(grep -o 'epoch 2/2: .*' "$logs/train.log" | head -1)"
  else
    record "training run (cuda)" 0 1 "see $logs/train.log"
  fi
  echo "== demo on cuda"
  demo=$(find_bin cygnet_demo)
  if [ -n "$demo" ] && timeout 120 "$demo" --device cuda | tee "$logs/demo.log"; then
    record "demo --device cuda" 1 0 "$(grep -m1 -o 'ms on cuda:0' "$logs/demo.log" | head -1)"
  else
    record "demo --device cuda" 0 1 "see output above"
  fi
fi

# Logs travel back from the device machine when OUT names a folder.
[ -n "${OUT:-}" ] && [ -d "${OUT:-}" ] && tar czf "$OUT/gpu-check-logs.tar.gz" "$logs" 2>/dev/null
echo
echo "== gpu_check summary ($(( $(date +%s) - started )) s)"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
[ -n "${libraries:-}" ] && echo "$libraries"
printf '%-28s %7s %7s  %s\n' "group" "passed" "failed" "note"
printf '%s\n' "${rows[@]}"
exit $failed_any
