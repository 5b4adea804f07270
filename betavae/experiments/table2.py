"""Table 2 / App. A.5: linear classification of each ground-truth factor from each representation."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from betavae.data.ground_truth import GroundTruthData
from betavae.errors import BetaVAEError
from betavae.experiments.common import ExperimentContext, load_data
from betavae.experiments.rows import RowResult, eval_settings, score_rows, size_notes
from betavae.io import atomic_write_json
from betavae.viz.report import Report


def run(ctx: ExperimentContext) -> Path:
    data = load_data(ctx)
    if not isinstance(data, GroundTruthData):
        raise BetaVAEError(f"table2 needs a ground-truth dataset (e.g. dsprites), not {ctx.dataset}")
    results = score_rows(ctx, data)
    report = Report("Ground-truth factor classification — Table 2 (App. A.5)")
    summary = add_table2(report, results, data, ctx)
    atomic_write_json(ctx.out_dir / "results.json", {"rows": summary})
    return report.write(ctx.out_dir, {**ctx.settings(), "eval_settings": eval_settings(ctx.budget, data).__dict__,
                                      "size_notes": size_notes(ctx.budget, data)})


def add_table2(report: Report, results: list[RowResult], data: GroundTruthData, ctx: ExperimentContext) -> list[dict]:
    """Per-factor accuracy of every row (mean ± std over model seeds) as a report section; returns the numbers."""
    settings = eval_settings(ctx.budget, data)
    names = list(data.factor_names)
    table, summary = [], []
    for result in results:
        accuracies = [e["table2"]["per_factor"] for e in result.evaluations if e is not None]
        if not accuracies:
            table.append([result.row.label, *["–"] * (len(names) + 1)])
            continue
        means = {name: float(np.mean([a[name] for a in accuracies])) for name in names}
        stds = {name: float(np.std([a[name] for a in accuracies])) for name in names}
        table.append([result.row.label, *[f"{100 * means[n]:.1f} ± {100 * stds[n]:.1f}" for n in names],
                      f"{100 * np.mean(list(means.values())):.1f}"])
        summary.append({"label": result.row.label, "mean": means, "std": stds, "models": len(accuracies),
                        "diverged": result.diverged})
    table.append(["chance", *[f"{100 / size:.1f}" for size in data.factor_sizes],
                  f"{100 * np.mean([1 / size for size in data.factor_sizes]):.1f}"])
    report.heading("Table 2: factor classification (App. A.5)")
    report.paragraph(
        f"For each factor, a linear softmax classifier (Adagrad, lr {settings.lr}) predicts its class from the "
        f"representation: {settings.table2_train} training / {settings.table2_test} test images, accuracy in % "
        f"(mean ± std over model seeds, each the mean over {len(settings.classifier_seeds)} classifier seeds). "
        f"Budget {ctx.budget.name}, {ctx.budget.steps} training steps per model. The paper's Table 2 numbers "
        "are not reproduced here (no offline copy of the paper): compare by hand." +
        "".join(f" {note}." for note in size_notes(ctx.budget, data)))
    report.table(["representation", *names, "mean"], table)
    report.paragraph("A linear classifier reads a factor well only if the representation holds it in a linearly "
                     "separable form: a single unit that varies monotonically with a 32-class position supports "
                     "few classes linearly, so high disentanglement need not mean high Table 2 accuracy.")
    return summary
