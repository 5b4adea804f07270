"""Training throughput per architecture at batch 64: images/s, FLOPs per image, matmul ceiling, and the ratio;
then per model (every entry of the model registry) on the same network, with its cost per image relative to β-VAE.

Two rates: "step" times the optimisation step alone on one fixed batch; "loop" times what train.py does
each step: draw the batch indices, gather and unpack the batch from a dataset-sized store (dSprites-sized
bit-packed store for the MLP, 20,000 uint8 images for the conv nets), then step.

The per-model table times the step alone on one fixed batch of the 2D-shapes MLP (Table 1), every VAE-family
model on that same network and optimiser (Adam; DC-IGN too, whose default is the conv net); InfoGAN has its own
DCGAN networks.

Run alone: with 2 threads, any other busy process collapses throughput 5–10×.
    python benchmarks/train_throughput.py [--device auto] [--batch-size 64] [--steps 40] [--part all|archs|models]
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
from betavae.data.synthetic import SyntheticSquares
from betavae.models.registry import MODELS, build_task, prepare_config
from betavae.models.specs.vae import SUCCESSOR_OPTIMIZER
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
    seconds = time_steps(task, batch, noise, device, steps) * steps
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


def time_steps(task, batch: torch.Tensor, noise: torch.Generator, device: torch.device, steps: int) -> float:
    """Seconds per step on ``batch`` after 5 warm-up steps (allocator, optimiser state)."""
    for step in range(5):
        task.step(batch, step, noise)
    _sync(device)
    start = time.perf_counter()
    for step in range(steps):
        task.step(batch, step, noise)
    _sync(device)
    return (time.perf_counter() - start) / steps


def measure_model(model_type: str, device: torch.device, batch_size: int, steps: int) -> dict:
    """One model's step on the 2D-shapes MLP (InfoGAN: its DCGAN), dSprites-sized N for β-TCVAE's estimator."""
    config = RunConfig(model_type=model_type)
    if model_type != "infogan":  # one network and one optimiser for the VAE family: only the objective differs
        config.model.arch = "mlp"
        config.optim.name, config.optim.lr = SUCCESSOR_OPTIMIZER
    config = prepare_config(config, (1, 64, 64))
    torch.manual_seed(0)
    task = build_task(config, device)
    squares = SyntheticSquares(image_size=64)  # ground-truth factors, for DC-IGN's one-factor batches
    data = squares if model_type == "dcign" else SimpleNamespace(num_images=737_280)
    task.batch_indices(data, batch_size, torch.Generator().manual_seed(0))  # DC-IGN: clamps; β-TCVAE: N
    noise = torch.Generator(device=device).manual_seed(0)
    batch = (torch.rand(batch_size, 1, 64, 64, device=device) < 0.1).float()
    with FlopCounterMode(display=False) as counter:
        task.step(batch, 0, noise)
    result = {"model": model_type, "seconds_per_step": time_steps(task, batch, noise, device, steps),
              "flops_per_image": counter.get_total_flops() / batch_size,
              "parameters": sum(p.numel() for p in task.model.parameters())}
    if model_type == "factor-vae":  # the method's own cost: the discriminator's forward/backward/Adam step
        discriminator = task.model.discriminator
        result["discriminator_parameters"] = sum(p.numel() for p in discriminator.parameters())
    return result


def report_models(device: torch.device, batch_size: int, steps: int) -> None:
    print(f"\nper model, batch {batch_size}, step on a fixed batch (2D-shapes MLP and Adam for the VAE family; "
          "InfoGAN its DCGAN, width 64):")
    print(f"{'model':11} {'params':>11} {'MFLOP/img':>10} {'ms/step':>8} {'µs/img':>8} {'× β-VAE':>8} "
          f"{'FLOPs × β-VAE':>13}")
    results = [measure_model(name, device, batch_size, steps) for name in MODELS]
    reference = next(result for result in results if result["model"] == "beta-vae")
    for result in results:
        per_image = result["seconds_per_step"] / batch_size
        print(f"{result['model']:11} {result['parameters']:>11,} {result['flops_per_image'] / 1e6:>10.1f} "
              f"{1e3 * result['seconds_per_step']:>8.1f} {1e6 * per_image:>8.1f} "
              f"{result['seconds_per_step'] / reference['seconds_per_step']:>8.2f} "
              f"{result['flops_per_image'] / reference['flops_per_image']:>13.2f}")
        if "discriminator_parameters" in result:
            extra = result["seconds_per_step"] - reference["seconds_per_step"]
            print(f"{'':11} FactorVAE's TC discriminator: {result['discriminator_parameters']:,} parameters, "
                  f"{1e3 * extra:+.1f} ms/step over β-VAE ({extra / reference['seconds_per_step']:+.0%}), "
                  f"{(result['flops_per_image'] - reference['flops_per_image']) / 1e6:+.1f} MFLOP/img")


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
    parser.add_argument("--part", choices=("all", "archs", "models"), default="all")
    args = parser.parse_args()
    device = resolve_device(args.device)
    print(f"device {device}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{os.cpu_count()} CPUs (run alone: other busy processes distort these figures)")
    if args.part in ("all", "archs"):
        report_architectures(device, args.batch_size, args.steps)
    if args.part in ("all", "models"):
        report_models(device, args.batch_size, args.steps)


def report_architectures(device: torch.device, batch_size: int, steps: int) -> None:
    ceiling = matmul_ceiling(device)
    layer = matmul_ceiling(device, batch_size, 4096, 1200, repeats=50)
    print(f"fp32 matmul ceiling: {ceiling / 1e9:.1f} GFLOP/s (2048³); {layer / 1e9:.1f} GFLOP/s at the MLP's "
          f"first layer ([{batch_size}, 4096] @ [4096, 1200]); bounds below use the 2048³ figure")
    print(f"{'arch':8} {'optimizer':9} {'params':>10} {'MFLOP/img':>10} {'step img/s':>10} {'loop img/s':>10} "
          f"{'bound img/s':>11} {'loop/bound':>10}")
    for arch, channels in [("mlp", 1), ("conv", 3), ("burgess", 1)]:
        result = measure(arch, channels, device, batch_size, steps)
        bound = ceiling / result["flops_per_image"]
        print(f"{arch:8} {result['optimizer']:9} {result['parameters']:>10,} "
              f"{result['flops_per_image'] / 1e6:>10.1f} {result['images_per_s']:>10.0f} "
              f"{result['loop_images_per_s']:>10.0f} {bound:>11.0f} {result['loop_images_per_s'] / bound:>10.0%}")


if __name__ == "__main__":
    main()
