#!/usr/bin/env bash
# cygnet against PyTorch on the CPU, one training step (forward, loss, backward, SGD with
# momentum and weight decay), run alternately (cygnet, PyTorch, cygnet, ...) over N rounds
# so that the machine's neighbours weigh on both alike. The rows: ResNet-18 at batch 64
# and 128 (CIFAR-10's 32x32 RGB), and the quickstart's net (ResNet-18 at width 8 on
# 28x28 grey images, batch 128); each with --threads 2 in both, and with each side's own
# default (cygnet: every core; PyTorch: torch.get_num_threads()). Prints a table last:
# the median images/s of each and the ratio cygnet/PyTorch (goal: >= 1.00 on every row).
#   scripts/compare_cpu.sh [--rounds N] [--steps N] [--quick] [--bin-dir DIR] [--python PY]
#   --quick   one round of 2 timed steps, the 2-thread rows only
# Defaults: 3 rounds of 5 timed steps after 2 warm-up steps; binaries in build/apps
# ($CYGNET_BUILD_DIR); python3 or /usr/bin/python3, the first that imports torch.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2

usage() { sed -n '2,/^set -uo/{/^set -uo/d;s/^# \{0,1\}//;p}' "$0"; exit 2; }
die() { echo "compare_cpu: $*" >&2; exit 2; }

rounds=3 steps=5 quick=0 bin_dir=${CYGNET_BUILD_DIR:-build} python=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --rounds | --steps | --bin-dir | --python)
      [ $# -ge 2 ] || die "$1 needs a value (try --help)"
      case "$1" in
        --rounds) rounds=$2 ;;
        --steps) steps=$2 ;;
        --bin-dir) bin_dir=$2 ;;
        --python) python=$2 ;;
      esac
      shift ;;
    -h | --help) usage ;;
    *) die "unknown option '$1' (try --help)" ;;
  esac
  shift
done
[ "$quick" = 1 ] && rounds=1 steps=2
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || die "--rounds: expected a positive integer, got '$rounds'"
[[ "$steps" =~ ^[1-9][0-9]*$ ]] || die "--steps: expected a positive integer, got '$steps'"
bench="$bin_dir/apps/cygnet_bench"
[ -x "$bench" ] || die "$bench not found: build first (scripts/build.sh)"
if [ -z "$python" ]; then
  for p in python3 /usr/bin/python3; do
    if command -v "$p" > /dev/null && "$p" -c "import torch" 2> /dev/null; then python=$p; break; fi
  done
  [ -n "$python" ] || die "no python3 that imports torch (Debian: apt-get install python3-torch)"
fi

# name | shared arguments | cygnet-only arguments
rows=(
  "resnet18 b64|--model resnet18 --batch 64|"
  "resnet18 b128|--model resnet18 --batch 128|"
  "quickstart net b128|--model resnet18 --batch 128 --width 8 --image 28 --channels 1|--classes 10"
)
thread_modes=(2)
[ "$quick" = 1 ] || thread_modes+=(default)

# The images/s of a bench line; a run that printed none is an error, not a missing value.
images_per_second() {
  local v
  v=$(sed -n 's/.*: \([0-9.]*\) images\/s.*/\1/p' <<< "$1" | tail -1)
  [ -n "$v" ] || die "no images/s in: $1"
  echo "$v"
}
median() { sort -g | awk '{v[NR]=$1} END {if (NR % 2) print v[(NR+1)/2]; else if (NR) printf "%.1f\n", (v[NR/2]+v[NR/2+1])/2}'; }

declare -A ours theirs
for ((round = 1; round <= rounds; ++round)); do
  for threads in "${thread_modes[@]}"; do
    for row in "${rows[@]}"; do
      IFS='|' read -r name shared extra <<< "$row"
      t=()
      [ "$threads" = default ] || t=(--threads "$threads")
      key="$name|$threads"
      # shellcheck disable=SC2086
      line=$("$bench" $shared $extra --device cpu --warmup 2 --steps "$steps" "${t[@]}" 2>&1) ||
        die "cygnet_bench failed: $line"
      echo "round $round: $line"
      v=$(images_per_second "$line") || exit 2
      ours[$key]+="$v "
      # shellcheck disable=SC2086
      line=$("$python" scripts/bench_pytorch.py $shared --device cpu --warmup 2 --steps "$steps" "${t[@]}" 2>&1) ||
        die "bench_pytorch.py failed: $line"
      echo "round $round: $line"
      v=$(images_per_second "$line") || exit 2
      theirs[$key]+="$v "
    done
  done
done

echo
printf '%-22s %-9s %14s %14s %7s\n' "row" "threads" "cygnet img/s" "PyTorch img/s" "ratio"
for threads in "${thread_modes[@]}"; do
  for row in "${rows[@]}"; do
    IFS='|' read -r name _ _ <<< "$row"
    key="$name|$threads"
    a=$(tr ' ' '\n' <<< "${ours[$key]}" | grep . | median)
    b=$(tr ' ' '\n' <<< "${theirs[$key]}" | grep . | median)
    ratio=$(awk -v a="$a" -v b="$b" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')
    printf '%-22s %-9s %14s %14s %7s\n' "$name" "$threads" "$a" "$b" "$ratio"
  done
done
echo "(cygnet with its default memory_format, channels_last where oneDNN is built in; PyTorch NCHW, its default)"
echo "(median of $rounds rounds of $steps timed steps each; PyTorch $("$python" -c 'import torch; print(torch.__version__)'))"
