"""The representation contract: ``encode(images uint8[n, C, H, W]) -> float[n, d]``, batched, no gradients.

A trained β-VAE (its posterior mean μ(x), as the paper uses), raw pixels, PCA, ICA, InfoGAN's
recognition head, DC-IGN and the ground-truth factors themselves are all representations;
metrics see nothing else. :class:`CodeCache` encodes each image of a finite dataset at most once.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Protocol, runtime_checkable

import numpy as np
import torch

from betavae.data.ground_truth import GroundTruthData, ImageDataset, check_indices
from betavae.errors import BetaVAEError
from betavae.progress import progress_bar


@runtime_checkable
class Representation(Protocol):
    name: str

    def encode(self, images: np.ndarray) -> np.ndarray:
        """float[n, d] codes for uint8[n, C, H, W] images in 0..255."""
        ...


class FunctionRepresentation:
    """Wrap a plain function ``images -> codes`` (applied in batches) as a representation."""

    def __init__(self, name: str, function: Callable[[np.ndarray], np.ndarray], batch_size: int = 4096):
        self.name = name
        self.function = function
        self.batch_size = batch_size

    def encode(self, images: np.ndarray) -> np.ndarray:
        chunks = [np.asarray(self.function(images[start:start + self.batch_size]), dtype=np.float32)
                  for start in range(0, len(images), self.batch_size)]
        return np.concatenate(chunks) if chunks else np.zeros((0, 0), np.float32)


class ModelRepresentation:
    """Any torch module with ``encode_mean(x float[b, C, H, W] in [0, 1]) -> float[b, d]`` (e.g. μ(x) of a β-VAE)."""

    def __init__(self, name: str, model: torch.nn.Module, device: torch.device | str = "cpu",
                 batch_size: int = 2048):
        if not callable(getattr(model, "encode_mean", None)):
            raise BetaVAEError(f"{type(model).__name__} has no encode_mean method; a model representation needs "
                               "encode_mean(x: float[b, C, H, W] in [0, 1]) -> float[b, d] (a β-VAE's μ(x)): add "
                               "one to the module, or give any object with encode(images uint8[n, C, H, W])")
        self.name = name
        self.info: dict = {}  # e.g. the run directory and step it was loaded from
        self.model = model
        self.device = torch.device(device)
        self.batch_size = batch_size

    @torch.no_grad()
    def encode(self, images: np.ndarray) -> np.ndarray:
        was_training = self.model.training
        self.model.eval()
        codes = []
        for start in range(0, len(images), self.batch_size):
            batch = torch.from_numpy(np.ascontiguousarray(images[start:start + self.batch_size]))
            batch = batch.to(self.device).float().div_(255.0)
            codes.append(self.model.encode_mean(batch).float().cpu().numpy())
        self.model.train(was_training)
        return np.concatenate(codes) if codes else np.zeros((0, 0), np.float32)


class GroundTruthRepresentation:
    """The true factor classes of each image (the first row of the paper's Fig. 6 table).

    Metrics read it by index through :meth:`codes_for_indices` (via :class:`CodeCache`) and never render.
    ``encode`` is defined only for images of ``data`` itself: it looks each image up by its pixels' hash
    (a table built once over the whole dataset, on first use). An image that occurs twice in the grid
    (e.g. a dSprites square rotated by 90°) maps to the lowest index holding it.

    ``one_hot`` codes each factor's class as a one-hot block instead of one integer: the paper's metric
    scores 100% either way, but only one-hot lets a *linear* classifier read every class (Table 2's upper
    bound; a softmax cannot carve 32 ordered positions out of one scalar). :meth:`compact` is the same factors
    coded as one class index each: the form the metrics that look for each factor in one code dimension read
    (MIG, SAP, DCI, modularity; see ``Metric.compact``).
    """

    name = "ground-truth"

    def __init__(self, data: GroundTruthData, batch_size: int = 4096, one_hot: bool = False):
        self.data = data
        self.batch_size = batch_size
        self.one_hot = one_hot
        self.info = {"coding": "one-hot" if one_hot else "class index"}
        self._index_of_hash: dict[bytes, int] | None = None

    def compact(self) -> GroundTruthRepresentation:
        """One code dimension per factor, its class index."""
        return GroundTruthRepresentation(self.data, self.batch_size, one_hot=False) if self.one_hot else self

    def codes_for_indices(self, indices: np.ndarray) -> np.ndarray:
        factors = self.data.factors(indices)[:, self.data.true_factors]  # a nuisance is no factor of variation
        if not self.one_hot:
            return factors.astype(np.float32)
        return np.concatenate([np.eye(size, dtype=np.float32)[factors[:, k]]
                               for k, size in enumerate(self.data.true_factor_sizes)], axis=1)

    def encode(self, images: np.ndarray) -> np.ndarray:
        if self._index_of_hash is None:
            self._index_of_hash = {}
            for start in range(0, self.data.num_images, self.batch_size):
                batch = self.data.images(np.arange(start, min(start + self.batch_size, self.data.num_images)))
                for offset, image in enumerate(batch):
                    self._index_of_hash.setdefault(_image_hash(image), start + offset)
        try:
            indices = np.array([self._index_of_hash[_image_hash(image)] for image in images], dtype=np.int64)
        except KeyError:
            raise BetaVAEError(f"an image is not part of {self.data.name}; the ground-truth representation "
                               "only encodes that dataset's own images") from None
        return self.codes_for_indices(indices)


def _image_hash(image: np.ndarray) -> bytes:
    return hashlib.blake2b(np.ascontiguousarray(image).tobytes(), digest_size=16).digest()


class ConstantRepresentation:
    """Every image maps to the same code: a metric's floor (chance level)."""

    name = "constant"

    def __init__(self, dim: int = 10):
        self.dim = dim

    def encode(self, images: np.ndarray) -> np.ndarray:
        return np.zeros((len(images), self.dim), dtype=np.float32)


class CodeCache:
    """Codes of a representation on a finite dataset, each image encoded at most once (``codes[index]``).

    Every metric, classifier seed and Table 2 reads from one cache, so a whole evaluation costs at most one
    encoder pass over the dataset. A representation with ``codes_for_indices(indices)`` (the ground truth)
    is served from that directly and never renders an image. Codes are stored as float32, only for the
    images asked for: a dense ``index -> row`` table plus a code buffer that grows geometrically.

    A representation that is cheaper to recompute than to store (raw pixels: 4096 floats per dSprites image,
    11 GB for the ~680k images a full evaluation touches) sets ``cache_codes = False``; its codes are then
    computed on every request and ``images_encoded`` counts every image passed to ``encode``.
    """

    def __init__(self, representation: Representation, data: ImageDataset, batch_size: int = 2048,
                 progress: bool = False):
        if batch_size < 1:
            raise BetaVAEError(f"encode batch size must be >= 1, got {batch_size}")
        self.representation = representation
        self.data = data
        self.batch_size = batch_size
        self.progress = progress
        self.images_encoded = 0  # unique images passed through representation.encode
        self.encode_seconds = 0.0  # rendering + encoding
        self._by_index = getattr(representation, "codes_for_indices", None)
        self._stores = bool(getattr(representation, "cache_codes", True))
        self._row = np.full(data.num_images, -1, dtype=np.int64)
        self._codes = np.zeros((0, 0), dtype=np.float32)
        self._used = 0

    def ensure(self, indices: np.ndarray) -> None:
        """Encode the images among ``indices`` that are not cached yet (unique, sorted, in batches)."""
        indices = check_indices(np.asarray(indices).ravel(), self.data.num_images)
        if self._by_index is not None or not self._stores:
            return
        missing = np.unique(indices)
        missing = missing[self._row[missing] < 0]
        if missing.size == 0:
            return
        start_time = time.perf_counter()
        with progress_bar(total=missing.size, unit="img", desc=f"encode {self.representation.name}",
                          disable=not self.progress, leave=False) as bar:
            for start in range(0, missing.size, self.batch_size):
                batch = missing[start:start + self.batch_size]
                self._store(batch, self._encode(batch))
                bar.update(len(batch))
        self.images_encoded += int(missing.size)
        self.encode_seconds += time.perf_counter() - start_time

    def codes(self, indices: np.ndarray) -> np.ndarray:
        """float32[*indices.shape, d]: the codes of ``indices`` (encodes the missing ones first)."""
        indices = np.asarray(indices, dtype=np.int64)
        if self._by_index is not None:
            flat = check_indices(indices.ravel(), self.data.num_images)
            codes = np.asarray(self._by_index(flat), dtype=np.float32)
            return codes.reshape(*indices.shape, codes.shape[-1])
        if not self._stores:
            return self._encode_uncached(indices)
        self.ensure(indices)
        return self._codes[self._row[indices]]

    def encode_all(self) -> np.ndarray:
        """Codes of the whole dataset in index order (for small datasets)."""
        return self.codes(np.arange(self.data.num_images))

    def _encode_uncached(self, indices: np.ndarray) -> np.ndarray:
        flat = check_indices(indices.ravel(), self.data.num_images)
        start_time = time.perf_counter()
        codes = [self._encode(flat[start:start + self.batch_size]) for start in range(0, flat.size, self.batch_size)]
        self.images_encoded += int(flat.size)
        self.encode_seconds += time.perf_counter() - start_time
        # one batch (a metric's chunk of pairs): its codes as they are, not copied once more (raw pixels: 32 MB)
        return (codes[0] if len(codes) == 1 else np.concatenate(codes)).reshape(*indices.shape, -1)

    def _encode(self, indices: np.ndarray) -> np.ndarray:
        codes = np.asarray(self.representation.encode(self.data.images(indices)), dtype=np.float32)
        if codes.ndim != 2 or len(codes) != len(indices):
            raise BetaVAEError(f"representation {self.representation.name!r} returned codes of shape "
                               f"{list(codes.shape)} for {len(indices)} images; encode must return [n, d]")
        if self._used and codes.shape[1] != self._codes.shape[1]:
            raise BetaVAEError(f"representation {self.representation.name!r} changed its code size from "
                               f"{self._codes.shape[1]} to {codes.shape[1]}; codes must have one fixed size")
        return codes

    def _store(self, indices: np.ndarray, codes: np.ndarray) -> None:
        end = self._used + len(codes)
        if end > len(self._codes):
            capacity = min(self.data.num_images, max(2 * len(self._codes), end))
            grown = np.zeros((capacity, codes.shape[1]), dtype=np.float32)
            if self._used:
                grown[:self._used] = self._codes[:self._used]
            self._codes = grown
        self._codes[self._used:end] = codes
        self._row[indices] = np.arange(self._used, end)
        self._used = end


def cache_for(representation: Representation, data: ImageDataset, cache: CodeCache | None) -> CodeCache:
    """``cache`` if it serves this representation on this dataset, else a new one."""
    if cache is None:
        return CodeCache(representation, data)
    if cache.representation is not representation or cache.data is not data:
        raise BetaVAEError("the code cache passed in belongs to another representation or dataset")
    return cache
