#!/usr/bin/env python3
"""Compares two run directories of the same experiment: the step losses of steps.csv and
the tensors of last.safetensors (and of ema.safetensors, the moving average of the
weights, and swa.safetensors, stochastic weight averaging's, where the runs kept one),
each within a relative tolerance; and, where both runs finished, summary.json's highest
validation losses (the same images, in the same order, their losses within it). Used to check that a
data-parallel run (mpirun -np N) trains as one process does. Standard library only.

  python3 scripts/compare_runs.py RUN_A RUN_B [--rtol 1e-5] [--parameters-only]

--parameters-only leaves batchnorm's running statistics and counters out (and so the
losses, which depend on them): a run in micro-batches updates them once a micro-batch,
and 2 ranks without synchronised batchnorm keep rank 0's.

Prints the largest differences; exits 1 when one is past the tolerance, 2 on bad input.
"""
import argparse
import csv
import json
import os
import struct
import sys

SIZES = {"F32": ("f", 4), "F64": ("d", 8), "I64": ("q", 8), "I32": ("i", 4)}


def fail(message):
    print(f"compare_runs: error: {message}", file=sys.stderr)
    sys.exit(2)


def read_safetensors(path):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        fail(f"cannot read '{path}': {e.strerror}")
    if len(data) < 8:
        fail(f"'{path}' is not a safetensors file (shorter than its header length)")
    (n,) = struct.unpack("<Q", data[:8])
    try:
        header = json.loads(data[8:8 + n])
    except ValueError:
        fail(f"'{path}': its header is not JSON")
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        kind = SIZES.get(info["dtype"])
        if kind is None:
            fail(f"'{path}': tensor '{name}' has dtype {info['dtype']}, expected one of {', '.join(SIZES)}")
        begin, end = info["data_offsets"]
        raw = data[8 + n + begin:8 + n + end]
        tensors[name] = struct.unpack(f"<{len(raw) // kind[1]}{kind[0]}", raw)
    return tensors


def read_losses(path):
    try:
        with open(path, newline="") as f:
            return [float(row["loss"]) for row in csv.DictReader(f)]
    except (OSError, KeyError, ValueError) as e:
        fail(f"cannot read the losses of '{path}': {e}")


def read_top_losses(run):
    """summary.json's final_top_losses as (image, loss) pairs, or None where it has none."""
    path = os.path.join(run, "summary.json")
    try:
        with open(path) as f:
            top = json.load(f).get("final_top_losses")
    except (OSError, ValueError) as e:
        fail(f"cannot read '{path}': {e}")
    if top is None:
        return None
    try:
        return [(int(t["image"]), float(t["loss"])) for t in top]
    except (KeyError, TypeError, ValueError):
        fail(f"'{path}': final_top_losses is not a list of images and losses")


def relative(a, b):
    return abs(a - b) / max(abs(a), abs(b), 1e-30)


def compare_weights(run_a, run_b, file, parameters_only, tensors):
    """The relative L2 difference of the two runs' `file`, the parameters as one vector
    (the model's state less its integer counters, which must be equal): the norm of the
    difference over the norm of the values. Each tensor's own goes into `tensors`, for
    information: a bias that starts at zero and stays near it has no scale of its own."""
    ta = read_safetensors(os.path.join(run_a, file))
    tb = read_safetensors(os.path.join(run_b, file))
    if sorted(ta) != sorted(tb):
        fail(f"the runs' {file} hold different tensors")
    square_diff = square_norm = 0.0
    buffers = ("running_mean", "running_var", "num_batches_tracked")
    for name in ta:
        if parameters_only and name.endswith(buffers):
            continue
        a, b = ta[name], tb[name]
        if len(a) != len(b):
            fail(f"tensor '{name}' of {file} has {len(a)} and {len(b)} values")
        if name.endswith("num_batches_tracked"):
            if a != b:
                fail(f"'{name}' of {file} is {a} and {b}")
            continue
        d = sum((x - y) ** 2 for x, y in zip(a, b))
        n = sum(x * x for x in a)
        square_diff += d
        square_norm += n
        tensors.append((name, (d / max(n, 1e-300)) ** 0.5))
    return (square_diff / max(square_norm, 1e-300)) ** 0.5


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_a")
    parser.add_argument("run_b")
    parser.add_argument("--rtol", type=float, default=1e-5,
                        help="largest relative difference allowed (of a tensor: its largest element difference over "
                             "its largest magnitude)")
    parser.add_argument("--parameters-only", action="store_true",
                        help="compare the parameters alone, not batchnorm's running statistics and counters")
    args = parser.parse_args()
    for d in (args.run_a, args.run_b):
        if not os.path.isdir(d):
            fail(f"'{d}' is not a run directory")

    worst = []
    la = read_losses(os.path.join(args.run_a, "steps.csv"))
    lb = read_losses(os.path.join(args.run_b, "steps.csv"))
    if len(la) != len(lb):
        fail(f"the runs have {len(la)} and {len(lb)} steps")
    loss_diff = max((relative(a, b) for a, b in zip(la, lb)), default=0.0)
    worst.append(("step losses", loss_diff))

    tensors = []
    what = "parameters" if args.parameters_only else "parameters and statistics"
    worst.append((f"{what} (L2)", compare_weights(args.run_a, args.run_b, "last.safetensors", args.parameters_only,
                                                  tensors)))
    for average, title in (("ema.safetensors", "a moving average of its weights"),
                           ("swa.safetensors", "stochastic weight averaging's average")):
        has_a, has_b = (os.path.isfile(os.path.join(d, average)) for d in (args.run_a, args.run_b))
        if has_a != has_b:
            fail(f"one run has {title} ({average}), the other none")
        if has_a:
            worst.append((f"{average[:3]}: {what} (L2)",
                          compare_weights(args.run_a, args.run_b, average, args.parameters_only, [])))

    top_a, top_b = read_top_losses(args.run_a), read_top_losses(args.run_b)
    if (top_a is None) != (top_b is None):
        fail("one run's summary has its highest losses (final_top_losses), the other's none")
    if top_a is not None and not args.parameters_only:
        if len(top_a) != len(top_b):
            fail(f"the runs list {len(top_a)} and {len(top_b)} highest losses")
        # The same images at each rank, but where two losses all but tie (within 100 rtol:
        # float rounding may order them either way), with a neighbour or across the cut.
        near = lambda x, y: relative(x, y) <= 100 * args.rtol
        for k, ((image_a, loss_a), (image_b, loss_b)) in enumerate(zip(top_a, top_b)):
            if image_a == image_b:
                continue
            neighbours = [top[j][1] for top in (top_a, top_b) for j in (k - 1, k + 1) if 0 <= j < len(top)]
            tie = any(near(loss_a, x) for x in neighbours) or (k == len(top_a) - 1 and near(loss_a, loss_b))
            if not tie:
                print(f"compare_runs: the runs' highest-loss images differ at rank {k + 1}: image {image_a} (loss {loss_a:.6g}) "
                      f"and image {image_b} (loss {loss_b:.6g})", file=sys.stderr)
                sys.exit(1)
        worst.append(("highest validation losses (by rank)",
                      max((relative(a, b) for (_, a), (_, b) in zip(top_a, top_b)), default=0.0)))

    worst.sort(key=lambda item: -item[1])
    tensors.sort(key=lambda item: -item[1])
    print(f"{len(la)} step losses and {len(tensors)} tensors compared; relative differences:")
    for name, diff in worst:
        print(f"  {name:40s} {diff:.3e}")
    print("  the tensors that differ most (L2, for information):")
    for name, diff in tensors[:3]:
        print(f"    {name:38s} {diff:.3e}")
    if worst[0][1] > args.rtol:
        print(f"compare_runs: '{worst[0][0]}' differs by {worst[0][1]:.3e}, more than {args.rtol:g}")
        sys.exit(1)
    print(f"compare_runs: equal within {args.rtol:g}")


if __name__ == "__main__":
    main()
