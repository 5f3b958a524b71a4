#!/usr/bin/env bash
# Where a ResNet-18 training step spends its GPU time, and how close our own kernels come
# to the memory bandwidth:
#   1. an Nsight Systems timeline (nsys profile, NVTX ranges step/forward/backward/optimizer)
#      of cygnet_bench: 5 warm-up and 20 timed steps at batch 128; then `nsys stats`: the
#      NVTX ranges and the top kernels by GPU time, ours marked, and our kernels' share of
#      the kernel time and of the median step. Where nsys is missing or makes no report,
#      the kernel table comes from Nsight Compute instead (each kernel of 2 eager steps
#      timed alone, serialised: a table of kernel times, without the gaps between them);
#      cuDNN's algorithm choices are made by a run before and read from a file
#      (cygnet_bench --cudnn-cache), so that no profiled step holds the search;
#   2. Nsight Compute (ncu) on every launch of the three heaviest of our kernels in one
#      step: DRAM bytes read and written, time, achieved bandwidth against the peak.
#   scripts/profile.sh [--bin-dir DIR] [--batch N] [--steps N] [--top N] [--out DIR] [--quick]
#       [--seconds S] [--no-nsys] [--cudnn-cache FILE]
#   --quick   5 timed steps and no ncu bandwidth pass
#   --no-nsys no timeline: the kernel table from ncu (where an earlier run found that nsys
#             makes no report here)
#   --seconds S  every profiler run and report cut to what is left of S seconds (one with
#             under 10 s left is not started), so that the last line comes within S
#   --cudnn-cache FILE  cuDNN's choices from FILE, which a run before wrote (a benchmark
#             of the same batch): no profiler run searches again; shapes missing from it
#             are searched by the first and added (default: a new file in the output folder)
# Binaries from build/apps ($CYGNET_BUILD_DIR); reports in profile-out/ (cygnet.nsys-rep,
# the CSVs, the .ncu-rep files). Without a GPU, or without nsys and ncu, or where the
# profilers cannot read the GPU, it says so and exits 0. Ends with one line "profile: ...".
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2

die() { echo "profile: $*" >&2; exit 2; }
finish() {
  # A choices file given from elsewhere is copied beside the reports, which name it.
  if [ -n "$given_choices" ] && [ -s "$given_choices" ] && [ -d "$out" ] &&
    ! [ "$given_choices" -ef "$out/cudnn-choices.txt" ]; then
    cp -f "$given_choices" "$out/cudnn-choices.txt"
  fi
  echo "profile: $*"
  exit 0
}
joined() { local text; text=$(printf '%s; ' "$@"); echo "${text%; }"; }

bin_dir=${CYGNET_BUILD_DIR:-build} batch=128 steps=20 top=15 out=profile-out quick=0 seconds=0 no_nsys=0 given_choices=""
started=$(date +%s)
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1; steps=5 ;;
    --no-nsys) no_nsys=1 ;;
    --bin-dir | --batch | --steps | --top | --out | --seconds | --cudnn-cache)
      [ $# -ge 2 ] || die "$1 needs a value (try --help)"
      case "$1" in
        --bin-dir) bin_dir=$2 ;;
        --batch) batch=$2 ;;
        --steps) steps=$2 ;;
        --top) top=$2 ;;
        --out) out=$2 ;;
        --seconds) seconds=$2 ;;
        --cudnn-cache) given_choices=$2 ;;
      esac
      shift ;;
    -h | --help) sed -n '2,/^set -uo/{/^set -uo/d;s/^# \{0,1\}//;p}' "$0"; exit 2 ;;
    *) die "unknown option '$1' (try --help)" ;;
  esac
  shift
done
for n in "$batch" "$steps" "$top"; do [[ "$n" =~ ^[1-9][0-9]*$ ]] || die "expected a positive whole number, got '$n'"; done
[[ "$seconds" =~ ^[0-9]+$ ]] || die "--seconds takes a whole number, not '$seconds'"

# A profiler run's limit: its own, cut to what --seconds leave less 5 s for the last line;
# under 10 s, 0 (not started).
limit() {  # own seconds
  local left
  [ "$seconds" -gt 0 ] || { echo "$1"; return; }
  left=$((seconds - ($(date +%s) - started) - 5))
  if [ "$left" -lt 10 ]; then echo 0
  elif [ "$left" -lt "$1" ]; then echo "$left"
  else echo "$1"
  fi
}

bench=""
for p in "$bin_dir/apps/cygnet_bench" "$bin_dir/cygnet_bench"; do [ -x "$p" ] && { bench=$p; break; }; done
[ -n "$bench" ] || die "no cygnet_bench in $bin_dir (build it first, or give --bin-dir)"
command -v python3 >/dev/null || finish "not runnable here: python3 (which reads the reports) not found"
mkdir -p "$out" || die "cannot make the folder $out"

# ---- what this machine has ----
if ! command -v nvidia-smi >/dev/null; then
  finish "not runnable here: no GPU answers (nvidia-smi not found)"
elif ! nvidia-smi -L > "$out/nvidia-smi.log" 2>&1 || ! grep -q '^GPU ' "$out/nvidia-smi.log"; then
  finish "not runnable here: no GPU answers ($(head -1 "$out/nvidia-smi.log" | cut -c1-80))"
fi
echo "== $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | head -1)"
# An nsys that cannot make a report: its QdstrmImporter (which turns the raw .qdstrm
# into a report) is in none of the folders near it, as with the copy Nsight Compute
# ships for its own use. Using it would spend a minute on a timeline that never comes.
nsys_lacks_importer() {  # path
  local root
  root=$(dirname "$(readlink -f "$1")")/..
  [ -z "$(find "$root" "$root/.." -maxdepth 3 -name 'QdstrmImporter*' -type f 2>/dev/null | head -1)" ]
}
find_tool() {  # name -> the first executable found on PATH or in the usual install folders
  local p
  command -v "$1" 2>/dev/null && return
  for p in /usr/local/cuda/bin/"$1" /usr/local/cuda-*/bin/"$1" /opt/nvidia/nsight-systems/*/bin/"$1" \
    /opt/nvidia/nsight-systems-*/bin/"$1" /usr/local/cuda*/nsight-systems-*/bin/"$1" /opt/nvidia/nsight-compute/*/"$1" \
    /usr/local/cuda*/nsight-compute-*/"$1" /opt/nvidia/nsight-compute/*/host/target-linux-x64/"$1"; do
    [ -x "$p" ] && { echo "$p"; return; }
  done
}
nsys=$(find_tool nsys)
ncu=$(find_tool ncu)
nsys_note=""
if [ -n "$nsys" ] && [ "$no_nsys" = 1 ]; then
  nsys_note="--no-nsys"
  nsys=""
elif [ -n "$nsys" ] && nsys_lacks_importer "$nsys"; then
  nsys_note="$nsys has no QdstrmImporter beside it (it would write only a .qdstrm)"
  nsys=""
fi
echo "nsys: ${nsys:-not found${nsys_note:+: $nsys_note}}"
echo "ncu:  ${ncu:-not found}"
[ -z "$nsys" ] && [ -z "$ncu" ] &&
  finish "not runnable here: neither nsys nor ncu found (PATH, /usr/local/cuda*/, /opt/nvidia/)"

# cuDNN's algorithm choices in a file that every run below reads and the first writes,
# so that the search (each shape's algorithms tried one by one, slow ones included) falls
# in no profiled step.
choices="$out/cudnn-choices.txt"
if [ -n "$given_choices" ]; then
  choices=$given_choices
else
  rm -f "$choices"
fi
bench_args=(--model resnet18 --batch "$batch" --device cuda --cudnn-cache "$choices")
ours="$out/ours.txt"
rm -f "$ours"
summary=()

# ---- 1. the timeline and the top kernels ----
timeline=""
[ -n "$nsys_note" ] && summary+=("nsys: not used ($nsys_note)")
if [ -n "$nsys" ] && [ "$(limit 60)" = 0 ]; then
  summary+=("nsys: not run (the --seconds are spent)")
elif [ -n "$nsys" ]; then
  echo "== nsys: $steps steps of ResNet-18 at batch $batch (after 5 warm-up steps)"
  rm -f "$out"/cygnet.nsys-rep "$out"/cygnet.qdrep "$out"/cygnet.qdstrm "$out"/cygnet.sqlite
  nsys_limit=$(limit 60)
  timeout --kill-after=3 "$nsys_limit" "$nsys" profile --trace=cuda,nvtx,cudnn,cublas --sample=none --cpuctxsw=none --force-overwrite=true \
    --output="$out/cygnet" "$bench" "${bench_args[@]}" --warmup 5 --steps "$steps" > "$out/nsys-profile.log" 2>&1
  rc=$?
  grep '^cygnet ' "$out/nsys-profile.log"
  report=$(ls "$out"/cygnet.nsys-rep "$out"/cygnet.qdrep 2>/dev/null | head -1)
  if [ -z "$report" ]; then
    why=$(grep -v '^$' "$out/nsys-profile.log" | tail -1 | cut -c1-100)
    { [ "$rc" = 124 ] || [ "$rc" = 137 ]; } && why="it ran past $nsys_limit s"
    [ -f "$out/cygnet.qdstrm" ] && why="it wrote only cygnet.qdstrm (no importer to turn it into a report)"
    echo "nsys made no report (exit $rc): $why"
    summary+=("nsys: no report ($why)")
  else
    # The report names differ between versions: cuda_gpu_kern_sum / nvtx_sum now,
    # gpukernsum / nvtxsum before 2022.
    : > "$out/nsys-reports.txt"
    [ "$(limit 20)" != 0 ] && timeout --kill-after=3 "$(limit 20)" "$nsys" stats --help-reports > "$out/nsys-reports.txt" 2>&1
    pick_report() { local r; for r in "$@"; do grep -q -w -- "$r" "$out/nsys-reports.txt" && { echo "$r"; return; }; done; }
    kern_report=$(pick_report cuda_gpu_kern_sum gpukernsum)
    nvtx_report=$(pick_report nvtx_sum nvtx_pushpop_sum nvtxsum)
    if [ -z "$kern_report" ]; then
      echo "nsys stats knows no kernel summary report (see $out/nsys-reports.txt)"
      summary+=("nsys: no kernel summary report")
    elif [ "$(limit 30)" != 0 ] && timeout --kill-after=3 "$(limit 30)" "$nsys" stats --report "$kern_report" --format csv \
      --output - "$report" > "$out/kernels.csv" 2> "$out/nsys-stats.log"; then
      nvtx_csv=()
      [ -n "$nvtx_report" ] && [ "$(limit 20)" != 0 ] && timeout --kill-after=3 "$(limit 20)" "$nsys" stats \
        --report "$nvtx_report" --format csv --output - "$report" > "$out/nvtx.csv" 2>> "$out/nsys-stats.log" &&
        nvtx_csv=(--nvtx "$out/nvtx.csv")
      echo "== nsys stats --report $kern_report${nvtx_report:+ and $nvtx_report}"
      if python3 scripts/profile_report.py nsys --kernels "$out/kernels.csv" "${nvtx_csv[@]}" --top "$top" \
        --ours-out "$ours" | tee "$out/kernels.txt"; then
        timeline=nsys
        summary+=("nsys: $(sed -n 's/^summary: //p' "$out/kernels.txt")")
      fi
    else
      echo "nsys stats failed: $(tail -1 "$out/nsys-stats.log")"
      summary+=("nsys stats failed")
    fi
  fi
fi

# ncu's errors that mean this machine's profiling is off, not that something is wrong.
ncu_refused() {  # log -> the reason, or nothing
  grep -m1 -o -E 'ERR_NVGPUCTRPERM|LibraryNotLoaded|[Nn]o permission[^.]*|not supported on this (device|GPU|platform)|Failed to initialize the profiler[^.]*' "$1"
}
# Runs ncu into a report and prints it as CSV in base units; returns 1 when it failed.
run_ncu() {  # name ncu-options... application arguments...
  local name=$1 ncu_limit
  shift
  rm -f "$out/$name.ncu-rep"
  ncu_limit=$(limit 90)
  if [ "$ncu_limit" = 0 ]; then
    echo "not run: the --seconds are spent" > "$out/$name.log"
    echo "ncu not run: the --seconds are spent"
    return 1
  fi
  timeout --kill-after=3 "$ncu_limit" "$ncu" --clock-control none --force-overwrite --export "$out/$name" "$@" > "$out/$name.log" 2>&1
  local rc=$?
  { [ "$rc" = 124 ] || [ "$rc" = 137 ]; } && echo "ncu ran past $ncu_limit s" >> "$out/$name.log"
  if [ ! -f "$out/$name.ncu-rep" ]; then
    echo "ncu made no report (exit $rc): $(ncu_refused "$out/$name.log" || grep -v '^$' "$out/$name.log" | tail -1 | cut -c1-100)"
    return 1
  fi
  "$ncu" --import "$out/$name.ncu-rep" --csv --page details --print-units base > "$out/$name.csv" 2>> "$out/$name.log"
}

if [ -z "$timeline" ] && [ -n "$ncu" ]; then
  # A plain run first where nsys made none: it searches every shape and writes the choices.
  if [ ! -s "$choices" ] && [ "$(limit 60)" != 0 ]; then
    timeout --kill-after=3 "$(limit 60)" "$bench" "${bench_args[@]}" --warmup 1 --steps 1 > "$out/choices.log" 2>&1
  fi
  # Eager steps (--graphs off): exactly the 2 steps asked for, where graphs would add
  # warm-up steps until the capture.
  echo "== ncu: every kernel of 2 eager steps (1 warm-up), timed one at a time; cuDNN's choices from a run before"
  if run_ncu timing --metrics gpu__time_duration.sum "$bench" "${bench_args[@]}" --graphs off --warmup 1 --steps 1 &&
    python3 scripts/profile_report.py ncu-time --csv "$out/timing.csv" --steps 2 --top "$top" --ours-out "$ours" |
    tee "$out/kernels.txt"; then
    timeline=ncu
    summary+=("ncu kernel times: $(sed -n 's/^summary: //p' "$out/kernels.txt")")
  else
    why=$(ncu_refused "$out/timing.log")
    summary+=("ncu: ${why:-no kernel times (see $out/timing.log)}")
    [ -n "$why" ] && finish "$(joined "${summary[@]}"); the profilers cannot read this GPU"
  fi
fi

# ---- 2. DRAM bandwidth of our three heaviest kernels ----
if [ "$quick" = 1 ]; then
  summary+=("ncu bandwidth: skipped (--quick)")
elif [ -z "$ncu" ]; then
  summary+=("ncu bandwidth: ncu not found")
elif [ ! -s "$ours" ]; then
  summary+=("ncu bandwidth: no kernel of ours in the kernel table")
else
  mapfile -t heaviest < <(head -3 "$ours")
  echo "== ncu: DRAM traffic of ${heaviest[*]}, every launch in one step"
  regex="::($(IFS='|'; echo "${heaviest[*]}"))[<(]"
  if run_ncu dram --kernel-name-base demangled --kernel-name "regex:$regex" \
    --metrics gpu__time_duration.sum,dram__bytes_read.sum,dram__bytes_write.sum,dram__throughput.avg.pct_of_peak_sustained_elapsed \
    "$bench" "${bench_args[@]}" --graphs off --warmup 0 --steps 1 &&
    python3 scripts/profile_report.py ncu-dram --csv "$out/dram.csv" | tee "$out/dram.txt"; then
    summary+=("ncu bandwidth: $(awk 'NR > 1 && !/^DRAM/ { printf "%s%s %s%%", sep, $1, $NF; sep = ", " }' "$out/dram.txt") of peak")
  else
    why=$(ncu_refused "$out/dram.log")
    summary+=("ncu bandwidth: ${why:-failed (see $out/dram.log)}")
  fi
fi
finish "$(joined "${summary[@]}"); reports in $out/"
