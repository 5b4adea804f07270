"""FactorVAE score (Kim & Mnih 2018, "Disentangling by Factorising", §4).

One vote: fix one factor (uniform over all factors) across a batch of images, the others random; divide each
code dimension's variance over the batch by its variance over the data (dimensions whose data std is below a
threshold are collapsed and left out); the dimension with the smallest normalised variance votes for the fixed
factor. A majority-vote classifier maps each dimension to the factor it votes for most often on the training
votes; the score is its accuracy on the evaluation votes. Defaults are disentanglement_lib's
(unsupervised_study_v1): batch 64, 10,000 training and 5,000 evaluation votes, variances from 10,000 images,
dimensions with data std < 0.05 pruned; a code with no active dimension scores 0, as there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from betavae.metrics.base import Metric, Settings, Shared, setting
from betavae.metrics.codes import sample_codes

if TYPE_CHECKING:
    from betavae.data.ground_truth import GroundTruthData
    from betavae.representations import CodeCache


@dataclass(frozen=True)
class FactorVAESettings(Settings):
    """disentanglement_lib's factor_vae_score defaults."""

    batch_size: int = setting(64, "images per vote, one factor held fixed", minimum=2)
    num_train: int = setting(10_000, "training votes", minimum=1)
    num_eval: int = setting(5_000, "evaluation votes", minimum=1)
    num_variance_estimate: int = setting(10_000, "images to estimate each dimension's variance", minimum=2)
    prune_threshold: float = setting(0.05, "dimensions with a smaller std over the data are left out", minimum=0)


def votes(cache: CodeCache, data: GroundTruthData, rng: np.random.Generator, num_votes: int, batch_size: int,
          variance: np.ndarray, active: np.ndarray, max_values: int = 1 << 24) -> np.ndarray:
    """int[K, d]: how often each dimension had the smallest normalised variance when true factor k was fixed (a
    nuisance is never held fixed: it varies like the unfixed factors)."""
    true = np.asarray(data.true_factors)
    label = rng.integers(0, len(true), size=num_votes)
    fixed = true[label]
    factors = data.sample_factors(num_votes * batch_size, rng).reshape(num_votes, batch_size, -1)
    rows = np.arange(num_votes)
    factors[rows, :, fixed] = factors[rows, :1, fixed]
    indices = data.index(factors.reshape(-1, data.num_factors)).reshape(num_votes, batch_size)
    active_dims = np.flatnonzero(active)
    chunk = max(1, max_values // (batch_size * len(variance)))  # bound memory for wide codes (raw pixels)
    winners = np.concatenate([
        active_dims[(cache.codes(indices[start:start + chunk])[..., active_dims].var(axis=1, ddof=1)
                     / variance[active_dims]).argmin(axis=1)]
        for start in range(0, num_votes, chunk)])
    counts = np.zeros((len(true), len(variance)), dtype=np.int64)
    np.add.at(counts, (label, winners), 1)
    return counts


class FactorVAE(Metric):
    """Kim & Mnih 2018: a majority vote from the least-varying normalised dimension to the fixed factor."""

    name = "factor-vae"
    title = "FactorVAE score (Kim & Mnih 2018)"
    settings_type = FactorVAESettings
    smoke = FactorVAESettings(num_train=500, num_eval=300, num_variance_estimate=1000)
    stream = 3
    seeds = "none"
    compact = True
    combine_rules = {"train_votes": "sum", "eval_votes": "sum", "chance": "first", "dimension_factor": "first"}

    def compute(self, cache: CodeCache, data: GroundTruthData, rng: np.random.Generator,
                settings: FactorVAESettings, shared: Shared) -> dict:
        codes, _ = sample_codes(cache, data, settings.num_variance_estimate, rng)
        variance = codes.var(axis=0, ddof=1)
        active = np.sqrt(variance) >= settings.prune_threshold
        if not active.any():  # nothing left to vote: 0, as disentanglement_lib
            train = test = np.zeros((len(data.true_factors), len(variance)), dtype=np.int64)
        else:
            train = votes(cache, data, rng, settings.num_train, settings.batch_size, variance, active)
            test = votes(cache, data, rng, settings.num_eval, settings.batch_size, variance, active)
        classifier = train.argmax(axis=0)  # each dimension -> the factor it voted for most
        columns = np.arange(train.shape[1])
        return {"score": float(test[classifier, columns].sum() / max(test.sum(), 1)),
                "train_accuracy": float(train[classifier, columns].sum() / max(train.sum(), 1)),
                "num_active_dims": int(active.sum()), "chance": 1.0 / len(data.true_factors),
                "train_votes": train.tolist(), "eval_votes": test.tolist(),
                "dimension_factor": [data.true_factor_names[k] if train[:, d].any() else None
                                     for d, k in enumerate(classifier)]}

    def rows(self, result: dict, settings: FactorVAESettings) -> list[tuple[str, str, str]]:
        return [("FactorVAE score", f"{result['score']:.2%}",
                 f"train {result['train_accuracy']:.2%}; chance {result['chance']:.1%}; "
                 f"{result['num_active_dims']} active dimensions; {settings.num_train} / {settings.num_eval} votes "
                 f"of {settings.batch_size} images")]

    def headline(self, result: dict) -> dict[str, float | None]:
        return {"FactorVAE": result["score"]}
