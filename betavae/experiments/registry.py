"""Every paper experiment `betavae reproduce` knows: one line each, its name and the module holding its
``EXPERIMENT`` (imported when asked for, so that the CLI can list the names without loading torch). A new
experiment is one file defining ``EXPERIMENT`` (see ``experiments/base.py``) and one line here."""

from __future__ import annotations

from betavae.errors import BetaVAEError
from betavae.lazy import resolve

MODULES = {
    "fig6-table": "betavae.experiments.fig6_table",
    "table2": "betavae.experiments.table2",
    "training-curve": "betavae.experiments.training_curve",
    "metric-sensitivity": "betavae.experiments.metric_sensitivity",
    "beta-norm": "betavae.experiments.beta_norm",
    "beta-epsilon": "betavae.experiments.beta_epsilon",
    "continuity": "betavae.experiments.continuity",
    "samples": "betavae.experiments.samples",
    "traversals": "betavae.experiments.traversals",
    "udr": "betavae.experiments.udr",
}


def get_experiment(name: str):
    """The :class:`~betavae.experiments.base.Experiment` called ``name``."""
    if name not in MODULES:
        raise BetaVAEError(f"unknown experiment {name!r}; choose one of: {', '.join(MODULES)}")
    experiment = resolve(f"{MODULES[name]}:EXPERIMENT")
    assert experiment.name == name, (name, experiment.name)
    return experiment


def all_experiments() -> list:
    return [get_experiment(name) for name in MODULES]
