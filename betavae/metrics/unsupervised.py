"""Label-free scores of one representation (Locatello et al. 2019, "Challenging Common Assumptions in the
Unsupervised Learning of Disentangled Representations", §3 and App. C; disentanglement_lib's
``unsupervised_metrics``).

From the covariance Σ of the mean codes of 10,000 images (disentanglement_lib's size):

* Gaussian total correlation: KL(N(0, Σ) || N(0, diag Σ)) = ½ (Σ_i log Σ_ii − log det Σ); 0 for independent codes,
  −½ log(1 − ρ²) for two with correlation ρ;
* Gaussian Wasserstein dependency: W₂²(N(0, Σ), N(0, diag Σ)) = 2 tr Σ − 2 tr (diag(Σ)^½ Σ diag(Σ)^½)^½ (the same
  trace as disentanglement_lib's sqrtm(diag(Σ) Σ): the matrices are similar), and its normalised form divided by
  tr Σ;
* mean mutual information: the mean over ordered pairs i ≠ j of I(z_i; z_j), each dimension cut into 20 equal-width
  bins (disentanglement_lib's discretiser).

None of them needs ground-truth factors (``needs_factors = False``), so they score runs on CelebA, chairs, faces
or any image folder. Images are drawn uniformly with replacement: through the factors on a ground-truth dataset
(as disentanglement_lib samples), by index on a dataset without factors (:func:`~betavae.metrics.codes.sample_images`).
A code dimension that is exactly constant (variance 0) is independent of every other: it is left out of the total
correlation (where log 0 would make it undefined) and adds 0 to the Wasserstein terms; ``constant_dimensions``
counts them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from betavae.metrics.base import Metric, Settings, Shared, number, setting
from betavae.metrics.codes import histogram_discretize, mutual_information_matrix, sample_images

if TYPE_CHECKING:
    from betavae.data.ground_truth import ImageDataset
    from betavae.representations import CodeCache


def gaussian_total_correlation(cov: np.ndarray) -> float | None:
    """½ (Σ log diag Σ − log det Σ): the total correlation of N(0, Σ) (Locatello et al. 2019, App. C); None (infinite)
    where Σ is singular over its non-constant dimensions."""
    cov = np.asarray(cov, dtype=np.float64)
    keep = np.diag(cov) > 0
    cov = cov[keep][:, keep]
    if cov.size == 0:
        return 0.0
    sign, logdet = np.linalg.slogdet(cov)
    if sign <= 0:  # singular: some dimensions are exact linear functions of others
        return None
    return float(0.5 * (np.sum(np.log(np.diag(cov))) - logdet))


def gaussian_wasserstein_dependency(cov: np.ndarray) -> float:
    """W₂²(N(0, Σ), N(0, diag Σ)) = 2 tr Σ − 2 tr (D^½ Σ D^½)^½, D = diag Σ (Locatello et al. 2019, App. C)."""
    cov = np.asarray(cov, dtype=np.float64)
    root = np.sqrt(np.diag(cov))
    eigenvalues = np.linalg.eigvalsh(root[:, None] * cov * root[None, :])
    return float(2 * np.trace(cov) - 2 * np.sum(np.sqrt(np.clip(eigenvalues, 0, None))))


def mean_mutual_information(codes: np.ndarray, num_bins: int) -> float | None:
    """The mean over ordered pairs of distinct dimensions of I(z_i; z_j) in nats, on ``num_bins``-bin histograms
    (disentanglement_lib's ``mutual_info_score``); None for a one-dimensional code."""
    discrete = histogram_discretize(codes, num_bins)
    dims = discrete.shape[1]
    if dims < 2:
        return None
    information = mutual_information_matrix(discrete, discrete)
    np.fill_diagonal(information, 0)
    return float(information.sum() / (dims * dims - dims))


def unsupervised_scores(codes: np.ndarray, num_bins: int = 20) -> dict:
    """The four label-free scores of codes float[n, d] (disentanglement_lib's ``unsupervised_metrics``)."""
    cov = np.atleast_2d(np.cov(np.asarray(codes, dtype=np.float64), rowvar=False))
    wasserstein = gaussian_wasserstein_dependency(cov)
    trace = float(np.trace(cov))
    return {"gaussian_total_correlation": gaussian_total_correlation(cov),
            "gaussian_wasserstein_correlation": wasserstein,
            "gaussian_wasserstein_correlation_norm": wasserstein / trace if trace > 0 else None,
            "mutual_info_score": mean_mutual_information(codes, num_bins),
            "constant_dimensions": int(np.sum(np.diag(cov) <= 0)), "dimensions": int(cov.shape[0])}


@dataclass(frozen=True)
class UnsupervisedSettings(Settings):
    """disentanglement_lib's unsupervised_metrics defaults: 10,000 images, 20 histogram bins."""

    num_points: int = setting(10_000, "images drawn (dlib's num_train)", minimum=2)
    num_bins: int = setting(20, "histogram bins per code dimension (mutual information)", minimum=2)


class Unsupervised(Metric):
    """Locatello et al. 2019: total correlation, Wasserstein dependency and mutual information of the mean codes."""

    name = "unsupervised"
    title = "label-free scores: Gaussian total correlation, Wasserstein dependency, mean mutual information " \
            "(Locatello et al. 2019)"
    settings_type = UnsupervisedSettings
    smoke = UnsupervisedSettings(num_points=1000)
    stream = 8
    seeds = "none"
    needs_factors = False

    def compute(self, cache: CodeCache, data: ImageDataset, rng: np.random.Generator,
                settings: UnsupervisedSettings, shared: Shared) -> dict:
        return unsupervised_scores(cache.codes(sample_images(data, settings.num_points, rng)), settings.num_bins)

    def rows(self, result: dict, settings: UnsupervisedSettings) -> list[tuple[str, str, str]]:
        constant = result["constant_dimensions"]
        note = f"; {constant} constant dimension(s) left out" if constant else ""
        return [("Gaussian total correlation", number(result["gaussian_total_correlation"]),
                 f"nats, 0 = independent dimensions; {settings.num_points} images{note}"),
                ("Gaussian Wasserstein dependency", number(result["gaussian_wasserstein_correlation"]),
                 f"normalised by tr Σ: {number(result['gaussian_wasserstein_correlation_norm'])}"),
                ("Mean mutual information", number(result["mutual_info_score"]),
                 f"nats, over pairs of dimensions; {settings.num_bins} bins")]

    def headline(self, result: dict) -> dict[str, float | None]:
        return {"Gaussian TC": result["gaussian_total_correlation"],
                "Wasserstein (norm.)": result["gaussian_wasserstein_correlation_norm"],
                "Mean MI": result["mutual_info_score"]}
