# Sourced by the job scripts of scripts/slurm/ (they run from the checkout): a run that
# Slurm stops ahead of its time limit goes back to the queue and continues where it
# stopped, as Lightning's auto-requeue does. The job scripts ask for it with
#   #SBATCH --signal=B:USR1@180   (SIGUSR1 to the batch shell 3 minutes before the limit)
#   #SBATCH --requeue             (a requeued or restarted job runs again, with its id)
#   #SBATCH --open-mode=append    (its output file keeps the earlier parts)
# and trap 'requeue_stop_asked=1' USR1 as their first command (a signal that comes
# before this file is read is kept). Each run goes into a folder of its job, where the
# job finds it again:
#   job_run_root ROOT NAME   ROOT/NAME.job<id>: the array's id for an array task, else the job's
#   run_to_resume FOLDER [--dry-run]
#                            in a job Slurm restarted (SLURM_RESTART_COUNT > 0), the run
#                            directory in FOLDER to continue; nothing for a first start,
#                            or when no run there has a complete checkpoint. A run that
#                            stopped before its first complete checkpoint holds nothing
#                            to continue: it is moved into FOLDER/.abandoned (not with
#                            --dry-run), so that cygnet_table shows the run once.
#   run_requeueable CMD...   runs CMD. A SIGUSR1 to this shell is passed on to CMD (a
#                            clean stop: cygnet's apps write their checkpoint and exit
#                            with 130; srun passes it on to every rank), and once CMD has
#                            stopped (130, or any other non-zero status) the job is
#                            requeued (scontrol requeue). A SIGUSR1
#                            before CMD starts requeues the job without starting it.
#                            SIGTERM (scancel, the time limit) reaches CMD from Slurm
#                            itself: this shell waits for CMD, passes on its exit status,
#                            and does not requeue the job. Returns CMD's exit status, or
#                            0 when the job was requeued.
#   Manually: scancel --batch --signal=USR1 <job id> stops a job and requeues it.

# shellcheck source=../lib/wait_run.sh
source scripts/lib/wait_run.sh
requeue_stop_asked=${requeue_stop_asked:-0}
_requeue_child=""
_requeue_forwarded=0

_requeue_on_usr1() {
  requeue_stop_asked=1
  wait_interrupted=1
  wait_resend=USR1
  if [ -n "$_requeue_child" ] && [ "$_requeue_forwarded" = 0 ]; then
    _requeue_forwarded=1
    kill -USR1 "$_requeue_child" 2> /dev/null || true
  fi
}
trap _requeue_on_usr1 USR1

_requeue_job() {  # $1: what happened
  echo "requeue: $1; requeueing job ${SLURM_JOB_ID:-?}"
  if ! scontrol requeue "${SLURM_JOB_ID:?requeue needs SLURM_JOB_ID}"; then
    echo "requeue: scontrol requeue ${SLURM_JOB_ID} failed; its last checkpoint stays resumable" \
      "(resume=<its run directory>)" >&2
    return 1
  fi
}

job_run_root() {
  printf '%s/%s.job%s\n' "$1" "$2" "${SLURM_ARRAY_JOB_ID:-${SLURM_JOB_ID:-JOBID}}"
}

run_to_resume() {
  local folder=$1 dry=${2:-} dir resume=""
  [ "${SLURM_RESTART_COUNT:-0}" -gt 0 ] && [ -d "$folder" ] || return 0
  shopt -s nullglob
  for dir in "$folder"/*/; do  # in name order: oldest first (the names end with their start)
    dir=${dir%/}
    [ -f "$dir/config.yaml" ] || continue
    # A complete checkpoint: the weights and the state, each in place or as its new copy
    # (a pair whose renames a resume completes; see apps/common/checkpoint.h). The state
    # is written first: a new state alone is a first checkpoint cut short.
    if { [ -f "$dir/last.safetensors" ] || [ -f "$dir/last.next.safetensors" ]; } &&
       { [ -f "$dir/last.state.safetensors" ] || [ -f "$dir/last.next.state.safetensors" ]; }; then
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
  local status=0
  if [ "$requeue_stop_asked" = 1 ]; then  # asked before the run started: nothing to stop
    _requeue_job "asked to stop before the run started"
    return
  fi
  trap 'wait_interrupted=1' TERM
  "$@" &
  _requeue_child=$!
  [ "$requeue_stop_asked" = 0 ] || _requeue_on_usr1  # asked as it started: pass it on now
  wait_run "$_requeue_child"
  status=$wait_status
  trap - TERM
  # Stopped cleanly (130), or otherwise (by the SIGUSR1 before it could catch it; srun's
  # --kill-on-bad-exit ending a rank still finishing): the run continues from its last
  # checkpoint either way, as Lightning's requeue does.
  if [ "$requeue_stop_asked" = 1 ] && [ "$status" != 0 ]; then
    _requeue_job "the run stopped ahead of the time limit"
    return
  fi
  return "$status"
}
