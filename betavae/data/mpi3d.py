"""MPI3D toy, realistic and real (Gondal et al. 2019, "On the Transfer of Inductive Bias from Simulation to the
Real World: a New Disentanglement Dataset", NeurIPS).

A robot arm holding an object, photographed (real) or rendered (toy: simplistic; realistic) on the full grid
of seven factors: 1,036,800 RGB 64×64 images per dataset, in ``mpi3d_{toy,realistic,real}.npz`` with one array,
``images`` uint8 (1036800, 64, 64, 3), row-major in the factors below (vertical_axis fastest). The file has no
labels: the order is the dataset's documented one.

Factor sizes, where the loaders differ: disentanglement_lib (and disent) hard-code object_color 4 and
object_shape 4 (460,800 images), the sizes of the 2019 pre-release of mpi3d_toy. The files published since
hold 6 colours × 6 shapes = 1,036,800 images, so those loaders misread every index of today's files; betavae
follows the files (6, 6, 2, 3, 3, 40, 40) and refuses a pre-release file, saying so.

12.7 GB of uint8 do not fit beside everything else in a 24 GB machine: the file is streamed into the cache a
chunk at a time, and the cache is read memory-mapped, a batch at a time.
"""

from __future__ import annotations

import math
from pathlib import Path

from betavae.data.official import OfficialGrid, Reading, npz_header, npz_rows
from betavae.errors import BetaVAEError

FACTOR_NAMES = ("object_color", "object_shape", "object_size", "camera_height", "background_color",
                "horizontal_axis", "vertical_axis")
FACTOR_SIZES = (6, 6, 2, 3, 3, 40, 40)
PRE_RELEASE_IMAGES = 460_800  # 4 × 4 × 2 × 3 × 3 × 40 × 40
_CHUNK = 4096  # images per read (50 MB)


def reader(variant: str):
    """The reader of ``mpi3d_{variant}.npz``."""
    filename = f"mpi3d_{variant}.npz"

    def read(source: Path, sizes: tuple[int, ...]) -> Reading:
        count = math.prod(sizes)
        expected = f"{filename} of the MPI3D release: `images` uint8 ({count}, 64, 64, 3)"
        if source.is_dir():
            source = source / filename
            if not source.is_file():
                raise BetaVAEError(f"{source} does not exist; point --from at {expected}")
        shape, dtype = npz_header(source, "images", expected)
        if shape[:1] == (PRE_RELEASE_IMAGES,) and count == math.prod(FACTOR_SIZES):
            raise BetaVAEError(f"{source} holds {PRE_RELEASE_IMAGES:,} images: the 2019 pre-release (4 colours × 4 "
                               f"shapes), not today's files of 6 × 6; download the current {filename}")
        if dtype.str != "|u1" or shape != (count, 64, 64, 3):
            raise BetaVAEError(f"{source}: `images` is {dtype} {shape}; expected {expected}")

        def chunks():
            start = 0
            for rows in npz_rows(source, "images", expected, _CHUNK):
                yield range(start, start + len(rows)), rows.transpose(0, 3, 1, 2)
                start += len(rows)

        return Reading([source], chunks())

    return read


def _grid(variant: str, title: str) -> OfficialGrid:
    return OfficialGrid(
        name=f"mpi3d-{variant}", title=f"MPI3D {title} (Gondal et al. 2019)",
        bring=f"point --from at mpi3d_{variant}.npz (1,036,800 images, https://github.com/rr-learning/"
              "disentanglement_dataset)",
        factor_names=FACTOR_NAMES, factor_sizes=FACTOR_SIZES, channels=3, read=reader(variant),
        continuity_factors=("horizontal_axis", "vertical_axis"))


MPI3D_TOY = _grid("toy", "toy")
MPI3D_REALISTIC = _grid("realistic", "realistic")
MPI3D_REAL = _grid("real", "real")
