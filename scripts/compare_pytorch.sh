#!/usr/bin/env bash
# cygnet against PyTorch at its best, run alternately (cygnet, PyTorch, cygnet, PyTorch, ...
# over N rounds) so that the clocks and the neighbours of the machine weigh on both alike:
#   training step  cygnet_bench against scripts/bench_pytorch.py with --amp bf16
#                  --channels-last --cudnn-benchmark --fused-sgd, and --compile where it works
#   CIFAR-10 epoch cygnet_onecycle (data.dataset=cifar10, train.epochs=2: the second epoch's
#                  images_per_second from its metrics.csv) against bench_pytorch.py --epoch
#                  (the epoch after a warm-up one); the 50,000 images resident on the device
#                  in both, the last batch partial in both
# at batch 128 and 512. Prints a table last: images/s of each (the median over the rounds)
# and the ratio cygnet/PyTorch; where PyTorch, a GPU or the data is missing, a row says
# "not runnable here: <reason>" instead.
#   scripts/compare_pytorch.sh [--device cuda|cpu] [--rounds N] [--batches "128 512"] [--quick]
#       [--cifar10 DIR] [--bin-dir DIR] [--python PY] [--compile auto|off] [--seconds S]
#       [--logs DIR] [--summary FILE] [--cygnet-bench-arg ARG]... [--cygnet-train-arg KEY=VALUE]...
#   --quick        one round, 2 timed steps, epochs over the first 4 batches of images (to
#                  try it on a CPU: --device cpu --quick --batches "16 32")
#   --compile      auto (default): torch.compile until a run says it failed, or the first
#                  compiled run takes over 240 s (600 with --quick; at most half of what
#                  --seconds leave); off: never
#   --seconds S    no run goes past S seconds (one cut short is dropped); rows take the rounds done
#   --summary FILE the rows as tab-separated lines (name, ok|not-runnable|failed, note)
#   --cygnet-*-arg extra arguments for cygnet_bench / config overrides for cygnet_onecycle
# Defaults: cuda, 3 rounds, data/cifar-10-batches-bin, binaries in build/apps
# ($CYGNET_BUILD_DIR), python3 or /usr/bin/python3 (the first that imports torch), logs in a
# new temporary folder. Exits 0 unless a cygnet run fails (PyTorch is the reference: its
# failures are noted).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2

usage() { sed -n '2,/^set -uo/{/^set -uo/d;s/^# \{0,1\}//;p}' "$0"; exit 2; }
die() { echo "compare_pytorch: $*" >&2; exit 2; }

device=cuda rounds="" batches="128 512" quick=0 cifar10=data/cifar-10-batches-bin
bin_dir=${CYGNET_BUILD_DIR:-build} python="" compile=auto seconds=0 logs="" summary=""
cygnet_bench_args=() cygnet_train_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --device | --rounds | --batches | --cifar10 | --bin-dir | --python | --compile | --seconds | --logs | --summary | \
      --cygnet-bench-arg | --cygnet-train-arg)
      [ $# -ge 2 ] || die "$1 needs a value (try --help)"
      case "$1" in
        --device) device=$2 ;;
        --rounds) rounds=$2 ;;
        --batches) batches=$2 ;;
        --cifar10) cifar10=$2 ;;
        --bin-dir) bin_dir=$2 ;;
        --python) python=$2 ;;
        --compile) compile=$2 ;;
        --seconds) seconds=$2 ;;
        --logs) logs=$2 ;;
        --summary) summary=$2 ;;
        --cygnet-bench-arg) cygnet_bench_args+=("$2") ;;
        --cygnet-train-arg) cygnet_train_args+=("$2") ;;
      esac
      shift ;;
    -h | --help) usage ;;
    *) die "unknown option '$1' (try --help)" ;;
  esac
  shift
done
case "$device" in cuda | cpu) ;; *) die "--device takes cuda or cpu, not '$device'" ;; esac
case "$compile" in auto | off) ;; *) die "--compile takes auto or off, not '$compile'" ;; esac
[ -z "$rounds" ] && rounds=$([ "$quick" = 1 ] && echo 1 || echo 3)
for n in "$rounds" "$seconds" $batches; do
  [[ "$n" =~ ^[0-9]+$ ]] || die "expected a whole number, got '$n'"
done
[ "$rounds" -ge 1 ] || die "--rounds must be at least 1"
[ -n "$batches" ] || die "--batches is empty"

if [ "$quick" = 1 ]; then
  warmup=1 steps=2
  largest=0
  for b in $batches; do [ "$b" -gt "$largest" ] && largest=$b; done
  epoch_limit=$((4 * largest))
  run_cap=600      # a CPU is slow; a run's own limit
  compile_cap=600
else
  warmup=5 steps=30 epoch_limit=0
  run_cap=420      # room for a cold torch.compile of two batch shapes
  compile_cap=240  # the first compiled run; past it, the rest run eagerly
fi

[ -n "$logs" ] || logs=$(mktemp -d "${TMPDIR:-/tmp}/cygnet-compare.XXXXXX") || die "cannot make a log folder"
mkdir -p "$logs" || die "cannot make the log folder $logs"
work=$(mktemp -d "${TMPDIR:-/tmp}/cygnet-compare-runs.XXXXXX") || die "cannot make a temporary folder"
started=$(date +%s)

# ---- what can run here ----
find_bin() {  # name -> path under the binary folder (build tree or a flat folder)
  local p
  for p in "$bin_dir/apps/$1" "$bin_dir/$1"; do
    [ -x "$p" ] && { echo "$p"; return; }
  done
}
bench_bin=$(find_bin cygnet_bench)
train_bin=$(find_bin cygnet_onecycle)
no_cygnet=""
[ -z "$bench_bin" ] && no_cygnet="no cygnet_bench in $bin_dir (build it first, or give --bin-dir)"
no_cygnet_epoch=$no_cygnet
[ -z "$train_bin" ] && no_cygnet_epoch="no cygnet_onecycle in $bin_dir (build it first, or give --bin-dir)"

no_gpu=""
device_name="cpu, $(nproc) cores"
if [ "$device" = cuda ]; then
  device_name="no GPU"
  if ! command -v nvidia-smi >/dev/null; then
    no_gpu="no GPU answers (nvidia-smi not found)"
  elif ! nvidia-smi -L > "$logs/nvidia-smi.log" 2>&1 || ! grep -q '^GPU ' "$logs/nvidia-smi.log"; then
    no_gpu="no GPU answers ($(head -1 "$logs/nvidia-smi.log" | cut -c1-80))"
  else
    device_name=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
  fi
fi

no_torch=""
torch_version=""
if [ -z "$python" ]; then
  for candidate in python3 /usr/bin/python3; do
    command -v "$candidate" >/dev/null && "$candidate" -c 'import torch' >/dev/null 2>&1 && { python=$candidate; break; }
  done
  [ -z "$python" ] && no_torch="PyTorch is not importable (python3, /usr/bin/python3)"
fi
if [ -z "$no_torch" ]; then
  if torch_info=$("$python" -c 'import torch; print(torch.__version__, int(torch.cuda.is_available()))' 2> "$logs/torch-probe.log"); then
    torch_version=${torch_info% *}
    [ "$device" = cuda ] && [ "${torch_info##* }" != 1 ] && no_torch="PyTorch $torch_version sees no GPU"
  else
    no_torch="PyTorch is not importable by $python ($(tail -1 "$logs/torch-probe.log" | cut -c1-80))"
  fi
fi

no_data=""
for f in data_batch_1.bin data_batch_2.bin data_batch_3.bin data_batch_4.bin data_batch_5.bin test_batch.bin; do
  size=$(stat -c %s "$cifar10/$f" 2>/dev/null || echo 0)
  if [ "$size" = 0 ] || [ $((size % 3073)) != 0 ]; then
    no_data="no CIFAR-10 in $cifar10 ($f missing or not 3073-byte records; make it with ../shared/datasets/cifar10/make_cifar10_bin.py)"
    break
  fi
done

# ---- the runs ----
declare -A values failure runs_done
compile_note=""
compile_seen=0
first_compile_cap=$compile_cap
pytorch_options=""
current=""
interrupted=0

cleanup() { rm -rf "$work"; }
stop() {
  [ -n "$current" ] && kill -TERM "$current" 2>/dev/null
  interrupted=1
}
trap stop INT TERM

# A run's limit: its cap (run_cap unless given), cut to what is left of --seconds.
run_limit() {  # [cap]
  local cap=${1:-$run_cap} left
  if [ "$seconds" -gt 0 ]; then
    left=$((seconds - ($(date +%s) - started)))
    [ "$left" -lt "$cap" ] && { echo "$left"; return; }
  fi
  echo "$cap"
}

# Runs a command under its limit into a log. Sets run_rc, run_s, and run_cut (1 when the
# run was stopped, or not started, because --seconds were spent: no failure of the run's).
run_logged() {  # log cap command...
  local log=$1 cap=$2 limit t0
  shift 2
  limit=$(run_limit "$cap")
  t0=$(date +%s)
  run_cut=0
  if [ "$interrupted" = 1 ]; then
    echo "not run: stopped by a signal" > "$log"
    run_rc=130 run_s=0 run_cut=1
    return
  fi
  if [ "$limit" -lt 5 ]; then
    echo "not run: the $seconds s are spent" > "$log"
    run_rc=124 run_s=0 run_cut=1
    return
  fi
  echo "+ $*" > "$log"
  timeout --kill-after=10 "$limit" "$@" >> "$log" 2>&1 &
  current=$!
  wait "$current"
  run_rc=$?
  current=""
  run_s=$(($(date +%s) - t0))
  if [ "$run_rc" = 124 ] || [ "$run_rc" = 137 ]; then
    echo "timed out after $limit s" >> "$log"
    [ "$limit" -lt "$cap" ] && run_cut=1
  fi
  [ "$interrupted" = 1 ] && run_cut=1
  return 0
}

last_line() { grep -v -e '^$' -e '^+ ' "$1" | tail -1 | cut -c1-100; }

# The epoch row of a cygnet run directory's metrics.csv (its last line), one column by name.
metrics_column() {  # file column
  awk -F, -v want="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == want) c = i; next }
                        { last = $c } END { if (c && last != "") print last; else exit 1 }' "$1"
}

# Each run sets run_value (images/s; empty when it failed) and leaves its log in run_log.
run_cygnet() {  # bench batch round
  local bench=$1 batch=$2 round=$3 run_root metrics limits=()
  run_log="$logs/$bench-b$batch-cygnet-r$round.log" run_value=""
  if [ "$bench" = step ]; then
    run_logged "$run_log" "$run_cap" "$bench_bin" --model resnet18 --batch "$batch" --device "$device" --warmup "$warmup" \
      --steps "$steps" "${cygnet_bench_args[@]}"
    [ "$run_rc" = 0 ] && run_value=$(sed -n 's/^cygnet .*: \([0-9.]*\) images\/s.*/\1/p' "$run_log" | head -1)
    return 0
  fi
  run_root="$work/$bench-b$batch-r$round"
  [ "$epoch_limit" -gt 0 ] && limits=(data.limit_train="$epoch_limit" data.limit_val=256)
  run_logged "$run_log" "$run_cap" "$train_bin" device="$device" run_root="$run_root" name="compare-b$batch" seed=0 \
    data.dataset=cifar10 data.root="$cifar10" train.epochs=2 train.batch_size="$batch" train.drop_last=false \
    "${limits[@]}" "${cygnet_train_args[@]}"
  metrics=$(ls "$run_root"/*/metrics.csv 2>/dev/null | head -1)
  if [ "$run_rc" = 0 ] && [ -n "$metrics" ]; then
    cp "$metrics" "${run_log%.log}.metrics.csv"
    run_value=$(metrics_column "$metrics" images_per_second | awk '{ printf "%.1f", $1 }')
  elif [ "$run_rc" = 0 ]; then
    echo "no metrics.csv under $run_root" >> "$run_log"
  fi
  rm -rf "$run_root"
  return 0
}

run_pytorch() {  # bench batch round
  local bench=$1 batch=$2 round=$3
  local args=(--model resnet18 --batch "$batch" --device "$device" --amp bf16 --channels-last --cudnn-benchmark --fused-sgd)
  run_log="$logs/$bench-b$batch-pytorch-r$round.log" run_value=""
  [ "$compile" = auto ] && args+=(--compile)
  if [ "$bench" = step ]; then
    args+=(--warmup "$warmup" --steps "$steps")
  else
    args+=(--epoch --cifar10 "$cifar10")
    [ "$epoch_limit" -gt 0 ] && args+=(--limit "$epoch_limit")
  fi
  local cap=$run_cap left
  if [ "$compile" = auto ] && [ "$compile_seen" = 0 ]; then
    # The first compiled run gets at most half of what --seconds leave, so that one cut
    # by its cap still leaves time to run it eagerly.
    cap=$compile_cap
    if [ "$seconds" -gt 0 ]; then
      left=$((seconds - ($(date +%s) - started)))
      [ $((left / 2)) -lt "$cap" ] && cap=$((left / 2 > 30 ? left / 2 : 30))
    fi
    first_compile_cap=$cap
  fi
  run_logged "$run_log" "$cap" env PYTHONUNBUFFERED=1 "$python" scripts/bench_pytorch.py "${args[@]}"
  [ "$run_rc" = 0 ] && run_value=$(sed -n 's/^pytorch .*: \([0-9.]*\) images\/s.*/\1/p' "$run_log" | head -1)
  return 0
}

# What keeps a row from running at all, or "".
row_blocker() {  # bench
  if [ -n "$no_gpu" ]; then echo "$no_gpu"
  elif [ "$1" = step ] && [ -n "$no_cygnet" ]; then echo "$no_cygnet"
  elif [ "$1" = epoch ] && [ -n "$no_cygnet_epoch" ]; then echo "$no_cygnet_epoch"
  elif [ "$1" = epoch ] && [ -n "$no_data" ]; then echo "$no_data"
  fi
}

# Files the run's value, or its failure (the first per row and side) unless --seconds cut it.
# Returns 1 when the budget stopped the run.
keep_result() {  # key side
  if [ -n "$run_value" ]; then
    values[$1/$2]+="$run_value "
  elif [ "$run_cut" = 1 ]; then
    return 1
  elif [ -z "${failure[$1/$2]:-}" ]; then
    failure[$1/$2]=$(last_line "$run_log")
  fi
  echo "  round $round, $bench, batch $batch: $2 ${run_value:-failed} images/s ($run_s s)"
  return 0
}

echo "== cygnet vs PyTorch ${torch_version:+$torch_version }on $device ($device_name): $rounds round(s), batches $batches; logs in $logs"
for round in $(seq 1 "$rounds"); do
  for batch in $batches; do
    # The step first: short, so that a budget cut short still has one pair of figures.
    for bench in step epoch; do
      [ -n "$(row_blocker "$bench")" ] && continue
      key="$bench/$batch"
      run_cygnet "$bench" "$batch" "$round"
      keep_result "$key" cygnet || break 3
      if [ -z "$no_torch" ]; then
        run_pytorch "$bench" "$batch" "$round"
        # The first compiled run tells whether torch.compile works here, and in what time:
        # past compile_cap, or after one failure, the runs are eager (and this one again).
        if [ "$compile" = auto ] && [ "$compile_seen" = 0 ] && [ "$run_cut" = 0 ] &&
          { [ "$run_rc" = 124 ] || [ "$run_rc" = 137 ]; }; then
          compile=off
          compile_note="torch.compile: the first compiled run took over $first_compile_cap s; eager from there on"
          mv "$run_log" "${run_log%.log}.compile.log"
          run_pytorch "$bench" "$batch" "$round"
        fi
        compile_seen=1
        keep_result "$key" pytorch || break 3
        [ -n "$run_value" ] && pytorch_options=$(sed -n 's/^pytorch .*; options: //p' "$run_log" | head -1)
        if [ "$compile" = auto ] && grep -q -E 'torch.compile (failed|is not available)' "$run_log"; then
          compile=off
          compile_note=$(grep -m1 -o -E 'torch.compile (failed|is not available).*' "$run_log" | cut -c1-120)
        fi
      fi
      runs_done[$key]=$((${runs_done[$key]:-0} + 1))
    done
  done
done
cleanup

# ---- the table ----
median() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) exit; if (NR % 2) print v[(NR + 1) / 2]; else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
count() { wc -w <<< "$1" | tr -d ' '; }

status_any_failed=0
[ -n "$summary" ] && : > "$summary"
echo
echo "== cygnet vs PyTorch on $device ($device_name)${torch_version:+, PyTorch $torch_version}: images/s, medians over rounds run alternately"
asked="amp-bf16 channels-last cudnn-benchmark$([ "$compile" = off ] || echo " compile") fused-sgd (as asked)"
echo "PyTorch options: ${pytorch_options:-$asked}${compile_note:+; $compile_note}"
printf '%-16s %5s %13s %13s %14s  %s\n' benchmark batch "cygnet img/s" "pytorch img/s" "cygnet/pytorch" note
for bench in step epoch; do
  label=$([ "$bench" = step ] && echo "training step" || echo "CIFAR-10 epoch")
  for batch in $batches; do
    key="$bench/$batch"
    blocker=$(row_blocker "$bench")
    c=$(median <<< "${values[$key/cygnet]:-}")
    p=$(median <<< "${values[$key/pytorch]:-}")
    ratio="-"
    [ -n "$c" ] && [ -n "$p" ] && ratio=$(awk -v c="$c" -v p="$p" 'BEGIN { printf "%.2f", c / p }')
    notes=()
    status=ok
    if [ -n "$blocker" ]; then
      notes+=("not runnable here: $blocker")
      status=not-runnable
    else
      n_c=$(count "${values[$key/cygnet]:-}")
      notes+=("$n_c of $rounds rounds")
      if [ "${runs_done[$key]:-0}" -lt "$rounds" ]; then
        if [ "$interrupted" = 1 ]; then notes+=("stopped by a signal"); else notes+=("the $seconds s were spent"); fi
      fi
      [ -n "${failure[$key/cygnet]:-}" ] && { notes+=("cygnet failed: ${failure[$key/cygnet]}"); status=failed; status_any_failed=1; }
      [ -z "$c" ] && [ -z "${failure[$key/cygnet]:-}" ] && status=not-runnable
      if [ -n "$no_torch" ]; then
        notes+=("pytorch not runnable here: $no_torch")
      elif [ -n "${failure[$key/pytorch]:-}" ]; then
        notes+=("pytorch failed: ${failure[$key/pytorch]}")
      fi
    fi
    note=$(printf '%s; ' "${notes[@]}")
    note=${note%; }
    printf '%-16s %5s %13s %13s %14s  %s\n' "$label" "$batch" "${c:--}" "${p:--}" "$ratio" "$note"
    if [ -n "$summary" ]; then
      text=$note
      [ -n "$c$p" ] && text="cygnet ${c:--} img/s, pytorch ${p:--} img/s, cygnet/pytorch $ratio; $note"
      printf 'vs pytorch: %s b%s\t%s\t%s\n' "$bench" "$batch" "$status" "$text" >> "$summary"
    fi
  done
done
echo "step: cygnet_bench against bench_pytorch.py, $warmup warm-up and $steps timed steps each (median step);"
echo "epoch: a training epoch over CIFAR-10 resident on the device (the second of cygnet_onecycle's two epochs;"
echo "  bench_pytorch.py --epoch after one warm-up epoch)$([ "$epoch_limit" -gt 0 ] && echo ", the first $epoch_limit images only (--quick)")"
[ "$interrupted" = 1 ] && exit 130
exit "$status_any_failed"
