"""Mutual Information Gap (Chen et al. 2018, "Isolating Sources of Disentanglement in VAEs", §4.1).

For each factor k: the mutual information of each code dimension with it, the gap between the two largest,
divided by the factor's entropy H(v_k); MIG averages the gaps over the factors. Chen et al. estimate I(z_j; v_k)
from q(z|x); like disentanglement_lib (whose defaults these are: 10,000 points, a 20-bin histogram of each
dimension of the mean code) we discretise the codes and use the empirical distribution.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from betavae.metrics.base import Metric, Settings, Shared, number, setting
from betavae.metrics.codes import entropies, histogram_discretize, mutual_information_matrix, sample_codes

if TYPE_CHECKING:
    from betavae.data.ground_truth import GroundTruthData
    from betavae.representations import CodeCache


def mutual_information_gap(codes: np.ndarray, factors: np.ndarray, num_bins: int) -> dict:
    """MIG of codes float[n, d] against factor classes int[n, K] (a factor with one class has no gap: None)."""
    information = mutual_information_matrix(histogram_discretize(codes, num_bins), factors)
    entropy = entropies(factors)
    ranked = np.sort(np.vstack([information, np.zeros((1, information.shape[1]))]), axis=0)[::-1]
    gaps = [None if h <= 0 else float((ranked[0, k] - ranked[1, k]) / h) for k, h in enumerate(entropy)]
    scored = [gap for gap in gaps if gap is not None]
    return {"mig": float(np.mean(scored)) if scored else None, "per_factor": gaps,
            "mutual_information": information.tolist(), "entropy": entropy.tolist(),
            "top_dimension": information.argmax(axis=0).tolist()}


@dataclass(frozen=True)
class MIGSettings(Settings):
    """disentanglement_lib's MIG defaults: 10,000 points, 20 histogram bins."""

    num_points: int = setting(10_000, "images drawn (dlib's num_train)", minimum=1)
    num_bins: int = setting(20, "histogram bins per code dimension", minimum=2)


class MIG(Metric):
    """Chen et al. 2018: the gap in mutual information between a factor's two most informative code dimensions."""

    name = "mig"
    title = "MIG, mutual information gap (Chen et al. 2018)"
    settings_type = MIGSettings
    smoke = MIGSettings(num_points=1000)
    stream = 4
    seeds = "none"
    compact = True

    def compute(self, cache: CodeCache, data: GroundTruthData, rng: np.random.Generator, settings: MIGSettings,
                shared: Shared) -> dict:
        codes, factors = sample_codes(cache, data, settings.num_points, rng)
        result = mutual_information_gap(codes, factors, settings.num_bins)
        return {**result, "per_factor": dict(zip(data.true_factor_names, result["per_factor"]))}

    def rows(self, result: dict, settings: MIGSettings) -> list[tuple[str, str, str]]:
        cells = ", ".join(f"{name} {number(gap, 2)}" for name, gap in result["per_factor"].items())
        return [("MIG", number(result["mig"]), f"{settings.num_points} points, {settings.num_bins} bins; {cells}")]

    def headline(self, result: dict) -> dict[str, float | None]:
        return {"MIG": result["mig"]}

