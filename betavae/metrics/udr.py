"""Unsupervised Disentanglement Ranking (Duan et al. 2020, "Unsupervised Model Selection for Variational
Disentangled Representation Learning", ICLR, §3; disentanglement_lib's ``evaluation/udr/metrics/udr.py``).

Models that disentangle agree with each other up to permutation and sign of their latents; models that entangle
each do it their own way. For every ordered pair of models (a, b) trained alike but for the seed, on the same
images: the |correlation| matrix R[i, j] between a's latent i and b's latent j (Spearman's rank correlation, or the
absolute weights of a Lasso regression of b's standardised codes on a's, disentanglement_lib's ``alpha = 0.1``),
restricted to the *active* latents of each (mean KL to the prior above 0.01 nats: the others carry no
information), scored by its relative strength (Eq. 2 with disentanglement_lib's averaging)

    ½ [ mean_j max_i R_ij² / Σ_i R_ij  +  mean_i max_j R_ij² / Σ_j R_ij ]

— 1 for a permutation matrix, near 0 when every latent of a correlates weakly with all of b's. The score is not
scale-free: Lasso shrinks each matched weight of standardised codes by α, so under Lasso a perfect match scores
1 − α = 0.9 (as in disentanglement_lib); Spearman (the default here) gives it 1. Model b's UDR is
the median of its scores over the pairs (a, b), a ≠ b. A model without active latents scores 0 against every
other (disentanglement_lib's mean over an empty matrix is undefined). Models of different latent sizes are
compared on their active latents, which need not be equally many (R is then rectangular).

This file holds the arithmetic on codes only; ``betavae/udr.py`` encodes the runs and caches their codes.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from betavae.metrics.base import Settings, setting

CORRELATIONS = ("spearman", "lasso")


@dataclass(frozen=True)
class UDRSettings(Settings):
    """disentanglement_lib's UDR choices: KL threshold 0.01 nats, Lasso alpha 0.1; 10,000 images."""

    num_points: int = setting(10_000, "images every run encodes (the same images for all runs)", minimum=2)
    correlation: str = setting("spearman", "how latents of two runs are matched: Spearman's |ρ|, or |weights| of a "
                               "Lasso regression (disentanglement_lib's default)", choices=CORRELATIONS)
    kl_threshold: float = setting(0.01, "latents whose mean KL to the prior is at most this (nats) are inactive and "
                                  "left out", minimum=0)
    lasso_alpha: float = setting(0.1, "L1 weight of the Lasso correlation (disentanglement_lib's)", above=0)
    sample_seed: int = setting(0, "seed of the images drawn", minimum=0)


def spearman_matrix(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """|Spearman ρ| float[d1, d2] between every column of ``first`` and of ``second`` (ties share their mean rank; a
    constant column correlates 0 with everything)."""
    from scipy.stats import rankdata

    ranks = [rankdata(codes, axis=0) for codes in (first, second)]
    centred = [rank - rank.mean(axis=0) for rank in ranks]
    norms = [np.sqrt((rank ** 2).sum(axis=0)) for rank in centred]
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = (centred[0].T @ centred[1]) / np.outer(norms[0], norms[1])
    return np.abs(np.nan_to_num(rho, nan=0.0, posinf=0.0, neginf=0.0))


def lasso_matrix(first: np.ndarray, second: np.ndarray, alpha: float = 0.1, seed: int = 0) -> np.ndarray:
    """|weights| float[d1, d2] of a Lasso regression of ``second``'s standardised columns on ``first``'s
    (disentanglement_lib's ``lasso_correlation_matrix``)."""
    from sklearn.linear_model import Lasso

    first, second = standardise(first), standardise(second)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # coordinate descent stopping at its iteration limit, as in dlib
        model = Lasso(alpha=alpha, random_state=seed).fit(first, second)
    return np.abs(np.atleast_2d(model.coef_)).reshape(second.shape[1], first.shape[1]).T


def standardise(codes: np.ndarray) -> np.ndarray:
    """Each column to mean 0 and standard deviation 1 (a constant column to 0), as scikit-learn's StandardScaler."""
    codes = np.asarray(codes, dtype=np.float64)
    std = codes.std(axis=0)
    return (codes - codes.mean(axis=0)) / np.where(std > 0, std, 1.0)


def relative_strength(matrix: np.ndarray) -> float:
    """Duan et al.'s relative strength of an |correlation| matrix (disentanglement_lib's
    ``relative_strength_disentanglement``): ½ [mean over columns of max² / sum + mean over rows of the same]; 0 for
    an empty matrix. A column or row of zeros counts 0."""
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.size == 0:
        return 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        columns = np.nan_to_num(matrix.max(axis=0) ** 2 / matrix.sum(axis=0), nan=0.0)
        rows = np.nan_to_num(matrix.max(axis=1) ** 2 / matrix.sum(axis=1), nan=0.0)
    return float((columns.mean() + rows.mean()) / 2)


def correlation_matrix(first: np.ndarray, second: np.ndarray, settings: UDRSettings) -> np.ndarray:
    """|correlation| float[d1, d2] of two models' codes by ``settings.correlation``."""
    if settings.correlation == "lasso":
        return lasso_matrix(first, second, settings.lasso_alpha, settings.sample_seed)
    return spearman_matrix(first, second)


def udr_scores(codes: list[np.ndarray], kls: list[np.ndarray], settings: UDRSettings | None = None) -> dict:
    """UDR of each model from its codes float[n, d_m] (the same n images for all) and mean KL per latent float[d_m]
    (Duan et al. 2020, §3): ``{"scores": [m], "pairwise": [m][m] (None on the diagonal; [a][b] scores the pair
    (a, b)), "active": [m][d_m] booleans}``."""
    settings = settings or UDRSettings()
    if len(codes) < 2:
        raise ValueError("UDR compares at least two models")
    active = [np.asarray(kl) > settings.kl_threshold for kl in kls]
    kept = [np.asarray(code, dtype=np.float64)[:, mask] for code, mask in zip(codes, active)]
    count = len(codes)
    pairwise: list[list[float | None]] = [[None] * count for _ in range(count)]
    for a in range(count):
        for b in range(count):
            if a != b:
                empty = kept[a].shape[1] == 0 or kept[b].shape[1] == 0
                pairwise[a][b] = 0.0 if empty else relative_strength(correlation_matrix(kept[a], kept[b], settings))
    scores = [float(np.median([pairwise[a][b] for a in range(count) if a != b])) for b in range(count)]
    return {"scores": scores, "pairwise": pairwise, "active": [mask.tolist() for mask in active]}
