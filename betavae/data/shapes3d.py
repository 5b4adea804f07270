"""Shapes3D (Burgess & Kim 2018, "3D Shapes Dataset", DeepMind; used by Kim & Mnih 2018, FactorVAE).

480,000 RGB 64×64 renders of one object in a room, the full grid of six factors, from DeepMind's
``3dshapes.h5``: ``images`` uint8 (480000, 64, 64, 3) and ``labels`` float64 (480000, 6), the factor values of
each image. The file is ordered row-major in the factors below (orientation fastest); the loader checks that
the labels say so, and keeps the values they hold (hues in [0, 1), scale, shape, orientation in degrees) for
plots.

disentanglement_lib reads an unpublished ``look-at-object-room_...npz`` instead of the published ``.h5``; the
factors and their order are the same. Reading HDF5 needs h5py: ``pip install 'betavae[shapes3d]'``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from betavae.data.official import OfficialGrid, Reading, grid_order
from betavae.errors import BetaVAEError

FILENAME = "3dshapes.h5"
FACTOR_NAMES = ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation")
FACTOR_SIZES = (10, 10, 10, 8, 4, 15)
_CHUNK = 4096  # images per read (50 MB)


def _h5py():
    try:
        import h5py
    except ImportError:
        raise BetaVAEError("reading 3dshapes.h5 needs h5py, an optional dependency: pip install 'betavae[shapes3d]' "
                           "(or pip install h5py)") from None
    return h5py


def read(source: Path, sizes: tuple[int, ...]) -> Reading:
    """Validate ``3dshapes.h5`` (keys, dtypes, shapes, labels in grid order) and stream its images."""
    h5py = _h5py()
    count = int(np.prod(sizes))
    expected = f"DeepMind's {FILENAME}: `images` uint8 ({count}, 64, 64, 3) and `labels` float64 ({count}, 6)"
    if source.is_dir():
        source = source / FILENAME
        if not source.is_file():
            raise BetaVAEError(f"{source} does not exist; point --from at {expected}")
    try:
        with h5py.File(source, "r") as file:
            missing = [key for key in ("images", "labels") if key not in file]
            if missing:
                raise BetaVAEError(f"{source} has no `{missing[0]}` dataset (it holds: {', '.join(sorted(file))}); "
                                   f"expected {expected}")
            images, labels = file["images"], file["labels"]
            if images.dtype != np.uint8 or images.shape != (count, 64, 64, 3):
                raise BetaVAEError(f"{source}: `images` is {images.dtype} {images.shape}; expected {expected}")
            if labels.dtype.kind != "f" or labels.shape != (count, len(sizes)):
                raise BetaVAEError(f"{source}: `labels` is {labels.dtype} {labels.shape} (a label per factor: "
                                   f"{', '.join(FACTOR_NAMES)}); expected {expected}")
            values = _check_labels(source, np.asarray(labels[...], dtype=np.float64), sizes)
    except OSError as exc:
        raise BetaVAEError(f"{source} is not a readable HDF5 file: it is truncated, corrupt or another format ({exc}); "
                           f"expected {expected}") from None
    return Reading([source], _chunks(source, count, expected), {"factor_values": values})


def _check_labels(source: Path, labels: np.ndarray, sizes: tuple[int, ...]) -> dict[str, list[float]]:
    """The sorted distinct values of each factor; refuses labels that are not the row-major grid of ``sizes``."""
    classes, values = np.empty(labels.shape, dtype=np.int64), {}
    for k, (name, size) in enumerate(zip(FACTOR_NAMES, sizes)):
        distinct, classes[:, k] = np.unique(np.round(labels[:, k], 6), return_inverse=True)
        if len(distinct) != size:
            raise BetaVAEError(f"{source}: `labels` column {k} ({name}) holds {len(distinct)} distinct values, "
                               f"expected {size}; this is not DeepMind's {FILENAME}")
        values[name] = distinct.tolist()
    wrong = np.flatnonzero((classes != grid_order(sizes)).any(axis=1))
    if wrong.size:
        row = int(wrong[0])
        raise BetaVAEError(f"{source}: the images are not in the grid order of {', '.join(FACTOR_NAMES)} (row-major): "
                           f"row {row} is labelled {labels[row].tolist()}; this is not DeepMind's {FILENAME}")
    return values


def _chunks(source: Path, count: int, expected: str):
    h5py = _h5py()
    try:
        with h5py.File(source, "r") as file:
            images = file["images"]
            for start in range(0, count, _CHUNK):
                stop = min(start + _CHUNK, count)
                yield np.arange(start, stop), np.ascontiguousarray(images[start:stop].transpose(0, 3, 1, 2))
    except OSError as exc:
        raise BetaVAEError(f"{source} is truncated or corrupt: its images could not be read ({exc}); expected "
                           f"{expected}") from None


SHAPES3D = OfficialGrid(
    name="shapes3d", title="Shapes3D (Burgess & Kim 2018)",
    bring=f"point --from at DeepMind's {FILENAME} (480,000 images, https://github.com/deepmind/3d-shapes)",
    factor_names=FACTOR_NAMES, factor_sizes=FACTOR_SIZES, channels=3, read=read,
    continuity_factors=("scale", "orientation"))
