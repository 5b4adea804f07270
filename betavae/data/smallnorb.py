"""SmallNORB (LeCun, Huang & Bottou 2004, "Learning Methods for Generic Object Recognition with Invariance to
Pose and Lighting", CVPR).

Grey stereo photographs of 50 toys, 10 instances of each of 5 categories, under 9 elevations, 18 azimuths and
6 lightings, from NYU's six files ``smallnorb-5x46789x9x18x6x2x96x96-training-{dat,cat,info}.mat`` and
``smallnorb-5x01235x9x18x6x2x96x96-testing-{dat,cat,info}.mat`` (gzipped or not). They are NYU's binary matrix
format, not MATLAB: a little-endian int32 magic number (0x1E3D4C55 bytes, 0x1E3D4C54 int32), the number of
dimensions, at least three int32 sizes, then the data. ``dat``: uint8 (24300, 2, 96, 96), the stereo pairs;
``cat``: int32 (24300,), the category; ``info``: int32 (24300, 4), instance, elevation (0..8), azimuth (0, 2, …,
34) and lighting (0..5).

The choices, where the two reference loaders differ:

* **Split.** betavae, like disentanglement_lib, joins the training and the testing files: together they hold
  every instance (training 4, 6, 7, 8, 9; testing 0, 1, 2, 3, 5), so the grid category × instance × elevation
  × azimuth × lighting is complete (48,600 images). disent reads one split (24,300), where "instance 0..4" are
  different toys in each split.
* **Factors.** category 5, elevation 9, azimuth 18, lighting 6, as disentanglement_lib; the instance is a
  nuisance, drawn uniformly with the factors and never scored. disent scores it as a fifth factor, but the
  instance numbers mean nothing across categories (instance 3 of the cars has nothing in common with instance
  3 of the planes), so it is no factor of variation independent of category.
* **Images.** the first image of each stereo pair, azimuth halved to 0..17, Lanczos-resized to 64×64 (both
  loaders; disentanglement_lib's ``ANTIALIAS`` is Lanczos, a name Pillow 10 removed).
"""

from __future__ import annotations

import gzip
import math
from pathlib import Path
from typing import IO

import numpy as np

from betavae.data.official import OfficialGrid, Reading, downscale
from betavae.errors import BetaVAEError

FACTOR_NAMES = ("category", "instance", "elevation", "azimuth", "lighting")
FACTOR_SIZES = (5, 10, 9, 18, 6)
SPLITS = ("5x46789x9x18x6x2x96x96-training", "5x01235x9x18x6x2x96x96-testing")  # each holds half the instances
BYTE_MATRIX, INT_MATRIX = 0x1E3D4C55, 0x1E3D4C54
_EXPECTED = {"dat": (BYTE_MATRIX, (2, 96, 96)), "cat": (INT_MATRIX, ()), "info": (INT_MATRIX, (4,))}
_CHUNK = 2048  # stereo pairs per read (38 MB)
_PAIR_BYTES = 2 * 96 * 96


def file_name(split: str, kind: str) -> str:
    return f"smallnorb-{split}-{kind}.mat"


def _find(folder: Path, split: str, kind: str) -> Path | None:
    name = file_name(split, kind)
    return next((folder / n for n in (name, f"{name}.gz") if (folder / n).is_file()), None)


def _open(path: Path) -> IO[bytes]:
    """The file's bytes, through gzip when it starts with gzip's magic (whatever its name)."""
    with open(path, "rb") as probe:
        gzipped = probe.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if gzipped else open(path, "rb")


def _read_exact(handle: IO[bytes], size: int, path: Path, what: str) -> bytes:
    try:
        data = handle.read(size)
    except (OSError, EOFError) as exc:  # gzip: cut short or corrupt
        raise BetaVAEError(f"{path} is truncated or corrupt ({exc}) while reading {what}") from None
    if len(data) != size:
        raise BetaVAEError(f"{path} is truncated: it ends inside {what}")
    return data


def _header(handle: IO[bytes], path: Path, kind: str, rows: int) -> None:
    """Read and check a binary-matrix header: its type and sizes must be the ``kind``'s, with ``rows`` rows."""
    magic, ndim = np.frombuffer(_read_exact(handle, 8, path, "the header"), dtype="<i4")
    if not 0 <= ndim <= 16:
        raise BetaVAEError(f"{path} is not a SmallNORB binary matrix (header says {ndim} dimensions)")
    dims = tuple(int(d) for d in np.frombuffer(_read_exact(handle, 4 * max(3, ndim), path, "the header"), "<i4"))
    want_magic, want_rest = _EXPECTED[kind]
    want = (rows, *want_rest)
    if magic != want_magic or dims[:ndim] != want:
        kinds = {BYTE_MATRIX: "bytes", INT_MATRIX: "int32"}
        raise BetaVAEError(f"{path} holds a matrix of {kinds.get(int(magic), f'type {int(magic):#x}')} "
                           f"{dims[:ndim]}, expected {kinds[want_magic]} {want}: NYU's {file_name('…', kind)}")


def _labels(folder: Path, split: str, rows: int, sizes: tuple[int, ...]) -> np.ndarray:
    """int64[rows]: the grid index of each stereo pair of the split, from its cat and info files."""
    columns = []
    for kind, width in (("cat", 1), ("info", 4)):
        path = _find(folder, split, kind)
        with _open(path) as handle:
            _header(handle, path, kind, rows)
            data = _read_exact(handle, 4 * rows * width, path, f"its {rows} rows")
        columns.append(np.frombuffer(data, dtype="<i4").reshape(rows, width).astype(np.int64))
    factors = np.concatenate(columns, axis=1)
    if (factors[:, 3] % 2).any():
        row = int(np.flatnonzero(factors[:, 3] % 2)[0])
        raise BetaVAEError(f"{_find(folder, split, 'info')} row {row}: azimuth {factors[row, 3]} is odd; NYU's "
                           "azimuths are 0, 2, …, 34")
    factors[:, 3] //= 2
    bad = (factors < 0) | (factors >= np.asarray(sizes))
    if bad.any():
        row, column = (int(i[0]) for i in np.nonzero(bad))
        source = _find(folder, split, "cat" if column == 0 else "info")
        raise BetaVAEError(f"{source} row {row}: {FACTOR_NAMES[column]} {factors[row, column]} is outside 0.."
                           f"{sizes[column] - 1}; this is not NYU's SmallNORB")
    return np.ravel_multi_index(factors.T, sizes)


def read(source: Path, sizes: tuple[int, ...]) -> Reading:
    """Validate the six files (names, headers, labels forming the full grid) and stream the first image of each
    stereo pair, resized to 64×64, to its grid row."""
    folder = source if source.is_dir() else source.parent
    missing = [file_name(split, kind) for split in SPLITS for kind in _EXPECTED if _find(folder, split, kind) is None]
    if missing:
        raise BetaVAEError(f"{folder} lacks {', '.join(missing)} (or .gz); point --from at the folder holding NYU's "
                           "six SmallNORB files (training and testing: dat, cat, info)")
    rows = math.prod(sizes) // 2  # each split holds half of the instances
    indices = {split: _labels(folder, split, rows, sizes) for split in SPLITS}
    every = np.concatenate(list(indices.values()))
    if len(np.unique(every)) != len(every):
        raise BetaVAEError(f"the SmallNORB files in {folder} label two images with the same category, instance, "
                           "elevation, azimuth and lighting; they are not NYU's files")
    for split in SPLITS:
        with _open(_find(folder, split, "dat")) as handle:
            _header(handle, _find(folder, split, "dat"), "dat", rows)
    files = [_find(folder, split, kind) for split in SPLITS for kind in _EXPECTED]
    return Reading(files, _chunks(folder, indices, rows))


def _chunks(folder: Path, indices: dict[str, np.ndarray], rows: int):
    for split, split_indices in indices.items():
        path = _find(folder, split, "dat")
        with _open(path) as handle:
            _header(handle, path, "dat", rows)
            for start in range(0, rows, _CHUNK):
                n = min(_CHUNK, rows - start)
                pairs = np.frombuffer(_read_exact(handle, n * _PAIR_BYTES, path, f"stereo pairs {start}..{start + n}"),
                                      dtype=np.uint8).reshape(n, 2, 96, 96)
                yield split_indices[start:start + n], downscale(pairs[:, 0])


SMALLNORB = OfficialGrid(
    name="smallnorb", title="SmallNORB (LeCun et al. 2004)",
    bring="point --from at the folder holding NYU's six smallnorb-5x46789x9x18x6x2x96x96-training-{dat,cat,info}.mat "
          "and smallnorb-5x01235x9x18x6x2x96x96-testing-… files (.gz or not)",
    factor_names=FACTOR_NAMES, factor_sizes=FACTOR_SIZES, channels=1, read=read, nuisance_factors=("instance",),
    continuity_factors=("elevation", "azimuth"),
    factor_values={"elevation": tuple(30.0 + 5 * e for e in range(9)),  # degrees above the horizontal
                   "azimuth": tuple(20.0 * a for a in range(18))})  # degrees
