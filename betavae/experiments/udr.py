"""UDR against the supervised metrics (Duan et al. 2020, §4): does ranking models without labels pick what the labels
pick?

A sweep of β × seeds of the paper's β-VAE; within each β, UDR over its seeds (``betavae/udr.py``: the same
images for all runs, inactive latents left out, Spearman matching). Beside it, on a ground-truth dataset, the
supervised metrics of the same models; the report gives the Spearman rank correlation between UDR and each of them
over all models (Duan et al.'s central claim is that it is high) and over the β means, and which β each would pick.
On a dataset without factors (``--dataset celeba`` or any image folder) it gives the UDR ranking alone.

Budgets: ``cpu`` is 5 β × 3 seeds × 1,000 steps of the paper's MLP: about 21 minutes of training on one thread at
the ~760 images/s measured here, plus about 4 minutes of encoding (10,000 images per run for UDR, the dlib variant
and MIG at their smoke sizes); ``paper`` is 10 seeds × 300,000 steps with the metrics at their published sizes.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from betavae.data.ground_truth import GroundTruthData
from betavae.evaluate import EvalSettings, metric_result
from betavae.experiments.base import Experiment, Result
from betavae.experiments.common import ExperimentContext, beta_vae_config
from betavae.experiments.runner import EvalJob, RunOutcome, RunSpec, evaluate_sweep
from betavae.metrics.registry import METRICS
from betavae.metrics.udr import UDRSettings
from betavae.runs import FINISHED
from betavae.viz.canvas import new_figure, save_png
from betavae.viz.report import Report

BETAS = (1.0, 2.0, 4.0, 8.0, 16.0)


@dataclass(frozen=True)
class UDRPlan:
    betas: tuple[float, ...]
    seeds: int  # per β: UDR compares them
    steps: int  # training steps per run
    udr_points: int  # images every run encodes for UDR
    metrics: tuple[str, ...]  # supervised metrics scored beside UDR (ground-truth data only)
    arch: str | None = None  # None: the paper's for the dataset (Table 1); smoke: the small conv net (2 MB checkpoints)


@dataclass
class UDRResult(Result):
    models: list[dict] = field(default_factory=list)  # per run: β, seed, state, UDR, supervised headline numbers
    per_beta: list[dict] = field(default_factory=list)  # per β: UDR and each metric, mean ± std over seeds
    rank_correlations: dict = field(default_factory=dict)  # metric column -> Spearman ρ with UDR (models, β means)
    picks: dict = field(default_factory=dict)  # "UDR" / metric column -> the β with the best mean (all, if tied)


class UDRExperiment(Experiment):
    name = "udr"
    source = "beyond the paper: Duan et al. 2020 (ICLR), §4"
    summary = "UDR of β × seeds, beside the supervised metrics of the same models: rank correlation, β each picks"
    result_type = UDRResult
    plans = {"smoke": UDRPlan(BETAS, seeds=2, steps=40, udr_points=500, metrics=("beta-vae-dlib", "mig"),
                              arch="burgess"),
             "cpu": UDRPlan(BETAS, seeds=3, steps=1000, udr_points=10_000, metrics=("beta-vae-dlib", "mig")),
             "paper": UDRPlan(BETAS, seeds=10, steps=300_000, udr_points=10_000,
                              metrics=("beta-vae-dlib", "factor-vae", "mig", "dci"))}
    ground_truth = False  # an image folder gives the UDR ranking alone

    def runs(self, ctx: ExperimentContext) -> list[RunSpec]:
        budget = dataclasses.replace(ctx.budget, steps=ctx.plan.steps,
                                     checkpoint_every=max(1, min(ctx.budget.checkpoint_every, ctx.plan.steps)))
        specs = []
        for beta in ctx.plan.betas:
            for seed in range(ctx.plan.seeds):
                config = beta_vae_config(budget, ctx.dataset, seed=seed, beta=beta, device=ctx.device,
                                         data_path=ctx.data_path)
                config.model.arch = ctx.plan.arch
                specs.append(RunSpec(_name(beta, seed), config))
        return specs

    def analyse(self, ctx: ExperimentContext, outcomes: dict[str, RunOutcome]) -> UDRResult:
        from betavae.udr import compute_udr

        plan = ctx.plan
        settings = UDRSettings(num_points=plan.udr_points)
        models = []
        for beta in plan.betas:
            group = [outcomes[_name(beta, seed)] for seed in range(plan.seeds)]
            done = [outcome for outcome in group if outcome.state == FINISHED]
            scores = {}
            if len(done) >= 2:
                udr = compute_udr([outcome.run_dir for outcome in done], settings, ctx.device, ctx.budget.threads,
                                  progress=False)
                scores = {outcome.name: run for outcome, run in zip(done, udr["runs"])}
            for seed, outcome in enumerate(group):
                run = scores.get(outcome.name, {})
                models.append({"name": outcome.name, "beta": beta, "seed": seed, "state": outcome.state,
                               "udr": run.get("udr"), "active_latents": run.get("active_latents"), "metrics": {}})
        if isinstance(ctx.data, GroundTruthData):
            _add_supervised(ctx, models, outcomes)
        columns = ["UDR", *dict.fromkeys(column for model in models for column in model["metrics"])]
        per_beta = [_beta_summary(beta, [m for m in models if m["beta"] == beta], columns) for beta in plan.betas]
        return UDRResult(models, per_beta, _rank_correlations(models, per_beta, columns[1:]),
                         _picks(per_beta, columns))

    def report(self, ctx: ExperimentContext, result: UDRResult) -> Report:
        plan = ctx.plan
        report = Report("UDR against the supervised metrics — Duan et al. 2020")
        columns = ["UDR", *dict.fromkeys(column for model in result.models for column in model["metrics"])]
        report.paragraph(
            f"{ctx.dataset}: β-VAE runs for β ∈ {{{', '.join(f'{b:g}' for b in plan.betas)}}} × {plan.seeds} seeds, "
            f"{plan.steps} steps each (budget {ctx.budget.name}). UDR (Spearman, latents with KL ≤ 0.01 left out, "
            f"{plan.udr_points} images) compares the runs of one β with each other; a run's UDR is the median of its "
            "pairwise scores." + (f" Supervised metrics of the same models: {', '.join(plan.metrics)} (settings in "
                                  "settings.json)." if len(columns) > 1 else
                                  " The data has no ground-truth factors: UDR alone ranks the β."))
        report.heading("Per β (mean ± std over seeds)")
        report.table(["β", *columns], [[f"{row['beta']:g}", *[_cell(row[column]) for column in columns]]
                                       for row in result.per_beta])
        report.heading("Which β each would pick")
        report.table(["score", "β picked (best mean)"],
                     [[column, _betas(betas)] for column, betas in result.picks.items()])
        if result.rank_correlations:
            report.heading("Rank correlation with UDR")
            report.paragraph("Spearman's ρ between UDR and each supervised metric: over all scored models, and over "
                             "the β means. Duan et al. report it high (most above 0.6 on dSprites at full training); "
                             "short training and few seeds make it noisy.")
            report.table(["metric", "ρ over models", "models", "ρ over β means"],
                         [[column, _number(value["models"]), value["num_models"], _number(value["betas"])]
                          for column, value in result.rank_correlations.items()])
            figure = _scatter(result, columns[1:], ctx.out_dir / "udr_vs_metrics.png")
            report.figure(figure, "UDR against each supervised metric, one point per model, coloured by β")
        report.heading("Every model")
        report.table(["run", "β", "seed", "state", "active latents", *columns],
                     [[m["name"], f"{m['beta']:g}", m["seed"], m["state"],
                       "–" if m["active_latents"] is None else m["active_latents"],
                       _number(m["udr"]), *[_number(m["metrics"].get(c)) for c in columns[1:]]]
                      for m in result.models])
        return report

    def settings(self, ctx: ExperimentContext) -> dict:
        return {"udr": dataclasses.asdict(UDRSettings(num_points=ctx.plan.udr_points)),
                "eval_settings": _eval_settings(ctx).to_dict() if isinstance(ctx.data, GroundTruthData) else None}


def _name(beta: float, seed: int) -> str:
    return f"beta{beta:g}-seed{seed}"


def _eval_settings(ctx: ExperimentContext) -> EvalSettings:
    """The plan's supervised metrics: their published sizes at the paper budget, their smoke sizes below it."""
    return EvalSettings.of(ctx.plan.metrics, smoke=not ctx.budget.published_sizes, classifier_seeds=(0,),
                           threads=ctx.budget.threads)


def _add_supervised(ctx: ExperimentContext, models: list[dict], outcomes: dict[str, RunOutcome]) -> None:
    """Each finished model's supervised headline numbers, cached in its eval.json."""
    finished = [model for model in models if model["state"] == FINISHED]
    settings = _eval_settings(ctx)
    evaluations = evaluate_sweep([EvalJob(outcomes[model["name"]].run_dir) for model in finished], ctx.data, settings,
                                 ctx.device, ctx.progress, ctx.executor)
    for model, evaluation in zip(finished, evaluations):
        for name in ctx.plan.metrics:
            model["metrics"].update(METRICS[name].headline(metric_result(evaluation, name)))


def _values(models: list[dict], column: str) -> list[float | None]:
    return [model["udr"] if column == "UDR" else model["metrics"].get(column) for model in models]


def _beta_summary(beta: float, models: list[dict], columns: list[str]) -> dict:
    summary: dict = {"beta": beta}
    for column in columns:
        values = [value for value in _values(models, column) if value is not None]
        summary[column] = {"mean": float(np.mean(values)) if values else None,
                           "std": float(np.std(values)) if values else None, "values": values}
    return summary


def spearman(first: list[float], second: list[float]) -> float | None:
    """Spearman's ρ of two paired samples (None with fewer than 3 pairs or a constant sample)."""
    from scipy.stats import spearmanr

    if len(first) < 3 or len(set(first)) < 2 or len(set(second)) < 2:
        return None
    return float(spearmanr(first, second)[0])


def _rank_correlations(models: list[dict], per_beta: list[dict], columns: list[str]) -> dict:
    correlations = {}
    for column in columns:
        pairs = [(udr, value) for udr, value in zip(_values(models, "UDR"), _values(models, column))
                 if udr is not None and value is not None]
        means = [(row["UDR"]["mean"], row[column]["mean"]) for row in per_beta
                 if row["UDR"]["mean"] is not None and row[column]["mean"] is not None]
        correlations[column] = {"models": spearman(*map(list, zip(*pairs))) if pairs else None,
                                "num_models": len(pairs),
                                "betas": spearman(*map(list, zip(*means))) if means else None}
    return correlations


def _picks(per_beta: list[dict], columns: list[str]) -> dict:
    """Per score, the β with the best mean (every β tied at the best, in order; empty if none was scored)."""
    picks = {}
    for column in columns:
        scored = [row for row in per_beta if row[column]["mean"] is not None]
        best = max((row[column]["mean"] for row in scored), default=None)
        picks[column] = [row["beta"] for row in scored if np.isclose(row[column]["mean"], best, rtol=0, atol=1e-12)]
    return picks


def _betas(betas: list[float]) -> str:
    if not betas:
        return "–"
    return ", ".join(f"{beta:g}" for beta in betas) + (" (tied)" if len(betas) > 1 else "")


def _number(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def _cell(stats: dict) -> str:
    return "–" if stats["mean"] is None else f"{stats['mean']:.3f} ± {stats['std']:.3f}"


def _scatter(result: UDRResult, columns: list[str], path):
    figure = new_figure(3.6 * max(1, len(columns)), 3.4)
    axes = np.atleast_1d(figure.subplots(1, max(1, len(columns))))
    betas = sorted({model["beta"] for model in result.models})
    colours = {beta: f"C{index}" for index, beta in enumerate(betas)}
    for axis, column in zip(axes, columns):
        for beta in betas:
            points = [(m["udr"], m["metrics"].get(column)) for m in result.models if m["beta"] == beta]
            points = [(x, y) for x, y in points if x is not None and y is not None]
            if points:
                axis.scatter(*zip(*points), color=colours[beta], label=f"β={beta:g}", s=18)
        rho = result.rank_correlations.get(column, {}).get("models")
        axis.set_title(f"{column}: ρ = {_number(rho)}")
        axis.set_xlabel("UDR")
        axis.set_ylabel(column)
    axes[0].legend(fontsize=7)
    return save_png(figure, path)


EXPERIMENT = UDRExperiment()
