"""How long a whole-model evaluation takes with the code cache, and the speed-up over naive per-pair encoding.

Evaluates the MLP β-VAE encoder of Table 1 (randomly initialised: encoding costs the same trained or not)
on dSprites (the cached file; ``--rendered``: rendered on demand) with the metrics named by ``--metrics``
(default: the paper's metric, its dlib variant and Table 2; ``all``: every registered metric at its default
sizes) and prints the time spent encoding (one pass: how many unique images were encoded), each metric's own
time, and the whole evaluation as a multiple of the encoder pass (the goal: the metrics within 120 s of it).

The naive cost is *measured then extrapolated*: a sample of metric points is encoded the way
disentanglement_lib does it (render and encode the two batches of L images of each point), the mean time per
point is multiplied by the number of metric + dlib points, and Table 2's images are added at the cached
throughput. Also printed: the same comparison projected to the paper's sizes (10,000 + 5,000 points per
metric), where the cache is bounded by one pass over the 737,280 images.

    .venv/bin/python benchmarks/eval_speed.py --num-train 1000 --num-test 500      # a short run
    .venv/bin/python benchmarks/eval_speed.py --metrics all --naive-points 0        # the whole suite
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

from betavae.config import ModelConfig
from betavae.data import dsprites
from betavae.data.dsprites import DSprites
from betavae.evaluate import evaluate_representation, format_table
from betavae.experiments.common import paper_settings
from betavae.metrics.higgins import sample_pair_points
from betavae.representations import ModelRepresentation

GOAL_S = 120.0  # issue 27: --metrics all at the published sizes within one encoder pass + 2 minutes


def naive_seconds_per_point(representation: ModelRepresentation, data: DSprites, L: int, num_points: int,
                            rng: np.random.Generator) -> float:
    """Mean time to render and encode one metric point's 2 x L images without a cache."""
    points = sample_pair_points(data, list(range(data.num_factors)), num_points, L, rng)
    start = time.perf_counter()
    for first, second in zip(points.first, points.second):
        representation.encode(data.images(first))
        representation.encode(data.images(second))
    return (time.perf_counter() - start) / num_points


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-train", type=int, default=10_000)
    parser.add_argument("--num-test", type=int, default=5_000)
    parser.add_argument("--table2-train", type=int, default=None, help="default: --num-train")
    parser.add_argument("--table2-test", type=int, default=None, help="default: --num-test")
    parser.add_argument("--L", type=int, default=64)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="classifier seeds")
    parser.add_argument("--rendered", action="store_true", help="render images on demand instead of reading the "
                                                                   "cached dSprites file")
    parser.add_argument("--metrics", default="beta-vae,beta-vae-dlib,table2", help="all, or names (see evaluate)")
    parser.add_argument("--naive-points", type=int, default=30, help="points timed for the naive estimate (0: skip)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()

    torch.manual_seed(0)
    from betavae.models.vae import BetaVAE

    model = BetaVAE(ModelConfig(arch="mlp", latents=10, image_shape=(1, 64, 64), likelihood="bernoulli"))
    representation = ModelRepresentation("beta-vae-mlp (untrained)", model.to(args.device), device=args.device)
    data = DSprites.rendered() if args.rendered else dsprites.load(progress=False)  # $BETAVAE_DATA_DIR
    settings = paper_settings(L=args.L, num_train=args.num_train, num_test=args.num_test,
                              table2_train=args.table2_train or args.num_train,
                              table2_test=args.table2_test or args.num_test, metrics=args.metrics,
                              classifier_seeds=tuple(args.seeds), device=args.device)
    result = evaluate_representation(representation, data, settings, progress=True)
    print(format_table(result))

    timing = result["timing"]
    print(f"\ndevice {args.device}; torch threads {settings.threads}")
    print(f"encode:  {timing['images_encoded']:,} unique images (one pass over at most {data.num_images:,}) in "
          f"{timing['encode_s']:.1f} s")
    encode, metrics = timing["encode_s"], sum(timing["metrics_s"].values())
    for name, seconds in timing["metrics_s"].items():
        print(f"  {name:<14} {seconds:7.1f} s  ({seconds / encode:.2f} x the encoder pass)")
    print(f"total:   {timing['total_s']:.1f} s = {timing['total_s'] / encode:.2f} x the encoder pass ({encode:.1f} s); "
          f"metrics {metrics:.1f} s after it ({'within' if metrics <= GOAL_S else 'over'} the goal of encoder pass + "
          f"{GOAL_S:.0f} s); load {os.getloadavg()[0]:.2f}")
    if args.naive_points < 1 or "beta-vae" not in settings.names():
        return
    per_point = naive_seconds_per_point(representation, data, args.L, args.naive_points, np.random.default_rng(1))
    throughput = timing["images_encoded"] / timing["encode_s"]  # cached: unique images in batches
    points = 2 * (args.num_train + args.num_test)  # metric + dlib
    table2_images = (args.table2_train or args.num_train) + (args.table2_test or args.num_test)
    naive_encode = per_point * points + table2_images / throughput
    classify = sum(timing["metrics_s"].values())
    print(f"cached:  encoded {timing['images_encoded']:,} unique images in {timing['encode_s']:.1f} s "
          f"({throughput:,.0f} images/s incl. rendering); metrics {classify:.1f} s")
    print(f"naive:   {per_point * 1e3:.1f} ms per point (2 x {args.L} images, measured on {args.naive_points} "
          f"points) x {points:,} points + {table2_images:,} Table 2 images = {naive_encode:.1f} s (estimated)")
    print(f"speed-up: encoding {naive_encode / timing['encode_s']:.1f}x; whole evaluation "
          f"{(naive_encode + classify) / (timing['encode_s'] + classify):.1f}x")

    paper_points = 2 * 15_000
    paper_naive = per_point * paper_points
    paper_cached = min(data.num_images, 2 * 15_000 * 2 * args.L + 15_000) / throughput
    print(f"projected to the paper's sizes (10k + 5k points for each metric, 15k Table 2 images): naive "
          f"{paper_naive / 60:.1f} min of encoding vs cached <= {paper_cached / 60:.1f} min "
          f"(at most one pass over {data.num_images:,} images): {paper_naive / paper_cached:.1f}x")


if __name__ == "__main__":
    main()
