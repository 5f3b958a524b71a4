#!/usr/bin/env bash
# The Slurm array task's requeue without Slurm (scripts/slurm/requeue.sh): the task is
# run as Slurm runs it, with its SLURM_* variables and a stand-in scontrol that records
# what it is asked, on the CPU with a small model on synthetic data.
#  1. SIGUSR1 to the task's shell (what --signal=B:USR1@180 sends ahead of the time
#     limit) stops the run with a checkpoint and requeues the task (scontrol requeue with
#     its job id); the task's shell exits 0.
#  2. The task restarted (SLURM_RESTART_COUNT set) resumes that run in its folder, and
#     finishes it: one run directory, every epoch, and no second requeue; a task not
#     restarted would start afresh; restarted again after its run ended, it changes
#     nothing. cygnet_table over the array's folders (the table
#     job's command) shows the run.
#  3. SIGTERM to every process of the task (scancel, or the time limit itself) stops the
#     run cleanly: exit 130, a checkpoint, and no requeue.
#  4. In a restarted task, earlier attempts without a complete checkpoint (none, or a
#     first one half-written) are moved aside (a dry run only prints), and the task starts
#     the run afresh.
#  6. SIGUSR1 as soon as the task's shell can catch it (before the run starts) still
#     requeues the task; so does one while the app is setting up (passed on, it stops
#     the run at its first step).
#  7. The table job's command, with spaces in RUNS and CYGNET_BUILD, runs cygnet_table
#     over the array's folders.
#  5. With --mpi: multi_gpu.sh, its srun a stand-in that starts 2 ranks with mpirun. The
#     SIGUSR1 reaches both ranks, which stop at the same step; the job is requeued, and
#     started again it resumes the run on 2 ranks and finishes it.
# usage: slurm_requeue.sh SOURCE_DIR APPS_DIR WORK_DIR [--mpi]
set -euo pipefail
source_dir=$1
apps=$2
work=$3
with_mpi=${4:-}
rm -rf "$work"
mkdir -p "$work/bin"
fail() { echo "FAILED: $*"; exit 1; }

# scontrol, as the task sees it: records its arguments.
cat > "$work/bin/scontrol" <<EOS
#!/usr/bin/env bash
echo "\$*" >> "$work/scontrol.log"
EOS
chmod +x "$work/bin/scontrol"
touch "$work/scontrol.log"

export PATH="$work/bin:$PATH" CYGNET_BUILD
CYGNET_BUILD=$(dirname "$apps")
export RUNS="$work/runs" SLURM_ARRAY_TASK_ID=2  # configs/table1/row3.yaml: 70 epochs
small=(device=cpu threads=1 data.dataset=synthetic data.synthetic_size=32 data.synthetic_channels=3
       data.synthetic_classes=10 data.synthetic_train=4096 data.synthetic_val=256 model.name=small_cnn)
cd "$source_dir"

epochs_in() {  # the epochs metrics.csv of the one run directory under $1 has
  local csv=("$1"/*/metrics.csv)
  [ -f "${csv[0]}" ] || { echo 0; return; }
  echo $(($(wc -l < "${csv[0]}") - 1))
}
start_task() {  # the array task in the background, in a process group of its own ($task)
  setsid bash scripts/slurm/table1_array.sh "$@" > "$work/task.out" 2>&1 &
  task=$!
}
until_epochs() {  # waits for $2 epochs of the run under $1
  for _ in $(seq 1 600); do
    [ "$(epochs_in "$1")" -ge "$2" ] && return 0
    kill -0 "$task" 2> /dev/null || fail "the task ended early: $(cat "$work/task.out")"
    sleep 0.1
  done
  fail "not $2 epochs in $1 after 60 s: $(cat "$work/task.out")"
}
summary_value() {  # key $2 of the one run's summary.json under $1
  python3 -c 'import json, sys, glob; print(json.load(open(glob.glob(sys.argv[1] + "/*/summary.json")[0]))[sys.argv[2]])' "$1" "$2"
}

usr1_stops_and_requeues() {  # after 2 epochs in $folder, SIGUSR1 to $task: a clean stop, job $1 requeued
  until_epochs "$folder" 2
  kill -USR1 "$task"
  rc=0
  wait "$task" || rc=$?
  cat "$work/task.out"
  [ "$rc" -eq 0 ] || fail "the requeued job's shell exited $rc"
  [ "$(tail -1 "$work/scontrol.log")" = "requeue $1" ] || fail "scontrol was asked '$(tail -1 "$work/scontrol.log")'"
  grep -q "stopped at step" "$work/task.out" || fail "the run did not stop cleanly"
  stopped_at=$(summary_value "$folder" epochs_completed)
  [ "$stopped_at" -lt 70 ] || fail "the run was not stopped: $stopped_at epochs"
}

echo "== 1. SIGUSR1 to the task's shell: a clean stop, and the task requeued"
export SLURM_ARRAY_JOB_ID=4242 SLURM_JOB_ID=4250
folder="$RUNS/row3.job4242"
start_task "${small[@]}"
usr1_stops_and_requeues 4250
[ "$(wc -l < "$work/scontrol.log")" -eq 1 ] || fail "scontrol was asked '$(cat "$work/scontrol.log")'"
runs=("$folder"/*/)
[ ${#runs[@]} -eq 1 ] || fail "${#runs[@]} run directories in $folder"
compgen -G "$folder/*/last.state.safetensors" > /dev/null || fail "no checkpoint"

echo "== 2. the task restarted resumes its run"
dry=$(bash scripts/slurm/table1_array.sh --dry-run "${small[@]}")
[[ "$dry" == *"--config configs/table1/row3.yaml run_root=$folder "* ]] || fail "a task not restarted resumed: $dry"
restarted_job_resumes() {  # the job script and its arguments, restarted: it resumes $folder's run and finishes it
  SLURM_RESTART_COUNT=1 bash "$@" > "$work/restarted.out" 2>&1 ||
    fail "the restarted job failed: $(cat "$work/restarted.out")"
  head -1 "$work/restarted.out"
  grep -q "cygnet_onecycle resume=$folder/onecycle-" "$work/restarted.out" || fail "the restarted job did not resume"
  runs=("$folder"/*/)
  [ ${#runs[@]} -eq 1 ] || fail "${#runs[@]} run directories in $folder after the resume"
  [ "$(summary_value "$folder" epochs_completed)" -eq 70 ] || fail "the resumed run did not finish"
}
restarted_job_resumes scripts/slurm/table1_array.sh "${small[@]}"
[ "$(wc -l < "$work/scontrol.log")" -eq 1 ] || fail "a finished run was requeued"
# Restarted once more after the run ended (a node failure as the task finished): it
# leaves the finished run as it is.
before=$(md5sum "$folder"/*/metrics.csv)
SLURM_RESTART_COUNT=2 bash scripts/slurm/table1_array.sh "${small[@]}" > "$work/task2b.out" 2>&1 ||
  fail "the task restarted after its run ended failed: $(cat "$work/task2b.out")"
grep -q "epochs are done (step 2240); nothing to continue" "$work/task2b.out" ||
  fail "the finished run was not recognised: $(cat "$work/task2b.out")"
[ "$(md5sum "$folder"/*/metrics.csv)" = "$before" ] || fail "the finished run's metrics changed"
table=$("$CYGNET_BUILD/apps/cygnet_table" --out "$work/table" "$RUNS"/row*.job4242)
echo "$table"
grep -Eq '^\| table1-row3 +\| +0\.01 \| +0\.1 \|.* 70 \| +[0-9.]+ \| +[0-9.]+ \|' <<< "$table" ||
  fail "the table has no finished row 3 (all 70 epochs, its values)"
echo "resumed after $stopped_at epochs and finished"

echo "== 3. SIGTERM to every process of the task: a clean stop, no requeue"
export SLURM_ARRAY_JOB_ID=4300 SLURM_JOB_ID=4301
folder="$RUNS/row3.job4300"
start_task "${small[@]}"
until_epochs "$folder" 2
kill -TERM -- "-$task"
rc=0
wait "$task" || rc=$?
[ "$rc" -eq 130 ] || fail "the task exited $rc after SIGTERM, not 130: $(cat "$work/task.out")"
[ "$(wc -l < "$work/scontrol.log")" -eq 1 ] || fail "a SIGTERM requeued the task"
compgen -G "$folder/*/last.state.safetensors" > /dev/null || fail "no checkpoint after SIGTERM"

echo "== 4. attempts without a complete checkpoint are moved aside"
export SLURM_ARRAY_JOB_ID=4400 SLURM_JOB_ID=4401 SLURM_RESTART_COUNT=1
folder="$RUNS/row3.job4400"
for attempt in 20260101-000000 20260101-000100; do
  mkdir -p "$folder/onecycle-table1-row3-$attempt"
  cp configs/table1/row3.yaml "$folder/onecycle-table1-row3-$attempt/config.yaml"
done
# The second stopped while its first checkpoint was written: the new state alone (the
# state is written before the weights).
touch "$folder/onecycle-table1-row3-20260101-000100/last.next.state.safetensors"
dry=$(bash scripts/slurm/table1_array.sh --dry-run "${small[@]}" train.epochs=2)
[[ "$dry" == *"--config configs/table1/row3.yaml run_root=$folder "* ]] || fail "dry run: $dry"
[ -d "$folder/onecycle-table1-row3-20260101-000000" ] || fail "the dry run moved an attempt"
bash scripts/slurm/table1_array.sh "${small[@]}" train.epochs=2 > "$work/task4.out" 2>&1 ||
  fail "the task failed: $(cat "$work/task4.out")"
for attempt in 20260101-000000 20260101-000100; do
  [ -d "$folder/.abandoned/onecycle-table1-row3-$attempt" ] || fail "attempt $attempt was not moved aside"
done
unset SLURM_RESTART_COUNT
runs=("$folder"/*/)
[ ${#runs[@]} -eq 1 ] || fail "${#runs[@]} run directories in $folder"
[ "$(summary_value "$folder" epochs_completed)" -eq 2 ] || fail "the fresh run did not finish"

if [ "$with_mpi" = --mpi ]; then
  echo "== 5. multi_gpu.sh over 2 ranks: SIGUSR1 stops both, the job is requeued and resumes"
  # srun, as the job sees it: 2 ranks under mpirun, without the job's SLURM_* variables
  # (mpirun would take them for an allocation of its own).
  oversubscribe=(--oversubscribe)
  [ "$(id -u)" -ne 0 ] || oversubscribe+=(--allow-run-as-root)
  cat > "$work/bin/srun" <<EOS
#!/usr/bin/env bash
while [[ "\$1" == --* ]]; do shift; done
exec env -u SLURM_JOB_ID -u SLURM_ARRAY_JOB_ID -u SLURM_ARRAY_TASK_ID mpirun -np 2 ${oversubscribe[*]} "\$@"
EOS
  chmod +x "$work/bin/srun"
  unset SLURM_ARRAY_JOB_ID SLURM_ARRAY_TASK_ID
  export SLURM_JOB_ID=5000
  folder="$RUNS/row3.job5000"
  setsid bash scripts/slurm/multi_gpu.sh configs/table1/row3.yaml "${small[@]}" > "$work/task.out" 2>&1 &
  task=$!
  usr1_stops_and_requeues 5000
  grep -q "2 ranks" "$work/task.out" || fail "the run was not over 2 ranks"
  restarted_job_resumes scripts/slurm/multi_gpu.sh configs/table1/row3.yaml "${small[@]}"
  echo "2 ranks stopped after $stopped_at epochs, resumed and finished"
fi

echo "== 6. SIGUSR1 as soon as the task's shell catches it: the task is requeued"
export SLURM_ARRAY_JOB_ID=4600 SLURM_JOB_ID=4601 SLURM_ARRAY_TASK_ID=2
catches_usr1() {  # whether process $1 catches SIGUSR1 (bit 10 of its SigCgt mask)
  local mask
  mask=$(awk '/^SigCgt:/ { print $2 }' "/proc/$1/status" 2> /dev/null) || return 1
  [ -n "$mask" ] && (((16#$mask >> 9) & 1))
}
start_task "${small[@]}"
for _ in $(seq 1 20000); do catches_usr1 "$task" && break; done
kill -USR1 "$task"
rc=0
wait "$task" || rc=$?
cat "$work/task.out"
[ "$rc" -eq 0 ] || fail "the task signalled at its start exited $rc"
[ "$(tail -1 "$work/scontrol.log")" = "requeue 4601" ] || fail "the task signalled at its start was not requeued"

export SLURM_ARRAY_JOB_ID=4700 SLURM_JOB_ID=4701
start_task "${small[@]}"
app_of() {  # the cygnet_onecycle process whose parent is $1 (procps may be absent)
  local p
  for p in /proc/[0-9]*; do
    [ "$(cat "$p/comm" 2> /dev/null)" = cygnet_onecycle ] || continue
    [ "$(awk '{ print $4 }' "$p/stat" 2> /dev/null)" = "$1" ] && { echo "${p#/proc/}"; return; }
  done
}
app=""
deadline=$((SECONDS + 60))
while [ "$SECONDS" -lt "$deadline" ]; do
  app=$(app_of "$task")
  [ -n "$app" ] && catches_usr1 "$app" && break
done
[ -n "$app" ] || fail "the task started no app: $(cat "$work/task.out")"
kill -USR1 "$task"
rc=0
wait "$task" || rc=$?
cat "$work/task.out"
[ "$rc" -eq 0 ] || fail "the task signalled during the app's set-up exited $rc"
grep -q "stopped at step" "$work/task.out" || fail "the app did not stop cleanly"
[ "$(tail -1 "$work/scontrol.log")" = "requeue 4701" ] || fail "the task signalled during the set-up was not requeued"

echo "== 7. the table job's command, with spaces in the paths"
mkdir -p "$work/a build/apps" "$work/a runs/row1.jobJOBID" "$work/a runs/row2.jobJOBID"
cat > "$work/a build/apps/cygnet_table" <<'EOS'
#!/usr/bin/env bash
printf '[%s]\n' "$@"
EOS
chmod +x "$work/a build/apps/cygnet_table"
unset SLURM_ARRAY_TASK_ID SLURM_ARRAY_JOB_ID SLURM_JOB_ID
line=$(CYGNET_BUILD="$work/a build" RUNS="$work/a runs" bash scripts/slurm/table1_array.sh --dry-run | tail -1)
eval "words=($line)"
wrap=""
for w in "${words[@]}"; do [[ "$w" != --wrap=* ]] || wrap=${w#--wrap=}; done
[ -n "$wrap" ] || fail "no --wrap in: $line"
got=$(sh -c "$wrap")
expected=$(printf '[%s]\n' --out "$work/a runs" "$work/a runs/row1.jobJOBID" "$work/a runs/row2.jobJOBID")
[ "$got" = "$expected" ] || fail "the table job ran: $got"
echo "slurm_requeue: all checks passed"
