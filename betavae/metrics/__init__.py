"""Disentanglement metrics behind one contract (base.py, registry.py): the paper's (§3, App. A.4) with its seed
protocol, dlib's variant, Table 2, and the later FactorVAE score, MIG, DCI, SAP, modularity and explicitness."""

from betavae.metrics.base import Metric, Shared
from betavae.metrics.dci import DCISettings
from betavae.metrics.factor_classification import Table2Settings, factor_classification
from betavae.metrics.factor_vae import FactorVAESettings
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
from betavae.metrics.mig import MIGSettings
from betavae.metrics.modularity import ModularitySettings
from betavae.metrics.protocol import seed_protocol
from betavae.metrics.sap import SAPSettings

__all__ = [
    "BetaVAESettings", "ClassifierSettings", "DCISettings", "DlibSettings", "FactorVAESettings", "LinearClassifier",
    "MIGSettings", "Metric", "ModularitySettings", "PairPoints", "SAPSettings", "Shared", "Table2Settings",
    "beta_vae_metric", "beta_vae_metric_dlib", "default_scored_factors", "difference_features",
    "factor_classification", "fit_linear_softmax", "fit_sklearn_logistic", "sample_pair_points", "seed_protocol",
]
