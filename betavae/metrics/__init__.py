"""Disentanglement metrics: the paper's (§3, App. A.4) with its seed protocol, dlib's variant, and Table 2."""

from betavae.metrics.factor_classification import factor_classification
from betavae.metrics.higgins import (
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
    "ClassifierSettings", "LinearClassifier", "PairPoints", "beta_vae_metric", "beta_vae_metric_dlib",
    "default_scored_factors", "difference_features", "factor_classification", "fit_linear_softmax",
    "fit_sklearn_logistic", "sample_pair_points", "seed_protocol",
]
