"""SAP, separated attribute predictability (Kumar et al. 2018, "Variational Inference of Disentangled Latent
Concepts from Unlabeled Observations", §3).

A score matrix S[i, k]: how well code dimension i alone predicts factor k; SAP averages over the factors the gap
between the two best dimensions. Discrete factors (the default, as disentanglement_lib's unsupervised study):
S is the test accuracy of a linear SVM on that one dimension, disentanglement_lib's
``LinearSVC(C=0.01, class_weight="balanced")``, 10,000 training / 5,000 test points. Continuous factors: S is the
R² of a linear fit of the factor's class index on the dimension (squared correlation, Kumar et al.'s score for
continuous attributes). A one-dimensional linear classifier cannot single out a middle class of an ordered
factor, so on factors with many classes even the true factor scores low in the discrete form.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from betavae.metrics.base import Metric, Settings, Shared, number, setting
from betavae.metrics.codes import train_test_codes

if TYPE_CHECKING:
    from betavae.data.ground_truth import GroundTruthData
    from betavae.representations import CodeCache


def top_two_gap(scores: np.ndarray) -> np.ndarray:
    """Per factor (column), the best dimension's score minus the second best's (0 for a one-dimensional code)."""
    ranked = np.sort(np.vstack([scores, np.zeros((1, scores.shape[1]))]), axis=0)[::-1]
    return ranked[0] - ranked[1]


def squared_correlations(codes: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """R²[i, k] of a linear fit of factor k on code dimension i (0 where either is constant)."""
    codes, factors = codes - codes.mean(0), factors - factors.mean(0)
    covariance = codes.T @ factors / len(codes)
    variances = np.outer((codes ** 2).mean(0), (factors ** 2).mean(0))
    return np.where(variances > 1e-12, covariance ** 2 / np.where(variances > 1e-12, variances, 1), 0.0)


def svm_accuracies(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray, C: float,
                   seed: int) -> tuple[np.ndarray, int]:
    """S[i, k]: test accuracy of a balanced linear SVM on dimension i alone; and how many fits did not converge."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.svm import LinearSVC

    scores = np.zeros((x_train.shape[1], y_train.shape[1]))
    unconverged = 0
    for i in range(x_train.shape[1]):
        for k in range(y_train.shape[1]):
            if len(np.unique(y_train[:, k])) < 2:
                scores[i, k] = np.mean(y_test[:, k] == y_train[0, k])
                continue
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", ConvergenceWarning)
                model = LinearSVC(C=C, class_weight="balanced", random_state=seed).fit(x_train[:, i:i + 1],
                                                                                       y_train[:, k])
            unconverged += any(issubclass(w.category, ConvergenceWarning) for w in caught)
            scores[i, k] = np.mean(model.predict(x_test[:, i:i + 1]) == y_test[:, k])
    return scores, unconverged


@dataclass(frozen=True)
class SAPSettings(Settings):
    """disentanglement_lib's sap_score defaults: 10,000 / 5,000 points, continuous_factors=False."""

    num_train: int = setting(10_000, "training points", minimum=1)
    num_test: int = setting(5_000, "test points (used by the discrete form)", minimum=1)
    continuous: bool = setting(False, "score dimensions by R² against the class index instead of a linear SVM")
    svm_c: float = setting(0.01, "the linear SVM's regularisation (discrete form)", above=0)


class SAP(Metric):
    """Kumar et al. 2018: per factor, the gap between the two code dimensions that predict it best."""

    name = "sap"
    title = "SAP, separated attribute predictability (Kumar et al. 2018)"
    settings_type = SAPSettings
    smoke = SAPSettings(num_train=1000, num_test=500)
    stream = 6
    compact = True

    def compute(self, cache: CodeCache, data: GroundTruthData, rng: np.random.Generator, settings: SAPSettings,
                shared: Shared) -> dict:
        x_train, y_train, x_test, y_test = train_test_codes(cache, data, settings.num_train, settings.num_test, rng)
        unconverged = 0
        if settings.continuous:
            scores = squared_correlations(x_train, y_train.astype(np.float64))
        else:
            scores, unconverged = svm_accuracies(x_train, y_train, x_test, y_test, settings.svm_c,
                                                 shared.classifier_seeds[0])
        gaps = top_two_gap(scores)
        return {"sap": float(gaps.mean()), "per_factor": dict(zip(data.true_factor_names, gaps.tolist())),
                "score_matrix": scores.tolist(), "unconverged_fits": unconverged}

    def rows(self, result: dict, settings: SAPSettings) -> list[tuple[str, str, str]]:
        form = "R² (continuous)" if settings.continuous else f"LinearSVC(C={settings.svm_c:g}) accuracy"
        cells = ", ".join(f"{name} {gap:.2f}" for name, gap in result["per_factor"].items())
        return [("SAP", number(result["sap"]), f"{form}; {settings.num_train} train / {settings.num_test} test; "
                                               f"{cells}")]

    def headline(self, result: dict) -> dict[str, float | None]:
        return {"SAP": result["sap"]}
