"""Which reading of App. A.4 gives the paper's Fig. 6 numbers? The metric under each choice the paper leaves open.

App. A.4 says only: a linear classifier with softmax output, trained with Adagrad (learning rate 1e-2) "until
convergence" on z_diff points made of L = 64 pairs, 10,000 training / 5,000 test points (some readers take
fewer). Open are: whether the inputs are standardised, the classifier's batch size, what "convergence" means
(or whether a fixed number of updates was run), and how L and the number of points matter. This experiment
holds every representation fixed and scores it under each reading:

* the classifier's three open choices crossed (standardised or not × minibatch 64 or full batch × converged
  or 10³ / 10⁴ / 10⁵ Adagrad updates), at L = 64 and 10,000 training points;
* L ∈ {1, 8} and 1,000 training points, each with inputs standardised and not (the classifier converged,
  minibatch 64).

Each reading is scored on the same z_diff points (per classifier seed; the 1,000-point reading uses the first
1,000 of the 10,000), so only the reading changes between columns. The reading that scores closest to the
paper — every row inside the paper's ± std and in its order, if any — is reported as a finding; the default
metric is not changed to match it.
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from betavae.config import RunConfig
from betavae.data.ground_truth import GroundTruthData
from betavae.errors import BetaVAEError
from betavae.evaluate import data_identity
from betavae.experiments.base import Experiment, Result
from betavae.experiments.common import ExperimentContext, beta_vae_config, paper_values_apply
from betavae.experiments.rows import FIG6_ROWS, Row, row_for_data
from betavae.experiments.runner import RunOutcome, RunSpec, resolved
from betavae.experiments.training_curve import CURVE_OF_ROW
from betavae.metrics.higgins import factor_ids, train_test_features
from betavae.metrics.linear import ClassifierSettings, fit_linear_softmax
from betavae.progress import progress_bar
from betavae.representations import CodeCache
from betavae.runs import FINISHED, RunDir
from betavae.store import ResultStore
from betavae.threads import torch_threads
from betavae.viz.canvas import new_figure, save_png
from betavae.viz.report import Report

ROW_KEYS = ("ground-truth", "raw-pixels", "pca", "ica", "untrained-vae", "vae", "beta-vae-b4")
SCORES_VERSION = 1  # bump when a change here moves the scores: stored ones are then recomputed, not mixed


@dataclass(frozen=True)
class Reading:
    """One reading of App. A.4: how the classifier is trained and on which points."""

    standardize: bool = True
    batch_size: int | None = 64  # None: full batch
    updates: int | None = None  # None: until convergence
    L: int = 64
    num_train: int | None = None  # None: all the plan's training points; else the first this many of them

    @property
    def label(self) -> str:
        parts = ["std" if self.standardize else "raw", "b64" if self.batch_size else "full",
                 "conv" if self.updates is None else f"{self.updates:.0e}".replace("+0", "")]
        if self.L != 64:
            parts.append(f"L={self.L}")
        if self.num_train is not None:
            parts.append(f"n={self.num_train:,}")
        return " ".join(parts)


@dataclass(frozen=True)
class SensitivityPlan:
    steps: int  # training steps of the VAE and β-VAE rows
    updates: tuple[int, ...]  # fixed Adagrad budgets
    small_L: tuple[int, ...]
    num_train: int
    few_train: int
    num_test: int
    classifier_seeds: int
    # Full-batch readings whose work (updates × training points × code dimensions) exceeds this are not run:
    # 10⁵ full-batch updates on the 4,096 raw pixels take about an hour per fit on one CPU core.
    max_full_batch_work: float | None = None  # None: no cap


PLANS = {
    "smoke": SensitivityPlan(steps=40, updates=(100,), small_L=(1,), num_train=400, few_train=100, num_test=200,
                             classifier_seeds=2),
    # cpu: 1 classifier seed, not 3, and no full-batch budget above 5·10⁹ (updates × points × dimensions): with 2
    # seeds and a 5·10¹⁰ cap one ICA model took 20 minutes on this 2-core machine (shared with other jobs), raw
    # pixels an hour; the readings differ by far more than the classifier seeds do (0.4–1.7 points in fig6-table)
    "cpu": SensitivityPlan(steps=3000, updates=(1_000, 10_000, 100_000), small_L=(1, 8), num_train=10_000,
                           few_train=1_000, num_test=5_000, classifier_seeds=1, max_full_batch_work=5e9),
    "paper": SensitivityPlan(steps=300_000, updates=(1_000, 10_000, 100_000), small_L=(1, 8), num_train=10_000,
                             few_train=1_000, num_test=5_000, classifier_seeds=3),
}


def readings(plan: SensitivityPlan) -> list[Reading]:
    """The classifier's choices crossed at full size, then L and the point count, each standardised or not."""
    base = Reading()
    crossed = [dataclasses.replace(base, standardize=standardize, batch_size=batch, updates=updates)
               for standardize, batch, updates in itertools.product((True, False), (64, None),
                                                                   (None, *plan.updates))]
    varied = [dataclasses.replace(base, standardize=standardize, **change)
              for change in [*({"L": L} for L in plan.small_L), {"num_train": plan.few_train}]
              for standardize in (True, False)]
    return crossed + varied


@dataclass
class SensitivityResult(Result):
    scores: dict = field(default_factory=dict)  # row key -> reading label -> score per classifier seed
    readings: list[dict] = field(default_factory=list)
    summary: dict = field(default_factory=dict)  # per reading: fit to the paper; the finding; each choice's effect
    fit_seconds: dict = field(default_factory=dict)  # row key -> reading label -> fitting time (when computed)
    sources: dict = field(default_factory=dict)  # trained row key -> which model was scored

    def scores_by_reading(self, row: str) -> dict[str, float]:
        """Row ``row``'s metric (%, mean over classifier seeds) under each reading it was scored with."""
        return {label: 100 * float(np.mean(values)) for label, values in self.scores.get(row, {}).items()}


class MetricSensitivity(Experiment):
    name = "metric-sensitivity"
    source = "App. A.4's open choices"
    summary = "the metric of fixed representations under every reading App. A.4 leaves open"
    result_type = SensitivityResult
    plans = PLANS
    options = ("rows",)

    def runs(self, ctx: ExperimentContext) -> list[RunSpec]:
        """The trained rows' models, unless the training curve beside this report kept them at the plan's step."""
        return [RunSpec(f"{row.key}-seed0", resolved(_trained_config(ctx, row, ctx.plan)))
                for row in _rows(ctx) if row.model_type and _curve_model(ctx, row, ctx.plan) is None]

    def analyse(self, ctx: ExperimentContext, outcomes: dict[str, RunOutcome]) -> SensitivityResult:
        data, plan, rows = ctx.data, ctx.plan, _rows(ctx)
        reading_list = readings(plan)
        scores: dict[str, dict[str, list[float]]] = {}
        seconds: dict[str, dict[str, float]] = {}
        for row in sorted(rows, key=lambda row: row.model_type is not None):  # fitted rows first
            source = _source(ctx, row, outcomes) if row.model_type else None
            if row.model_type and source is None:
                continue  # diverged: named in the report
            identity = {"experiment": self.name, "version": SCORES_VERSION, "plan": dataclasses.asdict(plan),
                        "readings": [r.label for r in reading_list], "data": data_identity(data),
                        "row": row.fitted or row.key, "threads": ctx.budget.threads,
                        "model": None if source is None else _model_identity(*source)}

            def compute(row: Row = row, source: tuple[Path, int | None] | None = source) -> dict:
                with torch_threads(ctx.budget.threads):
                    return _score_and_time(_representation(row, data, source, ctx), data, plan, reading_list,
                                           ctx.progress)

            stored = ResultStore(ctx.out_dir / "scores.json").get_or_compute(identity, compute)
            scores[row.key], seconds[row.key] = stored["scores"], stored["seconds"]
        summary = summarise(scores, rows if paper_values_apply(data) else [], reading_list)
        sources = {row.key: _describe_source(ctx, row, plan) for row in rows if row.model_type}
        return SensitivityResult(scores, [{**dataclasses.asdict(reading), "label": reading.label}
                                          for reading in reading_list], summary, seconds, sources)

    def report(self, ctx: ExperimentContext, result: SensitivityResult) -> Report:
        return _report(ctx, result)


def _rows(ctx: ExperimentContext) -> list[Row]:
    unknown = sorted(set(ctx.rows or ()) - set(ROW_KEYS))
    if unknown:
        raise BetaVAEError(f"metric-sensitivity has no row(s) {unknown}; choose from: {', '.join(ROW_KEYS)}")
    return [row_for_data(row, ctx.data) for row in FIG6_ROWS if row.key in (ctx.rows or ROW_KEYS)]


def _model_identity(run_dir: Path, step: int | None) -> dict:
    """What decides a trained model's numbers: its config and the step scored (not where its folder lies)."""
    run = RunDir(run_dir)
    status = run.status()
    return {"config": run.config().to_dict(), "step": step if step is not None else status.get("step")}


def _report(ctx: ExperimentContext, result: SensitivityResult) -> Report:
    data, plan = ctx.data, ctx.plan
    rows = [row for row in _rows(ctx)]
    reading_list = readings(plan)
    scores, seconds, summary, sources = result.scores, result.fit_seconds, result.summary, result.sources
    paper_applies = paper_values_apply(data)
    report = Report("Which reading of App. A.4 gives the paper's numbers? The metric's sensitivity")
    report.paragraph(f"**Finding.** {summary['finding']}")
    report.paragraph(
        f"{data.describe()['name']}; budget {ctx.budget.name}. Representations held fixed: the ground truth, raw "
        f"pixels, PCA, ICA, an untrained VAE (seed 0), and a VAE and a β-VAE (β = 4) trained {plan.steps} steps "
        f"(seed 0; their scores depend on training length far more than on the classifier: see the training-curve "
        f"experiment). Trained models: {'; '.join(sources.values()) or 'none'}. Each reading is scored with "
        f"{plan.classifier_seeds} classifier seed(s) (each its own points) on "
        f"{plan.num_test} test points; cells are the mean over classifier seeds, in %. Reading labels: std/raw = "
        f"inputs standardised or not; b64/full = minibatch 64 or full batch; conv = Adagrad until the training loss "
        f"stops improving, 1e3… = that many Adagrad updates; L and n where they differ from 64 and "
        f"{plan.num_train}.")
    keys = [row.key for row in rows if row.key in scores]
    labels = {row.key: row.label for row in rows}
    paper = {row.key: row for row in rows}
    fit_columns = ["inside ± std", "within 5 points", "paper's order", "mean |gap|"] if paper_applies else []
    table = [["paper", *[_paper_cell(paper[key]) for key in keys], "", "", "", ""]] if paper_applies else []
    for reading in reading_list:
        cells = [f"{100 * np.mean(scores[key][reading.label]):.1f}" if reading.label in scores[key] else "–"
                 for key in keys]
        if paper_applies:
            fit = summary["readings"].get(reading.label)
            order = "–" if fit is None else "yes" if fit["paper_order"] else f"no (τ = {fit['kendall_tau']:.2f})"
            cells += ["–"] * 4 if fit is None else [f"{fit['inside_std']}/{fit['compared']}",
                                                    f"{fit['within_5']}/{fit['compared']}", order,
                                                    f"{fit['mean_abs_gap']:.1f}"]
        table.append([reading.label, *cells])
    report.table(["reading", *[labels[key] for key in keys], *fit_columns], table)
    if paper_applies:
        report.figure(_heat_map(scores, keys, labels, paper, reading_list, ctx.out_dir / "metric_sensitivity.png"),
                      "ours − paper (points) for every representation under every reading")
        report.heading("What each choice does")
        report.paragraph(summary["effects"])
    capped = {reading.label: [labels[key] for key in keys if reading.label not in scores[key]]
              for reading in reading_list}
    capped = {label: rows_missing for label, rows_missing in capped.items() if rows_missing}
    if capped:
        report.paragraph(
            f"Not run at this budget ('–'), their cost above the plan's cap of {plan.max_full_batch_work:.0e} "
            "(updates × points × code dimensions): " + "; ".join(
                f"{label} ({'every row' if len(missing) == len(keys) else ', '.join(missing)})"
                for label, missing in capped.items()) +
            ". Full batch means every update touches all the training points; the paper budget runs them all.")
    total = sum(sum(row.values()) for row in seconds.values())
    report.paragraph(f"Fitting the classifiers took {total / 60:.0f} minutes in all, wall clock (per row and "
                     "reading in results.json, `fit_seconds`).")
    missing = [row.label for row in rows if row.key not in scores]
    if missing:
        report.paragraph(f"Not scored (their training diverged): {', '.join(missing)}.")
    return report


def _curve_model(ctx: ExperimentContext, row: Row, plan: SensitivityPlan) -> tuple[Path, int] | None:
    """The training curve's seed-0 model of a trained row beside this report, at its kept step ``plan.steps`` (the
    model a run of that length would be: keeping weights and a longer schedule change no number), if it is there."""
    curve = RunDir(ctx.out_dir.parent / f"training-curve-{ctx.budget.name}" / "runs" / f"{CURVE_OF_ROW[row.key]}-seed0")
    config = resolved(_trained_config(ctx, row, plan))
    if curve.exists() and plan.steps in curve.kept_steps() and _same_model(curve.config(), config):
        return curve.path, plan.steps
    return None


def _source(ctx: ExperimentContext, row: Row, outcomes: dict[str, RunOutcome]) -> tuple[Path, int | None] | None:
    """The model scored for a trained row: the curve's (see :func:`_curve_model`), else the run trained here; None
    if that diverged."""
    found = _curve_model(ctx, row, ctx.plan)
    if found is not None:
        return found
    outcome = outcomes[f"{row.key}-seed0"]
    return (outcome.run_dir, None) if outcome.state == FINISHED else None


def _same_model(first: RunConfig, second: RunConfig) -> bool:
    """Whether two runs train the same network the same way up to the shorter one's length (models that are one
    model under two names compare as one, e.g. the VAE and the β-VAE at β = 1; length, checkpoints, logging and
    device change no number)."""
    def essentials(config: RunConfig) -> dict:
        values = config.to_dict()
        values["model_type"] = config.spec.identity
        values["train"] = {key: values["train"][key] for key in ("batch_size", "seed")}
        return values

    return essentials(first) == essentials(second)


def _describe_source(ctx: ExperimentContext, row: Row, plan: SensitivityPlan) -> str:
    curve = ctx.out_dir.parent / f"training-curve-{ctx.budget.name}" / "runs" / f"{CURVE_OF_ROW[row.key]}-seed0"
    if RunDir(curve).exists() and plan.steps in RunDir(curve).kept_steps():
        return f"{row.label}: the training curve's seed-0 model at step {plan.steps:,} ({curve})"
    return f"{row.label}: trained here for {plan.steps:,} steps, seed 0 (runs/{row.key}-seed0)"


def _trained_config(ctx: ExperimentContext, row: Row, plan: SensitivityPlan) -> RunConfig:
    config = beta_vae_config(ctx.budget, ctx.dataset, seed=0, beta=row.beta, model_type=row.model_type,
                             device=ctx.device, data_path=ctx.data_path)
    config.train.steps = plan.steps
    return config


def _representation(row: Row, data: GroundTruthData, source: tuple[Path, int | None] | None,
                    ctx: ExperimentContext):
    from betavae.baselines.registry import load_run_representation, make_representation
    from betavae.train import resolve_device

    if source is not None:
        run_dir, step = source
        return load_run_representation(run_dir, resolve_device(ctx.device), step)
    return make_representation(row.fitted, data, 0)


def _score_and_time(representation, data: GroundTruthData, plan: SensitivityPlan, reading_list: list[Reading],
                    progress: bool) -> dict:
    seconds: dict[str, float] = {}
    scores = score_row(representation, data, plan, reading_list, progress, seconds)
    return {"scores": scores, "seconds": seconds}


def score_row(representation, data: GroundTruthData, plan: SensitivityPlan, reading_list: list[Reading],
              progress: bool = False, seconds: dict[str, float] | None = None) -> dict[str, list[float]]:
    """The metric of one representation (or App. A.3's list of models, averaged) under every reading the plan can
    afford (:func:`affordable`); ``seconds``, if given, receives each reading's fitting time."""
    if isinstance(representation, list):
        parts = [score_row(part, data, plan, reading_list, progress, seconds) for part in representation]
        return {label: np.mean([part[label] for part in parts], axis=0).tolist() for label in parts[0]}
    cache = CodeCache(representation, data, progress=progress)
    scored = factor_ids(data, None)
    seeds = range(plan.classifier_seeds)
    scores: dict[str, list[float]] = {}
    bar = progress_bar(total=len(reading_list) * len(seeds), desc=f"metric readings of {representation.name}",
                       unit="fit", disable=not progress)
    try:
        for L in sorted({reading.L for reading in reading_list}):
            # the same generator as `betavae evaluate` (sample seed 0, stream 0): its default reading is this one
            rng = np.random.default_rng([0, 0])
            splits = [train_test_features(cache, data, scored, L, plan.num_train, plan.num_test, rng) for _ in seeds]
            for reading in (reading for reading in reading_list if reading.L == L):
                bar.set_postfix(reading=reading.label)
                if not affordable(reading, plan, splits[0][0].shape[1]):
                    bar.update(len(seeds))
                    continue
                classifier = ClassifierSettings(batch_size=reading.batch_size, standardize=reading.standardize,
                                                updates=reading.updates)
                start = time.perf_counter()
                for seed, (x_train, y_train, x_test, y_test) in zip(seeds, splits):
                    n = reading.num_train or len(x_train)
                    fit = fit_linear_softmax(x_train[:n], y_train[:n], len(scored), seed, classifier)
                    scores.setdefault(reading.label, []).append(fit.accuracy(x_test, y_test))
                    bar.update()
                if seconds is not None:
                    seconds[reading.label] = seconds.get(reading.label, 0.0) + time.perf_counter() - start
    finally:
        bar.close()
    return scores


def affordable(reading: Reading, plan: SensitivityPlan, dimensions: int) -> bool:
    """Whether a reading fits the plan's compute: only full-batch fixed budgets are capped (their cost grows with
    updates × points × code dimensions; every other reading stops by its own convergence test or is cheap)."""
    if reading.batch_size is not None or reading.updates is None:
        return True
    work = reading.updates * (reading.num_train or plan.num_train) * dimensions
    return plan.max_full_batch_work is None or work <= plan.max_full_batch_work


def summarise(scores: dict, rows: list[Row], reading_list: list[Reading]) -> dict:
    """Per reading: rows inside the paper's ± std, within 5 points, Kendall's τ with the paper's order; the finding."""
    keys = [row.key for row in rows if row.key in scores and row.paper_mean is not None]
    paper = {row.key: row for row in rows}
    per_reading = {}
    for reading in reading_list:
        here = [key for key in keys if reading.label in scores[key]]  # rows the plan could afford this reading for
        if not here:
            continue
        ours = {key: 100 * float(np.mean(scores[key][reading.label])) for key in here}
        gaps = {key: ours[key] - paper[key].paper_mean for key in here}
        tau = _kendall_tau([paper[key].paper_mean for key in here], [ours[key] for key in here])
        per_reading[reading.label] = {
            "ours": ours, "gaps": gaps, "kendall_tau": tau, "paper_order": tau == 1.0, "compared": len(here),
            "missing": [key for key in keys if key not in here],
            "inside_std": sum(abs(gaps[key]) <= (paper[key].paper_std or 0.0) + 1e-9 for key in here),
            "within_5": sum(abs(gaps[key]) <= 5.0 for key in here),
            "mean_abs_gap": float(np.mean([abs(gap) for gap in gaps.values()])) if gaps else 0.0}
    if not keys:
        return {"readings": {}, "finding": "The paper's values are for dSprites: on this dataset the table shows how "
                "each reading moves each row, with nothing to compare against.", "effects": ""}
    return {"readings": per_reading, "finding": _finding(per_reading, keys, paper),
            "effects": _effects(per_reading, reading_list, keys, paper)}


def _finding(per_reading: dict, keys: list[str], paper: dict) -> str:
    if not per_reading or not keys:
        return "Nothing to compare: no row with a paper value was scored."
    matching = [label for label, fit in per_reading.items() if fit["inside_std"] == len(keys) and fit["paper_order"]]
    complete = [label for label, fit in per_reading.items() if fit["compared"] == len(keys)] or list(per_reading)
    best = min(complete, key=lambda label: (per_reading[label]["mean_abs_gap"], -per_reading[label]["within_5"]))
    fit = per_reading[best]
    worst = max(fit["gaps"], key=lambda key: abs(fit["gaps"][key]))
    head = (f"Under reading(s) {', '.join(matching)} every row falls inside the paper's ± std and in its order."
            if matching else "No reading puts every row inside the paper's ± std and in the paper's order.")
    return (f"{head} Closest reading: '{best}' (mean |ours − paper| {fit['mean_abs_gap']:.1f} points, "
            f"{fit['within_5']} of {fit['compared']} rows within 5 points, Kendall τ with the paper's order "
            f"{fit['kendall_tau']:.2f}); its largest gap is {paper[worst].label} at {fit['gaps'][worst]:+.1f}. "
            f"Our default reading ('{Reading().label}') scores mean |gap| "
            f"{per_reading.get(Reading().label, fit)['mean_abs_gap']:.1f}.")


def _effects(per_reading: dict, reading_list: list[Reading], keys: list[str], paper: dict) -> str:
    """For each open choice, how far it moves each row on average (the other choices held at the default)."""
    default = Reading()
    changes = [("inputs not standardised", dataclasses.replace(default, standardize=False)),
               ("full batch instead of 64", dataclasses.replace(default, batch_size=None))]
    changes += [(f"{r.updates:,} updates instead of converged", r) for r in reading_list
                if r.updates is not None and r.standardize and r.batch_size == 64]
    changes += [(f"L = {r.L}", r) for r in reading_list if r.L != 64 and r.standardize]
    changes += [(f"{r.num_train:,} training points", r) for r in reading_list
                if r.num_train is not None and r.standardize]
    base = per_reading.get(default.label)
    if base is None:
        return ""
    sentences = []
    for name, reading in changes:
        if reading.label not in per_reading:
            continue
        ours = per_reading[reading.label]["ours"]
        moved = {key: ours[key] - base["ours"][key] for key in keys if key in ours and key in base["ours"]}
        biggest = sorted(moved, key=lambda key: -abs(moved[key]))[:3]
        sentences.append(f"{name}: " + ", ".join(f"{paper[key].label} {moved[key]:+.1f}" for key in biggest))
    return "Change from the default reading, the three rows it moves most (points): " + "; ".join(sentences) + "."


def _kendall_tau(first: list[float], second: list[float]) -> float:
    pairs = list(itertools.combinations(range(len(first)), 2))
    if not pairs:
        return 1.0
    agree = sum(np.sign(first[i] - first[j]) * np.sign(second[i] - second[j]) for i, j in pairs)
    return float(agree / len(pairs))


def _paper_cell(row: Row) -> str:
    if row.paper_mean is None:
        return "–"
    return f"{row.paper_mean:g}" + (f" ± {row.paper_std:g}" if row.paper_std is not None else "")


def _heat_map(scores: dict, keys: list[str], labels: dict, paper: dict, reading_list: list[Reading],
              path: Path) -> Path:
    gaps = np.array([[100 * np.mean(scores[key][reading.label]) - (paper[key].paper_mean or np.nan)
                      if reading.label in scores[key] else np.nan for key in keys] for reading in reading_list])
    figure = new_figure(2 + 1.1 * len(keys), 1 + 0.3 * len(reading_list))
    axis = figure.subplots()
    image = axis.imshow(gaps, cmap="RdBu_r", vmin=-50, vmax=50, aspect="auto")
    for (i, j), value in np.ndenumerate(gaps):
        axis.text(j, i, "–" if np.isnan(value) else f"{value:+.0f}", ha="center", va="center", fontsize=7)
    axis.set_xticks(range(len(keys)), [labels[key].split(" (")[0] for key in keys], rotation=30, ha="right")
    axis.set_yticks(range(len(reading_list)), [reading.label for reading in reading_list], fontsize=8)
    axis.set_title("metric: ours − paper (points)")
    figure.colorbar(image, ax=axis, shrink=0.8)
    return save_png(figure, path)


EXPERIMENT = MetricSensitivity()
