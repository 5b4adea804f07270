"""Training throughput per architecture at batch 64: images/s, FLOPs per image, matmul ceiling, and the ratio.

Run alone: with 2 threads, any other busy process collapses throughput 5–10×.
    python benchmarks/train_throughput.py [--device auto] [--batch-size 64] [--steps 40]
"""

from __future__ import annotations

import argparse
import os
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from betavae.config import RunConfig
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
    return {"arch": arch, "optimizer": config.optim.name, "images_per_s": steps * batch_size / seconds,
            "flops_per_image": flops_per_image,
            "parameters": sum(p.numel() for p in task.model.parameters())}


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
    print(f"{'arch':8} {'optimizer':9} {'params':>10} {'MFLOP/img':>10} {'images/s':>9} {'bound img/s':>11} "
          f"{'of bound':>8}")
    for arch, channels in [("mlp", 1), ("conv", 3), ("burgess", 1)]:
        result = measure(arch, channels, device, args.batch_size, args.steps)
        bound = ceiling / result["flops_per_image"]
        print(f"{arch:8} {result['optimizer']:9} {result['parameters']:>10,} "
              f"{result['flops_per_image'] / 1e6:>10.1f} {result['images_per_s']:>9.0f} {bound:>11.0f} "
              f"{result['images_per_s'] / bound:>8.0%}")


if __name__ == "__main__":
    main()
