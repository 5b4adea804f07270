"""dSprites (Matthey et al. 2017): rendered offline from a measured spec, or read from DeepMind's file.

The 737,280 binary 64×64 images of a square, an ellipse or a heart on DeepMind's full grid of factors
(β-VAE paper, Sec. 4.2 and App. A.4). DeepMind's file cannot be downloaded on every machine, so the images
are rendered from the spec that was fitted to real dSprites images (Spec: shared/data/dsprites/README.md);
a user's copy of the official file is read the same way. In memory the images are bit-packed
(737,280 × 512 bytes ≈ 377 MB), never float32.
"""

from __future__ import annotations

import math
import os
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
import torch

import betavae
from betavae.data.ground_truth import GroundTruthData, ImageStore, check_indices
from betavae.errors import BetaVAEError
from betavae.io import atomic_write, ensure_writable_dir, writing
from betavae.progress import progress_bar

# DeepMind's grid: factor classes in this order, posY fastest (index = classes @ latents_bases()).
LATENTS_NAMES = ("color", "shape", "scale", "orientation", "posX", "posY")
LATENTS_SIZES = (1, 3, 6, 40, 32, 32)
NUM_IMAGES = math.prod(LATENTS_SIZES)
IMAGE_SIZE = 64
SCALES = np.linspace(0.5, 1.0, 6)
ORIENTATIONS = np.linspace(0.0, 2 * np.pi, 40)  # both ends included: orientation 39 repeats orientation 0
POSITIONS = np.linspace(0.0, 1.0, 32)
LATENTS_POSSIBLE_VALUES = {
    "color": np.array([1.0]),
    "shape": np.array([1.0, 2.0, 3.0]),
    "scale": SCALES,
    "orientation": ORIENTATIONS,
    "posX": POSITIONS,
    "posY": POSITIONS,
}

OFFICIAL_FILENAME = "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"
GENERATED_FILENAME = "dsprites_generated_co1sh3sc6or40x32y32_64x64.npz"
GENERATED = "dSprites (generated)"
OFFICIAL = "dSprites (official file)"
DESCRIPTION = (
    f"{GENERATED} by betavae {betavae.__version__} from the rendering spec measured on real dSprites images "
    f"(Matthey et al. 2017); DeepMind's array names and layout, not DeepMind's file {OFFICIAL_FILENAME}"
)

_PIXELS = IMAGE_SIZE * IMAGE_SIZE
_CHUNK = 8192  # images per streamed chunk (32 MB of uint8)
_BATCH = 512  # images rendered at once: keeps the float temporaries in cache
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # fixed member timestamps, so the generated file is byte-identical on re-runs


# --- the grid -------------------------------------------------------------------------------------------------

def latents_bases(sizes: tuple[int, ...] = LATENTS_SIZES) -> np.ndarray:
    """Mixed-radix bases, last factor fastest: [737280, 245760, 40960, 1024, 32, 1] for DeepMind's grid."""
    return np.append(np.cumprod(np.asarray(sizes[:0:-1], dtype=np.int64))[::-1], 1).astype(np.int64)


def latents_grid(sizes: tuple[int, ...] = LATENTS_SIZES) -> np.ndarray:
    """int64[N, 6]: every combination of factor classes, in DeepMind's order (row i has index i)."""
    return np.ascontiguousarray(np.indices(sizes, dtype=np.int64).reshape(len(sizes), -1).T)


def latents_values(latents_classes: np.ndarray) -> np.ndarray:
    """float64[n, 6]: DeepMind's latents_values (colour 1, shape 1..3, scale, radians, posX, posY in [0, 1])."""
    classes = np.asarray(latents_classes, dtype=np.int64)
    return np.stack([LATENTS_POSSIBLE_VALUES[name][classes[:, i]] for i, name in enumerate(LATENTS_NAMES)], axis=1)


# --- rendering (Spec: shared/data/dsprites/README.md) ---------------------------------------------------------

def _square(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return (np.abs(u) <= 9.6) & (np.abs(v) <= 9.6)


def _ellipse(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return (u / 12.76) ** 2 + (v / 7.22) ** 2 <= 1.0


def _heart(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Inside x = 9.6 sin³t, y = −0.662·g(t) − 1.44 with g = 13 cos t − 5 cos 2t − 2 cos 3t − cos 4t (y down)."""
    # A vertical line |u| < 9.6 meets the curve twice, at sin t = cbrt(u / 9.6), i.e. cos t = ±c. Written in
    # c, g(±c) = E ± c·O with E = 4 − 2c² − 8c⁴ and O = 19 − 8c², so the inside is |g − E| ≤ c·O: exact for the
    # curve and much faster than a point-in-polygon test. Squared (z = c²) to avoid a square root; z < 0, i.e.
    # |u| > 9.6, makes the right side negative, so it is never inside.
    z = 1.0 - np.cbrt((u / 9.6) ** 2)
    gap = -(v + 1.44) / 0.662 - (4.0 - z * (2.0 + 8.0 * z))
    return gap * gap <= z * (19.0 - 8.0 * z) ** 2


@dataclass(frozen=True)
class Shape:
    """A dSprites shape at scale 1 about its anchor: an inside test (y down) and a radius that bounds it."""

    name: str
    contains: Callable[[np.ndarray, np.ndarray], np.ndarray]
    radius: float  # no inside point is farther from the anchor, so only a window of pixels around it is tested


SHAPES = (
    Shape("square", _square, 9.6 * math.sqrt(2.0)),
    Shape("ellipse", _ellipse, 12.76),
    Shape("heart", _heart, 11.26),  # the curve's farthest point is 11.256 from the anchor
)
SHAPE_NAMES = tuple(shape.name for shape in SHAPES)  # shape class 0, 1, 2 (DeepMind's values 1, 2, 3)


def _window_start(centre: np.ndarray, reach: float, width: int) -> np.ndarray:
    """First pixel of a run of ``width`` pixels holding every pixel centre within ``reach`` of ``centre``."""
    return np.clip(np.ceil(centre - reach - 0.5).astype(np.int64), 0, IMAGE_SIZE - width)


def draw(shape: int, scale: float, theta: float | np.ndarray, pos_x: np.ndarray, pos_y: np.ndarray) -> np.ndarray:
    """uint8[n, 64, 64] of 0/1: ``SHAPES[shape]`` at ``scale``, turned by ``theta``, at positions in [0, 1].

    Spec: shared/data/dsprites/README.md (anchor, counter-clockwise rotation, a pixel is on iff its centre is inside).
    """
    spec = SHAPES[shape]
    pos_x, pos_y, theta = (np.atleast_1d(a).astype(np.float64) for a in np.broadcast_arrays(pos_x, pos_y, theta))
    cx, cy = 16.0 + 32.0 * pos_x, 16.0 + 32.0 * pos_y
    reach = spec.radius * scale
    width = min(int(2 * reach) + 2, IMAGE_SIZE)
    cols = _window_start(cx, reach, width)[:, None] + np.arange(width)
    rows = _window_start(cy, reach, width)[:, None] + np.arange(width)
    du, dv = cols + 0.5 - cx[:, None], rows + 0.5 - cy[:, None]  # pixel centres relative to the anchor
    angle = np.mod(theta, 2 * np.pi)  # θ = 2π (orientation 39) is drawn exactly as θ = 0
    cos, sin = (np.cos(angle) / scale)[:, None], (np.sin(angle) / scale)[:, None]
    # u' = cosθ·du − sinθ·dv, v' = sinθ·du + cosθ·dv: each term depends on the column or on the row alone.
    u = (cos * du)[:, None, :] - (sin * dv)[:, :, None]
    v = (sin * du)[:, None, :] + (cos * dv)[:, :, None]
    images = np.zeros((len(cx), IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
    images[np.arange(len(cx))[:, None, None], rows[:, :, None], cols[:, None, :]] = spec.contains(u, v)
    return images


def render(latents_classes: np.ndarray) -> np.ndarray:
    """uint8[n, 64, 64] of 0/1 for factor classes [n, 5] (shape, scale, orientation, pos_x, pos_y), any order."""
    classes = np.asarray(latents_classes, dtype=np.int64)
    sizes = np.asarray(LATENTS_SIZES[1:])
    if classes.ndim != 2 or classes.shape[1] != len(sizes):
        raise BetaVAEError(f"dSprites factor classes must have shape [n, 5], got {list(classes.shape)}")
    if ((classes < 0) | (classes >= sizes)).any():
        raise BetaVAEError(f"dSprites factor classes out of range; sizes are {sizes.tolist()}")
    images = np.empty((len(classes), IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
    shape_scale = classes[:, 0] * len(SCALES) + classes[:, 1]
    for key in np.unique(shape_scale):
        shape, scale = divmod(int(key), len(SCALES))
        members = np.flatnonzero(shape_scale == key)
        for part in np.array_split(members, -(-len(members) // _BATCH)):
            _, _, orientation, pos_x, pos_y = classes[part].T
            images[part] = draw(shape, SCALES[scale], ORIENTATIONS[orientation], POSITIONS[pos_x], POSITIONS[pos_y])
    return images


def agreement(images: np.ndarray, reference: np.ndarray, shapes: np.ndarray) -> dict[str, tuple[float, float]]:
    """Per shape name: the share of images equal to ``reference`` pixel for pixel, and their mean IoU."""
    result = {}
    for shape, name in enumerate(SHAPE_NAMES):
        mine, theirs = images[shapes == shape].astype(bool), reference[shapes == shape].astype(bool)
        exact = (mine == theirs).all(axis=(1, 2)).mean()
        iou = ((mine & theirs).sum(axis=(1, 2)) / (mine | theirs).sum(axis=(1, 2))).mean()
        result[name] = (float(exact), float(iou))
    return result


# --- the .npz file: streamed writer and reader -------------------------------------------------------------

def _member(archive: zipfile.ZipFile, name: str) -> IO[bytes]:
    info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    return archive.open(info, "w", force_zip64=True)


def _write_array(archive: zipfile.ZipFile, name: str, array: np.ndarray) -> None:
    with _member(archive, name) as handle:
        np.lib.format.write_array(handle, np.asarray(array), allow_pickle=False)


def write_dsprites(path: str | Path, sizes: tuple[int, ...] = LATENTS_SIZES, progress: bool = True) -> Path:
    """Render the grid ``sizes`` (a prefix of DeepMind's) into an .npz with DeepMind's names, streamed, atomically."""
    classes = latents_grid(sizes)

    def write(handle: IO[bytes]) -> None:
        with zipfile.ZipFile(handle, "w") as archive:
            with _member(archive, "imgs") as member, progress_bar(
                total=len(classes), unit="img", desc="rendering dSprites", disable=not progress
            ) as bar:
                header = {"descr": "|u1", "fortran_order": False, "shape": (len(classes), IMAGE_SIZE, IMAGE_SIZE)}
                np.lib.format.write_array_header_1_0(member, header)
                for start in range(0, len(classes), _CHUNK):
                    member.write(render(classes[start:start + _CHUNK, 1:]))
                    bar.update(min(_CHUNK, len(classes) - start))
            _write_array(archive, "latents_classes", classes)
            _write_array(archive, "latents_values", latents_values(classes))
            _write_array(archive, "latents_names", np.array(LATENTS_NAMES))
            _write_array(archive, "latents_sizes", np.array(sizes, dtype=np.int64))
            for name, values in LATENTS_POSSIBLE_VALUES.items():
                _write_array(archive, f"latents_possible_values_{name}", values)
            _write_array(archive, "description", np.array(DESCRIPTION))

    return atomic_write(path, write, size=GENERATED_BYTES_PER_IMAGE * len(classes) + 65536)


# The generated file's size (deflate compresses the binary images to ~26 bytes each): what a full disk is told it needs.
GENERATED_BYTES_PER_IMAGE = 27


class _Invalid(Exception):
    """What is wrong with a file; the public callers add the fix that fits their situation."""


_FIX = f"pass DeepMind's {OFFICIAL_FILENAME} or run `betavae data dsprites` to generate the images"
_REBUILD = "rebuild it with `betavae data dsprites --force`"
_HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}


@contextmanager
def _user_error(fix: str) -> Iterator[None]:
    try:
        yield
    except _Invalid as exc:
        raise BetaVAEError(f"{exc}; {fix}") from None


@contextmanager
def _archive(path: Path) -> Iterator[zipfile.ZipFile]:
    """The open .npz; any read error inside the block (bad zip, bad CRC, short data) becomes ``_Invalid``."""
    if path.is_dir():
        raise _Invalid(f"{path} is a folder, not a dSprites .npz file")
    if not path.is_file():
        raise _Invalid(f"dSprites file {path} does not exist" if not path.exists() else
                       f"{path} is not a regular file (a device or pipe), not a dSprites .npz file")
    try:
        with zipfile.ZipFile(path) as archive:
            yield archive
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as exc:
        raise _Invalid(f"{path} is not a readable .npz file, it is corrupt or truncated ({exc})") from None


def _open_array(archive: zipfile.ZipFile, path: Path, name: str) -> tuple[IO[bytes], tuple[int, ...], np.dtype]:
    """The member ``name`` positioned at its data, with its shape and dtype (C order is required)."""
    if f"{name}.npy" not in archive.namelist():
        arrays = ", ".join(sorted(n.removesuffix(".npy") for n in archive.namelist()))
        raise _Invalid(f"{path} is not a dSprites file: it has no `{name}` array (arrays: {arrays or 'none'})")
    handle = archive.open(f"{name}.npy")
    version = np.lib.format.read_magic(handle)
    if version not in _HEADER_READERS:
        raise _Invalid(f"{path}: `{name}` is in .npy format {version}, which this reader does not support")
    shape, fortran_order, dtype = _HEADER_READERS[version](handle)
    if fortran_order:
        raise _Invalid(f"{path} is not a dSprites file: {name} is stored in Fortran order, expected C order")
    return handle, shape, dtype


def _expect(path: Path, name: str, shape: tuple[int, ...], dtype: np.dtype, want_shape: tuple[int, ...],
            want_kind: str) -> None:
    if tuple(shape) != want_shape:
        raise _Invalid(f"{path} is not a dSprites file: {name} has shape {tuple(shape)}, expected {want_shape}")
    if dtype.kind not in want_kind or (want_kind == "u" and dtype.itemsize != 1):
        expected = {"u": "uint8", "iu": "integers", "f": "floats"}[want_kind]
        raise _Invalid(f"{path} is not a dSprites file: {name} has dtype {dtype}, expected {expected}")


def _read_rest(handle: IO[bytes], shape: tuple[int, ...], dtype: np.dtype, path: Path, name: str) -> np.ndarray:
    """The data of a small array whose header ``_open_array`` has read (never a pickle: dtype is checked first)."""
    size = math.prod(shape) * dtype.itemsize
    data = handle.read(size)
    if len(data) != size:
        raise _Invalid(f"{path} is truncated: {name} holds {len(data)} of its {size} bytes")
    return np.frombuffer(data, dtype=dtype).reshape(shape)


def _inspect(path: Path, sizes: tuple[int, ...]) -> str:
    """Check everything but the pixel values (cheap); return GENERATED or OFFICIAL."""
    count = math.prod(sizes)
    with _archive(path) as archive:
        handle, shape, dtype = _open_array(archive, path, "imgs")
        handle.close()
        _expect(path, "imgs", shape, dtype, (count, IMAGE_SIZE, IMAGE_SIZE), "u")
        handle, shape, dtype = _open_array(archive, path, "latents_classes")
        _expect(path, "latents_classes", shape, dtype, (count, len(sizes)), "iu")
        classes = _read_rest(handle, shape, dtype, path, "latents_classes")
        grid = latents_grid(sizes)
        if not np.array_equal(classes, grid):
            row = int(np.flatnonzero((classes != grid).any(axis=1))[0])
            raise _Invalid(f"{path} is not a dSprites file: latents_classes is not in DeepMind's grid order "
                           f"(row {row} is {classes[row].tolist()}, expected {grid[row].tolist()})")
        handle, shape, dtype = _open_array(archive, path, "latents_values")
        _expect(path, "latents_values", shape, dtype, (count, len(sizes)), "f")
        values = _read_rest(handle, shape, dtype, path, "latents_values")
        wrong = ~np.isclose(values, latents_values(grid), rtol=0, atol=1e-6).all(axis=1)
        if wrong.any():
            row = int(np.flatnonzero(wrong)[0])
            raise _Invalid(f"{path} is not a dSprites file: latents_values row {row} is {values[row].tolist()}, "
                           f"expected {latents_values(grid[row:row + 1])[0].tolist()}")
        description = ""
        if "description.npy" in archive.namelist():
            handle, shape, dtype = _open_array(archive, path, "description")
            if dtype.kind == "U" and shape == ():
                description = str(_read_rest(handle, shape, dtype, path, "description"))
    return GENERATED if description.startswith(GENERATED) else OFFICIAL


def _read_packed(path: Path, sizes: tuple[int, ...], progress: bool) -> np.ndarray:
    """uint8[N, 512]: ``imgs`` streamed chunk by chunk, checked to be 0/1 and bit-packed (8 pixels a byte)."""
    count = math.prod(sizes)
    packed = np.empty((count, _PIXELS // 8), dtype=np.uint8)
    with _archive(path) as archive, progress_bar(total=count, unit="img", desc="loading dSprites",
                                                 disable=not progress) as bar:
        handle, shape, dtype = _open_array(archive, path, "imgs")
        _expect(path, "imgs", shape, dtype, (count, IMAGE_SIZE, IMAGE_SIZE), "u")
        for start in range(0, count, _CHUNK):
            n = min(_CHUNK, count - start)
            data = handle.read(n * _PIXELS)
            if len(data) != n * _PIXELS:
                raise _Invalid(f"{path} is truncated: imgs ends after {start + len(data) // _PIXELS} images")
            chunk = np.frombuffer(data, dtype=np.uint8).reshape(n, _PIXELS)
            if chunk.max() > 1:
                raise _Invalid(f"{path} is not a binary dSprites file: imgs holds the value {chunk.max()}, "
                               "expected only 0 and 1")
            packed[start:start + n] = np.packbits(chunk, axis=1)
            bar.update(n)
        handle.read(1)  # reading to the end makes zipfile verify the member's CRC
    return packed


def check_dsprites_file(path: str | Path, sizes: tuple[int, ...] = LATENTS_SIZES) -> str:
    """Validate a dSprites .npz without reading its pixels; return GENERATED or OFFICIAL."""
    with _user_error(_FIX):
        return _inspect(Path(path).expanduser(), sizes)


def read_packed(path: str | Path, sizes: tuple[int, ...] = LATENTS_SIZES, progress: bool = False) -> np.ndarray:
    """uint8[N, 512]: the file's images, validated and bit-packed (np.packbits order) while streaming."""
    with _user_error(_FIX):
        return _read_packed(Path(path).expanduser(), sizes, progress)


# --- the dataset ----------------------------------------------------------------------------------------------

class PackedImageStore(ImageStore):
    """Bit-packed binary images (8 pixels a byte) on the device, unpacked one batch at a time with bit shifts."""

    def __init__(self, packed: np.ndarray, image_shape: tuple[int, int, int], device: torch.device):
        self.bits = torch.from_numpy(packed).to(device)
        self.shifts = torch.arange(7, -1, -1, dtype=torch.uint8, device=device)  # np.packbits: first pixel high
        self.image_shape = image_shape

    def batch(self, indices: torch.Tensor) -> torch.Tensor:
        rows = self.bits.index_select(0, indices).unsqueeze(-1)
        return rows.bitwise_right_shift(self.shifts).bitwise_and_(1).reshape(-1, *self.image_shape).float()


class RenderedImageStore(ImageStore):
    """Images rendered on the CPU when a batch is asked for (no storage; for tests and small experiments)."""

    def __init__(self, data: DSprites, device: torch.device):
        self.data, self.device = data, device

    def batch(self, indices: torch.Tensor) -> torch.Tensor:
        images = torch.from_numpy(self.data.images(indices.cpu().numpy()))
        return images.to(self.device).float().div_(255.0)


class DSprites(GroundTruthData):
    """dSprites without the constant colour factor; indices are identical to DeepMind's."""

    factor_names = ("shape", "scale", "orientation", "pos_x", "pos_y")
    factor_sizes = LATENTS_SIZES[1:]
    image_shape = (1, IMAGE_SIZE, IMAGE_SIZE)
    class_names = {"shape": SHAPE_NAMES}

    def __init__(self, packed: np.ndarray | None = None, source: str = GENERATED, path: Path | None = None):
        if packed is not None and (packed.shape != (NUM_IMAGES, _PIXELS // 8) or packed.dtype != np.uint8):
            raise BetaVAEError(f"packed dSprites images must be uint8 {(NUM_IMAGES, _PIXELS // 8)}, "
                               f"got {packed.dtype} {packed.shape}; load them with load_dsprites()")
        self.packed, self.source, self.path = packed, source, path
        self.name = "dsprites (generated)" if source == GENERATED else "dsprites (official)"

    @classmethod
    def rendered(cls) -> DSprites:
        """The generated images, rendered on demand instead of held in memory."""
        return cls(None, GENERATED)

    def images(self, indices: np.ndarray) -> np.ndarray:
        indices = check_indices(indices, self.num_images)
        if self.packed is None:
            bits = render(self.factors(indices))
        else:
            bits = np.unpackbits(self.packed[indices], axis=1).reshape(-1, IMAGE_SIZE, IMAGE_SIZE)
        return (bits * np.uint8(255))[:, None]

    def image_store(self, device: torch.device) -> ImageStore:
        if self.packed is None:
            return RenderedImageStore(self, device)
        return PackedImageStore(self.packed, self.image_shape, device)

    def latent_values(self, factors: np.ndarray) -> np.ndarray:
        """float64[n, 5]: shape 1..3, scale, orientation in radians, pos_x and pos_y in [0, 1]."""
        factors = np.asarray(factors, dtype=np.int64)
        return latents_values(np.column_stack([np.zeros(len(factors), dtype=np.int64), factors]))[:, 1:]

    def factor_values(self, name: str) -> np.ndarray:
        """DeepMind's latents_possible_values: scale 0.5–1, orientation in radians, positions in [0, 1]."""
        return LATENTS_POSSIBLE_VALUES[LATENTS_NAMES[1 + self.factor_names.index(name)]].astype(np.float64)

    def describe(self) -> dict:
        return {**super().describe(), "source": self.source, "path": str(self.path) if self.path else None}


def load_dsprites(path: str | Path, progress: bool = False) -> DSprites:
    """DSprites from our generated .npz or DeepMind's official one (its pickled metadata is never read)."""
    path = Path(path).expanduser()
    with _user_error(_REBUILD if path.name == GENERATED_FILENAME else _FIX):
        source = _inspect(path, LATENTS_SIZES)
        return DSprites(_read_packed(path, LATENTS_SIZES, progress), source, path)


# --- cache ------------------------------------------------------------------------------------------------------

def default_data_dir() -> Path:
    """$BETAVAE_DATA_DIR, else ~/.cache/betavae."""
    return Path(os.environ.get("BETAVAE_DATA_DIR") or Path.home() / ".cache" / "betavae").expanduser()


def generated_path(data_dir: str | Path | None = None) -> Path:
    """Where the generated file lives in ``data_dir`` (default: ``default_data_dir()``)."""
    return Path(data_dir or default_data_dir()).expanduser() / GENERATED_FILENAME


def ensure_dsprites(out_dir: str | Path | None = None, source: str | Path | None = None,
                    progress: bool = True, force: bool = False, verify: bool = False,
                    sizes: tuple[int, ...] = LATENTS_SIZES) -> Path:
    """The validated official file ``source`` if given, else the generated file, rendered if it is missing
    (or if ``force``). ``verify`` also reads every image, so a damaged one fails its zip CRC-32 here (~10 s)."""
    if source is not None:
        if force:
            raise BetaVAEError("--force rebuilds the generated dSprites cache; it does not apply to --source")
        path = Path(source).expanduser()
        with _user_error(_FIX):
            _check(path, sizes, verify)
        return path
    path = generated_path(out_dir)
    with writing(path):  # one process renders it; a render killed midway left a temporary file, removed here
        if path.exists() and not force:
            with _user_error(_REBUILD):
                _check(path, sizes, verify)
            return path
        ensure_writable_dir(path.parent)
        return write_dsprites(path, sizes=sizes, progress=progress)


def _check(path: Path, sizes: tuple[int, ...], verify: bool) -> None:
    _inspect(path, sizes)
    if verify:
        _read_packed(path, sizes, progress=False)


def load(data_dir: str | Path | None = None, source: str | Path | None = None, progress: bool = True) -> DSprites:
    """DSprites from ``source`` (DeepMind's file) or from the generated file in ``data_dir`` (made if missing)."""
    return load_dsprites(ensure_dsprites(data_dir, source, progress), progress=progress)
