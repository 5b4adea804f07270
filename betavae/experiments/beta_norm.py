"""Fig. 6 (right) / App. A.6: the metric against normalised β for several latent sizes, and how to choose β.

β_norm = β·M/N (M latents, N pixels) puts β on one scale for every latent size. For each M the metric traces
an inverted U over β_norm: too small a β leaves the factors entangled, too large a β squeezes them out of the
code. The paper's point: the most disentangled models are not the best reconstructions.

Choosing β for a new dataset, as the abstract promises: (a) the metric computed on a small labelled set
("weak labels": few metric points) picks a β_norm, checked against the full metric's pick; (b) the traversal
sheet of every trained β (``traversals/beta_norm-V-MM/``) lets a person pick by eye.

Grids per budget (model seeds: smoke 1, otherwise the budget's; training steps: the budget's):

* smoke: M ∈ {2, 10} × β_norm ∈ {0.001, 0.01, 0.1}: 6 runs;
* cpu: M ∈ {4, 16} × β_norm ∈ {0.001, 0.01, 0.1} × 3 seeds: 18 runs of the budget's 3000 steps, ≈ 1 hour
  of training on 2 cores (≈ 0.065 s a step), plus the evaluations;
* paper: M ∈ {2, 4, …, 128} × β_norm ∈ 10^{−3, −2.5, …, 1} (Fig. 6 right spans ≈ 0.001–10) × 10 seeds: 630 runs.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from matplotlib import colormaps

from betavae.data.ground_truth import GroundTruthData
from betavae.evaluate import EvalSettings, metric_result
from betavae.experiments.base import Experiment, Result
from betavae.experiments.common import (
    Budget,
    ExperimentContext,
    beta_vae_config,
    elbo_terms,
    eval_settings,
)
from betavae.experiments.runner import EvalJob, RunOutcome, RunSpec, evaluate_sweep
from betavae.metrics.protocol import seed_protocol
from betavae.runs import FINISHED, load_model
from betavae.viz.canvas import new_figure, save_png
from betavae.viz.grids import draw_traversals, run_caption
from betavae.viz.report import Report


@dataclass(frozen=True)
class BetaNormPlan:
    latents: tuple[int, ...]  # M
    beta_norms: tuple[float, ...]
    model_seeds: int | None  # None: the budget's
    sheet_images: int  # seed images per traversal sheet
    probe_images: int  # training images the reconstruction is measured on


PLANS = {"smoke": BetaNormPlan((2, 10), (0.001, 0.01, 0.1), model_seeds=1, sheet_images=1, probe_images=200),
         "cpu": BetaNormPlan((4, 16), (0.001, 0.01, 0.1), model_seeds=None, sheet_images=2, probe_images=2000),
         "paper": BetaNormPlan((2, 4, 8, 16, 32, 64, 128), (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0),
                               model_seeds=None, sheet_images=3, probe_images=2000)}
WEAK_POINTS = (200, 100)  # (train, test) metric points of the small labelled set
WEAK_SAMPLE_SEED = 1  # drawn independently of the full metric's points (sample seed 0)


# --- shared with continuity.py: train a group of seeds, score each run on the full data -------------------------

def model_seeds(ctx: ExperimentContext) -> int:
    """The plan's model seeds per point (one at smoke: seconds), else the budget's."""
    return ctx.plan.model_seeds or ctx.budget.model_seeds


def metric_settings(budget: Budget, data: GroundTruthData) -> EvalSettings:
    """The budget's metric (App. A.4) without the dlib variant and Table 2, which these sweeps do not report."""
    return eval_settings(budget, data, metrics=("beta-vae",))


def evaluate_runs(outcomes: list[RunOutcome], data: GroundTruthData, settings: EvalSettings,
                  ctx: ExperimentContext) -> list[dict | None]:
    """Each run scored on the full ground-truth data, cached in its eval.json; None for a diverged run."""
    finished = [outcome for outcome in outcomes if outcome.state == FINISHED]
    scored = evaluate_sweep([EvalJob(outcome.run_dir) for outcome in finished], data, settings, ctx.device,
                            ctx.progress, ctx.executor)
    by_name = {outcome.name: evaluation for outcome, evaluation in zip(finished, scored)}
    return [by_name.get(outcome.name) for outcome in outcomes]


def metric_protocol(evaluations: list[dict | None], settings: EvalSettings) -> dict:
    """§4: the seed protocol over model seeds × classifier seeds (a diverged model: every classifier seed None)."""
    return seed_protocol([None if e is None else metric_result(e, "beta-vae")["scores"] for e in evaluations],
                         num_classifier_seeds=len(settings.classifier_seeds))


def percent(protocol: dict) -> str:
    return "–" if protocol["mean"] is None else f"{100 * protocol['mean']:.1f} ± {100 * protocol['std']:.1f}"


# --- the experiment ------------------------------------------------------------------------------------------------

@dataclass
class BetaNormResult(Result):
    points: list[dict] = field(default_factory=list)  # per (M, β_norm): metric, weak-label metric, reconstruction
    picks: dict = field(default_factory=dict)  # β chosen by the metric, by weak labels, by reconstruction
    pixels: int = 0
    weak_points: list[int] = field(default_factory=list)


class BetaNorm(Experiment):
    name = "beta-norm"
    source = "Fig. 6 right, App. A.6"
    summary = "metric and reconstruction against normalised β for several latent sizes; which β to pick"
    result_type = BetaNormResult
    plans = PLANS

    def runs(self, ctx: ExperimentContext) -> list[RunSpec]:
        return [RunSpec(_run_name(latents, beta_norm, seed),
                        beta_vae_config(ctx.budget, ctx.dataset, seed=seed, beta_norm=beta_norm, latents=latents,
                                        device=ctx.device, data_path=ctx.data_path))
                for latents, beta_norm in _grid(ctx) for seed in range(model_seeds(ctx))]

    def analyse(self, ctx: ExperimentContext, outcomes: dict[str, RunOutcome]) -> BetaNormResult:
        seeds = range(model_seeds(ctx))
        points = [_score_point(latents, beta_norm, [outcomes[_run_name(latents, beta_norm, s)] for s in seeds],
                               ctx.data, _settings(ctx), ctx) for latents, beta_norm in _grid(ctx)]
        return BetaNormResult(points, _picks(points), _pixels(ctx.data), list(WEAK_POINTS))

    def report(self, ctx: ExperimentContext, result: BetaNormResult) -> Report:
        return _report(ctx, ctx.data, result.points, result.picks, _settings(ctx)[0])

    def settings(self, ctx: ExperimentContext) -> dict:
        full, weak = _settings(ctx)
        return {"eval_settings": full.to_dict(), "weak_eval_settings": weak.to_dict()}


def _grid(ctx: ExperimentContext) -> list[tuple[int, float]]:
    return [(latents, beta_norm) for latents in ctx.plan.latents for beta_norm in ctx.plan.beta_norms]


def _settings(ctx: ExperimentContext) -> tuple[EvalSettings, EvalSettings]:
    """The budget's metric, and the same on the small labelled set (weak labels)."""
    full = metric_settings(ctx.budget, ctx.data)
    weak = dataclasses.replace(full.replace_metric("beta-vae", num_train=WEAK_POINTS[0], num_test=WEAK_POINTS[1]),
                               sample_seed=WEAK_SAMPLE_SEED)
    return full, weak


def _run_name(latents: int, beta_norm: float, seed: int) -> str:
    return f"M{latents}-beta_norm{beta_norm:g}-seed{seed}"


def _pixels(data: GroundTruthData) -> int:
    return math.prod(data.image_shape)


def _score_point(latents: int, beta_norm: float, outcomes: list[RunOutcome], data: GroundTruthData,
                 settings: tuple[EvalSettings, EvalSettings], ctx: ExperimentContext) -> dict:
    """One (M, β_norm): the metric, its weak-label estimate, reconstruction, a traversal sheet."""
    full, weak = settings
    finished = [outcome for outcome in outcomes if outcome.state == FINISHED]
    point = {"latents": latents, "beta_norm": beta_norm, "beta": beta_norm * _pixels(data) / latents,
             "runs": [outcome.name for outcome in outcomes], "diverged": len(outcomes) - len(finished),
             "metric": metric_protocol(evaluate_runs(outcomes, data, full, ctx), full),
             "weak": metric_protocol(evaluate_runs(outcomes, data, weak, ctx), weak),
             "reconstruction": None, "reconstruction_std": None, "kl": None, "traversals": []}
    if not finished:
        return point
    terms = [_held_out(outcome, data, ctx) for outcome in finished]
    point["reconstruction"] = float(np.mean([t["reconstruction"] for t in terms]))
    point["reconstruction_std"] = float(np.std([t["reconstruction"] for t in terms]))
    point["kl"] = float(np.mean([t["kl"] for t in terms]))
    sheet_dir = ctx.out_dir / "traversals" / f"beta_norm-{beta_norm:g}-M{latents}"
    point["traversals"] = [str(path.relative_to(ctx.out_dir)) for path in _sheets(finished[0], data, sheet_dir, ctx)]
    return point


def _held_out(outcome: RunOutcome, data: GroundTruthData, ctx: ExperimentContext) -> dict:
    config, model = load_model(outcome.run_dir)
    return elbo_terms(model, config, data, num_images=ctx.plan.probe_images, threads=ctx.budget.threads)


def _sheets(outcome: RunOutcome, data: GroundTruthData, out_dir: Path, ctx: ExperimentContext) -> list[Path]:
    """App. A.10 traversals of one model from fixed seed images (the same images for every point)."""
    _, model = load_model(outcome.run_dir)
    chosen = np.random.default_rng(0).choice(data.num_images, min(256, data.num_images), replace=False)
    probe = torch.from_numpy(data.images(chosen)).float() / 255  # the KL order: measured on 256 images
    return draw_traversals(model, probe[:ctx.plan.sheet_images], out_dir, probe=probe,
                           caption=run_caption(outcome.run_dir))


def _best(points: list[dict], key: str) -> dict | None:
    """The point with the highest filtered mean of ``key`` (ties: the first, i.e. smaller M, smaller β_norm)."""
    scored = [point for point in points if point[key]["mean"] is not None]
    return max(scored, key=lambda point: point[key]["mean"]) if scored else None


def _summary(point: dict | None) -> dict | None:
    if point is None:
        return None
    return {key: point[key] for key in ("latents", "beta_norm", "beta", "reconstruction")} | {
        "metric": point["metric"]["mean"], "weak": point["weak"]["mean"]}


def _picks(points: list[dict]) -> dict:
    """β chosen by the full metric, by the weak-label metric, and the best reconstruction; overall and per M."""
    reconstructed = [point for point in points if point["reconstruction"] is not None]
    per_latents = {}
    for latents in sorted({point["latents"] for point in points}):
        group = [point for point in points if point["latents"] == latents]
        metric, weak = _summary(_best(group, "metric")), _summary(_best(group, "weak"))
        per_latents[str(latents)] = {"metric": metric, "weak": weak,
                                     "agree": metric is not None and weak is not None and
                                     metric["beta_norm"] == weak["beta_norm"]}
    metric, weak = _summary(_best(points, "metric")), _summary(_best(points, "weak"))
    return {"metric": metric, "weak": weak,
            "agree": metric is not None and weak is not None and
            (metric["latents"], metric["beta_norm"]) == (weak["latents"], weak["beta_norm"]),
            "reconstruction": _summary(min(reconstructed, key=lambda p: p["reconstruction"], default=None)),
            "per_latents": per_latents}


def _report(ctx: ExperimentContext, data: GroundTruthData, points: list[dict], picks: dict,
            full: EvalSettings) -> Report:
    budget, paper = ctx.budget, full.get("beta-vae")
    report = Report("Disentanglement against normalised β — Fig. 6 (right), App. A.6")
    report.paragraph(
        f"{data.describe()['name']}, N = {_pixels(data)} pixels; β_norm = β·M/N. Budget {budget.name}: "
        f"{budget.steps} training steps per model, {model_seeds(ctx)} model seed(s) × "
        f"{len(full.classifier_seeds)} classifier seeds per point, worst 50% of the pooled scores discarded (§4). "
        f"Metric: L = {paper.L}, {paper.num_train} training / {paper.num_test} test points on the full data. "
        f"Weak labels: the same metric on {WEAK_POINTS[0]} / {WEAK_POINTS[1]} points (sample seed "
        f"{WEAK_SAMPLE_SEED}: {paper.L * sum(WEAK_POINTS)} labelled image pairs). Reconstruction: −log p(x|z) "
        "summed over pixels, one z sample, mean over random training images and model seeds (lower is better).")
    report.table(["M", "β_norm", "β", "metric (%)", "weak-label metric (%)", "reconstruction (nats)", "KL (nats)",
                  "models (diverged)"],
                 [[p["latents"], p["beta_norm"], p["beta"], percent(p["metric"]), percent(p["weak"]),
                   p["reconstruction"], p["kl"], f"{len(p['runs'])} ({p['diverged']})"] for p in points])
    report.figure(_plot(points, ctx.out_dir / "beta_norm.png"),
                  "metric (solid; weak labels dotted) and reconstruction against β_norm, one line per latent size M")
    report.heading("Choosing β")
    report.paragraph(_choice(picks))
    report.table(["M", "β_norm by the metric", "β_norm by weak labels", "agree"],
                 [[latents, _field(pick["metric"], "beta_norm"), _field(pick["weak"], "beta_norm"),
                   "yes" if pick["agree"] else "no"] for latents, pick in picks["per_latents"].items()])
    _add_sheets(report, ctx, points, picks)
    return report


def _field(summary: dict | None, key: str) -> float | None:
    return None if summary is None else summary[key]


def _choice(picks: dict) -> str:
    """The β the report would pick, why, and whether the best reconstruction is that model (the paper: it is not)."""
    metric, weak, recon = picks["metric"], picks["weak"], picks["reconstruction"]
    if metric is None:
        return "No point has a filtered metric (every model diverged): no β can be picked."
    text = (f"We would pick β_norm = {metric['beta_norm']:g} with M = {metric['latents']} (β = {metric['beta']:.3g}): "
            f"it has the highest metric, {100 * metric['metric']:.1f}%. ")
    if weak is not None:
        text += (f"The weak-label metric picks β_norm = {weak['beta_norm']:g}, M = {weak['latents']} "
                 f"({'the same model' if picks['agree'] else 'a different one'}), so a small labelled set "
                 f"{'suffices' if picks['agree'] else 'does not suffice'} here to choose β. ")
    if recon is not None and (recon["latents"], recon["beta_norm"]) != (metric["latents"], metric["beta_norm"]):
        text += (f"The best reconstruction ({recon['reconstruction']:.1f} nats, against {metric['reconstruction']:.1f} "
                 f"for the pick) comes from β_norm = {recon['beta_norm']:g}, M = {recon['latents']}, whose metric is "
                 f"{_percent_or_dash(recon['metric'])}: as in the paper, the most disentangled model is not the best "
                 "reconstruction, so β cannot be chosen by the ELBO or by reconstruction.")
    elif recon is not None:
        text += ("Here the most disentangled model is also the best reconstruction, unlike the paper's finding; at "
                 "short budgets the reconstructions of all β are still poor, so this may not hold at convergence.")
    return text + " Check the pick against the traversal sheets below: each disentangled latent should change one " \
                  "factor only."


def _percent_or_dash(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def _add_sheets(report: Report, ctx: ExperimentContext, points: list[dict], picks: dict) -> None:
    report.heading("Traversal sheets (choosing β by eye)")
    report.paragraph("Every trained point has a sheet from its first finished seed in traversals/beta_norm-V-MM/ "
                     "(rows: latents by KL, −3 to 3). Shown: the pick by the metric and the best reconstruction.")
    report.table(["M", "β_norm", "sheets"], [[p["latents"], p["beta_norm"], ", ".join(p["traversals"]) or "–"]
                                             for p in points])
    shown = []
    for label in ("metric", "reconstruction"):
        pick = picks[label]
        if pick is None or (pick["latents"], pick["beta_norm"]) in shown:
            continue
        shown.append((pick["latents"], pick["beta_norm"]))
        point = next(p for p in points if (p["latents"], p["beta_norm"]) == shown[-1])
        for sheet in point["traversals"]:
            report.figure(ctx.out_dir / sheet, f"best by {label}: M = {pick['latents']}, β_norm = "
                                               f"{pick['beta_norm']:g} (β = {pick['beta']:.3g})")


def _plot(points: list[dict], path: Path) -> Path:
    figure = new_figure(11, 4)
    left, right = figure.subplots(1, 2)
    sizes = sorted({point["latents"] for point in points})
    for number, latents in enumerate(sizes):
        group = [point for point in points if point["latents"] == latents]
        colour = colormaps["viridis"](number / max(1, len(sizes) - 1))
        scored = [p for p in group if p["metric"]["mean"] is not None]
        left.errorbar([p["beta_norm"] for p in scored], [100 * p["metric"]["mean"] for p in scored],
                      yerr=[100 * p["metric"]["std"] for p in scored], color=colour, marker="o", capsize=3,
                      label=f"M = {latents}")
        weak = [p for p in group if p["weak"]["mean"] is not None]
        left.plot([p["beta_norm"] for p in weak], [100 * p["weak"]["mean"] for p in weak], ":", color=colour)
        recon = [p for p in group if p["reconstruction"] is not None]
        right.plot([p["beta_norm"] for p in recon], [p["reconstruction"] for p in recon], "o-", color=colour,
                   label=f"M = {latents}")
    left.set_xscale("log")
    left.set_xlabel("β_norm = β·M/N")
    left.set_ylabel("disentanglement metric (%)")
    left.set_title("metric (weak labels dotted)")
    left.legend(fontsize=8)
    right.set_xscale("log")
    right.set_xlabel("β_norm = β·M/N")
    right.set_ylabel("reconstruction −log p(x|z) (nats)")
    right.set_title("reconstruction (lower is better)")
    return save_png(figure, path)


EXPERIMENT = BetaNorm()
