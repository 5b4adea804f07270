"""Fig. 6 against training time: does the β-VAE/VAE gap of the metric (§4, App. A.4) open, when, and how far?

The paper reports one number per model, "trained to convergence". This experiment keeps the weights of each
run at log-spaced steps (``train.keep_steps``) and scores every kept checkpoint with the same metric, so the
β-VAE (β = 4) and the VAE (β = 1) can be compared along the whole of training, several seeds each. A control
curve trains β = 4 with Adam (lr 1e-4, batch 64, as disentanglement_lib does) instead of the paper's Adagrad
(lr 1e-2): if it moves differently, the optimiser, not β, decides how fast disentanglement comes.

Beside the metric: the KL of every latent and the number of active latents (KL > 0.1 nats) on the same
2,000 training images at each kept step: what the model spends its capacity on as the score moves.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from betavae.data.ground_truth import GroundTruthData
from betavae.evaluate import EvalSettings, data_identity, evaluate_run_cached, metric_result
from betavae.experiments.base import Experiment, Result, in_memory, write_outputs
from betavae.experiments.common import (
    ExperimentContext,
    beta_vae_config,
    elbo_terms,
    eval_settings,
    paper_settings,
    paper_values_apply,
)
from betavae.experiments.rows import FIG6_ROWS
from betavae.experiments.runner import EvalJob, RunOutcome, RunSpec, evaluate_sweep, train_and_watch
from betavae.io import notice
from betavae.metrics.protocol import seed_protocol
from betavae.metrics.registry import METRICS, metric_names
from betavae.runs import DIVERGED, FINISHED, RunDir, load_model
from betavae.store import ResultStore, result_key
from betavae.viz.canvas import new_figure, save_png, save_side_by_side
from betavae.viz.grids import grid_figure, to_display, traversal_rows
from betavae.viz.report import Report

ACTIVE_KL = 0.1  # nats: a latent with less KL than this carries (almost) no information
PROBE_IMAGES = 2000  # training images on which KL per latent is measured at each kept step
PROBE_SEED = 1234  # which images those are
FIG7_IMAGE = 123_456  # the dSprites image the Fig. 7 sheets traverse from (any index of a smaller dataset wraps)
PAPER = {row.key: row for row in FIG6_ROWS}  # the paper's VAE and β-VAE values, drawn as reference lines
CURVE_OF_ROW = {"vae": "beta1", "beta-vae-b4": "beta4"}  # the curve that follows a trained row of Fig. 6


@dataclass(frozen=True)
class CurvePlan:
    """How long the runs train, which steps they keep, how many seeds each curve has."""

    steps: int
    keep_steps: tuple[int, ...]
    seeds: int  # model seeds of each β curve
    control_seeds: int  # model seeds of the Adam control
    metrics: str = ""  # later metrics every kept step is scored with unless --metrics says otherwise ("all": every one)


def log_spaced(last: int, first: int) -> tuple[int, ...]:
    """``first, 2·first, 4·first, …`` up to and including ``last``."""
    steps, step = [], first
    while step < last:
        steps.append(step)
        step *= 2
    return (*steps, last)


# smoke: a minute (tests); cpu: about an hour on an idle 2-core CPU (30,000 training steps, 25 evaluations);
# paper: 300k steps as disentanglement_lib trains dSprites models, 10 seeds (a GPU, or a cluster, advised);
# long: the paper's length for β = 1 and β = 4 on one machine over several sessions (seed 0 of each first, then
# seed 1), every kept step scored at the paper's sizes with every metric while the runs train on.
PLANS = {
    "smoke": CurvePlan(steps=40, keep_steps=log_spaced(40, 10), seeds=2, control_seeds=1),
    "cpu": CurvePlan(steps=6_000, keep_steps=log_spaced(6_000, 375), seeds=2, control_seeds=1),
    "paper": CurvePlan(steps=300_000, keep_steps=log_spaced(300_000, 1172), seeds=10, control_seeds=3),
    "long": CurvePlan(steps=300_000, keep_steps=(6_000, 12_000, 25_000, 50_000, 100_000, 200_000, 300_000), seeds=2,
                      control_seeds=0, metrics="all"),
}
REPORT_EVERY_S = 600.0  # while runs train and nothing new is kept, the report's progress line is refreshed this often
POLL_S = 15.0  # how often the runs' folders are looked at for newly kept checkpoints


@dataclass(frozen=True)
class Curve:
    key: str
    label: str
    short: str  # for small panel titles
    beta: float
    optimizer: tuple[str, float] | None  # None: the paper's (Adagrad 1e-2 for the 2D-shapes MLP)
    seeds: int


def curves(plan: CurvePlan, betas: tuple[float, ...]) -> list[Curve]:
    result = [Curve(f"beta{beta:g}", "VAE (β = 1)" if beta == 1 else f"β-VAE (β = {beta:g})", f"β = {beta:g}", beta,
                    None, plan.seeds) for beta in betas]
    if plan.control_seeds:
        result.append(Curve("beta4-adam", "β-VAE (β = 4), Adam 1e-4 (control)", "β = 4, Adam", 4.0, ("adam", 1e-4),
                            plan.control_seeds))
    return result


def run_specs(ctx: ExperimentContext, plan: CurvePlan, curve_list: list[Curve]) -> dict[tuple[str, int], RunSpec]:
    """One run per curve and seed, seed 0 of every curve first (a sweep cut short still has a whole first pair)."""
    specs = {}
    for seed in range(max(curve.seeds for curve in curve_list)):
        for curve in curve_list:
            if seed >= curve.seeds:
                continue
            config = beta_vae_config(ctx.budget, ctx.dataset, seed=seed, beta=curve.beta, device=ctx.device,
                                     data_path=ctx.data_path)
            config.train.steps, config.train.keep_steps = plan.steps, plan.keep_steps
            config.train.checkpoint_every = min(config.train.checkpoint_every, plan.keep_steps[0])
            if curve.optimizer:
                config.optim.name, config.optim.lr = curve.optimizer
            specs[curve.key, seed] = RunSpec(f"{curve.key}-seed{seed}", config)
    return specs


@dataclass
class CurveResult(Result):
    points: list[dict] = field(default_factory=list)  # per curve, seed and kept step scored so far
    summary: dict = field(default_factory=dict)  # curve -> step -> metric mean/std/min/max, protocol, KL figures
    answer: str = ""
    paper_settings_check: list[dict] = field(default_factory=list)
    diverged: list[str] = field(default_factory=list)
    in_progress: list[str] = field(default_factory=list)  # one line per run not finished yet
    latent_codes: dict = field(default_factory=dict)  # Fig. 7: which factor each active latent codes
    fig7: dict = in_memory(dict)  # the sheets' figure, step and table rows

    def metric_by_step(self, curve: str) -> dict[int, float]:
        """The metric (%, mean over model seeds) of ``curve`` (e.g. "beta4") at each scored step."""
        return {int(step): 100 * cell["metric_mean"] for step, cell in self.summary.get(curve, {}).items()}


class TrainingCurve(Experiment):
    name = "training-curve"
    source = "Fig. 6, along training"
    summary = "the metric and the later metrics at kept checkpoints of β = 1 and β = 4 runs, as they train"
    result_type = CurveResult
    plans = PLANS
    options = ("metrics", "betas")

    def runs(self, ctx: ExperimentContext) -> list[RunSpec]:
        return list(_specs(ctx).values())

    def train(self, ctx: ExperimentContext, specs: list[RunSpec]) -> dict[str, RunOutcome]:
        """The runs train in other processes while this one scores each kept checkpoint as soon as it is written
        and rewrites the report (also every ``REPORT_EVERY_S`` while nothing new is kept)."""
        settings = _eval_settings(ctx)
        last_report = [time.monotonic()]

        def write() -> Path:
            last_report[0] = time.monotonic()
            return write_outputs(self, ctx, None)

        def score(job: EvalJob) -> None:
            fresh = evaluate_run_cached(job.run_dir, ctx.data, settings, step=job.step, compute=False) is None
            evaluate_sweep([job], ctx.data, settings, ctx.device, ctx.progress, ctx.executor)
            probe(job.run_dir, job.step, ctx.data, settings.threads)
            if fresh:
                notice(f"scored {job.run_dir.name} at step {job.step:,}; {write()} updated")

        def refresh() -> None:
            if time.monotonic() - last_report[0] >= REPORT_EVERY_S:
                write()

        outcomes = train_and_watch(specs, ctx.runs_dir, score, refresh, ctx.budget.workers, ctx.progress,
                                   ctx.executor, poll_s=POLL_S)
        return {outcome.name: outcome for outcome in outcomes}

    def analyse(self, ctx: ExperimentContext, outcomes: dict[str, RunOutcome] | None) -> CurveResult:
        """From what has been scored so far; once every run has trained (``outcomes`` given) also the check of the
        budget's metric sizes against the paper's."""
        data, plan, specs, settings = ctx.data, ctx.plan, _specs(ctx), _eval_settings(ctx)
        curve_list = curves(plan, _betas(ctx))
        points = collect_points(specs, ctx.runs_dir, data, settings)
        in_progress, diverged = progress_lines(specs, ctx.runs_dir, curve_list, points)
        summary = summarise(points, curve_list, plan)
        answer = gap_answer(summary, plan, paper_values_apply(data))
        if in_progress:
            answer += " (in progress: the curve goes on as the runs train; the answer may change)"
        check = [] if outcomes is None else _paper_settings_check(
            ctx, data, plan, {key: RunDir(ctx.runs_dir / spec.name) for key, spec in specs.items()}, settings)
        fig7 = _fig7_sheets(ctx, specs, points, data, curve_list)
        return CurveResult(points, summary, answer, check, diverged, in_progress, fig7["codes"], fig7)

    def report(self, ctx: ExperimentContext, result: CurveResult) -> Report:
        return _report(ctx, result)

    def settings(self, ctx: ExperimentContext) -> dict:
        return {"betas": list(_betas(ctx)), "eval_settings": _eval_settings(ctx).to_dict()}


def _betas(ctx: ExperimentContext) -> tuple[float, ...]:
    return tuple(ctx.betas or (1.0, 4.0))


def _specs(ctx: ExperimentContext) -> dict[tuple[str, int], RunSpec]:
    return run_specs(ctx, ctx.plan, curves(ctx.plan, _betas(ctx)))


def _eval_settings(ctx: ExperimentContext) -> EvalSettings:
    """The paper's metric and dlib's variant, and the later metrics of ``--metrics`` (else the plan's)."""
    later = ctx.metrics or (metric_names(ctx.plan.metrics) if ctx.plan.metrics else ())
    return eval_settings(ctx.budget, ctx.data, ("beta-vae", "beta-vae-dlib", *later))


def probe(run_dir: Path, step: int, data: GroundTruthData, threads: int) -> dict:
    """Reconstruction, KL and KL per latent of a kept checkpoint on ``PROBE_IMAGES`` training images, kept in the
    run's ``probes.json`` (a rerun of the experiment recomputes nothing)."""
    def compute() -> dict:
        config, model = load_model(run_dir, step=step)
        return elbo_terms(model, config, data, num_images=min(PROBE_IMAGES, data.num_images), seed=PROBE_SEED,
                          threads=threads)

    return ResultStore(Path(run_dir) / "probes.json").get_or_compute(_probe_identity(step, data, threads), compute)


def _probe_identity(step: int, data: GroundTruthData, threads: int) -> dict:
    return {"probe": "elbo_terms", "version": 1, "step": step, "images": min(PROBE_IMAGES, data.num_images),
            "seed": PROBE_SEED, "threads": threads, "data": data_identity(data)}


def collect_points(specs: dict[tuple[str, int], RunSpec], root: Path, data: GroundTruthData,
                   settings: EvalSettings) -> list[dict]:
    """One point per (curve, seed, kept step) that has been scored so far (evaluation and probe both cached)."""
    later = [name for name in settings.names() if name not in ("beta-vae", "beta-vae-dlib")]
    points = []
    for (key, seed), spec in specs.items():
        run = RunDir(root / spec.name)
        for step in run.kept_steps():
            evaluation = evaluate_run_cached(run.path, data, settings, step=step, compute=False)
            entry = ResultStore(run.path / "probes.json").get(result_key(_probe_identity(step, data,
                                                                                         settings.threads)))
            terms = None if entry is None else entry["value"]
            if evaluation is None or terms is None:
                continue  # kept, not yet scored
            scored = metric_result(evaluation, "beta-vae")
            points.append({"curve": key, "seed": seed, "step": step, "metric": scored["scores"],
                           "metric_per_factor": scored["per_factor_accuracy"],
                           "dlib": metric_result(evaluation, "beta-vae-dlib")["score"],
                           "later": {column: value for name in later for column, value
                                     in METRICS[name].headline(metric_result(evaluation, name)).items()},
                           "mig_information": (metric_result(evaluation, "mig") or {}).get("mutual_information"),
                           "mig_entropy": (metric_result(evaluation, "mig") or {}).get("entropy"),
                           "reconstruction": terms["reconstruction"], "kl": terms["kl"],
                           "kl_per_latent": terms["kl_per_latent"],
                           "active_latents": int(sum(kl > ACTIVE_KL for kl in terms["kl_per_latent"]))})
    return points


def progress_lines(specs: dict[tuple[str, int], RunSpec], root: Path, curve_list: list[Curve],
                   points: list[dict]) -> tuple[list[str], list[str]]:
    """(one line per run that has not finished: where it stands; the runs that diverged)."""
    labels = {curve.key: curve.short for curve in curve_list}
    lines, diverged = [], []
    for (key, seed), spec in specs.items():
        run = RunDir(root / spec.name)
        status = run.status() if run.exists() else {"state": None}
        scored = sorted(point["step"] for point in points if point["curve"] == key and point["seed"] == seed)
        kept = run.kept_steps()
        where = f"{labels[key]}, seed {seed}"
        if status["state"] == DIVERGED:
            diverged.append(spec.name)
        elif status["state"] != FINISHED:
            reached = status.get("step", 0) if status["state"] else 0
            state = "not started" if status["state"] is None else f"at step {reached:,} of {spec.config.train.steps:,}"
            waiting = [step for step in kept if step not in scored]
            lines.append(f"{where}: {state}" + (f"; kept {', '.join(f'{s:,}' for s in kept)}" if kept else "")
                         + (f" (scoring pending at {', '.join(f'{s:,}' for s in waiting)})" if waiting else ""))
    return lines, diverged


def _report(ctx: ExperimentContext, result: CurveResult) -> Report:
    """The report of what has been scored so far (any time, also mid-training)."""
    data, plan, settings = ctx.data, ctx.plan, _eval_settings(ctx)
    curve_list = curves(plan, _betas(ctx))
    points, summary, answer, sheets = result.points, result.summary, result.answer, result.fig7
    in_progress, diverged, check = result.in_progress, result.diverged, result.paper_settings_check
    later = [name for name in settings.names() if name not in ("beta-vae", "beta-vae-dlib")]
    metric = settings.get("beta-vae")
    paper_applies = paper_values_apply(data)

    report = Report("The metric along training: when does the β-VAE/VAE gap open? (Fig. 6, App. A.4)")
    report.paragraph(f"**Answer.** {answer}")
    if in_progress:
        report.paragraph("**In progress** (the same command continues it; the report is rewritten as each kept step is "
                         "scored):\n" + "\n".join(f"- {line}" for line in in_progress))
    report.paragraph(
        f"{data.describe()['name']}; budget {ctx.budget.name}: {plan.steps:,} steps of batch 64 per run "
        f"({plan.steps * 64 / data.num_images:.2f} epochs), weights kept at steps {list(plan.keep_steps)}; "
        f"{plan.seeds} model seeds per β (seed 0 of each first), {plan.control_seeds} for the Adam control; "
        f"{ctx.budget.threads} torch thread(s) per run. Every kept checkpoint is scored as soon as it is written "
        f"with the metric (L = {metric.L}, {metric.num_train:,} training / {metric.num_test:,} test points, "
        f"{len(settings.classifier_seeds)} classifier seeds, inputs standardised = {metric.classifier.standardize}) "
        f"and disentanglement_lib's variant" + (f", and with {', '.join(later)}" if later else "") +
        f"; KL per latent on {min(PROBE_IMAGES, data.num_images):,} training images.")
    if diverged:
        report.paragraph(f"Diverged (scored only at the steps kept before): {', '.join(diverged)}.")
    if points:
        report.figure(_plot(summary, points, curve_list, ctx.out_dir / "training_curve.png", paper_applies),
                      "metric, dlib variant and active latents against training steps (mean over model seeds, "
                      "band = min–max); KL per latent of seed 0 of each curve")
    report.heading("Metric (%) at each kept step")
    report.paragraph("Each cell: mean ± std over model seeds of each model's mean over classifier seeds (n: the "
                     "seeds scored at that step, when fewer than planned); in brackets the paper's protocol on the "
                     "same scores (worst 50% of models × classifier seeds discarded, mean of the rest)." +
                     (" The paper (Fig. 6): VAE 61.58 ± 0.5, β-VAE 99.23 ± 0.1." if paper_applies else ""))
    report.table(["step", *[curve.label for curve in curve_list], "gap β = 4 − β = 1"],
                 _table_rows(summary, curve_list))
    labelled = {name for point in points for name in point["metric_per_factor"]}
    factors = [name for name in data.true_factor_names if name in labelled]  # the paper's metric never asks for shape
    per_factor = [[point["step"], f"{point['curve']} s{point['seed']}",
                   *[f"{100 * point['metric_per_factor'].get(name, float('nan')):.1f}" for name in factors]]
                  for point in sorted(points, key=lambda p: (p["step"], p["curve"], p["seed"]))]
    if per_factor:
        report.heading("The metric's per-factor accuracy (%) at each kept step")
        report.paragraph("How often the metric's classifier names each factor correctly (test points where that "
                         "factor was held fixed), mean over classifier seeds." +
                         "".join(f" {name} is not a label of the paper's metric." for name in data.true_factor_names
                                 if name not in labelled))
        report.table(["step", "run", *factors], per_factor)
    if later:
        report.heading("Later metrics at each kept step")
        report.paragraph("Mean over model seeds. " + " ".join(f"{METRICS[name].title}." for name in later) +
                         " Sizes in settings.json (" + ("published defaults" if ctx.budget.published_sizes
                                                        else "smoke sizes at this budget") + ").")
        columns = list(dict.fromkeys(column for point in points for column in point["later"]))
        report.table(["step", *[f"{curve.label}: {column}" for curve in curve_list for column in columns]],
                     [[step, *[_later_cell(points, curve.key, step, column) for curve in curve_list
                               for column in columns]] for step in plan.keep_steps
                      if any(point["step"] == step for point in points)])
    report.heading("Active latents and KL (nats) at each kept step")
    report.table(["step", *[f"{curve.label}: active / KL" for curve in curve_list]],
                 [[step, *[_kl_cell(summary, curve.key, step) for curve in curve_list]]
                  for step in plan.keep_steps if any(str(step) in cells for cells in summary.values())])
    if sheets["figure"] is not None:
        report.heading(f"What each latent codes at step {sheets['step']:,} (Fig. 7)")
        report.paragraph("Seed 0 of each curve at the longest step both have been scored at. Each active latent "
                         "(KL > 0.1 nats) with the factor it shares most information with (MIG's mutual information "
                         "divided by the factor's entropy) and that share; rows of the sheets traverse one latent "
                         "from −3 to 3 with the others at μ(x) of the same seed image, latents ordered by KL.")
        report.table(["run", "latent", "KL (nats)", "codes (normalised MI)", "next factor"], sheets["rows"])
        report.figure(sheets["figure"], f"traversals of the same image, step {sheets['step']:,}: "
                                        + " | ".join(sheets["captions"]))
    if check:
        report.heading("Do the budget's metric settings agree with the paper's?")
        report.paragraph("The last kept checkpoint of each seed-0 model, scored once with this budget's point "
                         "counts and once with the paper's (10,000 / 5,000 points, L = 64, 3 classifier seeds):")
        report.table(["run", "budget settings (%)", "paper settings (%)", "difference"],
                     [[row["run"], f"{100 * row['budget']:.2f}", f"{100 * row['paper']:.2f}",
                       f"{100 * (row['budget'] - row['paper']):+.2f}"] for row in check])
    return report


def _fig7_sheets(ctx: ExperimentContext, specs: dict[tuple[str, int], RunSpec], points: list[dict],
                 data: GroundTruthData, curve_list: list[Curve]) -> dict:
    """Fig. 7 for the β = 4 and β = 1 seed-0 models at the longest step both were scored at: one traversal sheet
    each from the same image, side by side, and which factor each active latent codes (from MIG's information)."""
    empty = {"figure": None, "rows": [], "codes": {}, "step": None, "captions": []}
    chosen = [curve.key for curve in curve_list if curve.key in ("beta4", "beta1")][::-1]
    steps = [{p["step"] for p in points if p["curve"] == key and p["seed"] == 0 and p["mig_information"]}
             for key in chosen]
    common = set.intersection(*steps) if len(steps) == 2 else set()
    if not common:
        return empty
    step = max(common)
    image = torch.from_numpy(data.images(np.array([FIG7_IMAGE % data.num_images]))).float().div(255.0)[0]
    rows, codes, pictures, captions = [], {}, [], []
    values = np.linspace(-3, 3, 9)
    for key in chosen:
        point = next(p for p in points if p["curve"] == key and p["seed"] == 0 and p["step"] == step)
        kl = np.array(point["kl_per_latent"])
        share = np.array(point["mig_information"]) / np.maximum(np.array(point["mig_entropy"]), 1e-12)[None, :]
        order = [int(latent) for latent in np.argsort(-kl)]
        labels, codes[key] = ["input"], {}
        for latent in order:
            ranked = np.argsort(-share[latent])
            top, second = data.true_factor_names[ranked[0]], data.true_factor_names[ranked[1]]
            active = kl[latent] > ACTIVE_KL
            codes[key][f"z{latent}"] = {"kl": float(kl[latent]), "active": bool(active), "factor": top,
                                        "share": float(share[latent, ranked[0]]), "next": second,
                                        "next_share": float(share[latent, ranked[1]])}
            labels.append(f"z{latent} {top} {share[latent, ranked[0]]:.2f}" if active else f"z{latent} (off)")
            if active:
                rows.append([f"{key} s0", f"z{latent}", f"{kl[latent]:.2f}",
                             f"{top} ({share[latent, ranked[0]]:.2f})",
                             f"{second} ({share[latent, ranked[1]]:.2f})"])
        _, model = load_model(ctx.runs_dir / specs[key, 0].name, step=step)
        caption = f"{next(c.label for c in curve_list if c.key == key)}, seed 0"
        figure = grid_figure([to_display(image[None]), *traversal_rows(model, image, np.array(order), values)],
                             labels, caption, [f"{value:g}" for value in values])
        pictures.append(figure)
        captions.append(caption)
    path = save_side_by_side(pictures, ctx.out_dir / "fig7_traversals.png")
    return {"figure": path, "rows": rows, "codes": codes, "step": step, "captions": captions}


def summarise(points: list[dict], curve_list: list[Curve], plan: CurvePlan) -> dict:
    """Per curve and kept step: metric and dlib mean/std/min/max over seeds, the paper's protocol, KL figures."""
    summary: dict = {}
    for curve in curve_list:
        for step in plan.keep_steps:
            at = [p for p in points if p["curve"] == curve.key and p["step"] == step]
            if not at:
                continue
            per_model = [float(np.mean(p["metric"])) for p in at]
            dlib = [p["dlib"] for p in at]
            summary.setdefault(curve.key, {})[str(step)] = {
                "seeds": len(at), "metric_mean": float(np.mean(per_model)), "metric_std": float(np.std(per_model)),
                "metric_min": min(per_model), "metric_max": max(per_model),
                "protocol": seed_protocol([p["metric"] for p in at])["mean"],
                "dlib_mean": float(np.mean(dlib)), "dlib_min": min(dlib), "dlib_max": max(dlib),
                "active_latents": float(np.mean([p["active_latents"] for p in at])),
                "kl": float(np.mean([p["kl"] for p in at])),
                "reconstruction": float(np.mean([p["reconstruction"] for p in at]))}
    return summary


def gap_answer(summary: dict, plan: CurvePlan, paper_applies: bool = True) -> str:
    """One sentence: where the β = 4 curve rises clearly above β = 1 for good, how far, and whether it still grows.

    "Clearly": the mean gap exceeds the sum of the two curves' seed standard deviations and 1 point."""
    if "beta1" not in summary or "beta4" not in summary:
        return "No answer: the β = 1 and β = 4 curves are both needed."
    steps = [step for step in plan.keep_steps if str(step) in summary["beta1"] and str(step) in summary["beta4"]]
    if not steps:
        return "No answer: no kept step was scored for both β = 1 and β = 4."
    gaps, clear = [], []
    for step in steps:
        vae, beta = summary["beta1"][str(step)], summary["beta4"][str(step)]
        gap = 100 * (beta["metric_mean"] - vae["metric_mean"])
        noise = 100 * (beta["metric_std"] + vae["metric_std"])
        gaps.append(gap)
        clear.append(gap > max(noise, 1.0))
    last, vae_last, beta_last = steps[-1], summary["beta1"][str(steps[-1])], summary["beta4"][str(steps[-1])]
    at_last = (f"at step {last:,} the β-VAE scores {100 * beta_last['metric_mean']:.1f} % and the VAE "
               f"{100 * vae_last['metric_mean']:.1f} % (gap {gaps[-1]:+.1f} points)")
    opened = next((i for i in range(len(steps)) if all(clear[i:])), None)
    if opened is None:
        ahead = [f"{steps[i]:,}" for i in range(len(steps)) if clear[i]]
        where = f" (clearly ahead only at step(s) {', '.join(ahead)})" if ahead else ""
        paper = "; the paper reports 99.23 against 61.58 for models trained to convergence" if paper_applies else ""
        return f"The gap does not open within {last:,} steps{where}: {at_last}{paper}."
    trend = gaps[-1] - gaps[-2] if len(gaps) > 1 else 0.0
    growing = ("still growing" if trend > 1.0 else "shrinking" if trend < -1.0 else "no longer growing")
    return (f"The gap opens at step {steps[opened]:,} ({gaps[opened]:+.1f} points) and stays open: {at_last}, "
            f"{growing} over the last doubling of training ({trend:+.1f} points since step {steps[-2]:,}).")


def _paper_settings_check(ctx: ExperimentContext, data: GroundTruthData, plan: CurvePlan,
                          runs: dict[tuple[str, int], RunDir], settings: EvalSettings) -> list[dict]:
    """Score the last kept step of each finished seed-0 model with the paper's point counts as well (below the paper's
    sizes, not in smoke)."""
    budget = settings.select(["beta-vae"])
    paper = paper_settings(metrics=("beta-vae",), classifier_seeds=settings.classifier_seeds,
                           threads=settings.threads)
    if ctx.budget.name == "smoke" or budget.get("beta-vae") == paper.get("beta-vae"):
        return []
    checked = [run for (_, seed), run in runs.items() if seed == 0 and run.exists() and run.state == FINISHED]
    jobs = [EvalJob(run.path, plan.keep_steps[-1]) for run in checked]
    scores = [[metric_result(evaluation, "beta-vae")["mean"]
               for evaluation in evaluate_sweep(jobs, data, choice, ctx.device, ctx.progress, ctx.executor)]
              for choice in (budget, paper)]
    return [{"run": run.path.name, "step": plan.keep_steps[-1], "budget": budget_score, "paper": paper_score}
            for run, budget_score, paper_score in zip(checked, *scores)]


def _later_cell(points: list[dict], curve: str, step: int, column: str) -> str:
    values = [p["later"].get(column) for p in points if p["curve"] == curve and p["step"] == step]
    values = [value for value in values if value is not None]
    return f"{np.mean(values):.3f}" if values else "–"


def _table_rows(summary: dict, curve_list: list[Curve]) -> list[list]:
    steps = sorted({int(step) for values in summary.values() for step in values})
    rows = []
    for step in steps:
        cells = []
        for curve in curve_list:
            cell = summary.get(curve.key, {}).get(str(step))
            seeds = "" if cell is None or cell["seeds"] >= curve.seeds else f" (n = {cell['seeds']})"
            cells.append("–" if cell is None else
                         f"{100 * cell['metric_mean']:.1f} ± {100 * cell['metric_std']:.1f} "
                         f"[{100 * cell['protocol']:.1f}]{seeds}")
        vae, beta = summary.get("beta1", {}).get(str(step)), summary.get("beta4", {}).get(str(step))
        cells.append("–" if vae is None or beta is None else
                     f"{100 * (beta['metric_mean'] - vae['metric_mean']):+.1f}")
        rows.append([step, *cells])
    return rows


def _kl_cell(summary: dict, key: str, step: int) -> str:
    cell = summary.get(key, {}).get(str(step))
    return "–" if cell is None else f"{cell['active_latents']:.1f} / {cell['kl']:.1f}"


def _plot(summary: dict, points: list[dict], curve_list: list[Curve], path: Path, paper_applies: bool) -> Path:
    figure = new_figure(13, 7)
    axes = figure.subplots(2, 3)
    colours = dict(zip([curve.key for curve in curve_list], ["tab:blue", "tab:red", "tab:green", "tab:purple",
                                                              "tab:orange", "tab:brown"]))
    panels = [(axes[0, 0], "metric", "disentanglement metric (%)"), (axes[0, 1], "dlib", "dlib variant (%)"),
              (axes[0, 2], "active_latents", f"active latents (KL > {ACTIVE_KL} nats)")]
    for axis, name, title in panels:
        scale = 1 if name == "active_latents" else 100
        for curve in curve_list:
            cells = summary.get(curve.key, {})
            steps = sorted(int(step) for step in cells)
            if not steps:
                continue
            mean_key = "active_latents" if name == "active_latents" else f"{name}_mean"
            mean = [scale * cells[str(step)][mean_key] for step in steps]
            axis.plot(steps, mean, "o-", color=colours[curve.key], label=curve.label, markersize=3)
            if name != "active_latents":
                low = [scale * cells[str(step)][f"{name}_min"] for step in steps]
                high = [scale * cells[str(step)][f"{name}_max"] for step in steps]
                axis.fill_between(steps, low, high, color=colours[curve.key], alpha=0.2)
        _log_steps(axis)
        axis.set_title(title)
    if paper_applies:
        for key, colour in (("vae", "tab:blue"), ("beta-vae-b4", "tab:red")):
            axes[0, 0].axhline(PAPER[key].paper_mean, color=colour, linestyle=":", linewidth=1)
        axes[0, 0].text(0.01, 0.02, "dotted: the paper's VAE and β-VAE", transform=axes[0, 0].transAxes, fontsize=7)
    axes[0, 0].legend(fontsize=7, loc="lower right")
    for axis, curve in zip(axes[1], curve_list[:3]):
        seed0 = sorted((p for p in points if p["curve"] == curve.key and p["seed"] == 0), key=lambda p: p["step"])
        if seed0:
            kl = np.array([p["kl_per_latent"] for p in seed0])
            for latent in range(kl.shape[1]):
                axis.plot([p["step"] for p in seed0], np.maximum(kl[:, latent], 1e-3), "-", linewidth=1)
        axis.axhline(ACTIVE_KL, color="grey", linestyle=":", linewidth=1)
        _log_steps(axis)
        axis.set_yscale("log")
        axis.set_title(f"KL per latent (nats), {curve.short}, seed 0", fontsize=10)
    return save_png(figure, path)


def _log_steps(axis) -> None:
    from matplotlib.ticker import FuncFormatter, LogLocator

    axis.set_xscale("log")
    axis.xaxis.set_major_locator(LogLocator(base=2))
    axis.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.0f}"))
    axis.xaxis.set_minor_locator(LogLocator(base=2, subs=()))
    axis.set_xlabel("training step (log scale)")


EXPERIMENT = TrainingCurve()
