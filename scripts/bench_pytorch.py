#!/usr/bin/env python3
"""The PyTorch side of apps/bench: the same model, batch and training step (forward,
mean cross-entropy, backward, SGD with momentum 0.9 and weight decay 5e-4), timed the
same way, printing the same line as cygnet_bench.

    python3 scripts/bench_pytorch.py --model resnet18 --batch 64 --device cpu

Needs PyTorch (Debian: python3-torch, run with /usr/bin/python3). The ResNet-18 is the
CIFAR variant of kuangliu/pytorch-cifar, defined in tests/golden/make_golden.py.
"""
import argparse
import os
import resource
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "golden"))
from make_golden import ResNet18  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="resnet18", choices=["resnet18"])
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--image", type=int, default=32)
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--threads", type=int, default=0, help="CPU threads (default: PyTorch's own choice)")
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    device = torch.device(a.device)
    torch.manual_seed(0)
    model = ResNet18(width=a.width).to(device).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    x = torch.randn(a.batch, 3, a.image, a.image, device=device)
    y = (torch.arange(a.batch) % 10).to(device)

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()

    for _ in range(a.warmup):
        step()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(a.steps):
        t0 = time.perf_counter()
        step()
        times.append((time.perf_counter() - t0) * 1000)
    ms = sorted(times)[len(times) // 2]
    if device.type == "cuda":
        peak, kind = torch.cuda.max_memory_allocated() / 2**20, "device"
    else:
        peak, kind = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "host RSS"
    dev = f"cuda:{device.index or 0}" if device.type == "cuda" else "cpu"
    threads = f", {torch.get_num_threads()} threads" if device.type == "cpu" else ""
    print(f"pytorch {a.model} batch {a.batch} on {dev}: {1000 * a.batch / ms:.1f} images/s, {ms:.1f} ms/step "
          f"(median of {a.steps}), peak {kind} memory {peak:.0f} MiB{threads}")


if __name__ == "__main__":
    main()
