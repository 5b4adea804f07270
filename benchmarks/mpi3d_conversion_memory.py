"""Peak memory of `betavae data mpi3d-toy` converting a full-size MPI3D file (1,036,800 × 64 × 64 × 3 uint8).

Writes an official-layout ``mpi3d_toy.npz`` of zeros (12.7 GB, stored uncompressed as ``np.savez`` does; streamed,
so writing it needs no memory either), runs the conversion as its own process and reports that process's peak
resident memory (getrusage's ru_maxrss of the child) and the time it took; then loading the cache and reading a
few random batches, in another process. Needs ~26 GB of free disk under --dir; the files are deleted at the end
unless --keep.

    .venv/bin/python benchmarks/mpi3d_conversion_memory.py --dir /tmp/mpi3d-bench
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np

from betavae.data.mpi3d import FACTOR_SIZES

COUNT = int(np.prod(FACTOR_SIZES))
CHUNK = 16_384  # images written at a time (200 MB of zeros)

READ_BATCHES = """
import sys, time
import numpy as np
from betavae.data.registry import load_dataset


def resident():  # MB of anonymous memory, and of the cache's file pages mapped in (clean: the kernel reclaims them)
    fields = {line.split()[0]: int(line.split()[1]) // 1024 for line in open("/proc/self/smaps_rollup")
              if line.split()[0] in ("Rss:", "Anonymous:")}
    return fields["Anonymous:"], fields["Rss:"] - fields["Anonymous:"]


data = load_dataset("mpi3d-toy", sys.argv[1])
rng = np.random.default_rng(0)
start = time.perf_counter()
for _ in range(100):
    data.images(data.index(data.sample_factors(64, rng)))
anonymous, mapped = resident()
print(f"reading the cache: {(time.perf_counter() - start) / 100 * 1000:.1f} ms per random batch of 64; after 100 "
      f"batches {anonymous} MB anonymous memory, {mapped} MB of mapped file pages (clean, reclaimable)")
"""


def write_zeros(path: Path) -> None:
    """The official layout, one array `images` uint8 (1036800, 64, 64, 3), stored as np.savez stores it."""
    zeros = bytes(CHUNK * 64 * 64 * 3)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        with archive.open("images.npy", "w", force_zip64=True) as member:
            np.lib.format.write_array_header_1_0(member, {"descr": "|u1", "fortran_order": False,
                                                          "shape": (COUNT, 64, 64, 3)})
            for start in range(0, COUNT, CHUNK):
                member.write(zeros[:min(CHUNK, COUNT - start) * 64 * 64 * 3])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, required=True, help="where the 12.7 GB file and its cache go")
    parser.add_argument("--keep", action="store_true", help="keep the files")
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    source, cache = args.dir / "mpi3d_toy.npz", args.dir / "cache"
    start = time.perf_counter()
    if not source.exists():
        write_zeros(source)
    print(f"source: {source} ({source.stat().st_size / 1e9:.2f} GB) written in {time.perf_counter() - start:.0f} s")
    command = [str(Path(sys.executable).parent / "betavae"), "data", "mpi3d-toy", "--from", str(source), "--out",
               str(cache), "--quiet", "--force"]
    start = time.perf_counter()
    subprocess.run(command, check=True)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # KiB on Linux
    size = (cache / "images.npy").stat().st_size / 1e9
    print(f"`{' '.join(['betavae', *command[1:]])}`: peak resident memory {peak:.0f} MB, {seconds:.0f} s; "
          f"cache {size:.2f} GB")
    subprocess.run([sys.executable, "-c", READ_BATCHES, str(cache)], check=True)
    if not args.keep:
        source.unlink()
        shutil.rmtree(cache)


if __name__ == "__main__":
    main()
