#!/usr/bin/env bash
# scripts/compare_pytorch.sh end to end on the CPU: cygnet's side for real (cygnet_bench,
# cygnet_onecycle on a small CIFAR-10 in its binary layout), PyTorch's side a stand-in
# Python that answers as scripts/bench_pytorch.py prints, with figures the test chooses.
# It checks what the GPU check's headline rows rest on: the runs alternate (cygnet, then
# PyTorch, each round), each side's images/s are read from its own output (cygnet_bench's
# line, the second epoch of metrics.csv), the table's medians and cygnet/pytorch ratio,
# the --summary rows, a PyTorch failure noted without failing the comparison, a cygnet
# failure failing it, and torch.compile turned off for the later runs after a run says it
# is not available.
# Usage: compare_pytorch_script.sh REPO BIN_DIR WORK_DIR
set -euo pipefail
repo=$1 bin_dir=$2 work=$3
rm -rf "$work"
mkdir -p "$work"
work=$(cd "$work" && pwd)  # compare_pytorch.sh runs in the repository's folder
fail() { echo "FAIL: $*" >&2; exit 1; }

# bench_pytorch.py still prints the lines the stand-in imitates (compare_pytorch.sh reads
# "pytorch ...: N images/s" and "; options: ..."); a real PyTorch runs them on the GPU check.
[ "$(grep -c 'images/s, ' "$repo/scripts/bench_pytorch.py")" = 2 ] || fail "bench_pytorch.py's two images/s lines changed"
grep -q 'print(f"pytorch {a.model} batch {a.batch} on ' "$repo/scripts/bench_pytorch.py" || fail "bench_pytorch.py's step line changed"
grep -q 'print(f"pytorch {a.model} epoch of {n} images, batch {a.batch}, on ' "$repo/scripts/bench_pytorch.py" ||
  fail "bench_pytorch.py's epoch line changed"

# A CIFAR-10 of 40 records a file (the label byte, then 3072 bytes of pixels).
data="$work/cifar10"
mkdir -p "$data"
python3 - "$data" <<'EOF'
import random, sys
r = random.Random(7)
for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
    with open(f"{sys.argv[1]}/{name}", "wb") as out:
        for k in range(40):
            out.write(bytes([k % 10]) + bytes(r.getrandbits(8) for _ in range(3072)))
EOF

# The stand-in: `-c CODE` probes answer as a CPU-only PyTorch 2.5.1; a benchmark run takes
# its images/s from the list for its kind (step or epoch), one value a run in turn, where
# "fail" exits 1 with a message and "nocompile" prints torch.compile's note first. Every
# run's arguments go to calls.log.
fake="$work/fake_python"
cat > "$fake" <<'EOF'
#!/usr/bin/env bash
dir=$(dirname "$0")
if [ "$1" = -c ]; then
  case "$2" in *torch.__version__*) echo "2.5.1 0" ;; esac
  exit 0
fi
shift
kind=step
case " $* " in *" --epoch "*) kind=epoch ;; esac
echo "$kind $*" >> "$dir/calls.log"
n=$(grep -c "^$kind " "$dir/calls.log")
value=$(sed -n "${n}p" "$dir/$kind.values")
batch=$(echo " $* " | sed -n 's/.* --batch \([0-9]*\) .*/\1/p')
case "$value" in
  fail) echo "RuntimeError: planted failure of run $n" >&2; exit 1 ;;
  nocompile*) echo "bench_pytorch: note: torch.compile is not available (planted); the step runs eagerly"
              value=${value#nocompile } ;;
esac
if [ "$kind" = step ]; then
  echo "pytorch resnet18 batch $batch on cpu: $value images/s, 1.0 ms/step (median of 2), 2 threads; options: amp-bf16 channels-last"
else
  echo "pytorch resnet18 epoch of 32 images, batch $batch, on cpu: $value images/s, 1.00 s/epoch (after 1 warm-up epoch; train loss 2.3000 acc 0.1000), 2 threads; options: amp-bf16 channels-last"
fi
EOF
chmod +x "$fake"

median() { python3 -c 'import sys; v = sorted(float(x) for x in sys.argv[1:]); n = len(v); print(f"{v[n // 2]:.1f}" if n % 2 else f"{(v[n // 2 - 1] + v[n // 2]) / 2:.1f}")' "$@"; }
row_of() {  # output label batch -> "cygnet pytorch ratio"
  awk -v label="$2" -v batch="$3" 'index($0, label) == 1 { n = split(substr($0, length(label) + 1), f, " "); if (f[1] == batch) print f[2], f[3], f[4] }' <<< "$1"
}
compare() {  # name cifar10-dir args... -> output in $out, exit status in $rc
  local name=$1 cifar10=$2
  shift 2
  : > "$work/calls.log"
  rc=0
  out=$(bash "$repo/scripts/compare_pytorch.sh" --device cpu --quick --batches 8 --bin-dir "$bin_dir" --cifar10 "$cifar10" \
    --python "$fake" --logs "$work/$name" --summary "$work/$name.tsv" "$@" 2>&1) || rc=$?
  echo "$out"
}

# 1. Three rounds; the stand-in's median is its second round's figure, and neither the
# first, the last nor the mean.
printf '%s\n' "nocompile 400.0" 200.0 100.0 > "$work/step.values"
printf '%s\n' 70.0 60.0 40.0 > "$work/epoch.values"
compare three "$data" --rounds 3
[ "$rc" = 0 ] || fail "three rounds: exit $rc"
order=$({ grep -o -E '^  round [0-9], (step|epoch), batch 8: (cygnet|pytorch)' <<< "$out" || true; } | sed 's/^  //' | tr '\n' '|')
expected=""
for r in 1 2 3; do
  for b in step epoch; do expected+="round $r, $b, batch 8: cygnet|round $r, $b, batch 8: pytorch|"; done
done
[ "$order" = "$expected" ] || fail "the runs did not alternate: $order"

step_values=()
for r in 1 2 3; do
  v=$(sed -n 's/^cygnet .*: \([0-9.]*\) images\/s.*/\1/p' "$work/three/step-b8-cygnet-r$r.log")
  [ -n "$v" ] || fail "no images/s in cygnet_bench's log of round $r"
  step_values+=("$v")
done
epoch_values=()
for r in 1 2 3; do
  v=$(python3 -c 'import csv, sys; rows = list(csv.DictReader(open(sys.argv[1]))); assert len(rows) == 2, rows; print("%.1f" % float(rows[-1]["images_per_second"]))' \
    "$work/three/epoch-b8-cygnet-r$r.metrics.csv") || fail "round $r's metrics.csv has no second epoch"
  epoch_values+=("$v")
done
want_step=$(median "${step_values[@]}")
want_epoch=$(median "${epoch_values[@]}")
read -r c p ratio <<< "$(row_of "$out" "training step" 8)"
[ "$c" = "$want_step" ] || fail "step: cygnet $c, the median of its rounds (${step_values[*]}) is $want_step"
[ "$p" = 200.0 ] || fail "step: pytorch $p, the median of 400, 200 and 100 is 200.0"
want_ratio=$(python3 -c "print(f'{$want_step / 200.0:.2f}')")
[ "$ratio" = "$want_ratio" ] || fail "step: ratio $ratio, expected $want_ratio"
read -r c p ratio <<< "$(row_of "$out" "CIFAR-10 epoch" 8)"
[ "$c" = "$want_epoch" ] || fail "epoch: cygnet $c, the median of its rounds (${epoch_values[*]}) is $want_epoch"
[ "$p" = 60.0 ] || fail "epoch: pytorch $p, the median of 70, 60 and 40 is 60.0"
want_ratio=$(python3 -c "print(f'{$want_epoch / 60.0:.2f}')")
[ "$ratio" = "$want_ratio" ] || fail "epoch: ratio $ratio, expected $want_ratio"
grep '^training step' <<< "$out" | grep -q "3 of 3 rounds" || fail "the step row does not count 3 of 3 rounds"
# torch.compile: asked in the first run, which said it is not available; not asked after.
[ "$(head -1 "$work/calls.log" | grep -c -- ' --compile')" = 1 ] || fail "the first PyTorch run was not asked to compile"
[ "$(tail -n +2 "$work/calls.log" | grep -c -- ' --compile')" = 0 ] || fail "PyTorch runs after the note still compile"
grep -q "torch.compile is not available (planted)" <<< "$(grep '^PyTorch options:' <<< "$out")" ||
  fail "the table does not say why torch.compile is off"
# The summary rows gpu_check.sh records.
[ "$(wc -l < "$work/three.tsv")" = 2 ] || fail "the summary has not 2 rows"
IFS=$'\t' read -r name status text < "$work/three.tsv"
[ "$name" = "vs pytorch: step b8" ] && [ "$status" = ok ] || fail "summary row 1: '$name' '$status'"
[[ "$text" == "cygnet $want_step img/s, pytorch 200.0 img/s, cygnet/pytorch "* ]] || fail "summary row 1's text: $text"

# 2. A PyTorch run that fails: noted in its row, left out of its median; the comparison passes.
# (No CIFAR-10 from here on: the epoch rows say why they did not run, and take no time.)
printf '%s\n' 100.0 fail 200.0 > "$work/step.values"
printf '%s\n' 50.0 70.0 60.0 > "$work/epoch.values"
compare pytorch_fails "$work/no-cifar10" --rounds 3 --compile off
[ "$rc" = 0 ] || fail "a PyTorch failure failed the comparison (exit $rc)"
read -r c p ratio <<< "$(row_of "$out" "training step" 8)"
[ "$p" = 150.0 ] || fail "step: pytorch $p, the median of the two runs that ran (100, 200) is 150.0"
grep '^training step' <<< "$out" | grep -q "pytorch failed: RuntimeError: planted failure of run 2" ||
  fail "the step row does not say PyTorch failed"
[ "$(cut -f2 "$work/pytorch_fails.tsv" | tr '\n' ' ')" = "ok not-runnable " ] || fail "PyTorch's failure changed a row's status"
grep '^CIFAR-10 epoch' <<< "$out" | grep -q "not runnable here: no CIFAR-10 in $work/no-cifar10" ||
  fail "the epoch row without CIFAR-10 does not say why it did not run"
[ "$(grep -c -- ' --compile' "$work/calls.log")" = 0 ] || fail "--compile off still compiled"

# 3. A cygnet run that fails: its row fails, and so does the comparison.
printf '%s\n' 100.0 > "$work/step.values"
printf '%s\n' 50.0 > "$work/epoch.values"
compare cygnet_fails "$work/no-cifar10" --cygnet-bench-arg --no-such-option
[ "$rc" = 1 ] || fail "a cygnet failure: exit $rc, expected 1"
grep '^training step' <<< "$out" | grep -q "cygnet failed: .*--no-such-option" || fail "the step row does not say cygnet failed"
[ "$(cut -f2 "$work/cygnet_fails.tsv" | tr '\n' ' ')" = "failed not-runnable " ] || fail "the rows' statuses: $(cut -f2 "$work/cygnet_fails.tsv")"

rm -rf "$work"
echo "compare_pytorch.sh: alternation, medians, ratios, summary rows, failures and torch.compile's note as expected"
