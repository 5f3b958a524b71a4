#!/usr/bin/env bash
# cygnet_summary, cygnet_bench and cygnet_bench_checkpoint as a user runs them: the
# summary counts ResNet-18's parameters as PyTorch does for the kuangliu net (11,173,962)
# and ResNet-20's as He et al. give them (0.27 M); each bad argument is refused in one
# line naming it, with a non-zero exit, before any work; cygnet_bench_checkpoint prints
# its line and leaves a --dir of the user's as it was found.
# usage: small_apps_arguments.sh CYGNET_SUMMARY CYGNET_BENCH CYGNET_BENCH_CHECKPOINT
set -uo pipefail
summary=$1
bench=$2
checkpoint=$3
fail() { echo "FAILED: $*"; exit 1; }

out=$("$summary" 2>&1) || fail "summary: exit $?: $out"
grep -q "^resnet18: 62 parameter tensors, 11173962 parameters$" <<< "$out" || fail "summary of resnet18: $out"
out=$("$summary" --model resnet20 2>&1) || fail "summary --model resnet20: exit $?: $out"
grep -q "^resnet20: .* 2697[0-9][0-9] parameters$" <<< "$out" || fail "summary of resnet20: $out"

# refused APP EXPECTED ARGS...: exits non-zero with exactly the one line EXPECTED.
refused() {
  local app=$1 expected=$2
  shift 2
  local got
  got=$("$app" "$@" 2>&1) && fail "$(basename "$app") $* was accepted: $got"
  [ "$got" = "$expected" ] || fail "$(basename "$app") $*: expected '$expected', got '$got'"
}
refused "$summary" "cygnet_summary: --width 'abc': expected an integer in [0, 4096]" --width abc
refused "$summary" "cygnet_summary: --width '': expected an integer in [0, 4096]" --width ''
refused "$summary" "cygnet_summary: --width '9999999999999999999999': expected an integer in [0, 4096]" \
  --width 9999999999999999999999
refused "$summary" "cygnet_summary: --channels '1.5': expected an integer in [1, 64]" --channels 1.5
refused "$summary" "cygnet_summary: --classes '0': expected an integer in [2, 100000]" --classes 0
refused "$summary" "cygnet_summary: --model 'foo': expected one of resnet18, resnet20, resnet56, small_cnn" --model foo
refused "$summary" "cygnet_summary: --width 15: the option-A shortcuts of resnet20 need an even width" \
  --model resnet20 --width 15
refused "$summary" "cygnet_summary: --width: missing value (try --help)" --width
refused "$summary" "cygnet_summary: unknown option '--bogus' (try --help)" --bogus 1

refused "$bench" "cygnet_bench: --steps: expected a non-negative integer, got ''" --steps ''
refused "$bench" "cygnet_bench: --batch: expected a non-negative integer, got '99999999999999999999'" \
  --batch 99999999999999999999
refused "$bench" "cygnet_bench: --model 'foo': expected one of resnet18, resnet20, resnet56, small_cnn" --model foo
refused "$bench" "cygnet_bench: --width 7: the option-A shortcuts of resnet20 need an even width" \
  --model resnet20 --width 7
refused "$bench" "cygnet_bench: --classes 1: expected 2 to 100000" --classes 1
refused "$bench" "cygnet_bench: --width 5000: expected 0 (the model's own) to 4096" --width 5000
refused "$bench" "cygnet_bench: --graphs: expected on or off, got 'maybe'" --graphs maybe
refused "$bench" "cygnet_bench: --cudnn-benchmark: expected on or off, got 'yes'" --cudnn-benchmark yes
refused "$bench" "cygnet_bench: --cudnn-cache: expected a file name, got ''" --cudnn-cache ''

# The counted step after timed CUDA graph replays (the emulated device's) is an eager one
# on a warm cache: no allocation reaches the runtime, as after eager steps.
for graphs in on off; do
  out=$("$bench" --model small_cnn --width 4 --batch 4 --image 8 --device emu --warmup 1 --steps 1 --graphs "$graphs" \
    --counters 2>&1) || fail "bench --counters --graphs $graphs: exit $?: $out"
  grep -q -E "^device allocations from the runtime +0 " <<< "$out" || fail "bench --counters --graphs $graphs: $out"
done
refused "$checkpoint" "cygnet_bench_checkpoint: --rounds takes a whole number 1..1000, not '0'" --rounds 0
refused "$checkpoint" "cygnet_bench_checkpoint: --dir needs a value (try --help)" --dir
refused "$checkpoint" "cygnet_bench_checkpoint: unknown option '--bogus' (try --help)" --bogus
refused "$checkpoint" \
  "cygnet_bench_checkpoint: unknown model 'foo': expected one of resnet18, resnet20, resnet56, small_cnn" --model foo
# Its files have names of its own: a run's checkpoint in the folder is left as it was, and
# the folder holds nothing more after; the folder it makes for itself goes.
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkdir "$dir/run" "$dir/tmp"
echo "a run's checkpoint" > "$dir/run/last.safetensors"
out=$(TMPDIR="$dir/tmp" "$checkpoint" --model small_cnn --rounds 3 --dir "$dir/run" 2>&1) || fail "bench_checkpoint: exit $?: $out"
grep -q -E "^checkpoint of small_cnn on cpu \([0-9.]+ MB in 2 files\): save_checkpoint [0-9.]+ ms, the same bytes made beforehand [0-9.]+ ms; save/reference [0-9.]+ \(median of 3 rounds each, alternating\)$" \
  <<< "$out" || fail "bench_checkpoint's line: $out"
[ "$(ls -A "$dir/run")" = last.safetensors ] || fail "bench_checkpoint left in its --dir: $(ls -A "$dir/run" | tr '\n' ' ')"
[ "$(cat "$dir/run/last.safetensors")" = "a run's checkpoint" ] || fail "bench_checkpoint changed a run's checkpoint"
out=$(TMPDIR="$dir/tmp" "$checkpoint" --model small_cnn --rounds 1 2>&1) || fail "bench_checkpoint: exit $?: $out"
[ -z "$(ls -A "$dir/tmp")" ] || fail "bench_checkpoint left its folder: $(ls -A "$dir/tmp")"
out=$("$checkpoint" --model small_cnn --rounds 1 --dir "$dir/made/sub" 2>&1) || fail "bench_checkpoint: exit $?: $out"
[ ! -e "$dir/made" ] || fail "bench_checkpoint left the folders it made for --dir"
touch "$dir/run/cygnet-bench-checkpoint.safetensors"
refused "$checkpoint" "cygnet_bench_checkpoint: --dir '$dir/run' already holds cygnet-bench-checkpoint.safetensors (a file of this benchmark's own name, left by another run of it?): remove it first" \
  --model small_cnn --dir "$dir/run"
echo "summary, bench and bench_checkpoint: parameter counts, bad arguments and a step's allocations as expected"
