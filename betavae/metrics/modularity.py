"""Modularity and explicitness (Ridgeway & Mozer 2018, "Learning Deep Disentangled Embeddings with the
F-Statistic Loss", §3).

Modularity: each code dimension should carry information about one factor only. From the mutual information
m[i, k] (histogram-discretised codes, 20 bins), dimension i scores 1 − Σ_{k ≠ k*} m[i, k]² / (m[i, k*]² (K − 1)),
k* its most informative factor (0 for a dimension that carries none); the metric averages over dimensions.
Explicitness: per factor, a logistic regression on the standardised code; the mean over classes of the one-vs-rest
ROC AUC of its predicted probabilities, averaged over factors (train and test). Defaults and the classifier
(scikit-learn's ``LogisticRegression()``) are disentanglement_lib's: 10,000 training / 5,000 test points.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from betavae.metrics.base import Metric, Settings, Shared, number, setting
from betavae.metrics.codes import histogram_discretize, mutual_information_matrix, train_test_codes

if TYPE_CHECKING:
    from betavae.data.ground_truth import GroundTruthData
    from betavae.representations import CodeCache


def modularity(information: np.ndarray) -> float:
    """Ridgeway & Mozer's modularity from mutual information m[d, K], averaged over code dimensions."""
    squared = information ** 2
    best = squared.max(axis=1)
    if squared.shape[1] < 2:
        return 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        deviation = (squared.sum(axis=1) - best) / (best * (squared.shape[1] - 1))
    return float(np.mean(np.where(best > 0, 1 - deviation, 0.0)))


def mean_auc(probabilities: np.ndarray, labels: np.ndarray, classes: np.ndarray) -> float:
    """Mean over the classes present among ``labels`` (with some negatives) of the one-vs-rest ROC AUC."""
    from sklearn.metrics import roc_auc_score

    aucs = [roc_auc_score(labels == value, probabilities[:, column]) for column, value in enumerate(classes)
            if 0 < np.sum(labels == value) < len(labels)]
    return float(np.mean(aucs)) if aucs else 0.5


def explicitness(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray
                 ) -> tuple[float, float]:
    """One-vs-rest ROC AUC of a logistic regression on one factor's classes: (train, test); 0.5 is chance."""
    from sklearn.linear_model import LogisticRegression

    if len(np.unique(y_train)) < 2:
        return 1.0, 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lbfgs stopping at its 100 iterations, as in disentanglement_lib
        model = LogisticRegression().fit(x_train, y_train)
    return (mean_auc(model.predict_proba(x_train), y_train, model.classes_),
            mean_auc(model.predict_proba(x_test), y_test, model.classes_))


@dataclass(frozen=True)
class ModularitySettings(Settings):
    """disentanglement_lib's modularity_explicitness defaults: 10,000 / 5,000 points, 20 bins."""

    num_train: int = setting(10_000, "training points", minimum=1)
    num_test: int = setting(5_000, "test points", minimum=1)
    num_bins: int = setting(20, "histogram bins per code dimension (modularity)", minimum=2)


class Modularity(Metric):
    """Ridgeway & Mozer 2018: modularity (one factor per dimension) and explicitness (linearly decodable)."""

    name = "modularity"
    title = "Modularity and explicitness (Ridgeway & Mozer 2018)"
    settings_type = ModularitySettings
    smoke = ModularitySettings(num_train=1000, num_test=500)
    stream = 7
    seeds = "none"
    compact = True

    def compute(self, cache: CodeCache, data: GroundTruthData, rng: np.random.Generator,
                settings: ModularitySettings, shared: Shared) -> dict:
        x_train, y_train, x_test, y_test = train_test_codes(cache, data, settings.num_train, settings.num_test, rng)
        information = mutual_information_matrix(histogram_discretize(x_train, settings.num_bins), y_train)
        mean, std = x_train.mean(axis=0), x_train.std(axis=0)
        std = np.where(std > 0, std, 1.0)
        x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
        per_factor = [explicitness(x_train, y_train[:, k], x_test, y_test[:, k]) for k in range(y_train.shape[1])]
        return {"modularity": modularity(information),
                "explicitness_train": float(np.mean([train for train, _ in per_factor])),
                "explicitness_test": float(np.mean([test for _, test in per_factor])),
                "per_factor_explicitness": dict(zip(data.true_factor_names, [test for _, test in per_factor])),
                "mutual_information": information.tolist()}

    def rows(self, result: dict, settings: ModularitySettings) -> list[tuple[str, str, str]]:
        return [("Modularity", number(result["modularity"]), f"{settings.num_train} points, {settings.num_bins} bins"),
                ("Explicitness", number(result["explicitness_test"]),
                 f"test ROC AUC, chance 0.5 (train {result['explicitness_train']:.3f}); {settings.num_test} test "
                 "points")]

    def headline(self, result: dict) -> dict[str, float | None]:
        return {"Modularity": result["modularity"], "Explicitness": result["explicitness_test"]}
