"""The linear baselines of App. A.3, scikit-learn style: raw pixels, PCA and ICA (``fit`` / ``transform``).

Each is also a representation: ``encode`` is ``transform`` and ``info`` records how it was fitted. Pixels are
taken in [0, 1] (uint8 / 255), the scale the networks see.

"Whitened pixels" (A.3) is read as PCA whitening: project the centred pixels on the top components and scale each
projection to unit variance (``PCA(whiten=True)``). Whitening changes the scale of the codes, not the subspace,
so both PCA variants explain the same variance: on dSprites the top 10 components explain 60.8% of it, the
figure the paper states. Per-pixel standardisation before PCA (the other reading) explains 37-40%, and full
(ZCA) whitening before PCA would leave every direction with the same variance, so neither fits the paper.
FastICA (A.3) runs on the same whitened top components, as scikit-learn's FastICA would whiten internally.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.decomposition import PCA, FastICA
from sklearn.exceptions import ConvergenceWarning

from betavae.errors import BetaVAEError


def pixels(images: np.ndarray) -> np.ndarray:
    """float32[n, C·H·W] in [0, 1] for uint8[n, C, H, W] images."""
    images = np.asarray(images)
    values = images.reshape(len(images), -1).astype(np.float32)
    values /= 255.0  # in place: the same float32 quotients as ``/ 255.0``, without a second array
    return values


class PixelBaseline:
    """Shared plumbing: ``fit_transform`` and the representation contract (``encode`` = ``transform``)."""

    name: str
    info: dict

    def fit(self, images: np.ndarray) -> PixelBaseline:
        raise NotImplementedError

    def transform(self, images: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def fit_transform(self, images: np.ndarray) -> np.ndarray:
        return self.fit(images).transform(images)

    def encode(self, images: np.ndarray) -> np.ndarray:
        return self.transform(images)

    def _check_fitted(self, attribute: str) -> None:
        if not hasattr(self, attribute):
            raise BetaVAEError(f"{self.name} is not fitted yet; call fit(images) first")


class RawPixels(PixelBaseline):
    """App. A.3: the pixel values themselves (4,096 for dSprites) as the code."""

    name = "raw-pixels"
    cache_codes = False  # 4,096 floats an image: cheaper to recompute than to hold ~11 GB for a full evaluation

    def __init__(self):
        self.info: dict = {}

    def fit(self, images: np.ndarray | None = None) -> RawPixels:
        """Nothing to learn."""
        return self

    def transform(self, images: np.ndarray) -> np.ndarray:
        return pixels(images)


class PixelPCA(PixelBaseline):
    """App. A.3: the top principal components of the pixels; ``whiten`` scales each to unit variance."""

    def __init__(self, n_components: int = 10, whiten: bool = True, seed: int = 0):
        self.n_components, self.whiten, self.seed = n_components, whiten, seed
        self.name = "pca" if whiten else "pca-raw"
        self.info: dict = {}

    def fit(self, images: np.ndarray) -> PixelPCA:
        x = pixels(images)
        if not 1 <= self.n_components <= min(x.shape):
            raise BetaVAEError(f"PCA with {self.n_components} components needs at least that many images and "
                               f"pixels; the fit sample is {x.shape[0]} images of {x.shape[1]} pixels")
        self.pca_ = PCA(self.n_components, whiten=self.whiten, svd_solver="randomized",
                        random_state=self.seed).fit(x)
        ratios = self.pca_.explained_variance_ratio_
        self.info = {"fit_size": len(x), "n_components": self.n_components, "whiten": self.whiten, "seed": self.seed,
                     "explained_variance_ratio": float(ratios.sum()),
                     "explained_variance_ratio_per_component": [float(r) for r in ratios]}
        return self

    def transform(self, images: np.ndarray) -> np.ndarray:
        self._check_fitted("pca_")
        return self.pca_.transform(pixels(images)).astype(np.float32)

    @property
    def components_(self) -> np.ndarray:
        """float[k, C·H·W]: orthonormal principal axes."""
        self._check_fitted("pca_")
        return self.pca_.components_


class PixelICA(PixelBaseline):
    """App. A.3: FastICA on whitened pixels: the unmixing rotation of the top whitened principal components.

    A non-converged fit is kept but recorded: ``info["converged"]`` is False and ``info["warnings"]`` holds
    scikit-learn's ConvergenceWarning.
    """

    name = "ica"

    def __init__(self, n_components: int = 10, seed: int = 0, max_iter: int = 1000, tol: float = 1e-4):
        self.n_components, self.seed, self.max_iter, self.tol = n_components, seed, max_iter, tol
        self.info: dict = {}

    def fit(self, images: np.ndarray) -> PixelICA:
        self.whitening_ = PixelPCA(self.n_components, whiten=True, seed=self.seed).fit(images)
        # float64: in float32 the fixed-point iteration on dSprites stalls above the tolerance
        whitened = self.whitening_.transform(images).astype(np.float64)
        self.ica_ = FastICA(whiten=False, max_iter=self.max_iter, tol=self.tol, random_state=self.seed)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            self.ica_.fit(whitened)
        problems = [str(w.message) for w in caught if issubclass(w.category, ConvergenceWarning)]
        for w in caught:  # anything else is not ours to swallow
            if not issubclass(w.category, ConvergenceWarning):
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        self.info = {"fit_size": len(images), "n_components": self.n_components, "seed": self.seed,
                     "max_iter": self.max_iter, "tol": self.tol, "n_iter": int(self.ica_.n_iter_),
                     "converged": not problems, "warnings": problems,
                     "explained_variance_ratio": self.whitening_.info["explained_variance_ratio"]}
        return self

    def transform(self, images: np.ndarray) -> np.ndarray:
        self._check_fitted("ica_")
        return self.ica_.transform(self.whitening_.transform(images).astype(np.float64)).astype(np.float32)

    @property
    def unmixing_(self) -> np.ndarray:
        """float[k, k]: FastICA's unmixing matrix on the whitened components."""
        self._check_fitted("ica_")
        return self.ica_.components_

    @property
    def components_(self) -> np.ndarray:
        """float[k, C·H·W]: the whole linear map from centred pixels to independent components."""
        pca = self.whitening_.pca_
        return self.unmixing_ @ (pca.components_ / np.sqrt(pca.explained_variance_)[:, None])
