#!/usr/bin/env bash
# The Slurm scripts without Slurm: they parse (bash -n), and their dry runs print the
# commands they would submit and launch: one array task per configs/table1/row*.yaml in
# row order with the overrides given, each into a folder of its row and job, the table
# job over those folders after the array, with --seeds a task per row and seed, the srun
# line of a multi-GPU run; and bad
# arguments are refused with a message. (tests/dist/slurm_requeue.sh runs an array task.)
# usage: slurm_dry_run.sh SOURCE_DIR
set -euo pipefail
cd "$1"
fail() { echo "FAILED: $*"; exit 1; }
for s in scripts/slurm/*.sh; do bash -n "$s" || fail "$s does not parse"; done

out=$(bash scripts/slurm/table1_array.sh --dry-run device=cuda)
echo "$out"
rows=$(ls configs/table1/row*.yaml | wc -l)
[ "$(grep -c "^  task " <<< "$out")" -eq "$rows" ] || fail "not one task per row ($rows)"
grep -q -- "--array=0-$((rows - 1)) " <<< "$out" || fail "the array does not span the rows"
for k in $(seq 1 "$rows"); do
  grep -q "^  task $((k - 1)): .*cygnet_onecycle --config configs/table1/row$k.yaml run_root=runs/table1/row$k.jobJOBID device=cuda" \
    <<< "$out" || fail "task $((k - 1)) is not row $k with the override"
done
table_job=$(grep -- "--dependency=afterok:JOBID .*cygnet_table" <<< "$out") || fail "no table job after the array"
# Over the array's folders (printf %q escapes the glob the job's shell expands).
grep -qF 'runs/table1/row\*.jobJOBID' <<< "$table_job" || fail "the table job is not over the array's folders: $table_job"
task=$(SLURM_ARRAY_TASK_ID=1 bash scripts/slurm/table1_array.sh --dry-run)
[ "$task" = "build/apps/cygnet_onecycle --config configs/table1/row2.yaml run_root=runs/table1/row2.jobJOBID " ] ||
  fail "array task 1 runs '$task'"

# Over seeds: each row once per seed, a seed's rows together, each into rowK-seedS.
out=$(bash scripts/slurm/table1_array.sh --dry-run --seeds 0,7 device=cuda)
echo "$out"
[ "$(grep -c "^  task " <<< "$out")" -eq $((2 * rows)) ] || fail "not one task per row and seed ($((2 * rows)))"
grep -qF -- "--array=0-$((2 * rows - 1)) scripts/slurm/table1_array.sh --seeds 0\\,7 device=cuda" <<< "$out" ||
  fail "the array does not span rows and seeds, or does not pass the seeds on"
grep -q "^  task $((rows + 1)): .*--config configs/table1/row2.yaml run_root=runs/table1/row2-seed7.jobJOBID device=cuda seed=7" \
  <<< "$out" || fail "task $((rows + 1)) is not row 2 with seed 7"
task=$(SLURM_ARRAY_TASK_ID=$((rows + 1)) bash scripts/slurm/table1_array.sh --dry-run --seeds 0,7)
[ "$task" = "build/apps/cygnet_onecycle --config configs/table1/row2.yaml run_root=runs/table1/row2-seed7.jobJOBID seed=7 " ] ||
  fail "array task $((rows + 1)) with seeds runs '$task'"

out=$(bash scripts/slurm/multi_gpu.sh --dry-run configs/table1/row5.yaml train.epochs=2)
echo "$out"
grep -q "^srun .*cygnet_onecycle --config configs/table1/row5.yaml distributed=true run_root=runs/row5.jobJOBID train.epochs=2" \
  <<< "$out" || fail "the multi-GPU run's srun line"

for bad in "table1_array.sh --dry-run oops" "table1_array.sh --dry-run --seeds 1,1" "table1_array.sh --dry-run --seeds 01" \
  "table1_array.sh --dry-run --seeds" "table1_array.sh --dry-run schedule.lr_max_from=runs/x" "multi_gpu.sh --dry-run" \
  "multi_gpu.sh --dry-run missing.yaml"; do
  read -r -a words <<< "$bad"
  if message=$(bash "scripts/slurm/${words[0]}" "${words[@]:1}" 2>&1); then fail "'$bad' was accepted"; fi
  echo "refused: $bad: $message"
done
echo "slurm_dry_run: all checks passed"
