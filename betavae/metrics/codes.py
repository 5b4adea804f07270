"""What the later metrics share: codes of random images, histogram discretisation, discrete mutual information.

Images are drawn with replacement, each factor uniform over its classes, as disentanglement_lib's
``generate_batch_factor_code``; labels are the factors' class indices. Codes are read from the evaluation's
:class:`CodeCache`, so these draws cost no encoder pass of their own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from betavae.data.ground_truth import GroundTruthData, ImageDataset
    from betavae.representations import CodeCache


def sample_codes(cache: CodeCache, data: GroundTruthData, num_points: int,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """float64[n, d] codes and int64[n, K] classes of the true factors (nuisances left out) of ``num_points`` images
    drawn uniformly."""
    indices = data.index(data.sample_factors(num_points, rng))
    return cache.codes(indices).astype(np.float64), data.factors(indices)[:, data.true_factors]


def sample_images(data: ImageDataset, num_points: int, rng: np.random.Generator) -> np.ndarray:
    """int64[n] indices of ``num_points`` images drawn uniformly with replacement: through the factors on a ground-truth
    dataset (as disentanglement_lib samples observations), by index on a dataset without factors (an image folder)."""
    from betavae.data.ground_truth import GroundTruthData

    if isinstance(data, GroundTruthData):
        return data.index(data.sample_factors(num_points, rng))
    return rng.integers(0, data.num_images, size=num_points, dtype=np.int64)


def train_test_codes(cache: CodeCache, data: GroundTruthData, num_train: int, num_test: int,
                     rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """Training points first, then test points, from one generator: codes_train, y_train, codes_test, y_test."""
    return (*sample_codes(cache, data, num_train, rng), *sample_codes(cache, data, num_test, rng))


def histogram_discretize(codes: np.ndarray, num_bins: int) -> np.ndarray:
    """int[n, d]: each code dimension cut into ``num_bins`` equal-width bins between its min and max
    (disentanglement_lib's ``histogram_discretizer``; a constant dimension falls into one bin)."""
    columns = []
    for column in np.asarray(codes, dtype=np.float64).T:
        edges = np.histogram_bin_edges(column, num_bins)
        columns.append(np.digitize(column, edges[1:-1]))  # 0 .. num_bins - 1, the maximum in the last bin
    return np.stack(columns, axis=1) if columns else np.zeros((len(codes), 0), np.int64)


def mutual_information(first: np.ndarray, second: np.ndarray) -> float:
    """I(a; b) in nats of two discrete samples, from their empirical joint distribution."""
    _, a = np.unique(first, return_inverse=True)
    _, b = np.unique(second, return_inverse=True)
    joint = np.bincount(a * (b.max() + 1) + b, minlength=(a.max() + 1) * (b.max() + 1)).reshape(a.max() + 1, -1)
    joint = joint / joint.sum()
    outer = joint.sum(axis=1, keepdims=True) @ joint.sum(axis=0, keepdims=True)
    nonzero = joint > 0
    return float(np.sum(joint[nonzero] * np.log(joint[nonzero] / outer[nonzero])))


def mutual_information_matrix(discrete_codes: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """float[d, K]: I(code_i; factor_k) in nats."""
    return np.array([[mutual_information(code, factor) for factor in factors.T] for code in discrete_codes.T])


def entropies(factors: np.ndarray) -> np.ndarray:
    """float[K]: the empirical entropy H(factor_k) in nats (= I(factor_k; factor_k))."""
    return np.array([mutual_information(factor, factor) for factor in factors.T])


def normalized_entropy(weights: np.ndarray, axis: int) -> np.ndarray:
    """Entropy of ``weights`` normalised along ``axis``, in base ``weights.shape[axis]`` (0 log 0 = 0; an all-zero
    slice counts as uniform, entropy 1)."""
    size = weights.shape[axis]
    if size < 2:
        return np.zeros(weights.shape[1 - axis])
    totals = weights.sum(axis=axis, keepdims=True)
    p = np.where(totals > 0, weights / np.where(totals > 0, totals, 1), 1.0 / size)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * np.log(p), 0.0)
    return -terms.sum(axis=axis) / np.log(size)
