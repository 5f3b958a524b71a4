#!/usr/bin/env bash
#SBATCH --job-name=cygnet-ddp
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=8
#SBATCH --gpus-per-node=8
#SBATCH --cpus-per-task=8
#SBATCH --time=04:00:00
#SBATCH --output=slurm-%x-%j.out
#SBATCH --open-mode=append
#SBATCH --signal=B:USR1@180
#SBATCH --requeue
# One data-parallel run over several GPUs or nodes: srun starts one rank per GPU (the
# #SBATCH lines above: 2 nodes of 8), each rank takes the GPU of its rank on its node
# and its slice of every global batch; NCCL carries the gradients, MPI starts it.
#
#   sbatch scripts/slurm/multi_gpu.sh configs/table1/row5.yaml [key=value ...]
#   bash scripts/slurm/multi_gpu.sh --dry-run configs/table1/row5.yaml   # prints the command
#
# train.batch_size stays the global batch: the run is the same experiment as on one GPU.
# The run directory, RUNS/<config name>.job<job id>/<run>/ (written by rank 0 alone), must
# be on a file system every node sees to be resumed: resume=<dir> with the same number of
# ranks. A job that reaches its time limit goes back to the queue and resumes its run:
# three minutes before the limit, srun passes SIGUSR1 on to every rank, they stop at the
# same step with a checkpoint, and the job is requeued (scripts/slurm/requeue.sh).
# scancel --batch --signal=USR1 <job id> stops and requeues it at once, and
# scancel --signal=USR1 <job id> stops it cleanly without a requeue. A plain scancel, or
# the time limit itself, ends the ranks (srun answers SIGTERM by killing its tasks): the
# run continues from its last epoch's checkpoint.
# Kept for scripts/slurm/requeue.sh: a SIGUSR1 ahead of the time limit that comes before it is read.
trap 'requeue_stop_asked=1' USR1
set -euo pipefail

dry_run=0
if [ "${1:-}" = "--dry-run" ]; then
  dry_run=1
  shift
fi
config=${1:-}
[ -n "$config" ] || { echo "usage: multi_gpu.sh [--dry-run] CONFIG.yaml [key=value ...]" >&2; exit 2; }
[ -f "$config" ] || { echo "multi_gpu: no config file '$config'" >&2; exit 2; }
shift
for o in "$@"; do
  [[ "$o" == *=* ]] || { echo "multi_gpu: '$o' is not key=value (a config override)" >&2; exit 2; }
done
build=${CYGNET_BUILD:-build}
[ -f scripts/slurm/requeue.sh ] || { echo "multi_gpu: run it from the checkout (no scripts/slurm/requeue.sh here)" >&2; exit 2; }
# shellcheck source=requeue.sh
source scripts/slurm/requeue.sh
run_root=$(job_run_root "${RUNS:-runs}" "$(basename "$config" .yaml)")
dry=""
[ "$dry_run" -eq 0 ] || dry=--dry-run
resume=$(run_to_resume "$run_root" $dry)
# srun's PMIx plugin starts the MPI ranks (srun --mpi=list shows what the cluster has).
srun_cmd=(srun --mpi="${SRUN_MPI:-pmix}" --kill-on-bad-exit=1 "$build/apps/cygnet_onecycle")
if [ -n "$resume" ]; then
  cmd=("${srun_cmd[@]}" "resume=$resume")  # a restarted job: its run's config.yaml holds the rest
else
  cmd=("${srun_cmd[@]}" --config "$config" distributed=true "run_root=$run_root" "$@")
fi
printf '%q ' "${cmd[@]}"
printf '\n'
[ "$dry_run" -eq 1 ] || run_requeueable "${cmd[@]}"
