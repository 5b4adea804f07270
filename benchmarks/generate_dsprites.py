"""Generate all 737,280 dSprites images and check the file against real images.

Prints wall time, images/s, file size and peak memory of the generation, then the loading time and, per shape,
the share of real images (shared/data/dsprites/dsprites_real_sample.npz) that the file reproduces pixel for
pixel and their mean IoU. Usage: python benchmarks/generate_dsprites.py [--out DIR] (default: a temp dir).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

from betavae.data import dsprites as ds


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def real_sample_path() -> Path:
    shared = os.environ.get("BETAVAE_SHARED_DIR") or Path(__file__).resolve().parents[2] / "shared"
    return Path(shared) / "data" / "dsprites" / "dsprites_real_sample.npz"


def generate(out_dir: Path) -> Path:
    path = out_dir / ds.GENERATED_FILENAME
    before = peak_rss_mb()
    start = time.perf_counter()
    ds.write_dsprites(path)
    seconds = time.perf_counter() - start
    print(f"generated {ds.NUM_IMAGES} images in {seconds:.1f} s ({ds.NUM_IMAGES / seconds:,.0f} images/s)")
    print(f"file: {path} ({path.stat().st_size / 1e6:.1f} MB, sha256 {hashlib.sha256(path.read_bytes()).hexdigest()})")
    print(f"peak RSS: {peak_rss_mb():.0f} MB (after imports: {before:.0f} MB)")
    return path


def compare_with_real(path: Path) -> None:
    start = time.perf_counter()
    data = ds.load_dsprites(path)
    seconds = time.perf_counter() - start
    print(f"loaded and bit-packed in {seconds:.1f} s as {data.name}; peak RSS {peak_rss_mb():.0f} MB")
    sample = real_sample_path()
    if not sample.is_file():
        print(f"no real sample at {sample}; set BETAVAE_SHARED_DIR to compare")
        return
    with np.load(sample) as real:
        indices, images, classes = real["original_dataset_indices"], real["imgs"], real["latents_classes"]
    mine = data.images(indices)[:, 0] // 255
    for name, (exact, iou) in ds.agreement(mine, images, classes[:, 1]).items():
        count = int((classes[:, 1] == ds.SHAPE_NAMES.index(name)).sum())
        print(f"{name:8s} vs {count} real images: pixel-exact {exact:.2%}, mean IoU {iou:.5f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="directory to write the file to (kept); default: a temp dir")
    args = parser.parse_args()
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        compare_with_real(generate(args.out))
    else:
        with tempfile.TemporaryDirectory(prefix="dsprites-") as tmp:
            compare_with_real(generate(Path(tmp)))


if __name__ == "__main__":
    main()
