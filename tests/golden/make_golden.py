#!/usr/bin/env python3
"""Records one training-mode forward and backward of a narrow ResNet-18 in PyTorch,
for the C++ golden test (tests/golden/test_golden.cpp).

The network is the CIFAR ResNet-18 of kuangliu/pytorch-cifar (3x3 stem, no max-pool,
BasicBlocks [2, 2, 2, 2], 1x1 conv + BN shortcuts, average pool, linear), written out
below with base width 8 instead of 64 so the recorded file stays small.

How it was run (Debian 12, python3-torch 1.13.1 from Debian):
    /usr/bin/python3 tests/golden/make_golden.py
It writes tests/golden/resnet18_w8.safetensors (safetensors layout, written by hand
below so that no extra package is needed), holding:
    init.<name>    every state-dict entry before the step (PyTorch's default init, seed 0)
    input          [4, 3, 32, 32] float32, labels [4] int32
    logits [4, 10], loss (0-D): mean cross-entropy
    grad.<param>   every parameter's gradient
    after.<buf>    running_mean / running_var / num_batches_tracked after the forward
and tests/golden/resnet18_w8_bf16.safetensors: the same step from the same weights and
input under torch.autocast("cpu", dtype=torch.bfloat16) (convolutions, linear and
batchnorm in bf16, the loss in fp32), holding logits (widened to float32), loss, grad.*
and after.* as above.
"""
import json
import os
import struct

import torch
import torch.nn as nn
import torch.nn.functional as F


class BasicBlock(nn.Module):
    def __init__(self, in_planes, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet18(nn.Module):
    def __init__(self, width, num_classes=10, in_channels=3):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        layers, in_planes = [], width
        for stage in range(4):
            planes = width << stage
            blocks = []
            for b in range(2):
                blocks.append(BasicBlock(in_planes, planes, 2 if stage > 0 and b == 0 else 1))
                in_planes = planes
            layers.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.linear = nn.Linear(in_planes, num_classes)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)
        return self.linear(out)


DTYPES = {torch.float32: "F32", torch.int32: "I32", torch.int64: "I64"}


def save_safetensors(path, tensors, metadata):
    header, blobs, offset = {"__metadata__": metadata}, [], 0
    for name, t in tensors.items():
        data = t.detach().contiguous().numpy().tobytes()
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def main():
    torch.manual_seed(0)
    model = ResNet18(width=8)
    model.train()
    x = torch.randn(4, 3, 32, 32)
    labels = torch.tensor([3, 1, 7, 0], dtype=torch.int64)
    out = {f"init.{k}": v.clone() for k, v in model.state_dict().items()}
    logits = model(x)
    loss = F.cross_entropy(logits, labels)
    loss.backward()
    out["input"] = x
    out["labels"] = labels.to(torch.int32)
    out["logits"] = logits.detach()
    out["loss"] = loss.detach()
    for name, p in model.named_parameters():
        out[f"grad.{name}"] = p.grad
    for name, b in model.named_buffers():
        out[f"after.{name}"] = b.clone()
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "resnet18_w8.safetensors")
    save_safetensors(path, out, {"torch": torch.__version__, "model": "resnet18", "width": "8"})
    print(f"wrote {path}: loss {loss.item():.6f}, {sum(p.numel() for p in model.parameters())} parameters")
    record_bf16(out, x, labels)


def record_bf16(f32, x, labels):
    """The same step under bf16 autocast, from the recorded initial state."""
    model = ResNet18(width=8)
    model.load_state_dict({k[len("init."):]: v for k, v in f32.items() if k.startswith("init.")})
    model.train()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = model(x)
        loss = F.cross_entropy(logits, labels)
    loss.backward()
    out = {"logits": logits.detach().float(), "loss": loss.detach().float()}
    for name, p in model.named_parameters():
        out[f"grad.{name}"] = p.grad.float()
    for name, b in model.named_buffers():
        out[f"after.{name}"] = b.clone()
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "resnet18_w8_bf16.safetensors")
    save_safetensors(path, out, {"torch": torch.__version__, "model": "resnet18", "width": "8", "autocast": "bf16"})
    print(f"wrote {path}: loss {loss.item():.6f} (float32: {f32['loss'].item():.6f})")


if __name__ == "__main__":
    main()
