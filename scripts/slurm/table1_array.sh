#!/usr/bin/env bash
#SBATCH --job-name=cygnet-table1
#SBATCH --gpus=1
#SBATCH --cpus-per-task=8
#SBATCH --time=04:00:00
#SBATCH --output=slurm-%x-%A_%a.out
#SBATCH --open-mode=append
#SBATCH --signal=B:USR1@180
#SBATCH --requeue
# The rows of Table I on a Slurm cluster: one array task per configs/table1/row*.yaml,
# each a 1-GPU cygnet_onecycle run into RUNS/rowK.job<array id>/, then cygnet_table over
# them once every row has finished (a job that depends on the array).
#
# A task that reaches its time limit goes back to the queue: three minutes before it,
# the run stops after its step with a checkpoint, the task is requeued, and when it
# starts again it resumes the run in its folder (scripts/slurm/requeue.sh). A task
# restarted after a node failure resumes too (--requeue). scancel --batch --signal=USR1
# <job id>_<task> stops and requeues a task at once; a plain scancel stops it with a
# checkpoint, without a requeue.
#
#   bash scripts/slurm/table1_array.sh             # submits the array and the table job
#   bash scripts/slurm/table1_array.sh --dry-run   # prints what it would submit and run
#   bash scripts/slurm/table1_array.sh --seeds 0,1,2   # each row once per seed (24 tasks);
#                                                      # the table: each row's mean ± sd
#
# Run from the checkout. Settings (environment): CYGNET_BUILD (the build folder, default
# build), RUNS (default runs/table1), SBATCH_ARGS (more sbatch options: partition,
# account), and any key=value arguments after the options are passed to every row
# (device=cuda, data.root=...). Inside the array, SLURM_ARRAY_TASK_ID picks the row (and
# with --seeds the seed: task = seed index * rows + row index), into RUNS/rowK.job<id>/ or
# RUNS/rowK-seedS.job<id>/.
# Kept for scripts/slurm/requeue.sh: a SIGUSR1 ahead of the time limit that comes before it is read.
trap 'requeue_stop_asked=1' USR1
set -euo pipefail

dry_run=0
seeds=()
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) dry_run=1 ;;
    --seeds)
      # Plain decimals (YAML would read 010 as octal), below 10^18 (the seed is an int64).
      [ $# -ge 2 ] && [[ "$2" =~ ^(0|[1-9][0-9]{0,17})(,(0|[1-9][0-9]{0,17}))*$ ]] ||
        { echo "table1_array: --seeds needs seeds (whole numbers without leading zeros) separated by commas, such as 0,1,2" >&2; exit 2; }
      IFS=, read -r -a seeds <<< "$2"
      [ "$(printf '%s\n' "${seeds[@]}" | sort -u | wc -l)" = "${#seeds[@]}" ] ||
        { echo "table1_array: --seeds '$2': a seed repeats" >&2; exit 2; }
      shift ;;
    *) break ;;
  esac
  shift
done
overrides=("$@")
for o in "${overrides[@]}"; do
  [[ "$o" == *=* ]] || { echo "table1_array: '$o' is not key=value (a config override)" >&2; exit 2; }
  # Table I's rows set their own lr ranges (as scripts/table1.sh says).
  case "$o" in
    schedule.lr_max_from=* | schedule.lr_max_rule=*)
      echo "table1_array: '${o%%=*}' is not for Table I, whose rows set their own lr ranges" >&2
      exit 2 ;;
  esac
done
build=${CYGNET_BUILD:-build}
runs=${RUNS:-runs/table1}
shopt -s nullglob
rows=(configs/table1/row*.yaml)
shopt -u nullglob
[ ${#rows[@]} -gt 0 ] || { echo "table1_array: no configs/table1/row*.yaml here; run it from the checkout" >&2; exit 2; }
# row1 .. row8 in their numeric order.
mapfile -t rows < <(printf '%s\n' "${rows[@]}" | sort -V)

show() {  # prints a command, quoted so that it can be pasted, then runs it unless dry
  printf '%q ' "$@"
  printf '\n'
  [ "$dry_run" -eq 1 ] || "$@"
}

[ -f scripts/slurm/requeue.sh ] || { echo "table1_array: run it from the checkout (no scripts/slurm/requeue.sh here)" >&2; exit 2; }
# shellcheck source=requeue.sh
source scripts/slurm/requeue.sh

# Array tasks: each row, or each row once per seed (a seed's rows together).
tasks=${#rows[@]}
[ ${#seeds[@]} -eq 0 ] || tasks=$((${#rows[@]} * ${#seeds[@]}))
task_folder() {  # the folder name of task $1: rowK, or rowK-seedS
  local name
  name=$(basename "${rows[$(($1 % ${#rows[@]}))]}" .yaml)
  [ ${#seeds[@]} -eq 0 ] || name+="-seed${seeds[$(($1 / ${#rows[@]}))]}"
  printf '%s\n' "$name"
}
row_command() {  # the command of array task $1 (a first start), into the array `cmd`
  local row=${rows[$(($1 % ${#rows[@]}))]}
  cmd=("$build/apps/cygnet_onecycle" --config "$row" "run_root=$(job_run_root "$runs" "$(task_folder "$1")")"
       "${overrides[@]}")
  [ ${#seeds[@]} -eq 0 ] || cmd+=("seed=${seeds[$(($1 / ${#rows[@]}))]}")
}

if [ -n "${SLURM_ARRAY_TASK_ID:-}" ]; then
  # Inside the array: this task's row, or the run a requeued task continues (its
  # config.yaml holds the overrides).
  task=$SLURM_ARRAY_TASK_ID
  [ "$task" -ge 0 ] && [ "$task" -lt "$tasks" ] ||
    { echo "table1_array: task $task, but there are $tasks tasks (${#rows[@]} rows)" >&2; exit 2; }
  row_command "$task"
  dry=""
  [ "$dry_run" -eq 0 ] || dry=--dry-run
  resume=$(run_to_resume "$(job_run_root "$runs" "$(task_folder "$task")")" $dry)
  [ -z "$resume" ] || cmd=("$build/apps/cygnet_onecycle" "resume=$resume")
  printf '%q ' "${cmd[@]}"
  printf '\n'
  [ "$dry_run" -eq 1 ] || run_requeueable "${cmd[@]}"
  exit
fi

# Submission: the array, then the table after every task succeeded.
read -r -a extra <<< "${SBATCH_ARGS:-}"
last=$((tasks - 1))
# The array's own command line: the seeds, then the overrides.
array_args=()
[ ${#seeds[@]} -eq 0 ] || array_args=(--seeds "$(IFS=,; printf '%s' "${seeds[*]}")")
if [ "$dry_run" -eq 1 ]; then
  show sbatch --parsable "${extra[@]}" --array="0-$last" "$0" ${array_args[@]+"${array_args[@]}"} "${overrides[@]}"
  array_id=JOBID
  for task in $(seq 0 "$last"); do
    printf '  task %d: ' "$task"
    row_command "$task"
    printf '%q ' "${cmd[@]}"
    printf '\n'
  done
else
  array_id=$(sbatch --parsable "${extra[@]}" --array="0-$last" "$0" ${array_args[@]+"${array_args[@]}"} "${overrides[@]}")
  echo "submitted the array: job $array_id ($tasks tasks: ${#rows[@]} rows${seeds[*]:+, seeds ${seeds[*]}})"
fi
show sbatch "${extra[@]}" --job-name=cygnet-table1-table --dependency="afterok:$array_id" --time=00:10:00 \
  --output="slurm-cygnet-table1-table-%j.out" \
  --wrap="$(printf '%q ' "$build/apps/cygnet_table" --out "$runs")$(printf '%q' "$runs")/row*.job$array_id"
