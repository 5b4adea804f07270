"""`betavae reproduce NAME`: one paper experiment → ``DIR/report.md`` (+ report.html, figures, results)."""

from __future__ import annotations

import importlib
from pathlib import Path

from betavae.errors import BetaVAEError
from betavae.experiments.common import EXPERIMENTS, ExperimentContext, get_budget
from betavae.io import ensure_writable_dir
from betavae.metrics.registry import metric_names

MODULES = {"fig6-table": "fig6_table", "table2": "table2", "beta-norm": "beta_norm",
           "beta-epsilon": "beta_epsilon", "continuity": "continuity", "samples": "samples",
           "traversals": "traversals"}


def reproduce(name: str, budget: str = "smoke", out_dir: str | Path | None = None, dataset: str = "dsprites",
              data_path: str | None = None, device: str = "auto", workers: int | None = None,
              progress: bool = True, rows: str | None = None, metrics: str | None = None) -> Path:
    """Run experiment ``name`` at ``budget`` into ``out_dir`` (default ``reproductions/NAME-BUDGET[-DATASET]``);
    ``metrics`` (fig6-table): later metrics to score the same rows with, e.g. ``"all"`` or ``"mig,dci"``."""
    if name not in EXPERIMENTS:
        raise BetaVAEError(f"unknown experiment {name!r}; choose one of: {', '.join(EXPERIMENTS)}")
    if metrics and name != "fig6-table":
        raise BetaVAEError(f"--metrics adds a table to fig6-table only; {name} reports its own metric")
    default_name = f"{name}-{budget}" + ("" if dataset == "dsprites" else f"-{dataset}")
    out = ensure_writable_dir(out_dir or Path("reproductions") / default_name)
    context = ExperimentContext(out_dir=out, budget=get_budget(budget, workers), dataset=dataset,
                                data_path=data_path, device=device, progress=progress,
                                rows=tuple(rows.split(",")) if rows else None,
                                metrics=metric_names(metrics) if metrics else ())
    module = importlib.import_module(f"betavae.experiments.{MODULES[name]}")
    return module.run(context)
