"""Color-, Noisy- and Scream-dSprites (Locatello et al. 2019, "Challenging Common Assumptions in the
Unsupervised Learning of Disentangled Representations", ICML, App.; disentanglement_lib's ``dsprites.py``).

dSprites' 737,280 sprites (Matthey et al. 2017; generated here, or DeepMind's file) in RGB, with dSprites' five
factors. What is added to each image is random, and not a factor:

* **color-dsprites**: the sprite in a colour drawn U(0.5, 1) per channel, on black;
* **noisy-dsprites**: U(0, 1) noise per pixel and channel added to the white sprite on black, clipped at 1;
* **scream-dsprites**: a random 64×64 crop of Munch's *The Scream* (the user's image, shrunk to fit 350×274 as
  disentanglement_lib does), averaged with a colour drawn U(0, 1) per channel; under the sprite the crop is
  inverted (1 − x).

Where betavae differs from disentanglement_lib, and why: there, the colour, noise or crop is drawn afresh every
time an image is asked for; here it is a fixed function of the image's index (its own generator, seed 0), so
``images(i)`` is the same on every call: a dataset of 737,280 fixed images, which is what the ground-truth
contract and the per-index code cache of the metrics assume. Values are rounded to uint8 (0..255), as every
other image here. As on dSprites, the paper's metric scores scale, orientation and the positions (shape is
never a label, §4); every later metric scores all five factors.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import betavae
from betavae.data import dsprites
from betavae.data.dsprites import DSprites
from betavae.data.ground_truth import BatchImageStore, GroundTruthData, ImageStore, check_indices
from betavae.data.official import default_cache_dir
from betavae.errors import BetaVAEError
from betavae.io import atomic_write, atomic_write_json, ensure_writable_dir

SEED = 0
SCREAM_BOX = (350, 274)  # disentanglement_lib's thumbnail((350, 274)): width, height at most
PAINTING_FILE, PAINTING_INFO = "painting.npy", "painting.json"


def uniform(indices: np.ndarray, stream: int, count: int, seed: int = SEED, dtype: type = np.float64) -> np.ndarray:
    """[n, count] in [0, 1): each image's numbers from its own generator, seeded by (seed, stream, index), so they
    depend on the image and on nothing else (not on the batch it is asked in)."""
    rows = [np.random.default_rng((seed, stream, int(index))).random(count, dtype=dtype) for index in indices]
    return np.stack(rows) if rows else np.zeros((0, count), dtype=dtype)


def _uint8(images: np.ndarray) -> np.ndarray:
    return np.rint(images * images.dtype.type(255)).astype(np.uint8)


class PaintedDSprites(GroundTruthData):
    """dSprites in RGB: each image's sprite mask painted by ``paint`` (a fixed function of the image index)."""

    factor_names = DSprites.factor_names
    factor_sizes = DSprites.factor_sizes
    class_names = DSprites.class_names
    image_shape = (3, dsprites.IMAGE_SIZE, dsprites.IMAGE_SIZE)
    metric_factor_names = ("scale", "orientation", "pos_x", "pos_y")  # §4: shape varies but is never a label

    def __init__(self, sprites: DSprites):
        self.sprites = sprites

    def paint(self, indices: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """float[n, 3, 64, 64] in [0, 1] for the sprites' masks bool[n, 64, 64]."""
        raise NotImplementedError

    def images(self, indices: np.ndarray) -> np.ndarray:
        indices = check_indices(indices, self.num_images)
        return _uint8(self.paint(indices, self.sprites.images(indices)[:, 0] > 0))

    def image_store(self, device: torch.device) -> ImageStore:
        return BatchImageStore(self, device)  # painted per batch from the bit-packed sprites, never all at once

    def factor_values(self, name: str) -> np.ndarray:
        return self.sprites.factor_values(name)

    def describe(self) -> dict:
        return {**super().describe(), "sprites": self.sprites.source, "seed": SEED}


class ColorDSprites(PaintedDSprites):
    name = "color-dsprites"

    def paint(self, indices: np.ndarray, mask: np.ndarray) -> np.ndarray:
        colour = 0.5 + 0.5 * uniform(indices, 0, 3)  # U(0.5, 1) per channel
        return mask[:, None] * colour[:, :, None, None]


class NoisyDSprites(PaintedDSprites):
    name = "noisy-dsprites"

    def paint(self, indices: np.ndarray, mask: np.ndarray) -> np.ndarray:
        noise = uniform(indices, 1, 3 * mask[0].size, dtype=np.float32).reshape(len(indices), 3, *mask.shape[1:])
        return np.minimum(noise + mask[:, None], np.float32(1.0))  # float32: 12,288 numbers an image


class ScreamDSprites(PaintedDSprites):
    name = "scream-dsprites"

    def __init__(self, sprites: DSprites, painting: np.ndarray, painting_sha256: str):
        super().__init__(sprites)
        self.painting = painting.astype(np.float64) / 255.0  # [H, W, 3]
        self.painting_sha256 = painting_sha256

    def paint(self, indices: np.ndarray, mask: np.ndarray) -> np.ndarray:
        draws = uniform(indices, 2, 5)
        height, width, _ = self.painting.shape
        size = mask.shape[1]
        top = (draws[:, 0] * (height - size + 1)).astype(np.int64)
        left = (draws[:, 1] * (width - size + 1)).astype(np.int64)
        span = np.arange(size)
        crops = self.painting[top[:, None, None] + span[None, :, None], left[:, None, None] + span[None, None, :]]
        background = (crops.transpose(0, 3, 1, 2) + draws[:, 2:, None, None]) / 2.0
        return np.where(mask[:, None], 1.0 - background, background)

    def describe(self) -> dict:
        return {**super().describe(), "painting_sha256": self.painting_sha256}


# --- registry entries ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DSpritesVariant:
    """How `betavae data` and `--dataset` reach a variant: color and noisy need only dSprites (``path``: DeepMind's
    official .npz, as for dsprites); scream also needs the painting, prepared once (``path``: that cache)."""

    name: str
    title: str
    bring: str
    painted: type[PaintedDSprites]
    image_shape: tuple[int, int, int] = PaintedDSprites.image_shape

    def prepare(self, source: str | Path | None, out_dir: str | Path | None = None, *, force: bool = False,
                progress: bool = True) -> Path:
        if self.painted is ScreamDSprites:
            return prepare_painting(source, out_dir, force=force)
        return dsprites.ensure_dsprites(out_dir, source, progress=progress, force=force, verify=True)

    def load(self, path: str | Path | None = None, progress: bool = True) -> PaintedDSprites:
        if self.painted is ScreamDSprites:
            painting, sha256 = load_painting(path)
            return ScreamDSprites(dsprites.load(progress=progress), painting, sha256)
        return self.painted(dsprites.load(source=path, progress=progress))


def prepare_painting(source: str | Path | None, out_dir: str | Path | None = None, force: bool = False) -> Path:
    """The Scream image at ``source``, shrunk to fit 350×274 (Lanczos), as uint8 [H, W, 3] in ``out_dir``."""
    if source is None:
        raise BetaVAEError(f"`betavae data scream-dsprites` needs --from IMAGE: {SCREAM.bring}")
    path = Path(source).expanduser()
    out = Path(out_dir).expanduser() if out_dir is not None else default_cache_dir(SCREAM.name)
    try:
        stored = json.loads((out / PAINTING_INFO).read_text())
        if not force and stored.get("source") == str(path.resolve()):
            return out
    except (OSError, ValueError, AttributeError):
        pass
    try:
        with Image.open(path) as image:
            image = image.convert("RGB")
            image.thumbnail(SCREAM_BOX, Image.LANCZOS)
            painting = np.asarray(image, dtype=np.uint8)
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise BetaVAEError(f"cannot read {path} as an image ({exc}); {SCREAM.bring}") from None
    if min(painting.shape[:2]) < dsprites.IMAGE_SIZE:
        raise BetaVAEError(f"{path} is {painting.shape[1]}×{painting.shape[0]} pixels once shrunk to fit "
                           f"{SCREAM_BOX[0]}×{SCREAM_BOX[1]}; a 64×64 crop needs both sides >= 64: {SCREAM.bring}")
    ensure_writable_dir(out)
    (out / PAINTING_INFO).unlink(missing_ok=True)
    atomic_write(out / PAINTING_FILE, lambda handle: np.save(handle, painting, allow_pickle=False))
    atomic_write_json(out / PAINTING_INFO, {"source": str(path.resolve()), "shape": list(painting.shape),
                                            "sha256": hashlib.sha256(painting.tobytes()).hexdigest(),
                                            "betavae_version": betavae.__version__})
    return out


def load_painting(path: str | Path | None = None) -> tuple[np.ndarray, str]:
    """The prepared painting (uint8 [H, W, 3]) and its SHA-256, validated; else a one-line error."""
    out = Path(path).expanduser() if path is not None else default_cache_dir(SCREAM.name)
    try:
        info = json.loads((out / PAINTING_INFO).read_text())
        painting = np.load(out / PAINTING_FILE, allow_pickle=False)
        good = (painting.dtype == np.uint8 and painting.ndim == 3 and painting.shape[2] == 3
                and min(painting.shape[:2]) >= dsprites.IMAGE_SIZE
                and hashlib.sha256(painting.tobytes()).hexdigest() == info["sha256"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        good = False
    if not good:
        raise BetaVAEError(f"no prepared Scream painting in {out}; run `betavae data scream-dsprites --from "
                           f"YOUR_SCREAM_IMAGE{'' if path is None else f' --out {out}'}` first")
    return painting, info["sha256"]


COLOR = DSpritesVariant("color-dsprites", "Color-dSprites (Locatello et al. 2019)",
                        "nothing: dSprites is generated here (or --source DeepMind's official .npz)", ColorDSprites)
NOISY = DSpritesVariant("noisy-dsprites", "Noisy-dSprites (Locatello et al. 2019)",
                        "nothing: dSprites is generated here (or --source DeepMind's official .npz)", NoisyDSprites)
SCREAM = DSpritesVariant("scream-dsprites", "Scream-dSprites (Locatello et al. 2019)",
                         "point --from at an image of Munch's The Scream (e.g. Wikimedia's The_Scream.jpg)",
                         ScreamDSprites)
