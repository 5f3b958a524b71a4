#!/usr/bin/env python3
"""The PyTorch side of apps/bench: the same model, batch and training step (forward,
mean cross-entropy, backward, SGD with momentum 0.9 and weight decay 5e-4), timed the
same way, printing the same line as cygnet_bench.

    python3 scripts/bench_pytorch.py --model resnet18 --batch 64 --device cpu

PyTorch at its best, for comparing cygnet against (each option is named at the end of
the printed line, "options: none" when none is on):
    --amp bf16          forward and loss under torch.autocast in bfloat16
    --channels-last     model and input in torch.channels_last
    --cudnn-benchmark   torch.backends.cudnn.benchmark = True
    --compile [MODE]    torch.compile (static shapes); where it is missing or fails, a
                        note says why and the step runs eagerly
    --fused-sgd         SGD's fused implementation (a note says when there is none)

--kernels N (GPU) then runs --steps more steps under torch.profiler and prints the N kernels
that took the most GPU time a step: its share, ms a step, launches a step and the mean
launch, beside the same table of cygnet's own from scripts/profile.sh.

--epoch times one CIFAR-10 training epoch instead: the 50,000 images of data_batch_1..5.bin
in the official binary layout (--cifar10 DIR), resident on the device as uint8 tensors,
shuffled, gathered and normalised per batch on the device (no DataLoader), the last
batch partial; after one untimed warm-up epoch (--warmup-epochs), which also absorbs
compilation and autotuning for both batch shapes. It prints the images/s and seconds of
the timed epoch.

    python3 scripts/bench_pytorch.py --epoch --cifar10 data/cifar-10-batches-bin --batch 128 \\
        --device cuda --amp bf16 --channels-last --cudnn-benchmark --compile

Needs PyTorch (Debian: python3-torch, run with /usr/bin/python3). The ResNet-18 is the
CIFAR variant of kuangliu/pytorch-cifar, defined in tests/golden/make_golden.py.
"""
import argparse
import contextlib
import os
import resource
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "golden"))
from make_golden import ResNet18  # noqa: E402

CIFAR10_RECORD = 3073  # 1 label byte, then 3x32x32 pixel bytes
CIFAR10_TRAIN_FILES = [f"data_batch_{i}.bin" for i in range(1, 6)]
# Per-channel mean and std of the training images on the [0, 1] scale (as data/transforms.h).
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)


def note(text):
    print(f"bench_pytorch: note: {text}", flush=True)


def first_line(error):
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0] if lines else ''}"[:200]


class TrainingStep:
    """One training step with the options on; torch.compile falls back to eager (with a
    note) when compiling fails on the first steps."""

    def __init__(self, a, device):
        self.device = device
        self.options = []
        if a.cudnn_benchmark:
            torch.backends.cudnn.benchmark = True
            self.options.append("cudnn-benchmark")
        self.memory_format = torch.channels_last if a.channels_last else torch.contiguous_format
        self.model = ResNet18(width=a.width, in_channels=a.channels).to(device).train()
        if a.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
            self.options.append("channels-last")
        self.amp = a.amp == "bf16"
        if self.amp:
            self.options.append("amp-bf16")
        self.optimizer = self._make_sgd(a.fused_sgd)
        self.forward = self.model
        self.compiled = False
        if a.compile:
            if not hasattr(torch, "compile"):
                note(f"torch.compile is not available in PyTorch {torch.__version__}: running eagerly")
            else:
                self.forward = torch.compile(self.model, mode=None if a.compile == "default" else a.compile,
                                             dynamic=False)
                self.compiled = True
                self.options.append("compile" if a.compile == "default" else f"compile-{a.compile}")

    def _make_sgd(self, fused):
        settings = dict(lr=0.01, momentum=0.9, weight_decay=5e-4)
        if fused:
            try:
                optimizer = torch.optim.SGD(self.model.parameters(), fused=True, **settings)
                self.options.append("fused-sgd")
                return optimizer
            except (TypeError, RuntimeError, ValueError) as e:
                note(f"no fused SGD in PyTorch {torch.__version__} on {self.device.type} ({first_line(e)}): "
                     "using the default SGD")
        return torch.optim.SGD(self.model.parameters(), **settings)

    def _autocast(self):
        if not self.amp:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)

    def _step(self, x, y):
        self.optimizer.zero_grad(set_to_none=True)
        with self._autocast():
            logits = self.forward(x)
            loss = F.cross_entropy(logits, y)
        loss.backward()
        self.optimizer.step()
        return loss.detach(), logits.detach()

    def __call__(self, x, y):
        if not self.compiled:
            return self._step(x, y)
        try:
            return self._step(x, y)
        except Exception as e:  # compilation errors come in many types; any of them means eager
            note(f"torch.compile failed ({first_line(e)}): running eagerly")
            self.options.remove(next(o for o in self.options if o.startswith("compile")))
            self.forward, self.compiled = self.model, False
            return self._step(x, y)

    def input(self, x):
        return x.contiguous(memory_format=self.memory_format)

    def options_text(self):
        order = ["amp-bf16", "channels-last", "cudnn-benchmark", "compile", "fused-sgd"]
        options = sorted(self.options, key=lambda o: next(i for i, k in enumerate(order) if o.startswith(k)))
        return "options: " + (" ".join(options) if options else "none")


def synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def peak_memory(device):
    if device.type == "cuda":
        return f"peak device memory {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB"
    return f"peak host RSS memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB"


def device_text(device):
    if device.type == "cuda":
        return f"cuda:{device.index or 0}"
    return "cpu"


def threads_text(device):
    return f", {torch.get_num_threads()} threads" if device.type == "cpu" else ""


def time_step(a, device, step):
    """The step benchmark: one batch of normal images, the median of the timed steps."""
    x = step.input(torch.randn(a.batch, a.channels, a.image, a.image, device=device))
    y = (torch.arange(a.batch) % 10).to(device)

    def one():
        step(x, y)
        synchronize(device)

    for _ in range(a.warmup):
        one()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(a.steps):
        t0 = time.perf_counter()
        one()
        times.append((time.perf_counter() - t0) * 1000)
    ms = sorted(times)[len(times) // 2]
    print(f"pytorch {a.model} batch {a.batch} on {device_text(device)}: {1000 * a.batch / ms:.1f} images/s, "
          f"{ms:.1f} ms/step (median of {a.steps}), {peak_memory(device)}{threads_text(device)}; "
          f"{step.options_text()}", flush=True)
    if a.kernels:
        kernel_table(a, lambda: step(x, y), device)


def kernel_table(a, one_step, device):
    """--kernels: the GPU kernels of a.steps steps under torch.profiler, by time a step."""
    from torch.profiler import ProfilerActivity, profile

    synchronize(device)
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        for _ in range(a.steps):
            one_step()
        synchronize(device)
    totals = {}
    for e in prof.events():
        # GPU work only: not the spans record_function draws over it (the optimizer's step).
        if e.device_type != torch.autograd.DeviceType.CUDA or getattr(e, "is_user_annotation", False):
            continue
        entry = totals.setdefault(e.name, [0, 0.0])
        entry[0] += 1
        entry[1] += e.time_range.elapsed_us()
    all_us = sum(t for _, t in totals.values())
    if not totals or all_us <= 0:
        note("torch.profiler recorded no GPU kernels")
        return
    print(f"pytorch kernels: {len(totals)} kernels, {all_us / 1000 / a.steps:.3f} ms of GPU time a step "
          f"(torch.profiler, {a.steps} steps)")
    print(f"{'time %':>6} {'ms/step':>8} {'launches/step':>13} {'avg us':>8}  kernel")
    for name, (count, us) in sorted(totals.items(), key=lambda kv: -kv[1][1])[:a.kernels]:
        print(f"{100 * us / all_us:6.1f} {us / 1000 / a.steps:8.3f} {count / a.steps:13.1f} {us / count:8.1f}  "
              f"{name[:100]}")


def load_cifar10_train(folder, limit):
    """The training images (uint8, N x 3 x 32 x 32) and labels (int64) of the binary batches."""
    paths = [os.path.join(folder, name) for name in CIFAR10_TRAIN_FILES]
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        sys.exit(f"bench_pytorch: no CIFAR-10 in {folder}: {', '.join(os.path.basename(p) for p in missing)} "
                 "missing (the official binary version, or ../shared/datasets/cifar10/make_cifar10_bin.py)")
    raw = bytearray()
    for path in paths:
        with open(path, "rb") as f:
            data = f.read()
        if len(data) == 0 or len(data) % CIFAR10_RECORD:
            sys.exit(f"bench_pytorch: {path}: {len(data)} bytes, not whole {CIFAR10_RECORD}-byte records")
        raw += data
        if limit and len(raw) >= limit * CIFAR10_RECORD:
            break
    records = torch.frombuffer(raw, dtype=torch.uint8).view(-1, CIFAR10_RECORD)
    if limit:
        records = records[:limit]
    return records[:, 1:].reshape(-1, 3, 32, 32).clone(), records[:, 0].long()


def time_epoch(a, device, step):
    """One full training epoch over CIFAR-10 resident on the device, after a warm-up epoch."""
    images_host, labels_host = load_cifar10_train(a.cifar10, a.limit)
    images, labels = images_host.to(device), labels_host.to(device)
    n = images.shape[0]
    mean = torch.tensor(CIFAR10_MEAN, device=device).view(1, 3, 1, 1) * 255
    inv_std = 1 / (torch.tensor(CIFAR10_STD, device=device).view(1, 3, 1, 1) * 255)

    def epoch():
        order = torch.randperm(n, device=device)
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), dtype=torch.int64, device=device)
        for start in range(0, n, a.batch):
            index = order[start:start + a.batch]
            x = step.input((images[index].float() - mean) * inv_std)
            y = labels[index]
            loss, logits = step(x, y)
            loss_sum += loss.float() * y.numel()
            correct += (logits.argmax(1) == y).sum()
        return loss_sum, correct

    for _ in range(a.warmup_epochs):
        epoch()
    synchronize(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    loss_sum, correct = epoch()
    synchronize(device)
    seconds = time.perf_counter() - t0
    loss, accuracy = loss_sum.item() / n, correct.item() / n
    print(f"pytorch {a.model} epoch of {n} images, batch {a.batch}, on {device_text(device)}: "
          f"{n / seconds:.1f} images/s, {seconds:.2f} s/epoch (after {a.warmup_epochs} warm-up "
          f"epoch{'' if a.warmup_epochs == 1 else 's'}; train loss {loss:.4f} acc {accuracy:.4f}), "
          f"{peak_memory(device)}{threads_text(device)}; {step.options_text()}", flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="resnet18", choices=["resnet18"])
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--image", type=int, default=32)
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--channels", type=int, default=3, help="input channels (1: Fashion-MNIST)")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (default: PyTorch's own choice)")
    p.add_argument("--amp", choices=["off", "bf16"], default="off", help="autocast forward and loss")
    p.add_argument("--channels-last", action="store_true", help="model and input in torch.channels_last")
    p.add_argument("--cudnn-benchmark", action="store_true", help="torch.backends.cudnn.benchmark = True")
    p.add_argument("--compile", nargs="?", const="default", metavar="MODE",
                   help="torch.compile the model (MODE: default, reduce-overhead, max-autotune)")
    p.add_argument("--fused-sgd", action="store_true", help="SGD's fused implementation")
    p.add_argument("--epoch", action="store_true", help="time a CIFAR-10 training epoch (needs --cifar10)")
    p.add_argument("--cifar10", metavar="DIR", help="folder of data_batch_1..5.bin (official binary layout)")
    p.add_argument("--limit", type=int, default=0, help="--epoch: the first N training images (0: all)")
    p.add_argument("--warmup-epochs", type=int, default=1, help="--epoch: untimed epochs first")
    p.add_argument("--kernels", type=int, default=0, metavar="N",
                   help="after the timing, the N kernels that took the most GPU time a step (torch.profiler)")
    a = p.parse_args()
    if a.kernels < 0:
        p.error(f"--kernels {a.kernels}: expected a count of kernels, 0 or more")
    if a.kernels and (a.epoch or not a.device.startswith("cuda")):
        p.error("--kernels profiles the step benchmark on a GPU: give --device cuda, without --epoch")
    if a.epoch and not a.cifar10:
        p.error("--epoch needs --cifar10 DIR")
    if a.epoch and (a.image != 32 or a.channels != 3):
        p.error("--epoch runs CIFAR-10's 32x32 RGB images: leave --image and --channels out")
    if a.threads:
        torch.set_num_threads(a.threads)
    device = torch.device(a.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit(f"bench_pytorch: PyTorch {torch.__version__} sees no GPU (--device {a.device})")
    torch.manual_seed(0)
    step = TrainingStep(a, device)
    if a.epoch:
        time_epoch(a, device, step)
    else:
        time_step(a, device, step)


if __name__ == "__main__":
    main()
