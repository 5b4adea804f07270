"""The metrics researchers report since 2018 (FactorVAE, MIG, DCI, SAP, modularity) for the Fig. 6 rows.

`betavae reproduce fig6-table --metrics all` scores the same models of every row with them (the same evaluations,
the same single encoder pass) and adds one table: per row, each metric's headline numbers, mean ± std over the
row's models (each ICA shape-pair average counts as one model, as in the paper's table).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from betavae.evaluate import metric_result
from betavae.experiments.rows import RowResult
from betavae.metrics.registry import METRICS, PAPER_METRICS
from betavae.viz.report import Report


def later_metrics(names: Sequence[str]) -> list[str]:
    return [name for name in names if name not in PAPER_METRICS]


def later_summary(results: list[RowResult], names: Sequence[str]) -> list[dict]:
    """Per row, each later metric's headline numbers over the row's models (mean ± std and every value)."""
    names = later_metrics(names)
    if not names:
        return []
    summary = []
    for result in results:
        values: dict[str, list[float]] = {}
        for evaluation in filter(None, result.evaluations):
            for name in names:
                for column, value in METRICS[name].headline(metric_result(evaluation, name)).items():
                    values.setdefault(column, []).append(value)
        summary.append({"label": result.row.label, "key": result.row.key, "models": len(result.evaluations),
                        "diverged": result.diverged,
                        "metrics": {column: {"values": scores, **_mean_std(scores)}
                                    for column, scores in values.items()}})
    return summary


def add_later_metrics(report: Report, summary: list[dict], names: Sequence[str]) -> None:
    """The later metrics of :func:`later_summary` as one report table (nothing if none was asked for)."""
    names = later_metrics(names)
    if not names:
        return
    columns = list(dict.fromkeys(column for row in summary for column in row["metrics"]))
    report.heading("Later disentanglement metrics (the same models)")
    report.paragraph("Each cell: mean ± std over the row's models. " + " ".join(
        f"{METRICS[name].title}." for name in names) + " Settings (published defaults at the paper budget, the "
        "smoke sizes below it) are in settings.json; each metric's docstring names its source and "
        "disentanglement_lib's choices.")
    report.table(["representation", *columns],
                 [[row["label"], *[_cell(row["metrics"].get(column)) for column in columns]] for row in summary])


def _mean_std(scores: list[float | None]) -> dict:
    finite = [score for score in scores if score is not None]
    return {"mean": float(np.mean(finite)) if finite else None, "std": float(np.std(finite)) if finite else None}


def _cell(stats: dict | None) -> str:
    if stats is None or stats["mean"] is None:
        return "–"
    return f"{stats['mean']:.3f} ± {stats['std']:.3f}"
