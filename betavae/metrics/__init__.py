"""Disentanglement metrics behind one contract (base.py; names in registry.py): the paper's (§3, App. A.4) with its
seed protocol, dlib's variant, Table 2, and the later FactorVAE score, MIG, DCI, SAP, modularity and explicitness
(each later metric's settings live in its own module)."""

from betavae.metrics.base import Metric, Shared
from betavae.metrics.factor_classification import Table2Settings, factor_classification
from betavae.metrics.higgins import (
    BetaVAESettings,
    DlibSettings,
    PairPoints,
    beta_vae_metric,
    beta_vae_metric_dlib,
    default_scored_factors,
    difference_features,
    sample_pair_points,
)
from betavae.metrics.linear import ClassifierSettings, LinearClassifier, fit_linear_softmax, fit_sklearn_logistic
from betavae.metrics.protocol import seed_protocol

__all__ = [
    "BetaVAESettings", "ClassifierSettings", "DlibSettings", "LinearClassifier", "Metric", "PairPoints", "Shared",
    "Table2Settings", "beta_vae_metric", "beta_vae_metric_dlib", "default_scored_factors", "difference_features",
    "factor_classification", "fit_linear_softmax", "fit_sklearn_logistic", "sample_pair_points", "seed_protocol",
]
