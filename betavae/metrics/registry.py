"""Metric names → metrics. Adding a metric: one file in metrics/ implementing :class:`Metric`, one line here."""

from __future__ import annotations

from collections.abc import Sequence

from betavae.errors import BetaVAEError
from betavae.metrics.base import Metric
from betavae.metrics.dci import DCI
from betavae.metrics.factor_classification import Table2Metric
from betavae.metrics.factor_vae import FactorVAE
from betavae.metrics.higgins import BetaVAEMetric, DlibMetric
from betavae.metrics.mig import MIG
from betavae.metrics.modularity import Modularity
from betavae.metrics.sap import SAP
from betavae.metrics.unsupervised import Unsupervised

METRICS: dict[str, Metric] = {metric.name: metric for metric in (
    BetaVAEMetric(),
    DlibMetric(),
    Table2Metric(),
    FactorVAE(),
    MIG(),
    DCI(),
    SAP(),
    Modularity(),
    Unsupervised(),
)}
PAPER_METRICS = ("beta-vae", "beta-vae-dlib", "table2")  # what `betavae evaluate` computes unless told otherwise
LABEL_FREE_METRICS = tuple(name for name, metric in METRICS.items() if not metric.needs_factors)
assert len({metric.stream for metric in METRICS.values()}) == len(METRICS), "every metric needs its own stream"


def get_metric(name: str) -> Metric:
    if name not in METRICS:
        raise BetaVAEError(f"unknown metric {name!r}; choose from: {', '.join(METRICS)} (or all)")
    return METRICS[name]


def metric_names(spec: str | Sequence[str]) -> tuple[str, ...]:
    """``"all"``, ``"mig,dci"`` or a list of names → registered names, in registry order, each once."""
    names = [part.strip() for part in spec.split(",")] if isinstance(spec, str) else list(spec)
    if "all" in names:
        return tuple(METRICS)
    for name in names:
        get_metric(name)
    if not names:
        raise BetaVAEError("name at least one metric")
    return tuple(name for name in METRICS if name in names)


def metric_for_settings(settings: object) -> Metric:
    """The metric whose settings dataclass ``settings`` is."""
    for metric in METRICS.values():
        if type(settings) is metric.settings_type:
            return metric
    raise BetaVAEError(f"{type(settings).__name__} is not the settings of a registered metric")
