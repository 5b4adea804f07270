"""Image folders as users have them (CelebA, 3D chairs, 3D faces, any folder) → a uint8 cache.

``prepare_images`` decodes a folder once, streaming, into ``out_dir``:

* ``images.npy``     uint8 [n, C, size, size], 0..255 (written to a temp file, fsynced, renamed);
* ``attributes.npy`` int8 [n, A] (CelebA with its attribute file): 1 = yes, 0 = no, -1 = not listed;
* ``groups.npy``     int32 [n] (3D chairs): row of each image's chair id in ``group_names``;
* ``index.json``     what was asked, what was found, per-image file names, unreadable files; written
                     last, so its presence marks a complete cache.

``FolderImages.load(out_dir)`` validates the cache and serves it through the ``ImageDataset`` contract.

Preprocessing per kind (every image: EXIF rotation applied, transparency composited onto white,
centre crop to a square, Lanczos resize to size×size; unreadable files are skipped and listed):

======  ==================================  =======  ==========================================
kind    centre crop (side / shorter side)   colour   where the images are looked for
======  ==================================  =======  ==========================================
celeba  148/178 ≈ 0.831 (148×148 of the     RGB      ``img_align_celeba[_png]/`` (also under
        aligned 178×218 images)                      ``Img/``) or the given folder itself
chairs  2/3 (400×400 of the 600×600         grey     ``rendered_chairs/`` or the given folder;
        renders)                                     chair id = folder above ``renders/``
faces   1 (largest centred square)          grey     the given folder
folder  1 (largest centred square)          RGB      the given folder
======  ==================================  =======  ==========================================

Why these crops: the aligned CelebA images put the face at a fixed place in a 178×218 frame; the
centred 148×148 square keeps face and hair and drops most background and the neck (a crop widely
used for 64×64 CelebA VAEs). The chairs renders are 600×600 with an empty white margin around
the chair; the centred 400×400 square removes most of the margin and keeps the whole chair in every
view, so the chair fills the 64×64 frame. Face renders and users' own images are not cropped beyond
squaring. ``grayscale=`` overrides the colour column. All folders are searched recursively for
.jpg .jpeg .png .bmp .gif .webp (any case); hidden files and folders are skipped; files are sorted by
their path relative to the given folder, so the row order is the same on every machine.
"""

from __future__ import annotations

import csv
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image, ImageOps

import betavae
from betavae.data.ground_truth import ImageDataset, check_indices
from betavae.errors import BetaVAEError
from betavae.io import (
    atomic_write,
    atomic_write_json,
    disk_full,
    ensure_writable_dir,
    is_disk_full,
    temp_file_beside,
    writing,
)
from betavae.progress import progress_bar

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")
ARCHIVE_EXTENSIONS = (".zip", ".tar", ".gz", ".tgz", ".bz2", ".xz", ".7z", ".rar")
CACHE_FORMAT = 1
RESAMPLE = "lanczos"
INDEX_FILE, IMAGES_FILE, ATTRIBUTES_FILE, GROUPS_FILE = "index.json", "images.npy", "attributes.npy", "groups.npy"
CELEBA_ATTRIBUTE_FILES = ("list_attr_celeba.txt", "list_attr_celeba.csv")
_SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")
_COPY_CHUNK = 4096


def _chair_id(relative: PurePosixPath) -> str:
    """The chair's folder: ``<id>/renders/x.png`` → ``<id>``; otherwise the image's own folder."""
    parts = relative.parts[:-1]
    if "renders" in parts and parts.index("renders") > 0:
        return parts[parts.index("renders") - 1]
    return parts[-1] if parts else ""


@dataclass(frozen=True)
class KindSpec:
    """How one kind of dataset is found on disk and preprocessed."""

    kind: str
    crop_fraction: float  # side of the centred square crop / shorter image side
    grayscale: bool
    image_dirs: tuple[str, ...]  # preferred sub-folders (first that exists); else the given folder
    hint: str  # how to point --from at the right folder
    attributes: bool = False  # look for CelebA's attribute file
    group_label: str | None = None  # name of the per-image group kept from the path
    group_of: Callable[[PurePosixPath], str] | None = None  # path relative to the image folder → group


KIND_SPECS = {
    "celeba": KindSpec("celeba", 148 / 178, False,
                       ("img_align_celeba", "img_align_celeba_png", "Img/img_align_celeba",
                        "Img/img_align_celeba_png"),
                       "point --from at the folder that holds img_align_celeba (or at img_align_celeba itself)",
                       attributes=True),
    "chairs": KindSpec("chairs", 400 / 600, True, ("rendered_chairs",),
                       "point --from at rendered_chairs (the folder of per-chair folders <id>/renders/*.png)",
                       group_label="chair", group_of=_chair_id),
    "faces": KindSpec("faces", 1.0, True, (), "point --from at the folder that holds the face renders"),
    "folder": KindSpec("folder", 1.0, False, (), "point --from at a folder that contains your images"),
}
KINDS = tuple(KIND_SPECS)


# ---------------------------------------------------------------------------------------- preparing

def prepare_images(source: str | Path, out_dir: str | Path, kind: str, size: int = 64,
                   grayscale: bool | None = None, progress: bool = True, force: bool = False) -> Path:
    """Decode the images under ``source`` into a cache in ``out_dir`` (reused if it matches); returns ``out_dir``."""
    spec = _kind_spec(kind)
    if not isinstance(size, int) or isinstance(size, bool) or size < 8:
        raise BetaVAEError(f"image size must be an integer >= 8, got {size!r}; e.g. --size 64")
    source = _check_source(Path(source).expanduser(), spec)
    out_dir = Path(out_dir).expanduser()
    grey = spec.grayscale if grayscale is None else bool(grayscale)
    _check_memory_for_one_image(size, 1 if grey else 3)
    request = {"format": CACHE_FORMAT, "kind": spec.kind, "size": size, "channels": 1 if grey else 3,
               "crop_fraction": spec.crop_fraction, "resample": RESAMPLE, "source": str(source)}
    # one process writes the cache at a time; the temporary files of one killed midway are removed first
    with writing(out_dir / INDEX_FILE, *(out_dir / name for name in (IMAGES_FILE, ATTRIBUTES_FILE, GROUPS_FILE))):
        if not force and _cache_matches(out_dir, request):
            return out_dir
        _prepare(source, out_dir, spec, request, progress)
    return out_dir


def _check_memory_for_one_image(size: int, channels: int) -> None:
    """Refuse an image size whose decoding would not fit in memory: PIL resizes through 32-bit buffers, and the
    result is copied once into numpy (about 8 bytes per output value in all)."""
    from betavae.resources import check_memory

    check_memory(8 * channels * size * size, f"decoding one image at --size {size} ({size}×{size}×{channels})",
                 "choose a smaller --size (the networks take 64)")


def _prepare(source: Path, out_dir: Path, spec: KindSpec, request: dict, progress: bool) -> None:
    """Decode every image of ``source`` into the cache in ``out_dir``; index.json, written last, completes it."""
    size, grey = request["size"], request["channels"] == 1
    image_root = _image_root(source, spec)
    files = find_images(image_root)
    if not files:
        raise BetaVAEError(f"no images found under {image_root} (looked for {'/'.join(IMAGE_EXTENSIONS)}, "
                           f"any case, in all sub-folders); {spec.hint}")
    ensure_writable_dir(out_dir)
    (out_dir / INDEX_FILE).unlink(missing_ok=True)  # the cache is incomplete until index.json is back
    relative = [path.relative_to(source).as_posix() for path in files]
    ok, unreadable = _decode_to_npy(files, relative, out_dir / IMAGES_FILE, size, spec.crop_fraction, grey,
                                    progress, spec.kind)
    kept = [name for name, good in zip(relative, ok) if good]
    index = {"request": request, "kind": spec.kind, "size": size, "channels": request["channels"],
             "source": str(source), "image_root": image_root.relative_to(source).as_posix(),
             "num_images": len(kept), "files": kept,
             "counts": {"found": len(files), "decoded": len(kept), "unreadable": len(unreadable)},
             "unreadable": unreadable, "betavae_version": betavae.__version__}
    index.update(_write_attributes(out_dir, source, image_root, kept, spec))
    index.update(_write_groups(out_dir, image_root, [f for f, good in zip(files, ok) if good], spec))
    if unreadable:
        _warn(f"{len(unreadable)} of {len(files)} image files under {image_root} could not be decoded and were "
              f"skipped (listed in {out_dir / INDEX_FILE}); first: {unreadable[0]['file']} "
              f"({unreadable[0]['error']})")
    atomic_write_json(out_dir / INDEX_FILE, index)


def _kind_spec(kind: str) -> KindSpec:
    if kind not in KIND_SPECS:
        raise BetaVAEError(f"unknown image dataset kind {kind!r}; choose one of {', '.join(KINDS)}")
    return KIND_SPECS[kind]


def _check_source(source: Path, spec: KindSpec) -> Path:
    """The resolved source folder, or a one-line error naming what is wrong with it."""
    if not source.exists():
        raise BetaVAEError(f"folder {source} does not exist; {spec.hint}")
    if not source.is_dir():
        if source.name.lower().endswith(ARCHIVE_EXTENSIONS):
            raise BetaVAEError(f"{source} is an archive, not a folder; extract it first and point --from at "
                               f"the extracted folder")
        raise BetaVAEError(f"{source} is a file, not a folder; {spec.hint}")
    try:
        empty = next(source.iterdir(), None) is None
    except PermissionError:
        raise BetaVAEError(f"cannot read folder {source} (permission denied); fix its permissions") from None
    if empty:
        raise BetaVAEError(f"folder {source} is empty; {spec.hint}")
    return source.resolve()


def _image_root(source: Path, spec: KindSpec) -> Path:
    """The kind's usual sub-folder of ``source`` if present, else ``source`` itself."""
    return next((source / sub for sub in spec.image_dirs if (source / sub).is_dir()), source)


def find_images(root: Path) -> list[Path]:
    """Image files under ``root`` (recursive, hidden entries skipped), sorted by relative path."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [name for name in dirnames if not name.startswith(".")]
        found.extend(Path(dirpath, name) for name in filenames
                     if not name.startswith(".") and os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS)
    return sorted(found, key=lambda path: path.relative_to(root).as_posix())


def load_image(path: Path, size: int, crop_fraction: float = 1.0, grayscale: bool = False) -> np.ndarray:
    """One file → uint8 [C, size, size]: centre square crop (``crop_fraction`` of the shorter side), resize."""
    with Image.open(path) as image:
        image = _flatten_mode(ImageOps.exif_transpose(image), grayscale)
        width, height = image.size
        side = max(1, round(crop_fraction * min(width, height)))
        left, top = (width - side) // 2, (height - side) // 2
        image = image.crop((left, top, left + side, top + side))
        image = image.resize((size, size), Image.LANCZOS)
        pixels = np.asarray(image, dtype=np.uint8)
    return pixels[None] if grayscale else pixels.transpose(2, 0, 1)


def _flatten_mode(image: Image.Image, grayscale: bool) -> Image.Image:
    """Any PIL mode → 'L' or 'RGB': transparency onto white, 16-bit scaled to 8-bit."""
    target = "L" if grayscale else "RGB"
    if image.mode in _SIXTEEN_BIT_MODES:
        # PIL's own I;16 → L conversion clips at 255 instead of scaling the 0..65535 range.
        pixels = np.clip(np.asarray(image, dtype=np.float64) / 257.0, 0, 255).round().astype(np.uint8)
        return Image.fromarray(pixels).convert(target)
    if image.mode in ("RGBA", "RGBa", "LA", "La", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        image = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
    return image.convert(target)


def _decode_to_npy(files: list[Path], relative: list[str], path: Path, size: int, crop_fraction: float,
                   grayscale: bool, progress: bool, kind: str) -> tuple[list[bool], list[dict[str, str]]]:
    """Stream every file into ``path`` (atomically); returns which decoded and the unreadable ones."""
    shape = (len(files), 1 if grayscale else 3, size, size)
    tmp = _temp_path(path)
    try:
        images = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=shape)
        _reserve_space(tmp, path)
        ok, unreadable, count = [], [], 0
        for file, name in zip(progress_bar(files, desc=f"decoding {kind}", unit="img", disable=not progress), relative):
            try:
                images[count] = load_image(file, size, crop_fraction, grayscale)
            except Exception as exc:  # PIL raises many types on bad files; each one is recorded, never fatal
                unreadable.append({"file": name, "error": f"{type(exc).__name__}: {exc}"[:300]})
                ok.append(False)
                continue
            ok.append(True)
            count += 1
        if count == 0:
            raise BetaVAEError(f"none of the {len(files)} image files could be decoded (first: {unreadable[0]['file']}"
                               f": {unreadable[0]['error']}); check that they are images and not partial downloads")
        images.flush()
        del images  # unmapped before the file is copied, shrunk or renamed
        if count < len(files):
            _keep_first_rows(tmp, count)
        _fsync_file(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return ok, unreadable


def _temp_path(path: Path) -> Path:
    fd, name = temp_file_beside(path)
    os.close(fd)
    return Path(name)


def _keep_first_rows(path: Path, count: int) -> None:
    """Rewrite the .npy at ``path`` with only its first ``count`` rows (the rows of unreadable files are unused)."""
    small_tmp = _temp_path(path)
    try:
        images = np.load(path, mmap_mode="r")
        small = np.lib.format.open_memmap(small_tmp, mode="w+", dtype=np.uint8, shape=(count, *images.shape[1:]))
        _reserve_space(small_tmp, path)
        for start in range(0, count, _COPY_CHUNK):
            small[start:start + _COPY_CHUNK] = images[start:min(start + _COPY_CHUNK, count)]
        small.flush()
        del images, small
        os.replace(small_tmp, path)
    except BaseException:
        small_tmp.unlink(missing_ok=True)
        raise


def _reserve_space(tmp: Path, target: Path) -> None:
    """Claim the disk space of the memory-mapped file ``tmp`` (to become ``target``) now: a full disk then fails here,
    before any decoding, with one error naming the space needed, rather than with a SIGBUS on a write to the map."""
    size = tmp.stat().st_size
    fd = os.open(tmp, os.O_RDWR)
    try:
        os.posix_fallocate(fd, 0, size)
    except OSError as error:
        if is_disk_full(error):
            raise disk_full(target, size) from None
        # a filesystem that cannot reserve space (EINVAL, EOPNOTSUPP): the writes find out instead
    finally:
        os.close(fd)


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


# ---------------------------------------------------------------------------------------- labels

def read_celeba_attributes(path: Path) -> tuple[list[str], dict[str, np.ndarray]]:
    """CelebA's attribute file (.txt: count, names, rows; or the .csv variant) → names, {file stem: int8 0/1}."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise BetaVAEError(f"cannot read attribute file {path} ({exc}); fix or remove it") from None
    if path.suffix.lower() == ".csv":
        rows = [row for row in csv.reader(text.splitlines()) if row]
        names, body, first_line = rows[0][1:] if rows else [], rows[1:], 2
    else:
        lines = [line.split() for line in text.splitlines()]
        names, body, first_line = (lines[1] if len(lines) > 1 else []), lines[2:], 3
    if not names:
        raise BetaVAEError(f"attribute file {path} has no attribute names; expected CelebA's list_attr_celeba "
                           f"format (count, names, then one row per image); fix or remove it")
    table = {}
    for number, row in enumerate(body, start=first_line):
        if not row:
            continue
        values = row[1:]
        if len(values) != len(names) or any(value not in ("1", "-1", "0") for value in values):
            raise BetaVAEError(f"{path} line {number}: expected a file name and {len(names)} values of 1/-1; "
                               f"fix or remove the file")
        table[Path(row[0]).stem] = (np.asarray(values, dtype=np.int8) > 0).astype(np.int8)
    return names, table


def find_attribute_file(source: Path, image_root: Path) -> Path | None:
    """CelebA's attribute file next to or inside the given folder (also its ``Anno/``), if any."""
    folders = [source, source / "Anno", image_root, image_root.parent, image_root.parent / "Anno"]
    for folder in dict.fromkeys(folders):
        for name in CELEBA_ATTRIBUTE_FILES:
            if (folder / name).is_file():
                return folder / name
    return None


def _write_attributes(out_dir: Path, source: Path, image_root: Path, files: list[str], spec: KindSpec) -> dict:
    """attributes.npy for the kept images (CelebA with an attribute file); the index entries describing it."""
    (out_dir / ATTRIBUTES_FILE).unlink(missing_ok=True)
    attribute_file = find_attribute_file(source, image_root) if spec.attributes else None
    if attribute_file is None:
        return {"attribute_names": None, "attribute_file": None}
    names, table = read_celeba_attributes(attribute_file)
    missing = np.full(len(names), -1, dtype=np.int8)
    rows = [table.get(PurePosixPath(name).stem, missing) for name in files]
    unlisted = sum(row is missing for row in rows)
    if unlisted == len(files):
        _warn(f"none of the images is listed in {attribute_file}; attributes were not kept")
        return {"attribute_names": None, "attribute_file": None}
    if unlisted:
        _warn(f"{unlisted} of {len(files)} images are not listed in {attribute_file}; their attributes are -1")
    attributes = np.stack(rows).astype(np.int8)
    atomic_write(out_dir / ATTRIBUTES_FILE, lambda handle: np.save(handle, attributes))
    return {"attribute_names": names, "attribute_file": str(attribute_file), "attributes_unlisted": unlisted}


def _write_groups(out_dir: Path, image_root: Path, files: list[Path], spec: KindSpec) -> dict:
    """groups.npy (e.g. chair id per image) for kinds that keep one; the index entries describing it."""
    (out_dir / GROUPS_FILE).unlink(missing_ok=True)
    if spec.group_of is None:
        return {"group_label": None, "group_names": None}
    labels = [spec.group_of(PurePosixPath(path.relative_to(image_root).as_posix())) for path in files]
    names = sorted(set(labels))
    row_of = {name: row for row, name in enumerate(names)}
    groups = np.asarray([row_of[label] for label in labels], dtype=np.int32)
    atomic_write(out_dir / GROUPS_FILE, lambda handle: np.save(handle, groups))
    return {"group_label": spec.group_label, "group_names": names}


# ---------------------------------------------------------------------------------------- loading

def _rebuild_hint(out_dir: Path, index: dict | None = None) -> str:
    kind = (index or {}).get("kind") or "|".join(KINDS)
    source = (index or {}).get("source") or "PATH"
    return f"betavae data {kind} --from {source} --out {out_dir}"


def _open_cache(out_dir: Path) -> tuple[dict, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """index, images (memory-mapped), attributes, groups of a complete cache; else a one-line error."""
    index_path = out_dir / INDEX_FILE
    if not index_path.is_file():
        state = "is incomplete (interrupted?)" if (out_dir / IMAGES_FILE).exists() else "has no prepared images"
        raise BetaVAEError(f"{out_dir} {state}: {INDEX_FILE} is missing; run `{_rebuild_hint(out_dir)}` first")
    try:
        index = json.loads(index_path.read_text())
        num, channels, size = int(index["num_images"]), int(index["channels"]), int(index["size"])
        if index.get("request", {}).get("format") != CACHE_FORMAT or len(index["files"]) != num:
            raise ValueError("unknown format version or file list of the wrong length")
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise BetaVAEError(f"image cache {index_path} is corrupt or from another betavae version ({exc}); "
                           f"rebuild it with `{_rebuild_hint(out_dir)} --force`") from None
    images = _load_npy(out_dir / IMAGES_FILE, (num, channels, size, size), np.uint8, out_dir, index, mmap=True)
    attributes = groups = None
    if index.get("attribute_names"):
        attributes = _load_npy(out_dir / ATTRIBUTES_FILE, (num, len(index["attribute_names"])), np.int8,
                               out_dir, index)
    if index.get("group_names"):
        groups = _load_npy(out_dir / GROUPS_FILE, (num,), np.int32, out_dir, index)
        if num and not 0 <= groups.min() <= groups.max() < len(index["group_names"]):
            raise BetaVAEError(f"{out_dir / GROUPS_FILE} does not match {INDEX_FILE}; rebuild it with "
                               f"`{_rebuild_hint(out_dir, index)} --force`")
    return index, images, attributes, groups


def _load_npy(path: Path, shape: tuple[int, ...], dtype: type, out_dir: Path, index: dict,
              mmap: bool = False) -> np.ndarray:
    """A cache array with the expected shape and dtype, or a one-line error."""
    try:
        array = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise BetaVAEError(f"cannot read {path} ({exc}); rebuild the cache with "
                           f"`{_rebuild_hint(out_dir, index)} --force`") from None
    if array.shape != shape or array.dtype != dtype:
        raise BetaVAEError(f"{path} holds {array.dtype}{list(array.shape)} but {INDEX_FILE} says "
                           f"{np.dtype(dtype)}{list(shape)}; rebuild the cache with "
                           f"`{_rebuild_hint(out_dir, index)} --force`")
    return array


def _cache_matches(out_dir: Path, request: dict) -> bool:
    """A complete, readable cache in ``out_dir`` made for exactly this request."""
    try:
        index, *_ = _open_cache(out_dir)
    except BetaVAEError:
        return False
    return index.get("request") == request


class FolderImages(ImageDataset):
    """A prepared image folder (see ``prepare_images``): uint8 [n, C, size, size], memory-mapped."""

    def __init__(self, out_dir: Path, index: dict, images: np.ndarray, attributes: np.ndarray | None = None,
                 groups: np.ndarray | None = None):
        self.out_dir = out_dir
        self.index = index
        self.name = index["kind"]
        self.source = Path(index["source"])
        self.num_images = int(index["num_images"])
        self.image_shape = (int(index["channels"]), int(index["size"]), int(index["size"]))
        self.file_names: list[str] = list(index["files"])
        self.attributes = attributes  # int8 [n, A]: 1 yes, 0 no, -1 not listed
        self.attribute_names: list[str] | None = index.get("attribute_names")
        self.groups = groups  # int32 [n]: row in group_names (e.g. the chair of each image)
        self.group_names: list[str] | None = index.get("group_names")
        self.group_label: str | None = index.get("group_label")
        self._images = images

    @classmethod
    def load(cls, out_dir: str | Path) -> FolderImages:
        """Open the cache that ``prepare_images`` wrote in ``out_dir`` (validated)."""
        out_dir = Path(out_dir).expanduser()
        return cls(out_dir, *_open_cache(out_dir))

    def images(self, indices: np.ndarray) -> np.ndarray:
        return np.asarray(self._images[check_indices(indices, self.num_images)])

    def describe(self) -> dict:
        return {**super().describe(), "source": str(self.source), "cache": str(self.out_dir),
                "attribute_names": self.attribute_names, "group_label": self.group_label}
