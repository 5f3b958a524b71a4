#!/usr/bin/env bash
# Data-parallel training as a user runs it, 2 ranks under mpirun on the CPU:
#  1. with sync_batchnorm, small_cnn (a global batch of 63, so the ranks' slices differ,
#     across an epoch's end and its partial last batch, its gradients clipped at a norm
#     they exceed: each rank clips the averaged gradients; a moving average of its weights
#     kept) and ResNet-18 at width 8 train as one process does: the step losses and the
#     final parameters and statistics (and small_cnn's averages) within 1e-5 relative
#     (scripts/compare_runs.py); the same for a run whose lr a plateau rule cuts, and for
#     stochastic weight averaging's average, its batchnorm statistics recomputed;
#     The same in 16 micro-batches runs (every rank makes as many);
#  2. without it, a run learns and writes one run directory, its lines once, and equals
#     one process that takes each batch in two micro-batches (train.micro_batches=2: the
#     same slices, each normalised by its own statistics, gradients summed), with MixUp
#     and CutMix too (the images paired within each slice as within each micro-batch); early
#     stopping ends every rank after the same epoch, as a finished run;
#  3. a rank killed (SIGKILL) mid-run stops the other within 60 s with a message; the
#     run refuses a resume on another number of ranks, resumes on 2, and ends where an
#     uninterrupted run ends;
#  4. SIGUSR1 to mpirun (the Ctrl-C of a job: mpirun forwards it) stops every rank at the
#     same step with a checkpoint, exit code 130, and the resume ends where the
#     uninterrupted run ends;
#  5. on the emulated CUDA device (buckets summed on their own stream while the backward
#     runs, through the host; synchronised batchnorm from the device's kernels), 2 ranks
#     train as one process on the CPU does.
# usage: data_parallel.sh APPS_DIR WORK_DIR
set -euo pipefail
apps=$1
work=$2
here=$(cd "$(dirname "$0")" && pwd)
compare="$here/../../scripts/compare_runs.py"
rm -rf "$work"
mkdir -p "$work"
cd "$work"

launch=(mpirun -np 2 --oversubscribe)
[ "$(id -u)" -eq 0 ] && launch+=(--allow-run-as-root)
fail() { echo "FAILED: $*"; exit 1; }
start_long_run() {  # the long run into run_root $1, in the background ($launcher), until its first checkpoint
  "${launch[@]}" "$apps/cygnet_onecycle" "${long[@]}" run_root="$1" > "$1.log" 2> "$1.err" &
  launcher=$!
  for _ in $(seq 1 300); do
    compgen -G "$1/*/last.safetensors" > /dev/null && return 0
    sleep 0.1
  done
  fail "no checkpoint in $1 after 30 s"
}
only_run() {  # the one run directory under $1
  local dirs=("$1"/*/)
  [ ${#dirs[@]} -eq 1 ] || fail "$1 holds ${#dirs[@]} run directories, expected 1"
  echo "${dirs[0]%/}"
}

echo "== 1. two ranks with synchronised batchnorm against one process"
small=(device=cpu model.name=small_cnn data.dataset=synthetic data.synthetic_train=1000 train.epochs=2 train.batch_size=63
       train.max_steps=20 train.log_every=5 sync_batchnorm=true optimizer.clip_grad_norm=0.5 train.ema_decay=0.8)
resnet=(device=cpu model.name=resnet18 model.width=8 data.dataset=synthetic data.synthetic_size=8 train.batch_size=64
        train.max_steps=20 train.log_every=10 sync_batchnorm=true schedule.name=constant optimizer.lr=0.002)
# Reduce on plateau (patience 0, a threshold no accuracy beats: epoch 1 is the best, and
# epoch 2 halves the lr for epoch 3) on every rank, as in one process.
plateau=(device=cpu model.name=small_cnn data.dataset=synthetic data.synthetic_train=1000 train.epochs=3
         train.batch_size=63 train.max_steps=40 train.log_every=5 sync_batchnorm=true schedule.name=plateau
         optimizer.lr=0.01 schedule.plateau_patience=0 schedule.plateau_factor=0.5 schedule.plateau_monitor=val_acc
         schedule.plateau_threshold=1 schedule.plateau_threshold_mode=abs)
# Stochastic weight averaging of epochs 2 and 3 with SWALR: the average's batchnorm pass
# on 2 ranks takes each global batch's statistics, as one process does.
swa=(device=cpu model.name=small_cnn data.dataset=synthetic data.synthetic_train=1000 train.epochs=3
     train.batch_size=63 train.log_every=8 sync_batchnorm=true optimizer.lr=0.01 schedule.name=constant
     train.swa_start_epoch=2 train.swa_lr=0.005 train.swa_anneal_epochs=1)
for model in small resnet plateau swa; do
  declare -n args=$model
  "$apps/cygnet_onecycle" "${args[@]}" threads=1 run_root="$model-1" > "$model-1.log" 2>&1 ||
    { cat "$model-1.log"; fail "one process, $model"; }
  "${launch[@]}" "$apps/cygnet_onecycle" "${args[@]}" run_root="$model-2" > "$model-2.log" 2>&1 ||
    { cat "$model-2.log"; fail "2 ranks, $model"; }
  grep -q "2 ranks (MPI" "$model-2.log" || fail "the 2-rank run of $model does not say it runs on 2 ranks"
  echo "-- $model"
  python3 "$compare" "$(only_run "$model-1")" "$(only_run "$model-2")" --rtol 1e-5 || fail "$model: 2 ranks differ"
done
grep -q "lr 0.01 -> 0.005 from epoch 3" plateau-2.log || fail "the 2-rank plateau run did not cut its lr after epoch 2"
grep -q "the average of epochs 2-3, batchnorm statistics recomputed" swa-2.log ||
  fail "the 2-rank run did not evaluate its weights' average"

# In micro-batches, the ranks' slices of 31 and 32 images both take 15 parts (the smaller
# slice's count: a synchronised batchnorm's sums are collectives, which every rank makes).
"${launch[@]}" "$apps/cygnet_onecycle" "${small[@]}" train.max_steps=4 train.micro_batches=16 distributed_timeout=30 \
  run_root=small-micro > small-micro.log 2>&1 || { cat small-micro.log; fail "2 ranks in micro-batches, synchronised"; }

echo "== 2. two ranks, batchnorm per rank: learns, one run directory, as one process in micro-batches"
# Stochastic weight averaging of epochs 2 and 3 too: its batchnorm pass takes rank 0's
# statistics, as the run's own; its averaged parameters are one process's. Each epoch's
# snapshot is kept (train.save_every_n_epochs=1), in the one run directory. Rank 0 records
# the activation statistics of its slice (train.activation_stats_every), which one process
# in two micro-batches records of its first.
plain=(device=cpu model.name=small_cnn data.dataset=synthetic train.epochs=3 train.batch_size=64 train.log_every=16
       train.swa_start_epoch=2 train.save_every_n_epochs=1 train.activation_stats_every=10)
"${launch[@]}" "$apps/cygnet_onecycle" "${plain[@]}" run_root=plain > plain.log 2>&1 || { cat plain.log; fail "plain run"; }
dir=$(only_run plain)
[ "$(grep -c "^epoch 3/3:" plain.log)" -eq 1 ] || fail "the last epoch's line is not printed exactly once"
[ "$(grep -c "^epoch 3/3:" "$dir/train.log")" -eq 1 ] || fail "train.log does not hold the last epoch once"
[ "$(grep -c "^stochastic weight averaging" plain.log)" -eq 1 ] && [ -f "$dir/swa.safetensors" ] ||
  fail "the weights' average is not evaluated and written once"
[ "$(cd "$dir" && echo epoch-*.safetensors)" = "epoch-001.safetensors epoch-002.safetensors epoch-003.safetensors" ] ||
  fail "the run does not keep the snapshots of epochs 1 to 3 (train.save_every_n_epochs=1): $(ls "$dir")"
python3 - "$dir/metrics.csv" <<'PY' || fail "the plain run did not learn"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
first, last = float(rows[0]["train_loss"]), float(rows[-1]["train_loss"])
print(f"train loss {first:.4f} -> {last:.4f}, val acc {float(rows[-1]['val_acc']):.4f}")
sys.exit(0 if len(rows) == 3 and last < 0.8 * first else 1)
PY
# train.max_time: the ranks' clocks differ, and every rank stops at the same step (a
# rank that went on would wait in a collective until the timeout).
"${launch[@]}" "$apps/cygnet_onecycle" "${plain[@]}" train.epochs=400 train.max_time=00:00:01 distributed_timeout=60 \
  run_root=timed > timed.log 2>&1 || { cat timed.log; fail "2 ranks with a time limit"; }
[ "$(grep -c "train.max_time 00:00:01 reached" timed.log)" -eq 1 ] || fail "the time limit is not reported once"
# Gradient accumulation is data parallelism in time: the same slices, one after another.
"$apps/cygnet_onecycle" "${plain[@]}" train.micro_batches=2 threads=1 run_root=plain-micro > plain-micro.log 2>&1 ||
  { cat plain-micro.log; fail "one process in micro-batches"; }
grep -q "of 2 micro-batches" plain-micro.log || fail "the micro-batch run does not say so"
python3 "$compare" "$(only_run plain-micro)" "$dir" --rtol 1e-5 --parameters-only ||
  fail "2 micro-batches differ from 2 ranks"
python3 - "$(only_run plain-micro)/activation_stats.csv" "$dir/activation_stats.csv" "$dir/summary.json" <<'PY' ||
import csv, json, sys
one, two = (list(csv.DictReader(open(f))) for f in sys.argv[1:3])
steps = json.load(open(sys.argv[3]))["steps"]
layers = ["conv1", "bn1+relu", "conv2", "bn2+relu", "linear"]
assert len(two) == len(layers) * (steps // 10), f"{len(two)} rows for {steps} steps"
assert [r["layer"] for r in two] == layers * (steps // 10)
assert [(r["step"], r["layer"]) for r in one] == [(r["step"], r["layer"]) for r in two]
for a, b in zip(one, two):
    for k in ("mean", "std", "near_zero"):
        x, y = float(a[k]), float(b[k])
        assert abs(x - y) <= 1e-4 * abs(x) + 1e-6, f"step {a['step']} {a['layer']} {k}: {x} and {y}"
print(f"activation statistics: {len(two)} rows, rank 0's slice as the first micro-batch")
PY
  fail "2 ranks' activation statistics are not the first micro-batch's"
# MixUp and CutMix pair the images of each rank's slice, as one process pairs each
# micro-batch's.
for pairing in "MixUp data.mixup_alpha 0.4" "CutMix data.cutmix_alpha 1"; do
  read -r name key alpha <<< "$pairing"
  paired=("${plain[@]}" train.epochs=1 train.swa_start_epoch=0 "$key=$alpha")
  "${launch[@]}" "$apps/cygnet_onecycle" "${paired[@]}" run_root="$name" > "$name.log" 2>&1 ||
    { cat "$name.log"; fail "2 ranks, $name"; }
  grep -q "$name ($key $alpha)" "$name.log" || fail "the $name run does not say so"
  "$apps/cygnet_onecycle" "${paired[@]}" train.micro_batches=2 threads=1 run_root="$name-micro" > "$name-micro.log" 2>&1 ||
    { cat "$name-micro.log"; fail "one process in micro-batches, $name"; }
  python3 "$compare" "$(only_run "$name-micro")" "$(only_run "$name")" --rtol 1e-5 --parameters-only ||
    fail "$name: 2 micro-batches differ from 2 ranks"
done

# Early stopping (a min_delta no accuracy beats: epoch 1 stays the best) ends both ranks
# after epoch 2, the run finished and its line printed once.
"${launch[@]}" "$apps/cygnet_onecycle" "${plain[@]}" train.epochs=5 train.early_stopping_patience=1 \
  train.early_stopping_monitor=val_acc train.early_stopping_min_delta=1 distributed_timeout=60 run_root=plain-early \
  > plain-early.log 2>&1 || { cat plain-early.log; fail "2 ranks with early stopping"; }
[ "$(grep -c "the run ends after epoch 2 of 5" plain-early.log)" -eq 1 ] || fail "early stopping's line, not once"
python3 - "$(only_run plain-early)/summary.json" <<'PY' || fail "the early-stopped run's summary"
import json, sys
s = json.load(open(sys.argv[1]))
print(f"early stopping: {s['epochs_completed']} epochs, stopped_epoch {s['early_stopping']['stopped_epoch']}")
sys.exit(0 if s["epochs_completed"] == 2 and not s["stopped_early"] and s["early_stopping"]["stopped_epoch"] == 2 else 1)
PY

echo "== 3. a rank killed mid-run"
long=(device=cpu model.name=small_cnn data.dataset=synthetic data.synthetic_train=8192 train.epochs=30 train.batch_size=64
      train.log_every=32)
"${launch[@]}" "$apps/cygnet_onecycle" "${long[@]}" run_root=whole > whole.log 2>&1 || { cat whole.log; fail "whole run"; }
start_long_run killed
victim=""
for pid in $(pgrep -f "run_root=killed" || true); do
  tr '\0' '\n' < "/proc/$pid/environ" 2> /dev/null | grep -qx "OMPI_COMM_WORLD_RANK=1" && victim=$pid
done
[ -n "$victim" ] || fail "rank 1 not found"
start=$(date +%s.%N)
kill -9 "$victim"
status=0
wait "$launcher" || status=$?
elapsed=$(python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$start" "$(date +%s.%N)")
echo "rank 1 killed: the run stopped after $elapsed s with exit code $status; its message:"
grep -m1 -i "rank 1\|killed\|signal" killed.err || fail "no message on stderr"
[ "$status" -ne 0 ] || fail "the run exited 0 after a rank was killed"
python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) <= 60 else 1)" "$elapsed" || fail "it took $elapsed s"
dir=$(only_run killed)
if "$apps/cygnet_onecycle" resume="$dir" > other.log 2>&1; then fail "a resume on 1 process was accepted"; fi
grep -q "trained on 2 rank(s).*mpirun -np 2" other.log || { cat other.log; fail "the refusal does not say how"; }
"${launch[@]}" "$apps/cygnet_onecycle" resume="$dir" > resumed.log 2>&1 || { cat resumed.log; fail "the resume"; }
grep -m1 "resuming" resumed.log
python3 "$compare" "$(only_run whole)" "$dir" --rtol 1e-6 || fail "the resumed run differs from the whole one"
echo "== 4. SIGUSR1 to mpirun: a clean, resumable stop of every rank"
start_long_run stopped
kill -USR1 "$launcher"
status=0
wait "$launcher" || status=$?
dir=$(only_run stopped)
grep -m1 "stopped at step" stopped.log || { cat stopped.err; fail "no stop line"; }
[ "$status" -eq 130 ] || fail "the stop exited $status, expected 130"
"${launch[@]}" "$apps/cygnet_onecycle" resume="$dir" > stopped-resumed.log 2>&1 ||
  { cat stopped-resumed.log; fail "the resume after the stop"; }
python3 "$compare" "$(only_run whole)" "$dir" --rtol 1e-6 || fail "the run resumed after a stop differs"

echo "== 5. two ranks on the emulated CUDA device against one process on the CPU, batchnorm synchronised"
emu=(model.name=small_cnn data.dataset=synthetic data.synthetic_train=512 train.max_steps=10 train.batch_size=32
     train.log_every=5 memory_format=nchw sync_batchnorm=true)
"$apps/cygnet_onecycle" "${emu[@]}" device=cpu threads=1 run_root=on-cpu > on-cpu.log 2>&1 ||
  { cat on-cpu.log; fail "1 process on the CPU"; }
"${launch[@]}" "$apps/cygnet_onecycle" "${emu[@]}" device=emu run_root=on-emu > on-emu.log 2>&1 ||
  { cat on-emu.log; fail "2 ranks on the emulated device"; }
grep -q "gradients by MPI through the host" on-emu.log || fail "the emulated run does not say how it sums"
python3 "$compare" "$(only_run on-cpu)" "$(only_run on-emu)" --rtol 1e-5 || fail "the emulated device differs"
echo "data_parallel: all checks passed"
