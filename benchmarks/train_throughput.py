"""Training throughput per architecture at batch 64: images/s, FLOPs per image, matmul ceiling, and the ratio.

Two rates: "step" times the optimisation step alone on one fixed batch; "loop" times what train.py does
each step: draw the batch indices, gather and unpack the batch from a dataset-sized store (dSprites-sized
bit-packed store for the MLP, 20,000 uint8 images for the conv nets), then step.

Run alone: with 2 threads, any other busy process collapses throughput 5–10×.
    python benchmarks/train_throughput.py [--device auto] [--batch-size 64] [--steps 40]
"""

from __future__ import annotations

import argparse
import os
import time
from types import SimpleNamespace

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from betavae.config import RunConfig
from betavae.data.dsprites import PackedImageStore
from betavae.data.ground_truth import Uint8ImageStore
from betavae.models.registry import build_task, prepare_config
from betavae.train import resolve_device


def matmul_ceiling(device: torch.device, m: int = 2048, k: int = 2048, n: int = 2048, repeats: int = 10) -> float:
    """Measured fp32 matmul FLOP/s for an [m, k] @ [k, n] product: the compute bound for these dense models."""
    a = torch.randn(m, k, device=device)
    b = torch.randn(k, n, device=device)
    for _ in range(2):
        a @ b
    _sync(device)
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    _sync(device)
    return 2 * m * k * n * repeats / (time.perf_counter() - start)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def measure(arch: str, channels: int, device: torch.device, batch_size: int, steps: int) -> dict:
    config = RunConfig()
    config.data.dataset = "dsprites" if arch == "mlp" else "folder"
    config.model.arch = arch
    config = prepare_config(config, (channels, 64, 64))
    torch.manual_seed(0)
    task = build_task(config, device)
    noise = torch.Generator(device=device).manual_seed(0)
    batch = (torch.rand(batch_size, channels, 64, 64, device=device) < 0.1).float()
    with FlopCounterMode(display=False) as counter:
        task.step(batch, 0, noise)
    flops_per_image = counter.get_total_flops() / batch_size
    for step in range(5):  # warm-up: allocator, optimiser state
        task.step(batch, step, noise)
    _sync(device)
    start = time.perf_counter()
    for step in range(steps):
        task.step(batch, step, noise)
    _sync(device)
    seconds = time.perf_counter() - start
    store, num_images = dataset_store(arch, channels, device)
    data, batches = SimpleNamespace(num_images=num_images), torch.Generator().manual_seed(0)

    def loop_step(step: int) -> None:  # the body of train.py's loop
        indices = task.batch_indices(data, batch_size, batches).to(device)
        task.step(store.batch(indices), step, noise)

    for step in range(5):
        loop_step(step)
    _sync(device)
    start = time.perf_counter()
    for step in range(steps):
        loop_step(step)
    _sync(device)
    loop_seconds = time.perf_counter() - start
    return {"arch": arch, "optimizer": config.optim.name, "images_per_s": steps * batch_size / seconds,
            "loop_images_per_s": steps * batch_size / loop_seconds, "flops_per_image": flops_per_image,
            "parameters": sum(p.numel() for p in task.model.parameters())}


def dataset_store(arch: str, channels: int, device: torch.device):
    """A store the size the architecture trains on: all of dSprites bit-packed, or 20,000 uint8 images."""
    rng = np.random.default_rng(0)
    if arch == "mlp":
        num_images = 737_280
        packed = rng.integers(0, 256, size=(num_images, 64 * 64 // 8), dtype=np.uint8)
        return PackedImageStore(packed, (1, 64, 64), device), num_images
    num_images = 20_000
    images = rng.integers(0, 256, size=(num_images, channels, 64, 64), dtype=np.uint8)
    return Uint8ImageStore(images, device), num_images


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=40)
    args = parser.parse_args()
    device = resolve_device(args.device)
    print(f"device {device}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{os.cpu_count()} CPUs (run alone: other busy processes distort these figures)")
    ceiling = matmul_ceiling(device)
    layer = matmul_ceiling(device, args.batch_size, 4096, 1200, repeats=50)
    print(f"fp32 matmul ceiling: {ceiling / 1e9:.1f} GFLOP/s (2048³); {layer / 1e9:.1f} GFLOP/s at the MLP's "
          f"first layer ([{args.batch_size}, 4096] @ [4096, 1200]); bounds below use the 2048³ figure")
    print(f"{'arch':8} {'optimizer':9} {'params':>10} {'MFLOP/img':>10} {'step img/s':>10} {'loop img/s':>10} "
          f"{'bound img/s':>11} {'loop/bound':>10}")
    for arch, channels in [("mlp", 1), ("conv", 3), ("burgess", 1)]:
        result = measure(arch, channels, device, args.batch_size, args.steps)
        bound = ceiling / result["flops_per_image"]
        print(f"{arch:8} {result['optimizer']:9} {result['parameters']:>10,} "
              f"{result['flops_per_image'] / 1e6:>10.1f} {result['images_per_s']:>10.0f} "
              f"{result['loop_images_per_s']:>10.0f} {bound:>11.0f} {result['loop_images_per_s'] / bound:>10.0%}")


if __name__ == "__main__":
    main()
