"""TensorBoard's own reader on a cygnet run: every scalar of steps.csv and metrics.csv
must come back from the run's event file with its step and value (float32), and every
row of activation_stats.csv as its layer's scalars and, after a ReLU, its histogram.

    tensorboard_reader.py CYGNET_ONECYCLE SCRATCH_DIR
"""
import csv
import glob
import os
import shutil
import subprocess
import sys

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


def fail(message):
    print("FAIL: " + message)
    sys.exit(1)


def main():
    binary, scratch = sys.argv[1], sys.argv[2]
    shutil.rmtree(scratch, ignore_errors=True)
    os.makedirs(scratch)
    run = subprocess.run(
        [binary, "device=cpu", "data.dataset=synthetic", "model.name=small_cnn", "data.synthetic_train=256",
         "data.synthetic_val=64", "train.batch_size=32", "train.epochs=2", "train.log_every=1",
         "tensorboard=true", "train.activation_stats_every=4", "run_root=" + scratch, "name=tb"],
        capture_output=True, text=True)
    if run.returncode != 0:
        fail("the training run failed:\n" + run.stdout + run.stderr)
    (run_dir,) = glob.glob(os.path.join(scratch, "onecycle-tb-*"))
    events = EventAccumulator(run_dir, size_guidance={"scalars": 0, "histograms": 0})
    events.Reload()
    scalars = {tag: {e.step: e.value for e in events.Scalars(tag)} for tag in events.Tags()["scalars"]}

    def expect(tag, step, value):
        got = scalars.get(tag, {}).get(step)
        if got is None:
            fail("%s at step %d is missing (tags: %s)" % (tag, step, sorted(scalars)))
        if abs(got - value) > 1e-6 * max(1.0, abs(value)):
            fail("%s at step %d: %r read back, %r in the tables" % (tag, step, got, value))

    with open(os.path.join(run_dir, "steps.csv")) as f:
        steps = list(csv.DictReader(f))
    with open(os.path.join(run_dir, "metrics.csv")) as f:
        epochs = list(csv.DictReader(f))
    if len(steps) != 16 or len(epochs) != 2:
        fail("expected 16 steps and 2 epochs, got %d and %d" % (len(steps), len(epochs)))
    for row in steps:
        for tag, column in (("train/loss", "loss"), ("train/lr", "lr"), ("train/momentum", "momentum")):
            expect(tag, int(row["step"]), float(row[column]))
    for row in epochs:
        for name in ("train_loss", "train_acc", "val_loss", "val_acc"):
            expect("epoch/" + name, int(row["step"]), float(row[name]))
    for tag, count in (("train/loss", 16), ("train/lr", 16), ("epoch/val_acc", 2)):
        if len(scalars[tag]) != count:
            fail("%s has %d points, expected %d" % (tag, len(scalars[tag]), count))
    with open(os.path.join(run_dir, "activation_stats.csv")) as f:
        activations = list(csv.DictReader(f))
    if len(activations) != 4 * 5:  # steps 4, 8, 12, 16; small_cnn's 5 layers
        fail("expected 20 activation rows, got %d" % len(activations))
    histograms = 0
    for row in activations:
        step, layer = int(row["step"]), row["layer"]
        for name in ("mean", "std", "near_zero"):
            expect("activations_%s/%s" % (name, layer), step, float(row[name]))
        if not layer.endswith("relu"):
            continue
        tag = "activations_hist/" + layer
        if tag not in events.Tags()["histograms"]:
            fail("%s is missing (histograms: %s)" % (tag, events.Tags()["histograms"]))
        (event,) = [e for e in events.Histograms(tag) if e.step == step]
        h = event.histogram_value
        counts = [int(c) for c in row["hist"].split()]
        if [int(b) for b in h.bucket] != counts or h.num != sum(counts):
            fail("%s at step %d: buckets %r, the table %r" % (tag, step, list(h.bucket), counts))
        if list(h.bucket_limit) != [0.25 * (b + 1) for b in range(40)]:
            fail("%s: bucket limits %r" % (tag, list(h.bucket_limit)))
        histograms += 1
    if histograms != 4 * 2:
        fail("expected 8 histograms (bn1+relu, bn2+relu at 4 steps), read %d" % histograms)
    print("tensorboard read back %d scalars of %d tags and %d histograms, every one as in the tables" %
          (sum(len(v) for v in scalars.values()), len(scalars), histograms))


if __name__ == "__main__":
    main()
