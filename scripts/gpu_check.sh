#!/usr/bin/env bash
# Everything that needs a GPU, on the first machine with one that it meets:
#   scripts/gpu_check.sh           the whole check: the correctness part below, then the
#                                  benchmark at batch 512 and 128 with the step counters and
#                                  cuDNN's choices (kept in one file the later runs read),
#                                  cygnet against PyTorch eager (scripts/compare_pytorch.sh:
#                                  the step and a CIFAR-10 epoch, converted from the JPEG copy
#                                  that pack_gpu_check.sh puts in .deps/cifar10), the other
#                                  benchmarks, a short training run, a 1-rank NCCL run and the
#                                  demo on CUDA; then, as the budget allows,
#                                  compute-sanitizer, the library-error and emulation tests
#                                  and a profile (scripts/profile.sh). Planned for 14 minutes on
#                                  one H200 from a cold build folder; by default it gets
#                                  560 s, and the figures the fast path is measured by come
#                                  first (the benchmarks at batch 512 and 128, then PyTorch).
#   scripts/gpu_check.sh --quick   the correctness part alone: build, the GPU tests and
#                                  the golden ResNet-18. Under 4 minutes.
#   scripts/gpu_check.sh --profile the build and the profile (scripts/profile.sh) of a
#                                  ResNet-18 step at batch 128 and 512, each with the
#                                  benchmark's step counters and cuDNN choices beside it,
#                                  and PyTorch's kernels at the same batch (bench_pytorch.py
#                                  --kernels). Under 5 minutes.
#   scripts/gpu_check.sh --table1  the build and all of Table I on CIFAR-10 (scripts/table1.sh:
#                                  the Adam baseline and the eight 1cycle rows, 690 epochs),
#                                  tabled with what finished within the budget (570 s).
# Prints the device and the toolchain it found first and one table (step, passed,
# failed, seconds, note) last, also when a step fails or runs out of time; every step
# has a time limit, and the check as a whole a budget: 560 s (its steps' limits are
# planned for 820 and shrink in proportion), 240 s with --quick, 250 s with --profile,
# 570 s with --table1; a step the budget leaves no time for is noted "not run". CYGNET_GPU_CHECK_SECONDS sets the
# budget (on a slower machine, or with a longer command), and every step's limit follows
# in proportion. Exits non-zero on any failure, a GPU test skipped included
# (on the machine this is for, a GPU must answer); with 3 when nothing failed but the
# budget's end cut a step short (the table says "incomplete"). Logs in gpu-check-logs/; when $OUT
# names a folder, also there after every step, as gpu-check-logs.tar.gz with the table so
# far in gpu-check-summary.txt, so a check killed from outside still leaves its finished
# steps. Where one command may run for less than the budget, set the budget below it.
#
# Two ways to get binaries, tried in order:
#   1. build here with CMake and nvcc, for this machine's GPU only: the CUDA libraries
#      from the toolkit or PyTorch's pip wheels (nvidia/*/lib, versioned .so files);
#      GoogleTest, yaml-cpp, zlib and OpenBLAS installed or carried in .deps/
#      (scripts/pack_gpu_check.sh makes it);
#   2. the binaries prebuilt by scripts/pack_gpu_check.sh in .deps/gpu-bin.
set -uo pipefail
cd "$(dirname "$0")/.."

mode=full
case "${1:-}" in
  --quick) mode=quick ;;
  --table1) mode=table1 ;;
  --profile) mode=profile ;;
  "") ;;
  *) sed -n '2,/^# Prints/{/^# Prints/d;s/^# \{0,1\}//;p}' "$0"; exit 2 ;;
esac
# The steps' own limits are planned for a budget of planned_budget seconds and scale with
# the budget given. The whole check's default (560 s) fits one command of a lent machine
# (at most 600 s, with the launch and the transfers).
case "$mode" in
  quick) planned_budget=240 default_budget=240 ;;
  table1) planned_budget=570 default_budget=570 ;;
  profile) planned_budget=250 default_budget=250 ;;
  *) planned_budget=820 default_budget=560 ;;
esac
budget=${CYGNET_GPU_CHECK_SECONDS:-$default_budget}
started=$(date +%s)
logs=gpu-check-logs
rm -rf "$logs"
mkdir -p "$logs"
rows=()
failed_any=0
cut_steps=0  # steps the budget's end cut short: the check is then incomplete
libraries=""
gpu_name=""

# ---- the table, printed however the check ends ----
record() {  # step passed failed seconds note
  rows+=("$(printf '%-29s %6s %6s %5s  %s' "$1" "$2" "$3" "$4" "$5")")
  [ "$3" != "0" ] && failed_any=1
  save_to_out
  return 0
}
# The logs and the table so far, into $OUT after every step, each replaced whole: what
# came back is complete up to the last finished step even if the check is killed.
# Checkpoints (hundreds of MB) and other large files stay here.
save_to_out() {
  [ -n "${OUT:-}" ] && [ -d "${OUT:-}" ] || return 0
  tar czf "$OUT/.gpu-check-logs.tar.gz" --exclude='*.safetensors' --exclude='*.nsys-rep' --exclude='*.ncu-rep' \
    --exclude='*.qdstrm' --exclude='*.sqlite' --exclude='openblas' "$logs" 2>/dev/null &&
    mv -f "$OUT/.gpu-check-logs.tar.gz" "$OUT/gpu-check-logs.tar.gz"
  summary_table > "$OUT/.gpu-check-summary.txt" && mv -f "$OUT/.gpu-check-summary.txt" "$OUT/gpu-check-summary.txt"
}
summary_table() {
  echo "== gpu_check summary ($mode, $(( $(date +%s) - started )) s of $budget)"
  [ "$cut_steps" -gt 0 ] && echo "incomplete: $cut_steps step(s) cut short by the budget's end (exit 3 unless a step failed)"
  echo "device: ${gpu_name:-no GPU answered}"
  [ -n "$libraries" ] && echo "libraries: $libraries"
  printf '%-29s %6s %6s %5s  %s\n' "step" "passed" "failed" "s" "note"
  [ ${#rows[@]} -gt 0 ] && printf '%s\n' "${rows[@]}"
  echo "notes: the GPU tests run with CYGNET_SYNC_LAUNCHES=1 (every kernel launch synchronised and"
  echo "  checked, so a device fault names its kernel); a skipped GPU test counts as failed; logs in $logs/"
}
summary() {
  save_to_out
  echo
  summary_table
}
trap summary EXIT
step_pid=""
# timeout runs its command in a process group of its own, out of reach of a Ctrl-C:
# pass the signal on, so that the step stops and the table still comes.
interrupted() {
  [ -n "$step_pid" ] && kill -TERM "$step_pid" 2>/dev/null
  record "interrupted" 0 1 0 "stopped by a signal"
  exit 130
}
trap interrupted INT TERM

# Seconds a step may take: its own limit (for an H200 machine, scaled with the budget),
# cut to what is left of the budget.
# What is left keeps a reserve: a step stopped at its limit may take up to 20 s more to
# end (timeout's --kill-after; a training run stops at a step boundary), and the table
# must still come within the budget.
limit_reserve=25
# A profile given less runs none of its profilers, and would pass with nothing measured.
profile_minimum=30
limit_for() {
  local own=$(( $1 * budget / planned_budget )) left=$(( budget - limit_reserve - ($(date +%s) - started) ))
  [ "$left" -lt 0 ] && left=0
  [ "$left" -lt "$own" ] && echo "$left" || echo "$own"
}
# Runs a command under the step's limit; the log gets its output. Sets step_rc, step_s,
# and step_not_run (1 when the budget left no time to start it).
# step_cut is 1 when the budget cut the step's own limit: a timeout then means the check
# ran out of time, not that the step hung.
run_limited() {  # seconds log command...
  local limit
  limit=$(limit_for "$1")
  step_cut=0
  [ "$limit" -lt $(( $1 * budget / planned_budget )) ] && step_cut=1
  shift
  run_within "$limit" "$@"
}
# The same with a limit in seconds as it is; step_signal (TERM unless set) stops it.
run_within() {  # seconds log command...
  local limit=$1 log=$2 t0
  shift 2
  t0=$(date +%s)
  step_not_run=0
  if [ "$limit" -lt 5 ]; then
    echo "not run: the check's $budget s leave it under 5 s" > "$log"
    step_rc=124 step_s=0 step_not_run=1
    return
  fi
  timeout -s "${step_signal:-TERM}" --kill-after=20 "$limit" "$@" > "$log" 2>&1 &
  step_pid=$!
  wait "$step_pid"
  step_rc=$?
  step_pid=""
  step_s=$(( $(date +%s) - t0 ))
  [ "$step_rc" = 124 ] || [ "$step_rc" = 137 ] && echo "timed out after $limit s" >> "$log"
  return 0
}
timed_out() { [ "$step_rc" = 124 ] || [ "$step_rc" = 137 ]; }
cut_by_budget() { timed_out && [ "${step_cut:-0}" = 1 ]; }
step_cut=0

# ---- device ----
echo "== device"
gpu_present=0
# A wedged driver can hang nvidia-smi: each call has a time limit.
if command -v nvidia-smi >/dev/null && timeout -k 5 20 nvidia-smi -L > "$logs/nvidia-smi.log" 2>&1 &&
  grep -q '^GPU ' "$logs/nvidia-smi.log"; then
  gpu_present=1
  gpu_name=$(timeout -k 5 20 nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv,noheader | head -1)
  echo "$gpu_name"
  record "device" 1 0 0 "$gpu_name"
else
  reason=$(command -v nvidia-smi >/dev/null && head -1 "$logs/nvidia-smi.log" || echo "nvidia-smi not found")
  echo "no GPU answers: $reason"
  record "device" 0 1 0 "no GPU answers ($reason): the GPU steps below skip or fail"
fi

# ---- toolchain: what the build needs, and where it was found ----
echo "== toolchain"
# PATH's, else the toolkit /usr/local/cuda points at, else the newest /usr/local/cuda-*.
nvcc=$(command -v nvcc || { [ -x /usr/local/cuda/bin/nvcc ] && echo /usr/local/cuda/bin/nvcc; } ||
  ls -d /usr/local/cuda-*/bin/nvcc 2>/dev/null | sort -V | tail -1 || true)
[ -n "$nvcc" ] && export PATH="$(dirname "$nvcc"):$PATH"
missing=()
found() { printf '  %-12s %s\n' "$1" "$2"; }
first_file() {  # pattern dir... -> the first match
  local pattern=$1 dir
  shift
  for dir in "$@"; do
    compgen -G "$dir/$pattern" | head -1 | grep . && return
  done
  return 0
}
# PyTorch's wheels: site-packages/nvidia/<package>/{include,lib}; CUDA 13 wheels share nvidia/cu13.
wheel_roots=$(python3 - 2>/dev/null <<'PY'
import glob, os
try:
    import nvidia
    roots = list(nvidia.__path__)
except Exception:
    roots = []
print(";".join(sorted({os.path.dirname(p) for r in roots for p in glob.glob(os.path.join(r, "*", "*"))
                       if os.path.basename(p) in ("include", "lib") and os.path.isdir(p)})))
PY
)
IFS=';' read -r -a wheel_dirs <<< "$wheel_roots"
wheel_lib_dirs=()
for d in "${wheel_dirs[@]}"; do wheel_lib_dirs+=("$d/lib"); done
if [ -n "$nvcc" ]; then
  cuda_root=$(dirname "$(dirname "$(readlink -f "$nvcc")")")
  nvcc_version=$("$nvcc" --version | sed -n 's/.*release \([0-9.]*\).*/\1/p')
  found nvcc "$nvcc ($nvcc_version)"
else
  cuda_root=""
  missing+=("nvcc")
fi
toolkit_lib_dirs=("$cuda_root/lib64" "$cuda_root/lib" "$cuda_root"/targets/*/lib)
toolkit_include_dirs=("$cuda_root/include" "$cuda_root"/targets/*/include)
cudnn_dirs=()
[ -n "${CUDNN_ROOT:-}" ] && cudnn_dirs+=("$CUDNN_ROOT/lib" "$CUDNN_ROOT/lib64")
include_dirs=("${toolkit_include_dirs[@]}" "${wheel_dirs[@]/%//include}" ${CUDNN_ROOT:+"$CUDNN_ROOT/include"})
# name, header, library pattern ('' for headers only), extra library folders: each
# looked for in the toolkit, then the wheels.
check_library() {
  local name=$1 header=$2 lib_pattern=$3 lib="" include="" d
  shift 3
  [ -n "$lib_pattern" ] && lib=$(first_file "$lib_pattern" "$@" "${toolkit_lib_dirs[@]}" "${wheel_lib_dirs[@]}")
  for d in "${include_dirs[@]}"; do
    [ -f "$d/$header" ] && { include="$d"; break; }
  done
  if [ -z "$include" ] || { [ -n "$lib_pattern" ] && [ -z "$lib" ]; }; then
    missing+=("$name (${include:-no $header}${lib_pattern:+, ${lib:-no $lib_pattern}})")
  else
    found "$name" "${lib:+$lib, }$header in $include"
  fi
}
# CMake's CUDA compiler check links the static runtime, as nvcc does by default.
check_library "CUDA runtime" cuda_runtime.h 'libcudart_static.a'
check_library cuBLAS cublas_v2.h 'libcublas.so*'
check_library cuDNN cudnn.h 'libcudnn.so*' "${cudnn_dirs[@]}"
check_library NVTX3 nvtx3/nvToolsExt.h ''
[ -n "$wheel_roots" ] && found "wheels" "${wheel_roots//;/ }"
for tool in cmake ninja; do
  if command -v "$tool" >/dev/null; then found "$tool" "$("$tool" --version | head -1)"; else missing+=("$tool"); fi
done

# OpenBLAS (the CPU reference) carried gzipped with the libraries it links
# (libgfortran, libquadmath); unpacked beside the logs, and on LD_LIBRARY_PATH before
# CMake runs, whose BLAS probe links and runs against it.
openblas_prefix="$PWD/$logs/openblas"
if [ -f .deps/prefix/lib/libopenblas.so.0.gz ]; then
  mkdir -p "$openblas_prefix/lib"
  gunzip -c .deps/prefix/lib/libopenblas.so.0.gz > "$openblas_prefix/lib/libopenblas.so.0"
  ln -sf libopenblas.so.0 "$openblas_prefix/lib/libopenblas.so"
  for lib in .deps/prefix/lib/*.so.[0-9]; do
    [ -e "$lib" ] && ln -sf "$PWD/$lib" "$openblas_prefix/lib/"
  done
  export LD_LIBRARY_PATH="$openblas_prefix/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  unresolved=$(ldd "$openblas_prefix/lib/libopenblas.so.0" | awk '/not found/{print $1}' | tr '\n' ' ')
  if [ -n "$unresolved" ]; then missing+=("OpenBLAS's ${unresolved% }"); else found OpenBLAS "carried in .deps"; fi
fi
for d in "${wheel_lib_dirs[@]}"; do export LD_LIBRARY_PATH="$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"; done
# The rest of what the build needs: installed, or carried in .deps (pack_gpu_check.sh).
carry_hint="carry .deps from scripts/pack_gpu_check.sh"
[ -d .deps ] || carry_hint="no .deps here: run scripts/pack_gpu_check.sh --no-binaries where Debian's packages are, and carry .deps"
[ -f .deps/prefix/include/yaml-cpp/yaml.h ] || [ -f /usr/include/yaml-cpp/yaml.h ] || missing+=("yaml-cpp ($carry_hint)")
[ -d .deps/googletest ] || [ -f /usr/include/gtest/gtest.h ] || [ -d /usr/src/googletest ] ||
  missing+=("GoogleTest ($carry_hint)")
[ -f .deps/prefix/lib/libopenblas.so.0.gz ] || grep -q -E 'lib(open)?blas\.so' < <(ldconfig -p 2>/dev/null) ||
  missing+=("a BLAS ($carry_hint)")
if [ "${#missing[@]}" -gt 0 ]; then
  printf '  missing:     %s\n' "${missing[@]}"
  record "toolchain" 0 0 0 "missing: $(IFS=';'; echo "${missing[*]}")"
else
  sources="the toolkit"
  [ -n "$wheel_roots" ] && sources="the toolkit and PyTorch's wheels"
  record "toolchain" 1 0 0 "nvcc ${nvcc_version:-?}; CUDA libraries from $sources"
fi

# ---- build: this GPU's architecture only ----
arch=90
if [ "$gpu_present" = 1 ]; then
  cap=$(timeout -k 5 20 nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d ' .')
  case "$cap" in [0-9][0-9]|[0-9][0-9][0-9]) arch=$cap ;; *) arch=native ;; esac
fi
targets=(test_kernels_gpu test_engine_gpu test_gpu_path_on_cuda test_golden_gpu test_launch_sync cygnet_demo)
[ "$mode" = full ] && targets+=(test_library_errors test_kernels_emu cygnet_bench cygnet_onecycle)
[ "$mode" = table1 ] && targets=(cygnet_baseline cygnet_onecycle cygnet_table cygnet_demo)
[ "$mode" = profile ] && targets=(cygnet_bench cygnet_demo)
echo "== build (CUDA, architecture $arch; logs in $logs/configure.log and build.log)"
bin_dir=""
# Warnings stay warnings: a compiler newer than CI's may warn where CI's does not, and a
# one-off check should not lose its build to that (the build log keeps them).
# oneDNN and MPI off: that machine has neither (nothing to install them with), and a build
# that does not depend on what happens to be found is the one tried beforehand
# (scripts/pack_gpu_check.sh builds the same configuration); the CPU's convolutions then
# take im2col and the carried OpenBLAS, and one rank needs no MPI.
cmake_args=(-DCYGNET_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="$arch" -DCMAKE_BUILD_TYPE=Release -DCYGNET_WERROR=OFF
            -DCYGNET_ONEDNN=OFF -DCYGNET_MPI=OFF)
[ -n "${CUDNN_ROOT:-}" ] && cmake_args+=(-DCUDNN_ROOT="$CUDNN_ROOT")
[ -n "$wheel_roots" ] && cmake_args+=(-DCYGNET_CUDA_LIBRARY_ROOTS="$wheel_roots")
[ -n "$nvcc" ] && cmake_args+=(-DCMAKE_CUDA_COMPILER="$nvcc")
[ -d .deps/googletest ] && cmake_args+=(-DCYGNET_GTEST_SOURCE="$PWD/.deps/googletest")
[ -d .deps/prefix ] && cmake_args+=(-DCMAKE_PREFIX_PATH="$PWD/.deps/prefix;$openblas_prefix" -DCYGNET_STATIC_DEPS=ON)
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
build_log=$logs/configure.log
run_limited 90 "$build_log" cmake --fresh -S . -B build-gpu "${generator[@]}" "${cmake_args[@]}"
build_s=$step_s
if [ "$step_rc" = 0 ]; then
  build_log=$logs/build.log
  run_limited "$(case "$mode" in quick) echo 180 ;; table1) echo 240 ;; profile) echo 90 ;; *) echo 420 ;; esac)" "$build_log" \
    cmake --build build-gpu -j "$(nproc)" --target "${targets[@]}"
  build_s=$(( build_s + step_s ))
fi
if [ "$step_rc" = 0 ]; then
  record "build here" 1 0 "$build_s" "nvcc ${nvcc_version:-?}, architecture $arch, ${#targets[@]} targets"
  bin_dir=build-gpu
else
  tail -20 "$build_log"
  why="failed"
  timed_out && why="timed out"
  [ "${#missing[@]}" -gt 0 ] && why="$why (toolchain missing: $(IFS=';'; echo "${missing[*]}"))"
  if [ -d .deps/gpu-bin ] && [ "$mode" != table1 ]; then
    record "build here" 0 0 "$build_s" "$why; see $build_log; using the prebuilt .deps/gpu-bin"
    bin_dir=.deps/gpu-bin
    export LD_LIBRARY_PATH="$PWD/.deps/gpu-bin/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  else
    record "build here" 0 1 "$build_s" "$why; see $build_log; no .deps/gpu-bin to fall back on"
  fi
fi

find_bin() {  # name -> path in the build tree or the prebuilt folder
  local p
  for p in "$bin_dir/tests/$1" "$bin_dir/apps/$1" "$bin_dir/$1"; do
    [ -x "$p" ] && { echo "$p"; return; }
  done
}

run_gtest() {  # step seconds binary [filter]
  local step=$1 seconds=$2 bin log passed failed skipped note
  bin=$(find_bin "$3")
  if [ -z "$bin" ]; then record "$step" 0 1 0 "binary $3 missing"; return; fi
  log="$logs/$3.log"
  run_limited "$seconds" "$log" env CYGNET_SYNC_LAUNCHES=1 "$bin" --gtest_filter="${4:-*}"
  if [ "$step_not_run" = 1 ]; then record "$step" 0 0 0 "$(cat "$log")"; return; fi
  passed=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
  failed=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
  skipped=$(sed -n 's/^\[  SKIPPED \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
  passed=${passed:-0} failed=${failed:-0} skipped=${skipped:-0}
  note=""
  [ "$step_rc" != 0 ] && note="exit $step_rc; "
  timed_out && note="$(tail -1 "$log"); "
  if cut_by_budget; then
    # No summary line: the tests that finished before the cut count, each by its own line
    # (a test that failed or skipped then is still a failure).
    passed=$(grep -cE '^\[       OK \] [A-Za-z]' "$log")
    failed=$(grep -cE '^\[  FAILED  \] [A-Za-z][^ ]* \(' "$log")
    skipped=$(grep -cE '^\[  SKIPPED \] [A-Za-z][^ ]* \(' "$log")
    note="cut by the check's budget after $step_s s; "
    cut_steps=$((cut_steps + 1))
  fi
  if [ "$skipped" != "0" ]; then
    note="$note$skipped skipped ($(grep -m1 -o 'no GPU answers: [^(]*' "$log" | sed 's/ *$//'))"
    failed=$((failed + skipped))
  fi
  note=${note%; }
  [ "$step_rc" != "0" ] && [ "$failed" = "0" ] && ! cut_by_budget && failed=1
  grep -E '^\[  FAILED  \] [A-Za-z]' "$log" | head -5
  record "$step" "$passed" "$failed" "$step_s" "$note"
}

# A command's step: passed when it exits 0, noted with what its log says (grep -E -o).
run_command() {  # step seconds log note-pattern command...
  local step=$1 seconds=$2 log=$3 pattern=$4 why
  shift 4
  run_limited "$seconds" "$log" "$@"
  if [ "$step_not_run" = 1 ]; then
    record "$step" 0 0 0 "$(cat "$log")"
  elif [ "$step_rc" = 0 ]; then
    record "$step" 1 0 "$step_s" "$(grep -m1 -o -E "$pattern" "$log")"
  elif cut_by_budget; then
    cut_steps=$((cut_steps + 1))
    record "$step" 0 0 "$step_s" "cut by the check's budget after $step_s s (incomplete, not a failure)"
  else
    why="exit $step_rc"
    timed_out && why=$(tail -1 "$log")
    record "$step" 0 1 "$step_s" "$why: $(grep -v -e '^$' -e '^timed out' "$log" | tail -1 | cut -c1-90)"
  fi
}

# CIFAR-10 in the official binary layout for the epoch comparison: data/cifar-10-batches-bin
# when it is there, else converted from the JPEG copy beside the checkout (the converter
# needs numpy and Pillow). Sets cifar10_dir and records a row.
has_cifar10() {
  local f
  for f in data_batch_1.bin data_batch_2.bin data_batch_3.bin data_batch_4.bin data_batch_5.bin test_batch.bin; do
    [ -s "$1/$f" ] || return 1
  done
}
prepare_cifar10() {
  local converted=build-gpu/cifar-10-batches-bin converter py converter_python="" why=""
  cifar10_dir=data/cifar-10-batches-bin
  if has_cifar10 "$cifar10_dir"; then
    record "cifar-10" 1 0 0 "in $cifar10_dir"
    return
  fi
  if has_cifar10 "$converted"; then
    cifar10_dir=$converted
    record "cifar-10" 1 0 0 "converted before, in $converted"
    return
  fi
  converter=$(ls .deps/cifar10/make_cifar10_bin.py ../shared/datasets/cifar10/make_cifar10_bin.py \
    shared/datasets/cifar10/make_cifar10_bin.py 2>/dev/null | head -1)
  if [ -z "$converter" ]; then
    record "cifar-10" 0 0 0 "not here: no $cifar10_dir, and no JPEG copy (.deps/cifar10/ or ../shared/datasets/cifar10/)"
    return
  fi
  for py in python3 /usr/bin/python3; do
    if "$py" -c 'import numpy, PIL' > "$logs/cifar10-probe.log" 2>&1; then converter_python=$py; break; fi
    [ -z "$why" ] && why=$(tail -1 "$logs/cifar10-probe.log" | cut -c1-60)
  done
  if [ -z "$converter_python" ]; then
    record "cifar-10" 0 0 0 "not converted: $converter needs numpy and Pillow (python3: ${why:-not found})"
    return
  fi
  run_limited 90 "$logs/cifar10.log" "$converter_python" "$converter" "$converted"
  if [ "$step_rc" = 0 ] && has_cifar10 "$converted"; then
    cifar10_dir=$converted
    record "cifar-10 (converted)" 1 0 "$step_s" "$(tail -1 "$logs/cifar10.log" | cut -c1-90)"
  else
    record "cifar-10 (converted)" 0 1 "$step_s" "exit $step_rc: $(tail -1 "$logs/cifar10.log" | cut -c1-90)"
  fi
}

# The rows compare_pytorch.sh wrote (name, ok|not-runnable|failed, note); the first row
# carries the comparison's seconds.
record_compare_rows() {
  local name status note seconds=$step_s
  if [ ! -s "$logs/compare.tsv" ]; then
    record "vs pytorch" 0 1 "$step_s" "exit $step_rc, no rows: $(grep -v '^$' "$logs/compare_pytorch.log" | tail -1 | cut -c1-90)"
    return
  fi
  while IFS=$'\t' read -r name status note; do
    case "$status" in
      ok) record "$name" 1 0 "$seconds" "$note" ;;
      failed) record "$name" 0 1 "$seconds" "$note" ;;
      *) record "$name" 0 0 "$seconds" "$note" ;;
    esac
    seconds=""
  done < "$logs/compare.tsv"
}

# PyTorch's benchmark under the first Python that imports torch (as compare_pytorch.sh);
# asked only where a step runs it.
torch_python=python3
if [ "$mode" = full ] || [ "$mode" = profile ]; then
  for py in python3 /usr/bin/python3; do
    if timeout -k 5 60 "$py" -c 'import torch' > /dev/null 2>&1; then torch_python=$py; break; fi
  done
fi

if [ -n "$bin_dir" ] && [ -n "$(find_bin cygnet_demo)" ]; then
  libraries=$("$(find_bin cygnet_demo)" --device cpu 2>/dev/null | sed -n 's/^libraries: //p')
  echo "== libraries: $libraries"
fi

if [ -n "$bin_dir" ] && [ "$mode" = profile ]; then
  # The step's counters (launches, bytes, library calls) beside each profile. An nsys
  # that made no report at batch 128 is not tried again at 512.
  no_nsys=()
  for batch in 128 512; do
    echo "== profile and counters: ResNet-18 at batch $batch"
    # The benchmark's search writes the choices the profile then reads (no search again).
    run_command "counters b$batch (cuda)" 30 "$logs/counters_b$batch.log" '[0-9.]+ images/s' \
      "$(find_bin cygnet_bench)" --model resnet18 --batch "$batch" --device cuda --warmup 3 --steps 10 --counters \
      --cudnn-cache "$logs/profile-cudnn-choices.tsv"
    cat "$logs/counters_b$batch.log"
    profile_limit=$(limit_for 60)
    if [ "$profile_limit" -lt "$profile_minimum" ]; then
      echo "not run: the check's budget leaves it $profile_limit s, under the $profile_minimum s a profile needs" \
        > "$logs/profile_b$batch.log"
      step_not_run=1
    else
      run_within "$profile_limit" "$logs/profile_b$batch.log" bash scripts/profile.sh --bin-dir "$bin_dir" \
        --batch "$batch" --out "$logs/profile_b$batch" --seconds $((profile_limit - 10)) "${no_nsys[@]}" \
        --cudnn-cache "$logs/profile-cudnn-choices.tsv"
    fi
    cat "$logs/profile_b$batch.log"
    grep -q "^nsys made no report" "$logs/profile_b$batch.log" && no_nsys=(--no-nsys)
    note=$(sed -n 's/^profile: //p' "$logs/profile_b$batch.log" | tail -1 | cut -c1-150)
    if [ "$step_not_run" = 1 ]; then record "profile b$batch" 0 0 0 "$(head -1 "$logs/profile_b$batch.log")"
    elif [ "$step_rc" = 0 ] && [[ "$note" == "not runnable here"* ]]; then record "profile b$batch" 0 0 "$step_s" "$note"
    elif [ "$step_rc" = 0 ] && [ -n "$note" ]; then record "profile b$batch" 1 0 "$step_s" "$note"
    else record "profile b$batch" 0 1 "$step_s" "exit $step_rc: ${note:-$(grep -v '^$' "$logs/profile_b$batch.log" | tail -1 | cut -c1-100)}"
    fi
    # PyTorch's kernels at the same batch, precision and layout (torch.profiler), beside ours.
    run_limited 40 "$logs/pytorch_kernels_b$batch.log" "$torch_python" scripts/bench_pytorch.py --batch "$batch" --device cuda \
      --warmup 5 --steps 10 --amp bf16 --channels-last --cudnn-benchmark --fused-sgd --kernels 25
    cat "$logs/pytorch_kernels_b$batch.log"
    if [ "$step_rc" = 0 ] && grep -q '^pytorch kernels: ' "$logs/pytorch_kernels_b$batch.log"; then
      record "pytorch kernels b$batch" 1 0 "$step_s" "$(sed -n 's/^pytorch kernels: //p' "$logs/pytorch_kernels_b$batch.log")"
    else
      record "pytorch kernels b$batch" 0 0 "$step_s" \
        "not runnable here (reference only): $(grep -v '^$' "$logs/pytorch_kernels_b$batch.log" | tail -1 | cut -c1-70)"
    fi
  done
fi

if [ -n "$bin_dir" ] && [ "$mode" != table1 ] && [ "$mode" != profile ]; then
  echo "== correctness: GPU tests and the golden ResNet-18"
  run_gtest "gpu kernels vs cpu" 90 test_kernels_gpu
  run_gtest "gpu engine" 45 test_engine_gpu
  run_gtest "gpu path vs cpu" 60 test_gpu_path_on_cuda
  run_gtest "golden resnet18 on gpu" 45 test_golden_gpu
  run_gtest "launch sync (fault)" 30 test_launch_sync
fi

if [ -n "$bin_dir" ] && [ "$mode" = full ]; then
  # First what the fast path is for: cygnet against PyTorch at its best, alternately, so
  # that a check cut short by its budget still has the figures. The profile comes last.
  # PyTorch eager, as the fast path's goal states it: a cold torch.compile of ResNet-18 (and
  # of the epoch's partial last batch) could take most of the comparison's few minutes and
  # leave batch 512 unmeasured. compare_pytorch.sh --compile auto adds it where time allows.
  # cygnet's convolution shapes are searched once. The two benchmarks search theirs
  # (batch 512, the goal's, first), print their tables of choices and what the search
  # cost, and keep the choices in one file; the comparison's runs, the training runs and
  # the demo then read it and search only the shapes new to them (an epoch's partial
  # last batches). Searching costs a cold process tens of seconds at batch 512.
  shared_choices="$logs/cudnn-choices.tsv"
  echo "== benchmark: resnet18 training step, batch 512 (the goal's batch), searching cuDNN's choices"
  run_command "bench cygnet b512 (cuda)" 150 "$logs/bench_b512.log" '[0-9.]+ images/s' \
    "$(find_bin cygnet_bench)" --model resnet18 --batch 512 --device cuda --warmup 5 --steps 20 --counters \
    --cudnn-cache "$shared_choices"
  cat "$logs/bench_b512.log"
  conv_sum=$(grep -m1 -o -E "timed runs add up to [0-9.]+ ms \(forward [0-9.]+, backward_data [0-9.]+, backward_filter [0-9.]+\); graph engines chosen: [0-9]+ of [0-9]+" \
    "$logs/bench_b512.log")
  [ -n "$conv_sum" ] && record "cudnn choices b512" 1 0 0 "convolutions of a step: the chosen algorithms' ${conv_sum}"
  # What the search cost: the first step holds it (and the cold start; the second neither).
  autotuning=$(grep -m1 -o -E "first step [0-9.]+ s, with [0-9]+ cuDNN searches.*" "$logs/bench_b512.log")
  [ -n "$autotuning" ] && record "first steps b512" 1 0 0 "${autotuning}"
  # Why the graph engines that did not run were passed over (a setting refusing most).
  passed_over=$(grep -m1 -o -E "graph engines passed over: .*" "$logs/bench_b512.log")
  [ -n "$passed_over" ] && record "cudnn engines unused b512" 1 0 0 "${passed_over}"
  echo "== benchmark: resnet18 training step, batch 128"
  run_command "bench cygnet (cuda)" 90 "$logs/bench.log" '[0-9.]+ images/s' \
    "$(find_bin cygnet_bench)" --model resnet18 --batch 128 --device cuda --warmup 5 --steps 20 --counters \
    --cudnn-cache "$shared_choices"
  cat "$logs/bench.log"

  echo "== cygnet vs PyTorch eager (bf16, channels-last, cuDNN benchmark): step and CIFAR-10 epoch"
  if [ "$(limit_for 300)" -lt 60 ]; then
    record "vs pytorch" 0 0 0 "not run: the check's $budget s are spent"
  else
    cifar10_dir=data/cifar-10-batches-bin
    [ "$gpu_present" = 1 ] && prepare_cifar10
    compare_limit=$(limit_for 300)
    # cygnet's runs read the benchmarks' file of choices, so that no round searches a
    # shape again; the timings are after the warm-up either way. Batch 512 first in each
    # round: a round cut short then still has the goal's figures.
    run_limited 300 "$logs/compare_pytorch.log" bash scripts/compare_pytorch.sh --device cuda --bin-dir "$bin_dir" \
      --cifar10 "$cifar10_dir" --seconds $((compare_limit > 40 ? compare_limit - 20 : 20)) --compile off \
      --batches "512 128" --logs "$logs/compare" --summary "$logs/compare.tsv" \
      --cygnet-bench-arg --cudnn-cache --cygnet-bench-arg "$shared_choices" \
      --cygnet-train-arg cudnn_cache="$shared_choices"
    sed -n '/^== cygnet vs PyTorch on/,$p' "$logs/compare_pytorch.log"
    record_compare_rows
  fi
  # The same with cuDNN's heuristics instead of the search: what the search buys.
  run_command "bench b512 heuristics" 40 "$logs/bench_b512_heuristics.log" '[0-9.]+ images/s' \
    "$(find_bin cygnet_bench)" --model resnet18 --batch 512 --device cuda --warmup 5 --steps 20 --cudnn-benchmark off
  cat "$logs/bench_b512_heuristics.log"
  # The search over cuDNN's legacy algorithms alone, without its graph API's engines:
  # what the engines buy (the default times both and keeps the fastest).
  run_command "bench b512 legacy algorithms" 60 "$logs/bench_b512_legacy.log" '[0-9.]+ images/s' \
    "$(find_bin cygnet_bench)" --model resnet18 --batch 512 --device cuda --warmup 3 --steps 10 --counters \
    --cudnn-engines legacy
  cat "$logs/bench_b512_legacy.log"
  legacy_sum=$(grep -m1 -o -E "timed runs add up to [0-9.]+ ms" "$logs/bench_b512_legacy.log")
  [ -n "$legacy_sum" ] && record "cudnn legacy only b512" 1 0 0 "the legacy algorithms alone: ${legacy_sum}"
  # The default above is channels-last in bf16; NCHW beside it, the layout's own figure.
  run_command "bench cygnet nchw (cuda)" 90 "$logs/bench_nchw.log" '[0-9.]+ images/s' \
    "$(find_bin cygnet_bench)" --model resnet18 --batch 128 --device cuda --warmup 5 --steps 20 --memory-format nchw
  cat "$logs/bench_nchw.log"
  # PyTorch's step with the same precision and layout as cygnet's default, beside it.
  run_limited 120 "$logs/bench_pytorch.log" "$torch_python" scripts/bench_pytorch.py --batch 128 --device cuda --warmup 5 \
    --steps 20 --amp bf16 --channels-last --cudnn-benchmark --fused-sgd
  cat "$logs/bench_pytorch.log"
  if [ "$step_rc" = 0 ]; then
    record "bench pytorch (cuda)" 1 0 "$step_s" "$(sed -n 's/.*: \([0-9.]* images\/s\).*/\1/p' "$logs/bench_pytorch.log")"
  else
    record "bench pytorch (cuda)" 0 0 "$step_s" "not runnable here (reference only): $(tail -1 "$logs/bench_pytorch.log" | cut -c1-70)"
  fi

  echo "== a short training run on cuda (1cycle, ResNet-18, synthetic 32x32 data)"
  # Batch 128: the benchmark's shapes, read from its file of choices.
  run_command "training run (cuda)" 180 "$logs/train.log" 'epoch 2/2: .*' \
    "$(find_bin cygnet_onecycle)" device=cuda run_root="$logs/runs" name=gpu-check cudnn_cache="$shared_choices" \
    data.dataset=synthetic data.synthetic_size=32 data.synthetic_train=8192 data.synthetic_val=1024 \
    model.name=resnet18 train.epochs=2 schedule.lr_min=0.01 schedule.lr_max=0.2
  tail -3 "$logs/train.log"
  # The run directory's table of cuDNN's choices: where each came from (the file the
  # benchmarks wrote, or a search), and how many are graph engines.
  if [ "$step_rc" = 0 ]; then
    choices_file=$(ls "$logs"/runs/onecycle-gpu-check-[0-9]*/cudnn_algorithms.txt 2>/dev/null | head -1)
    if [ -n "$choices_file" ]; then
      # A choice's line: the shape (8 words), the direction, then the source.
      sources=$(awk '$10 == "search" || $10 == "file" || $10 == "heuristics" { n[$10]++ }
        END { for (k in n) printf "%s%d from the %s", (sep++ ? ", " : ""), n[k], k }' "$choices_file")
      engines=$(grep -m1 -o -E 'graph engines chosen: [0-9]+ of [0-9]+' "$choices_file")
      record "run's cudnn choices" 1 0 0 "${sources:-no choices listed}${engines:+; $engines}"
    else
      record "run's cudnn choices" 0 1 0 "the training run's directory has no cudnn_algorithms.txt"
    fi
  fi
  # Data parallelism's plumbing on one GPU: one rank with NCCL summing every gradient
  # (distributed=true), beside the same eager steps without it: the all-reduce's cost.
  echo "== 1-rank NCCL training (distributed=true) beside the same eager run without it"
  for dp in true false; do
    dp_step="train 1-rank nccl (eager)"
    [ "$dp" = false ] && dp_step="train no nccl (eager)"
    run_command "$dp_step" 150 "$logs/train_dp_$dp.log" 'epoch 2/2: .*' \
      "$(find_bin cygnet_onecycle)" device=cuda run_root="$logs/runs" name=gpu-check-dp-$dp distributed=$dp \
      cudnn_cache="$shared_choices" \
      cuda_graphs=false data.dataset=synthetic data.synthetic_size=32 data.synthetic_train=8192 \
      data.synthetic_val=1024 model.name=resnet18 train.epochs=2 schedule.lr_min=0.01 schedule.lr_max=0.2
    grep -m1 "^onecycle" "$logs/train_dp_$dp.log" || true
    tail -2 "$logs/train_dp_$dp.log"
    # A build without NCCL would train this run as one plain process: its header says which.
    if [ "$dp" = true ] && [ "$step_rc" = 0 ] && ! grep -q '1 rank (NCCL)' "$logs/train_dp_$dp.log"; then
      record "nccl in that run" 0 1 0 "the run did not sum its gradients by NCCL: $(grep -m1 -o '[^,]*1 rank ([^)]*)' \
        "$logs/train_dp_$dp.log" || echo 'no rank in its header')"
    fi
  done
  echo "== demo on cuda"
  run_command "demo --device cuda" 60 "$logs/demo.log" '[0-9.]+ ms on cuda:0' \
    "$(find_bin cygnet_demo)" --device cuda
  tail -3 "$logs/demo.log"

  # Memory errors and shared-memory races in our kernels, on the small cases (the
  # sanitizer slows kernels down by orders of magnitude). First a probe on one small
  # test: some virtualised machines refuse the sanitizer ("Device not supported", then
  # error 999), which is the machine's limit, not a failure of ours.
  echo "== compute-sanitizer"
  sanitizer=$(command -v compute-sanitizer || ls "${cuda_root:-/usr/local/cuda}"/bin/compute-sanitizer /usr/local/cuda/bin/compute-sanitizer 2>/dev/null | head -1)
  kernels_bin=$(find_bin test_kernels_gpu)
  engine_bin=$(find_bin test_engine_gpu)
  if [ -z "$sanitizer" ]; then
    record "compute-sanitizer" 0 0 0 "not available: compute-sanitizer not found"
  elif [ "$gpu_present" != 1 ]; then
    record "compute-sanitizer" 0 0 0 "not run: no GPU"
  else
    run_limited 60 "$logs/sanitizer-probe.log" "$sanitizer" --tool memcheck --error-exitcode 1 "$engine_bin" \
      --gtest_filter=GpuEngine.RoundTripKeepsValuesAndLayout
    if [ "$step_not_run" = 1 ]; then
      record "compute-sanitizer" 0 0 0 "$(cat "$logs/sanitizer-probe.log")"
    elif grep -q -E 'Device not supported|error 999|CUDA_ERROR_UNKNOWN|unknown error' "$logs/sanitizer-probe.log"; then
      record "compute-sanitizer" 0 0 "$step_s" "not available on this machine: $(grep -m1 -o -E 'Device not supported|error 999|CUDA_ERROR_UNKNOWN|unknown error' "$logs/sanitizer-probe.log")"
    elif [ "$step_rc" != 0 ]; then
      record "compute-sanitizer probe" 0 1 "$step_s" "exit $step_rc on one small test (see $logs/sanitizer-probe.log)"
    else
      for tool in memcheck racecheck; do
        run_command "compute-sanitizer $tool" 150 "$logs/sanitizer-$tool.log" 'ERROR SUMMARY: [0-9]+ errors?' \
          "$sanitizer" --tool "$tool" --error-exitcode 1 "$kernels_bin" \
          --gtest_filter='*BatchNormForwardTrain*:*BatchNormNhwcForward*:*SumAndMean:*CrossEntropyLossForwardBackward*:*AssembleBatch:*GradNormClip*:*EmaMultiTensorStep:-GpuResNetShapes.*'
      done
    fi
  fi
  run_gtest "library errors" 30 test_library_errors
  run_gtest "emulated kernels" 60 test_kernels_emu "*SumAndMean:*Relu*"

  echo "== profile: nsys timeline and ncu on our heaviest kernels"
  profile_limit=$(limit_for 150)
  if [ "$profile_limit" -lt "$profile_minimum" ]; then
    echo "not run: the check's budget leaves it $profile_limit s, under the $profile_minimum s a profile needs" > "$logs/profile.log"
  else
    run_within "$profile_limit" "$logs/profile.log" bash scripts/profile.sh --bin-dir "$bin_dir" --out "$logs/profile" \
      --seconds $((profile_limit - 10)) --cudnn-cache "$shared_choices"
  fi
  cat "$logs/profile.log"
  profile_note=$(sed -n 's/^profile: //p' "$logs/profile.log" | tail -1 | cut -c1-150)
  if grep -q "^not run: the check's" "$logs/profile.log"; then
    record "profile" 0 0 0 "$(head -1 "$logs/profile.log")"
  elif [ "$step_rc" = 0 ] && [[ "$profile_note" == "not runnable here"* ]]; then
    record "profile" 0 0 "$step_s" "$profile_note"
  elif [ "$step_rc" = 0 ]; then
    record "profile" 1 0 "$step_s" "$profile_note"
  else
    record "profile" 0 1 "$step_s" "exit $step_rc: ${profile_note:-$(grep -v '^$' "$logs/profile.log" | tail -1 | cut -c1-100)}"
  fi
fi

if [ -n "$bin_dir" ] && [ "$mode" = table1 ] && [ "$gpu_present" != 1 ]; then
  record "table1" 0 0 0 "not run: no GPU answers"
elif [ -n "$bin_dir" ] && [ "$mode" = table1 ]; then
  # The nine runs back to back for the rest of the budget; then the table of what each
  # run recorded, an unfinished run showing the epochs it completed ("13 of 70").
  echo "== Table I on CIFAR-10: the Adam baseline and the eight 1cycle rows (scripts/table1.sh)"
  cifar10_dir=data/cifar-10-batches-bin
  prepare_cifar10
  if has_cifar10 "$cifar10_dir"; then
    # What is left of the budget, less the time to stop the runs (SIGINT: each stops
    # cleanly, its summary written) and to make the table.
    table1_root=$logs/table1
    step_signal=INT
    run_within $(( budget - ($(date +%s) - started) - 60 )) "$logs/table1.log" bash scripts/table1.sh \
      --data "$cifar10_dir" --device cuda --bin-dir "$bin_dir" --run-root "$table1_root"
    step_signal=TERM
    table1_s=$step_s table1_rc=$step_rc table1_not_run=$step_not_run
    epochs=$(grep -c -E '^epoch [0-9]+/[0-9]+: ' "$logs/table1.log")
    runs_done=0 runs_cut=0 table_failed=0
    note="no run directory in $table1_root: $(grep -v '^$' "$logs/table1.log" | tail -1 | cut -c1-80)"
    if [ -n "$(ls -d "$table1_root"/*/ 2>/dev/null)" ]; then
      run_within 30 "$logs/table1-table.log" "$(find_bin cygnet_table)" --out "$table1_root" "$table1_root"
      if [ "$step_rc" = 0 ]; then
        cat "$logs/table1-table.log"
        # The Epochs column: "70" for a finished run, "13 of 70" for one cut short.
        read -r runs_done runs_cut < <(awk -F'|' 'NR > 2 { gsub(/ /, "", $8); if ($8 ~ /^[0-9]+$/) d++; else if ($8 ~ /of/) c++ }
          END { print d + 0, c + 0 }' "$logs/table1-table.log")
        note="$runs_done of 9 runs finished, $runs_cut cut short, $epochs epochs; the table in $table1_root/table1.md"
      else
        table_failed=1
        note="cygnet_table failed: $(grep -v '^$' "$logs/table1-table.log" | tail -1 | cut -c1-80)"
      fi
    fi
    if [ "$table1_not_run" = 1 ]; then
      record "table1" 0 0 0 "not run: the check's $budget s are spent"
    elif [ "$table1_rc" = 0 ]; then
      record "table1" "$runs_done" "$table_failed" "$table1_s" "$note"
    elif [ "$table1_rc" = 124 ] || [ "$table1_rc" = 137 ]; then
      record "table1" "$runs_done" "$table_failed" "$table1_s" "stopped by the budget; $note"
    else
      record "table1" "$runs_done" 1 "$table1_s" "exit $table1_rc; $note"
    fi
  else
    record "table1" 0 1 0 "not run: no CIFAR-10 (see the cifar-10 row)"
  fi
fi

[ "$failed_any" = 0 ] && [ "$cut_steps" -gt 0 ] && exit 3
exit "$failed_any"
