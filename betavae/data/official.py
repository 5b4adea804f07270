"""Ground-truth datasets the user brings as official files: validated once, converted once into a uint8 cache.

``betavae data NAME --from PATH`` runs :meth:`OfficialGrid.prepare`. The family's reader validates the file(s)
(names, keys, dtypes, shapes, the factor structure; a wrong file is refused with one line saying what was
expected) and then streams the images, a chunk at a time, to their rows of the factor grid in
``CACHE/images.npy``: uint8 [N, C, 64, 64], row ``index(factors)`` (mixed radix, last factor fastest, the order
of every official file). The file is written under a temporary name, fsynced and renamed; ``CACHE/grid.json``
(what was converted from what) is written last, so its presence marks a complete cache. Nothing holds more
than one chunk of images (MPI3D's 12.7 GB convert in a few hundred MB), and :class:`CachedGrid` reads the cache
memory-mapped.

A dataset family is one file in ``data/`` that declares an :class:`OfficialGrid` (its factors and a reader) and
one line in ``registry.py``.

Tests write small files in the official layout. They reach a smaller grid only through ``prepare(..., sizes=)``,
a library argument that the CLI never passes: ``betavae data`` always requires the official number of images.
"""

from __future__ import annotations

import json
import math
import mmap
import os
import zipfile
import zlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import numpy as np
import torch
from PIL import Image

import betavae
from betavae.data.ground_truth import (
    IN_MEMORY_BYTES,
    BatchImageStore,
    GroundTruthData,
    ImageStore,
    Uint8ImageStore,
    check_indices,
)
from betavae.errors import BetaVAEError
from betavae.io import atomic_write, atomic_write_json, ensure_writable_dir, remove_temp_files
from betavae.progress import progress_bar

CACHE_FORMAT = 1
IMAGES_FILE, GRID_FILE = "images.npy", "grid.json"
IMAGE_SIZE = 64
Chunks = Iterator[tuple[np.ndarray, np.ndarray]]  # (grid indices int64[n], images uint8[n, C, 64, 64])


@dataclass
class Reading:
    """A validated official source: the files it was read from and its images, streamed as chunks."""

    files: list[Path]
    chunks: Chunks
    info: dict = field(default_factory=dict)  # kept in grid.json: "factor_values", "class_names" found in the file


Reader = Callable[[Path, tuple[int, ...]], Reading]  # (source, grid sizes) -> Reading; raises BetaVAEError


def default_cache_dir(name: str) -> Path:
    """Where ``betavae data NAME`` writes its cache when no --out is given: $BETAVAE_DATA_DIR/NAME."""
    from betavae.data.dsprites import default_data_dir

    return default_data_dir() / name


@dataclass(frozen=True)
class OfficialGrid:
    """A ground-truth dataset distributed as official file(s): its factor grid and how to read the files."""

    name: str
    title: str  # the dataset and its paper, e.g. "Shapes3D (Burgess & Kim 2018)"
    bring: str  # what --from points at
    factor_names: tuple[str, ...]
    factor_sizes: tuple[int, ...]  # the official grid
    channels: int
    read: Reader
    nuisance_factors: tuple[str, ...] = ()
    continuity_factors: tuple[str, ...] = ()  # the pair of transform factors `reproduce continuity` coarsens
    factor_values: Mapping[str, tuple[float, ...]] = field(default_factory=dict)  # per class, for plots

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return (self.channels, IMAGE_SIZE, IMAGE_SIZE)

    def grid_sizes(self, sizes: tuple[int, ...] | None = None) -> tuple[int, ...]:
        """The official sizes, or (test hook) a smaller grid of the same factors."""
        if sizes is None:
            return self.factor_sizes
        sizes = tuple(int(size) for size in sizes)
        if len(sizes) != len(self.factor_sizes) or not all(1 <= s <= o for s, o in zip(sizes, self.factor_sizes)):
            raise BetaVAEError(f"{self.name} grid sizes must be {len(self.factor_sizes)} numbers, each between 1 and "
                               f"the official {list(self.factor_sizes)}; got {list(sizes)}")
        return sizes

    def prepare(self, source: str | Path | None, out_dir: str | Path | None = None, *, force: bool = False,
                progress: bool = True, sizes: tuple[int, ...] | None = None) -> Path:
        """Validate ``source`` and write the cache in ``out_dir`` (default $BETAVAE_DATA_DIR/NAME) unless a complete
        cache of the same source is there already; returns ``out_dir``. ``sizes``: a smaller grid, for tests."""
        sizes = self.grid_sizes(sizes)
        if source is None:
            raise BetaVAEError(f"`betavae data {self.name}` needs --from PATH: {self.bring}")
        path = Path(source).expanduser()
        if not path.exists():
            raise BetaVAEError(f"{path} does not exist; {self.bring}")
        path = path.resolve()
        out = Path(out_dir).expanduser() if out_dir is not None else default_cache_dir(self.name)
        request = {"format": CACHE_FORMAT, "dataset": self.name, "factor_sizes": list(sizes), "source": str(path)}
        if not force and self._complete(out, request):
            return out
        reading = self.read(path, sizes)
        ensure_writable_dir(out)
        for target in (out / IMAGES_FILE, out / GRID_FILE):
            remove_temp_files(target)  # what a killed conversion left (up to 12.7 GB for MPI3D)
        write_grid_images(out / IMAGES_FILE, reading.chunks, self, sizes, str(path), progress)
        self._write_grid_file(out, request, sizes, path, reading)
        return out

    def _write_grid_file(self, out: Path, request: dict, sizes: tuple[int, ...], path: Path, reading: Reading) -> None:
        atomic_write_json(out / GRID_FILE, {
            "request": request, "dataset": self.name, "title": self.title, "factor_names": list(self.factor_names),
            "factor_sizes": list(sizes), "official_grid": sizes == self.factor_sizes,
            "image_shape": list(self.image_shape), "source": str(path),
            "source_files": [{"name": file.name, "bytes": file.stat().st_size} for file in reading.files],
            "info": reading.info, "betavae_version": betavae.__version__})

    def _complete(self, out_dir: Path, request: dict) -> bool:
        """A cache in ``out_dir`` that opens cleanly and was made for exactly ``request``."""
        try:
            meta, _ = _open_cache(self, out_dir)
        except BetaVAEError:
            return False
        return meta["request"] == request

    def load(self, path: str | Path | None = None, progress: bool = True) -> CachedGrid:
        """The prepared cache in ``path`` (default $BETAVAE_DATA_DIR/NAME), validated and memory-mapped."""
        out = Path(path).expanduser() if path is not None else default_cache_dir(self.name)
        meta, images = _open_cache(self, out)
        return CachedGrid(self, out, meta, images)




def _open_cache(grid: OfficialGrid, out_dir: Path) -> tuple[dict, np.ndarray]:
    """grid.json and the memory-mapped images of a complete cache of ``grid``; else a one-line error."""
    prepare = f"betavae data {grid.name} --from PATH" + ("" if out_dir == default_cache_dir(grid.name)
                                                          else f" --out {out_dir}")
    if not (out_dir / GRID_FILE).is_file():
        state = "is incomplete (interrupted?)" if (out_dir / IMAGES_FILE).exists() else "holds no prepared images"
        raise BetaVAEError(f"{grid.name}: {out_dir} {state}; run `{prepare}` first ({grid.bring})")
    try:
        meta = json.loads((out_dir / GRID_FILE).read_text())
        sizes = tuple(int(size) for size in meta["factor_sizes"])
        if meta["request"]["format"] != CACHE_FORMAT or meta["dataset"] != grid.name:
            raise ValueError(f"a {meta['dataset']} cache of format {meta['request']['format']}")
        grid.grid_sizes(sizes)
        if meta["official_grid"] and sizes != grid.factor_sizes:
            raise ValueError(f"official grid of sizes {list(sizes)}")
    except (OSError, ValueError, KeyError, TypeError, AttributeError, BetaVAEError) as exc:
        raise BetaVAEError(f"{out_dir / GRID_FILE} is not a {grid.name} cache of this betavae version ({exc}); "
                           f"rebuild it with `{prepare} --force`") from None
    expected = (math.prod(sizes), *grid.image_shape)
    try:
        images = _map_images(out_dir / IMAGES_FILE)
    except (OSError, ValueError, KeyError, TypeError) as exc:  # TypeError: a file shorter than its header says
        raise BetaVAEError(f"cannot read {out_dir / IMAGES_FILE} ({exc}); rebuild it with `{prepare} --force`"
                           ) from None
    if images.shape != expected or images.dtype != np.uint8:
        raise BetaVAEError(f"{out_dir / IMAGES_FILE} holds {images.dtype}{list(images.shape)}, expected uint8"
                           f"{list(expected)}; rebuild it with `{prepare} --force`")
    return meta, images


def _map_images(path: Path) -> np.ndarray:
    """The .npy at ``path`` memory-mapped read-only, advised for random access: a batch reads its rows, not the
    megabytes of readahead around each (8 MB a fault on some disks, which made a 64-image batch of MPI3D read
    512 MB)."""
    with open(path, "rb") as handle:
        version = np.lib.format.read_magic(handle)
        shape, fortran_order, dtype = _NPY_HEADERS[version](handle)
        if fortran_order or dtype.hasobject:
            raise ValueError("not a C-ordered array of numbers")
        offset = handle.tell()
        mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    if hasattr(mapped, "madvise"):
        mapped.madvise(mmap.MADV_RANDOM)
    return np.ndarray(shape, dtype, buffer=mapped, offset=offset)


# --- writing the cache -------------------------------------------------------------------------------------------

def write_grid_images(path: Path, chunks: Chunks, grid: OfficialGrid, sizes: tuple[int, ...], source: str,
                      progress: bool) -> Path:
    """Stream ``chunks`` to their rows of an .npy of uint8 [prod(sizes), C, 64, 64], atomically (temp file, fsync,
    rename), and remove the old grid.json beside it just before the rename. Every row must be written exactly once:
    a source with a factor combination twice or missing is refused, naming it. Only one chunk is in memory at a
    time."""
    count, shape = math.prod(sizes), grid.image_shape
    image_bytes = math.prod(shape)

    def write(handle: IO[bytes]) -> None:
        np.lib.format.write_array_header_1_0(handle, {"descr": "|u1", "fortran_order": False, "shape": (count, *shape)})
        handle.flush()
        offset = handle.tell()
        os.ftruncate(handle.fileno(), offset + count * image_bytes)
        written = np.zeros(count, dtype=bool)
        with progress_bar(total=count, unit="img", desc=f"converting {grid.name}", disable=not progress) as bar:
            for indices, images in chunks:
                indices = np.asarray(indices, dtype=np.int64)
                if images.dtype != np.uint8 or images.shape != (len(indices), *shape):
                    raise RuntimeError(f"the {grid.name} reader gave {images.dtype}{list(images.shape)} for "
                                       f"{len(indices)} images of shape {shape}")
                again = written[indices]
                values, counts = np.unique(indices, return_counts=True)
                if again.any() or (counts > 1).any():
                    first = indices[again][0] if again.any() else values[counts > 1][0]
                    raise BetaVAEError(f"{source} holds the image of {_factors(grid, sizes, first)} twice; "
                                       f"{grid.bring}")
                written[indices] = True
                _write_rows(handle.fileno(), offset, image_bytes, indices, images)
                bar.update(len(indices))
        missing = np.flatnonzero(~written)
        if missing.size:
            raise BetaVAEError(f"{source} lacks {missing.size} of the {count} images of the grid (first: "
                               f"{_factors(grid, sizes, missing[0])}); {grid.bring}")
        # a cache already there stays whole until the new images are: only now is it marked incomplete, until the
        # new grid.json is written
        (path.parent / GRID_FILE).unlink(missing_ok=True)

    return atomic_write(path, write, size=count * image_bytes)  # a full disk is reported with the space it needs


def _write_rows(fd: int, offset: int, image_bytes: int, indices: np.ndarray, images: np.ndarray) -> None:
    """Each run of consecutive indices in one positioned write (a whole chunk, for files already in grid order)."""
    order = np.argsort(indices, kind="stable")
    ordered = indices[order]
    breaks = np.flatnonzero(np.diff(ordered) != 1) + 1
    for run in np.split(np.arange(len(ordered)), breaks):
        data = memoryview(np.ascontiguousarray(images[order[run]])).cast("B")
        position = offset + int(ordered[run[0]]) * image_bytes
        while data:
            done = os.pwrite(fd, data, position)
            data, position = data[done:], position + done


def _factors(grid: OfficialGrid, sizes: tuple[int, ...], index: int) -> str:
    classes = np.unravel_index(int(index), sizes)
    return ", ".join(f"{name} {int(value)}" for name, value in zip(grid.factor_names, classes))


def grid_order(sizes: tuple[int, ...]) -> np.ndarray:
    """int64[N, K]: every combination of classes in row-major order (row i has index i)."""
    return np.ascontiguousarray(np.indices(sizes, dtype=np.int64).reshape(len(sizes), -1).T)


def downscale(images: np.ndarray) -> np.ndarray:
    """uint8 [n, H, W] (grey) or [n, H, W, 3] → uint8 [n, C, 64, 64], Lanczos (the filter of Pillow's former
    ANTIALIAS, which disentanglement_lib's loaders named and Pillow 10 removed)."""
    out = np.stack([np.asarray(Image.fromarray(image).resize((IMAGE_SIZE, IMAGE_SIZE), Image.LANCZOS))
                    for image in images])
    return out[:, None] if out.ndim == 3 else out.transpose(0, 3, 1, 2)


# --- .npz arrays, read from their headers and streamed; a pickle is refused, never loaded -------------------------

_NPY_HEADERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}


def _npz_member(archive: zipfile.ZipFile, path: Path, key: str, expected: str) -> tuple[IO[bytes], tuple, np.dtype]:
    if f"{key}.npy" not in archive.namelist():
        arrays = ", ".join(sorted(name.removesuffix(".npy") for name in archive.namelist())) or "none"
        raise BetaVAEError(f"{path} has no `{key}` array (it holds: {arrays}); expected {expected}")
    handle = archive.open(f"{key}.npy")
    version = np.lib.format.read_magic(handle)
    if version not in _NPY_HEADERS:
        raise BetaVAEError(f"{path}: `{key}` is in .npy format {version}, which betavae does not read; expected "
                           f"{expected}")
    shape, fortran_order, dtype = _NPY_HEADERS[version](handle)
    if dtype.hasobject:
        raise BetaVAEError(f"{path}: `{key}` holds pickled Python objects, which betavae never unpickles (a pickle "
                           f"can run code); expected {expected}")
    if fortran_order:
        raise BetaVAEError(f"{path}: `{key}` is stored in Fortran order; expected {expected} in C order")
    return handle, tuple(shape), dtype


def npz_header(path: Path, key: str, expected: str) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype of the array ``key`` of the .npz at ``path``, from its header alone."""
    with _npz_archive(path, expected) as archive:
        handle, shape, dtype = _npz_member(archive, path, key, expected)
        handle.close()
    return shape, dtype


def npz_rows(path: Path, key: str, expected: str, rows_per_chunk: int) -> Iterator[np.ndarray]:
    """The uint8 array ``key`` in chunks of ``rows_per_chunk`` rows, streamed (checked against its zip CRC-32)."""
    with _npz_archive(path, expected) as archive:
        handle, shape, _ = _npz_member(archive, path, key, expected)
        row_bytes, total = math.prod(shape[1:]), shape[0]
        for start in range(0, total, rows_per_chunk):
            n = min(rows_per_chunk, total - start)
            data = handle.read(n * row_bytes)
            if len(data) != n * row_bytes:
                raise BetaVAEError(f"{path} is truncated: `{key}` ends after {start + len(data) // row_bytes} of "
                                   f"its {total} rows; expected {expected}")
            yield np.frombuffer(data, dtype=np.uint8).reshape(n, *shape[1:])
        handle.read(1)  # reading to the end makes zipfile check the member's CRC-32


@contextmanager
def _npz_archive(path: Path, expected: str) -> Iterator[zipfile.ZipFile]:
    """The open .npz; a read error inside the block (not a zip, bad CRC, cut short) becomes one user-facing line."""
    try:
        with zipfile.ZipFile(path) as archive:
            yield archive
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as exc:
        raise BetaVAEError(f"{path} is not a readable .npz file: it is truncated, corrupt or not a zip archive "
                           f"({exc}); expected {expected}") from None


# --- the dataset ---------------------------------------------------------------------------------------------------

class CachedGrid(GroundTruthData):
    """A prepared official dataset: the ground-truth contract over its memory-mapped uint8 cache."""

    def __init__(self, grid: OfficialGrid, cache_dir: Path, meta: dict, images: np.ndarray):
        self.grid, self.cache_dir, self.meta = grid, cache_dir, meta
        self.name = grid.name
        self.factor_names = grid.factor_names
        self.factor_sizes = tuple(int(size) for size in meta["factor_sizes"])
        self.image_shape = grid.image_shape
        self.nuisance_factors = grid.nuisance_factors
        if grid.continuity_factors:
            self.continuity_factors = grid.continuity_factors
        info = meta.get("info") or {}
        self.class_names = {name: tuple(classes) for name, classes in (info.get("class_names") or {}).items()}
        self._values = {**grid.factor_values, **(info.get("factor_values") or {})}
        self._images = images

    def images(self, indices: np.ndarray) -> np.ndarray:
        indices = check_indices(indices, self.num_images)
        order = np.argsort(indices, kind="stable")  # ascending reads: fewer seeks in a file larger than memory
        out = np.empty((len(indices), *self.image_shape), dtype=np.uint8)
        out[order] = self._images[indices[order]]
        return out

    def image_store(self, device: torch.device) -> ImageStore:
        if self._images.nbytes <= IN_MEMORY_BYTES:  # read whole, in one sequential pass
            return Uint8ImageStore(np.load(self.cache_dir / IMAGES_FILE, allow_pickle=False), device)
        return BatchImageStore(self, device)

    def factor_values(self, name: str) -> np.ndarray:
        size = self.factor_sizes[self.factor_names.index(name)]
        values = self._values.get(name)
        return super().factor_values(name) if values is None else np.asarray(values[:size], dtype=np.float64)

    def describe(self) -> dict:
        return {**super().describe(), "title": self.grid.title, "official_grid": bool(self.meta["official_grid"]),
                "source_files": self.meta.get("source_files"), "cache": str(self.cache_dir)}
