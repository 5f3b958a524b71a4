#!/usr/bin/env bash
# scripts/table1.sh as a user runs it, on the CPU with synthetic images:
#  1. --quick: the Adam baseline and the eight rows, one run directory each, then the
#     table (table1.md with a row per run in order, val_accuracy.svg, val_loss.svg, table1.html);
#  2. SIGTERM to the script alone (kill, timeout): the run under way stops cleanly (exit
#     130, a checkpoint, fewer epochs than its config), the script says which run it
#     stopped and starts no other, and no run is left behind;
#  3. Ctrl-C at the terminal (SIGINT to the process group): as a run starts, before the
#     app has its handler, and after an epoch; either way the script stops there (exit
#     130) and says so, and no other run starts;
#  4. bad arguments (its own, and a config override or device every run would refuse)
#     are refused with one line before any run starts: no run root is made; a run that
#     fails before its run directory exists (a GPU this machine lacks) stops the series.
# usage: table1_script.sh SOURCE_DIR BUILD_DIR WORK_DIR
set -euo pipefail
source_dir=$1
build=$2
work=$3
rm -rf "$work"
mkdir -p "$work"
fail() { echo "FAILED: $*"; exit 1; }
table1=("$source_dir/scripts/table1.sh" --synthetic --device cpu --bin-dir "$build")

echo "== 1. --quick: nine runs and the table"
bash "${table1[@]}" --quick 2 --run-root "$work/quick" threads=1 > "$work/quick.log" 2>&1 ||
  fail "table1.sh --quick failed: $(tail -20 "$work/quick.log")"
tail -12 "$work/quick.log"
runs=("$work/quick"/*/)
[ ${#runs[@]} -eq 9 ] || fail "${#runs[@]} run directories, not 9"
for f in table1.md val_accuracy.svg val_loss.svg table1.html; do [ -s "$work/quick/$f" ] || fail "no $f"; done
# One file of cuDNN's choices for all nine runs, in the run root (read on a GPU only).
caches=$(grep -h '^cudnn_cache:' "$work/quick"/*/config.yaml | sort | uniq -c | sed 's/^ *//')
[ "$caches" = "9 cudnn_cache: \"$work/quick/cudnn_choices.tsv\"" ] || fail "the runs' cudnn_cache: $caches"
names=$(awk -F'|' 'NR > 2 { gsub(/ /, "", $2); print $2 }' "$work/quick/table1.md" | paste -sd' ')
[ "$names" = "baseline-adam table1-row1 table1-row2 table1-row3 table1-row4 table1-row5 table1-row6 table1-row7 table1-row8" ] ||
  fail "the table's rows: $names"

echo "== 1b. --seeds 0,1: each run once per seed, a row each over its two seeds"
bash "${table1[@]}" --quick 1 --seeds 0,1 --run-root "$work/seeds" threads=1 cudnn_cache="$work/mine.tsv" \
  > "$work/seeds.log" 2>&1 || fail "table1.sh --seeds 0,1 failed: $(tail -20 "$work/seeds.log")"
# A cudnn_cache of the caller's takes the place of the run root's.
caches=$(grep -h '^cudnn_cache:' "$work/seeds"/*/config.yaml | sort | uniq -c | sed 's/^ *//')
[ "$caches" = "18 cudnn_cache: \"$work/mine.tsv\"" ] || fail "the runs' cudnn_cache with the caller's: $caches"
runs=("$work/seeds"/*/)
[ ${#runs[@]} -eq 18 ] || fail "${#runs[@]} run directories with two seeds, not 18"
seeds=$(grep -h '^seed:' "$work/seeds"/*/config.yaml | sort | uniq -c | awk '{ print $1 "x" $3 }' | paste -sd' ')
[ "$seeds" = "9x0 9x1" ] || fail "the runs' seeds: $seeds"
names=$(awk -F'|' 'NR > 2 { gsub(/^ +| +$/, "", $2); print $2 }' "$work/seeds/table1.md" | paste -sd',')
[ "$names" = "baseline-adam (2 seeds),table1-row1 (2 seeds),table1-row2 (2 seeds),table1-row3 (2 seeds),table1-row4 (2 seeds),table1-row5 (2 seeds),table1-row6 (2 seeds),table1-row7 (2 seeds),table1-row8 (2 seeds)" ] ||
  fail "the table's rows over seeds: $names"
# Two seeds give two initialisations: a standard deviation above 0 (identical runs would give 0).
grep -Eq ' ± 0\.0*[1-9]' "$work/seeds/table1.md" || fail "no standard deviation over seeds: $(cat "$work/seeds/table1.md")"

echo "== 2. SIGTERM to the script alone"
bash "${table1[@]}" --quick 100000 --run-root "$work/stopped" threads=1 > "$work/stopped.log" 2>&1 &
script=$!
metrics=""
for _ in $(seq 1 600); do
  metrics=$(compgen -G "$work/stopped/*/metrics.csv" | head -1 || true)
  [ -n "$metrics" ] && [ "$(wc -l < "$metrics")" -ge 2 ] && break
  kill -0 "$script" 2> /dev/null || fail "table1.sh ended early: $(cat "$work/stopped.log")"
  sleep 0.1
done
[ -n "$metrics" ] || fail "no epoch after 60 s: $(cat "$work/stopped.log")"
kill -TERM "$script"
rc=0
wait "$script" || rc=$?
tail -4 "$work/stopped.log"
[ "$rc" -eq 130 ] || fail "table1.sh exited $rc after SIGTERM, not 130"
grep -q "table1: stopped during configs/baseline_adam.yaml" "$work/stopped.log" || fail "no word of the stopped run"
runs=("$work/stopped"/*/)
[ ${#runs[@]} -eq 1 ] || fail "${#runs[@]} run directories: another run started"
[ -f "${runs[0]}last.state.safetensors" ] || fail "the stopped run has no checkpoint"
epochs=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["epochs_completed"])' "${runs[0]}summary.json")
[ "$epochs" -lt 90 ] || fail "the run was not stopped: $epochs epochs"
sleep 0.5
for p in /proc/[0-9]*; do
  case "$(cat "$p/comm" 2> /dev/null)" in
    cygnet_baseline | cygnet_onecycle)
      grep -qF -- "$work/stopped" "$p/cmdline" 2> /dev/null && fail "a run is left behind: ${p#/proc/}" ;;
  esac
done
echo "stopped after $epochs epochs"

echo "== 3. Ctrl-C at the terminal: SIGINT to the process group"
for when in start epoch; do
  root="$work/interrupted-$when"
  # As from a terminal: a process group of its own, SIGINT at its default (a background
  # job of this shell would start with it ignored, and bash could not trap it).
  python3 -c 'import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
os.setsid()
os.execvp(sys.argv[1], sys.argv[1:])' bash "${table1[@]}" --quick 100000 --run-root "$root" threads=1 > "$root.log" 2>&1 &
  script=$!
  for _ in $(seq 1 600); do
    if [ "$when" = start ]; then
      grep -q "^== configs/baseline_adam.yaml" "$root.log" 2> /dev/null && break
    else
      metrics=$(compgen -G "$root/*/metrics.csv" | head -1 || true)
      [ -n "$metrics" ] && [ "$(wc -l < "$metrics")" -ge 2 ] && break
    fi
    kill -0 "$script" 2> /dev/null || fail "table1.sh ended early: $(cat "$root.log")"
    sleep 0.01
  done
  kill -INT -- "-$script"
  rc=0
  wait "$script" || rc=$?
  tail -2 "$root.log"
  [ "$rc" -eq 130 ] || fail "Ctrl-C at the $when: table1.sh exited $rc, not 130"
  grep -Eq "table1: stopped (during|as) configs/baseline_adam.yaml" "$root.log" ||
    fail "Ctrl-C at the $when: the baseline was not the run stopped: $(tail -3 "$root.log")"
  shopt -s nullglob
  runs=("$root"/*/)
  shopt -u nullglob
  [ ${#runs[@]} -le 1 ] || fail "Ctrl-C at the $when: ${#runs[@]} run directories: another run started"
  if [ "$when" = epoch ]; then
    [ -f "${runs[0]}last.state.safetensors" ] || fail "Ctrl-C after an epoch: no checkpoint"
  fi
done

echo "== 4. bad arguments"
for bad in "--quick 0" "--device tpu" "--frobnicate" "optimizer.lr=x" "train.epoch=3" "--seeds 1,x" "--seeds 1,1" \
  "--seeds" "--seeds 1,01" "--seeds 9999999999999999999" "schedule.lr_max_from=runs/x"; do
  read -r -a words <<< "$bad"
  if message=$(bash "$source_dir/scripts/table1.sh" "${words[@]}" --synthetic --bin-dir "$build" \
                 --run-root "$work/bad" 2>&1); then
    fail "'$bad' was accepted"
  fi
  [ "$(wc -l <<< "$message")" -eq 1 ] || fail "'$bad': not one line: $message"
  [ ! -e "$work/bad" ] || fail "'$bad' made the run root"
  echo "refused: $bad: $message"
done
rc=0
bash "${table1[@]}" --quick 2 --run-root "$work/nogpu" device=cuda:63 > "$work/nogpu.log" 2>&1 || rc=$?
cat "$work/nogpu.log"
[ "$rc" -eq 1 ] || fail "a run on a GPU this machine lacks: exit $rc, not 1"
[ "$(grep -c "^== " "$work/nogpu.log")" -eq 1 ] || fail "the series went on after a run failed before it started"
grep -q "the other runs would too" "$work/nogpu.log" || fail "no word of why the series stopped"
echo "table1_script: all checks passed"
