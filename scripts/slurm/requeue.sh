# Sourced by the job scripts of scripts/slurm/ (they run from the checkout): a run that
# Slurm stops ahead of its time limit goes back to the queue and continues where it
# stopped, as Lightning's auto-requeue does. The job scripts ask for it with
#   #SBATCH --signal=B:USR1@180   (SIGUSR1 to the batch shell 3 minutes before the limit)
#   #SBATCH --requeue             (a requeued or restarted job runs again, with its id)
#   #SBATCH --open-mode=append    (its output file keeps the earlier parts)
# and each run goes into a folder of its job, where the job finds it again:
#   job_run_root ROOT NAME   ROOT/NAME.job<id>: the array's id for an array task, else the job's
#   run_to_resume FOLDER [--dry-run]
#                            the run directory in FOLDER a restarted job continues (none
#                            when it has no checkpoint yet: a first start). An earlier
#                            attempt stopped before its first checkpoint holds nothing to
#                            continue; it is moved into FOLDER/.abandoned (not with
#                            --dry-run), so that cygnet_table shows the run once.
#   run_requeueable CMD...   runs CMD. A SIGUSR1 to this shell is passed on to CMD (a clean
#                            stop: cygnet's apps then write their checkpoint and exit with
#                            130), and once CMD has so stopped the job is requeued
#                            (scontrol requeue). SIGTERM (scancel, the time limit) reaches
#                            CMD from Slurm itself: this shell waits for CMD and passes on
#                            its exit status, and the job is not requeued. Returns CMD's
#                            exit status, or 0 when the job was requeued.
#   Manually: scancel --batch --signal=USR1 <job id> stops a job and requeues it.

job_run_root() {
  printf '%s/%s.job%s\n' "$1" "$2" "${SLURM_ARRAY_JOB_ID:-${SLURM_JOB_ID:-JOBID}}"
}

run_to_resume() {
  local folder=$1 dry=${2:-} dir resume=""
  [ -d "$folder" ] || return 0
  shopt -s nullglob
  for dir in "$folder"/*/; do  # in name order: oldest first (the names end with their start)
    dir=${dir%/}
    [ -f "$dir/config.yaml" ] || continue
    local checkpoints=("$dir"/last*.safetensors)
    if [ ${#checkpoints[@]} -gt 0 ]; then
      resume=$dir
    elif [ "$dry" != --dry-run ]; then
      mkdir -p "$folder/.abandoned" && mv "$dir" "$folder/.abandoned/" &&
        echo "requeue: $dir stopped before its first checkpoint; moved into $folder/.abandoned" >&2
    fi
  done
  shopt -u nullglob
  [ -z "$resume" ] || printf '%s\n' "$resume"
}

run_requeueable() {
  local child="" status=0 stop_asked=0 interrupted=0
  trap 'stop_asked=1; interrupted=1; [ -z "$child" ] || kill -USR1 "$child" 2>/dev/null || true' USR1
  trap 'interrupted=1' TERM
  "$@" &
  child=$!
  while :; do
    interrupted=0
    wait "$child" && status=0 || status=$?
    # A signal to this shell ends `wait` early (status 128 + its number): wait again.
    [ "$interrupted" = 1 ] && [ "$status" -gt 128 ] || break
  done
  trap - USR1 TERM
  if [ "$stop_asked" = 1 ] && [ "$status" = 130 ]; then
    echo "requeue: the run stopped ahead of the time limit; requeueing job ${SLURM_JOB_ID:-?}"
    if ! scontrol requeue "${SLURM_JOB_ID:?requeue needs SLURM_JOB_ID}"; then
      echo "requeue: scontrol requeue ${SLURM_JOB_ID} failed; its last checkpoint stays resumable (resume=<its run directory>)" >&2
      return 1
    fi
    return 0
  fi
  return "$status"
}
