#!/usr/bin/env bash
# All of the seed report's Table I in one sitting: the Adam baseline
# (configs/baseline_adam.yaml) and the eight 1cycle rows (configs/table1/row1..8.yaml) back
# to back on one device into one run root, then cygnet_table over them (table1.md,
# val_accuracy.svg and val_loss.svg in the run root; the table is printed last).
#   scripts/table1.sh [--data DIR] [--device auto|cpu|cuda|emu] [--run-root DIR]
#                     [--bin-dir DIR] [--quick [STEPS]] [--synthetic] [--seeds S,S,...]
#                     [KEY=VALUE...]
#   --data DIR     CIFAR-10 in the official binary layout (default data/cifar-10-batches-bin),
#                  or as image files, a folder per class under DIR/train and DIR/test (the
#                  JPEG copy unpacked: data.dataset=folder, with CIFAR-10's documented
#                  normalisation, as the binary files get)
#   --quick [N]    each run stops after N steps (default 4), reads the first 256 training
#                  and 256 validation images, and trains ResNet-18 at width 8 (model.width=64
#                  after it restores the width): the whole chain end to end in minutes on a CPU
#   --synthetic    synthetic 32x32 images instead of CIFAR-10 (no data needed)
#   --seeds 0,1,2  each run once per seed (seed=S), one after another; the table gives
#                  each row's mean and standard deviation over its seeds
#   KEY=VALUE      a config override for every run (model.width=16, train.log_every=10);
#                  not schedule.lr_max_from: the rows set their own lr ranges
# The nine runs are 690 epochs of ResNet-18 in all. Binaries from build/apps
# ($CYGNET_BUILD_DIR); run root runs/table1-<date>-<time> by default. A run that fails
# (a diverged loss stops its run) is reported and the others go on; the table shows what
# each run recorded. Exits non-zero when a run failed. Ctrl-C, or SIGTERM to the script
# (kill, timeout), stops the run under way cleanly (it can be resumed from its run
# directory) and the script with it, exit code 130.
set -euo pipefail
cd "$(dirname "$0")/.."

die() { echo "table1: $*" >&2; exit 2; }

data=data/cifar-10-batches-bin device=auto run_root="" bin_dir=${CYGNET_BUILD_DIR:-build} quick_steps=0 synthetic=0
seeds=()
overrides=()
while [ $# -gt 0 ]; do
  case "$1" in
    --data | --device | --run-root | --bin-dir)
      [ $# -ge 2 ] || die "$1 needs a value (try --help)"
      case "$1" in
        --data) data=$2 ;;
        --device) device=$2 ;;
        --run-root) run_root=$2 ;;
        --bin-dir) bin_dir=$2 ;;
      esac
      shift ;;
    --quick)
      quick_steps=4
      if [ $# -ge 2 ] && [[ "$2" =~ ^[0-9]+$ ]]; then quick_steps=$2; shift; fi
      [ "$quick_steps" -ge 1 ] || die "--quick takes a step count of at least 1" ;;
    --synthetic) synthetic=1 ;;
    --seeds)
      [ $# -ge 2 ] && [[ "$2" != -* ]] || die "--seeds needs a list such as 0,1,2 (try --help)"
      # Plain decimals (YAML would read 010 as octal), below 10^18 (the seed is an int64).
      [[ "$2" =~ ^(0|[1-9][0-9]{0,17})(,(0|[1-9][0-9]{0,17}))*$ ]] ||
        die "--seeds '$2': expected seeds (whole numbers without leading zeros, below 10^18) separated by commas, such as 0,1,2"
      IFS=, read -r -a seeds <<< "$2"
      [ "$(printf '%s\n' "${seeds[@]}" | sort -u | wc -l)" = "${#seeds[@]}" ] || die "--seeds '$2': a seed repeats"
      shift ;;
    -h | --help) sed -n '2,/^set -eu/{/^set -eu/d;s/^# \{0,1\}//;p}' "$0"; exit 2 ;;
    -*) die "unknown option '$1' (try --help)" ;;
    *=*) overrides+=("$1") ;;
    *) die "expected KEY=VALUE, got '$1' (try --help)" ;;
  esac
  shift
done

find_bin() {
  local p
  for p in "$bin_dir/apps/$1" "$bin_dir/$1"; do
    [ -x "$p" ] && { echo "$p"; return; }
  done
  die "no $1 in $bin_dir (build it first: bash scripts/build.sh, or give --bin-dir)"
}
baseline_bin=$(find_bin cygnet_baseline)
onecycle_bin=$(find_bin cygnet_onecycle)
table_bin=$(find_bin cygnet_table)

common=(device="$device")
if [ "$synthetic" = 1 ]; then
  common+=(data.dataset=synthetic data.synthetic_size=32 data.synthetic_channels=3 data.synthetic_classes=10)
elif [ -d "$data/train" ]; then
  # Image files, a folder per class (cygnet reads a missing or damaged one as an error
  # naming it), normalised as the binary files are.
  common+=(data.dataset=folder data.root="$data" "data.mean=[0.4914, 0.4822, 0.4465]"
    "data.std=[0.2470, 0.2435, 0.2616]")
else
  for f in data_batch_1.bin data_batch_2.bin data_batch_3.bin data_batch_4.bin data_batch_5.bin test_batch.bin; do
    if [ ! -s "$data/$f" ]; then
      echo "table1: no CIFAR-10 in $data ($f missing): get the binary version, make it with" \
        "python3 ../shared/datasets/cifar10/make_cifar10_bin.py $data, unpack the JPEG copy" \
        "(tar xzf ../shared/datasets/cifar10/cifar10-jpeg-q75.tar.gz -C $data), or try --synthetic" >&2
      exit 1
    fi
  done
  common+=(data.root="$data")
fi
[ "$quick_steps" -gt 0 ] && common+=(train.max_steps="$quick_steps" data.limit_train=256 data.limit_val=256 model.width=8)
configs=(configs/baseline_adam.yaml configs/table1/row{1..8}.yaml)
app_of() { [ "$1" = configs/baseline_adam.yaml ] && echo "$baseline_bin" || echo "$onecycle_bin"; }
# Table I's rows set their own lr ranges: one peak from a range test for all of them
# would merge rows 1 and 6 and make row 7 (no cycle) a cycle.
for o in ${overrides[@]+"${overrides[@]}"}; do
  case "$o" in
    schedule.lr_max_from=* | schedule.lr_max_rule=*)
      die "'${o%%=*}' is not for Table I, whose rows set their own lr ranges; give it to cygnet_onecycle for a run of your own" ;;
  esac
done
for config in "${configs[@]}"; do
  [ -f "$config" ] || die "$config missing"
  # The arguments against every run's configuration, before any run starts: a key or a
  # value one run refuses, every run would.
  if ! message=$("$(app_of "$config")" --config "$config" "${common[@]}" ${overrides[@]+"${overrides[@]}"} \
    ${seeds[0]:+seed="${seeds[0]}"} \
    --print-config 2>&1 > /dev/null); then
    die "$config with these arguments: ${message#*: error: }"
  fi
done
# The runs: each config once, or once per seed (config-major: a row's seeds together).
bins=() jobs=() job_seeds=()
for config in "${configs[@]}"; do
  for seed in "${seeds[@]:-}"; do
    jobs+=("$config")
    job_seeds+=("$seed")
    bins+=("$(app_of "$config")")
  done
done
[ -n "$run_root" ] || run_root="runs/table1-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$run_root" || die "cannot make the run root $run_root"
# The runs share one file of cuDNN's choices in the run root: the first run searches each
# convolution shape, the other eight read its choices and search nothing (on a GPU; the CPU
# and the emulated device ignore the key). A cudnn_cache=... of the caller's comes later
# on the command line and wins.
cache_args=(cudnn_cache="$run_root/cudnn_choices.tsv")
echo "table1: ${#jobs[@]} runs on device $device into $run_root$([ "$quick_steps" -gt 0 ] && echo " (quick: $quick_steps steps each)")"
failed=()
started=$SECONDS
report_failed() { [ "${#failed[@]}" -eq 0 ] || echo "table1: failed: ${failed[*]}" >&2; }
# The run directories in the run root, into run_total. (No command substitution once the
# traps are set: a Ctrl-C would end its subshell, and set -e the script, silently.)
count_runs() {
  local dirs
  shopt -s nullglob
  dirs=("$run_root"/*/config.yaml)
  shopt -u nullglob
  run_total=${#dirs[@]}
}
# Each run in the background, waited for, so that a stop reaches it: a SIGTERM or SIGINT
# to this script is passed on to the run as a SIGTERM. A Ctrl-C at the terminal reaches
# the run itself too (the whole process group gets it): the app takes a SIGTERM after a
# SIGINT as the same request, and only a second Ctrl-C ends it at once.
# shellcheck source=lib/wait_run.sh
source scripts/lib/wait_run.sh
run_pid=""
stop_asked=0
stop_run() { [ -z "$run_pid" ] || kill -TERM "$run_pid" 2> /dev/null || true; }
trap 'wait_interrupted=1 wait_resend=TERM stop_asked=1; stop_run' TERM INT
for i in "${!jobs[@]}"; do
  config=${jobs[$i]}
  seed_args=()
  [ -z "${job_seeds[$i]}" ] || seed_args=(seed="${job_seeds[$i]}")
  what="$config${seed_args[*]:+ (${seed_args[*]})}"
  if [ "$stop_asked" = 1 ]; then
    report_failed
    echo "table1: stopped before $what; the runs so far are in $run_root" >&2
    exit 130
  fi
  echo "== $what"
  count_runs
  runs_before=$run_total
  # SIGINT at its default in the run: a background job of this shell would start with it
  # ignored, and a Ctrl-C before the app has its handler would be lost.
  (
    trap - INT
    exec "${bins[$i]}" --config "$config" run_root="$run_root" "${cache_args[@]}" "${common[@]}" \
      ${overrides[@]+"${overrides[@]}"} \
      ${seed_args[@]+"${seed_args[@]}"}
  ) &
  run_pid=$!
  [ "$stop_asked" = 0 ] || stop_run  # asked as the run started
  wait_run "$run_pid"
  rc=$wait_status
  run_pid=""
  # Stopped cleanly (130), or ended by the signal before the app could catch it.
  if [ "$rc" = 130 ] || { [ "$stop_asked" = 1 ] && [ "$rc" -gt 128 ]; }; then
    report_failed
    count_runs
    if [ "$run_total" = "$runs_before" ]; then
      echo "table1: stopped as $what started, before its run directory" >&2
    else
      echo "table1: stopped during $what; it can be resumed from its run directory in $run_root" >&2
    fi
    exit 130
  fi
  if [ "$rc" != 0 ]; then
    failed+=("$what (exit $rc)")
    # A run that fails before its run directory exists (no GPU, unreadable data) fails
    # for a reason every run shares.
    count_runs
    if [ "$run_total" = "$runs_before" ]; then
      report_failed
      echo "table1: $config failed before its run started (its error is above); the other runs would too" >&2
      exit 1
    fi
  fi
done

echo "== Table I ($((SECONDS - started)) s of training)"
"$table_bin" --out "$run_root" "$run_root"
echo "table1: table1.md, val_accuracy.svg and val_loss.svg in $run_root"
report_failed
[ "${#failed[@]}" -eq 0 ] || exit 1
