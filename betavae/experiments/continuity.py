"""App. A.8, Fig. 8: data continuity. β-VAE (β = 4) on ever coarser position grids, scored on the full data.

Keeping every s-th class of pos_x and pos_y (stride s on both) makes consecutive transforms of an object
jump further (another dataset names its own pair of transform factors in ``continuity_factors``, e.g. MPI3D's
two arm axes), which the continuity measure below quantifies. A coarser grid is also a smaller dataset, so
each coarse grid has a control: a random subset with the same number of images ("random:count=N,seed=S",
S the model seed), continuous but as small. A metric that drops for the grid but not for its control drops
because of continuity, not size. Every model is scored on the full dataset.

Strides per budget (model seeds: smoke 1, otherwise the budget's; strides leaving a factor < 2 classes are
skipped): smoke {1, 2, 4, 8}; cpu {1, 4, 16} (dSprites: 32, 8 and 2 positions per axis; 15 runs of the
budget's 3000 steps, ≈ 1 hour of training on 2 cores); paper {1, 2, 4, 8, 16}.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from betavae.data.ground_truth import GroundTruthData
from betavae.data.registry import grid_subset
from betavae.errors import BetaVAEError
from betavae.experiments.base import Experiment, Result
from betavae.experiments.beta_norm import (
    evaluate_runs,
    metric_protocol,
    metric_settings,
    model_seeds,
    percent,
)
from betavae.experiments.common import ExperimentContext, beta_vae_config
from betavae.experiments.runner import RunOutcome, RunSpec
from betavae.viz.canvas import new_figure, save_png
from betavae.viz.report import Report

BETA = 4.0
STRIDED_FACTORS = ("pos_x", "pos_y")  # dSprites; a dataset without positions names its own ``continuity_factors``


@dataclass(frozen=True)
class ContinuityPlan:
    strides: tuple[int, ...]  # on the strided factors (pos_x and pos_y by default); 1 is the full grid
    model_seeds: int | None  # per training set (None: the budget's)


PLANS = {"smoke": ContinuityPlan((1, 2, 4, 8), model_seeds=1), "cpu": ContinuityPlan((1, 4, 16), model_seeds=None),
         "paper": ContinuityPlan((1, 2, 4, 8, 16), model_seeds=None)}
MEASURE_OBJECTS = 1000
MEASURE_SEED = 0
ON = 127  # a pixel is "on" above half intensity (dSprites and the squares are binary: 0 or 255)


def continuity_measure(data: GroundTruthData, strides: dict[str, int], rng: np.random.Generator,
                       num_objects: int) -> float:
    """App. A.8: mean pixel Hamming distance between consecutive kept transforms, per pixel of the object.

    ``num_objects`` factor vectors are drawn uniformly from the grid. For each of them and each factor f with
    stride s in ``strides``, f is set to a kept class c (a multiple of s with c + s < size(f), drawn uniformly)
    and the image at c is compared with the image at c + s, every other factor fixed. A pair's distance is the
    number of pixels on (> 127) in exactly one of the two images, divided by the object's pixel count, the mean
    of the two images' on-pixel counts (a pair of empty images counts 0). The measure is the mean over all
    ``num_objects × len(strides)`` pairs: 0 when a step changes no pixel, 2 when the two transforms are disjoint.
    """
    factors = data.sample_factors(num_objects, rng)
    distances = []
    for name, stride in strides.items():
        if name not in data.factor_names:
            raise BetaVAEError(f"{name!r} is not a factor of {data.name}; factors: {list(data.factor_names)}")
        factor = data.factor_names.index(name)
        if not 1 <= stride < data.factor_sizes[factor]:
            raise BetaVAEError(f"stride {stride} on {name} needs 1 <= stride < {data.factor_sizes[factor]} "
                               "(at least two kept classes)")
        first = factors.copy()
        first[:, factor] = rng.choice(np.arange(0, data.factor_sizes[factor] - stride, stride), size=num_objects)
        second = first.copy()
        second[:, factor] += stride
        distances.append(_pair_distances(data.images(data.index(first)), data.images(data.index(second))))
    return float(np.mean(np.concatenate(distances)))


def _pair_distances(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Hamming distance of each image pair over the pair's mean on-pixel count."""
    on_first, on_second = first.reshape(len(first), -1) > ON, second.reshape(len(second), -1) > ON
    hamming = (on_first != on_second).sum(axis=1)
    count = (on_first.sum(axis=1) + on_second.sum(axis=1)) / 2
    return np.divide(hamming, count, out=np.zeros(len(count)), where=count > 0)


def strided_factors(data: GroundTruthData) -> tuple[str, ...]:
    """The factors whose grid the experiment coarsens: the dataset's ``continuity_factors``, else pos_x and pos_y."""
    return tuple(getattr(data, "continuity_factors", STRIDED_FACTORS))


def usable_strides(data: GroundTruthData, strides: tuple[int, ...]) -> tuple[list[int], list[int]]:
    """The strides that keep >= 2 classes of every strided factor, and those skipped."""
    factors = strided_factors(data)
    missing = [name for name in factors if name not in data.factor_names]
    if missing:
        raise BetaVAEError(f"continuity strides {list(factors)}, but {data.name} has no {missing}")
    smallest = min(data.factor_sizes[data.factor_names.index(name)] for name in factors)
    if smallest < 2:
        raise BetaVAEError(f"continuity needs >= 2 classes of {list(factors)}; {data.name} has {smallest}")
    return [s for s in strides if s < smallest], [s for s in strides if s >= smallest]


def stride_spec(stride: int, factors: tuple[str, ...] = STRIDED_FACTORS) -> str | None:
    return None if stride == 1 else "stride:" + ",".join(f"{name}={stride}" for name in factors)


def random_spec(count: int, seed: int) -> str:
    return f"random:count={count},seed={seed}"


@dataclass
class ContinuityResult(Result):
    conditions: list[dict] = field(default_factory=list)  # per training set: stride, images, continuity, metric
    skipped_strides: list[int] = field(default_factory=list)
    strided_factors: list[str] = field(default_factory=lambda: list(STRIDED_FACTORS))
    beta: float = BETA


class Continuity(Experiment):
    name = "continuity"
    source = "App. A.8, Fig. 8"
    summary = "metric against data continuity (coarser factor grids), with same-size random subsets as control"
    result_type = ContinuityResult
    plans = PLANS

    def runs(self, ctx: ExperimentContext) -> list[RunSpec]:
        return [RunSpec(name, beta_vae_config(ctx.budget, ctx.dataset, seed=seed, beta=BETA, subset=subset,
                                              device=ctx.device, data_path=ctx.data_path))
                for condition in _conditions(ctx)
                for seed, name, subset in zip(range(model_seeds(ctx)), condition["runs"], condition["subsets"])]

    def analyse(self, ctx: ExperimentContext, outcomes: dict[str, RunOutcome]) -> ContinuityResult:
        settings = metric_settings(ctx.budget, ctx.data)
        conditions = _conditions(ctx)
        for condition in conditions:
            runs = [outcomes[name] for name in condition["runs"]]
            condition["diverged"] = sum(outcome.state != "finished" for outcome in runs)
            condition["metric"] = metric_protocol(evaluate_runs(runs, ctx.data, settings, ctx), settings)
        return ContinuityResult(conditions, usable_strides(ctx.data, ctx.plan.strides)[1],
                                list(strided_factors(ctx.data)))

    def report(self, ctx: ExperimentContext, result: ContinuityResult) -> Report:
        paper = metric_settings(ctx.budget, ctx.data).get("beta-vae")
        return _report(ctx, ctx.data, result.conditions, result.skipped_strides, paper.num_train, paper.num_test)

    def settings(self, ctx: ExperimentContext) -> dict:
        return {"eval_settings": metric_settings(ctx.budget, ctx.data).to_dict()}


def _conditions(ctx: ExperimentContext) -> list[dict]:
    """The training sets: every usable stride, and beside each coarse grid its random control."""
    strides, _ = usable_strides(ctx.data, ctx.plan.strides)
    seeds = range(model_seeds(ctx))
    return [_condition(ctx.data, stride, seeds, control) for stride in strides
            for control in ((False,) if stride == 1 else (False, True))]


def _condition(data: GroundTruthData, stride: int, seeds: range, control: bool) -> dict:
    """One training set: the stride-s grid (with its continuity measure), or (control) a random subset of as many
    images, which is no grid and has no measure of its own; its runs, one per seed."""
    grid = stride_spec(stride, strided_factors(data))
    images = data.num_images if grid is None else grid_subset(data, grid).num_images
    subsets = [random_spec(images, seed) if control else grid for seed in seeds]
    label = f"random{images}" if control else f"stride{stride}"
    measure = None if control else continuity_measure(data, dict.fromkeys(strided_factors(data), stride),
                                                      np.random.default_rng(MEASURE_SEED), MEASURE_OBJECTS)
    return {"stride": stride, "control": control, "images": images, "continuity": measure,
            "subsets": subsets, "runs": [f"{label}-seed{seed}" for seed in seeds]}


def _report(ctx: ExperimentContext, data: GroundTruthData, conditions: list[dict], skipped: list[int],
            num_train: int, num_test: int) -> Report:
    report = Report("Data continuity and disentanglement — App. A.8, Fig. 8")
    report.paragraph(
        f"β-VAE (β = {BETA:g}) on {data.describe()['name']}, trained on grids keeping every s-th class of "
        f"{' and '.join(strided_factors(data))} (other factors whole), and on random subsets of the same size as "
        f"controls. Budget {ctx.budget.name}: {ctx.budget.steps} steps per model, {model_seeds(ctx)} model "
        f"seed(s) per training set, metric (L = {ctx.budget.pairs}, {num_train} / {num_test} points) on the FULL "
        "dataset, paper protocol (worst 50% of model × classifier-seed scores discarded). Continuity measure: mean "
        f"pixel Hamming distance between neighbouring kept positions of {MEASURE_OBJECTS} objects, divided by the "
        "object's pixel count (0: identical, 2: disjoint). A random control is no grid and has no measure of its "
        "own: it is drawn at the measure of the grid it matches in size.")
    if skipped:
        report.paragraph(f"Skipped strides {skipped}: they would leave fewer than 2 classes of "
                         f"{' / '.join(strided_factors(data))} in {data.name}.")
    grids = [c for c in conditions if not c["control"]]
    controls = {c["images"]: c for c in conditions if c["control"]}
    rows = []
    for grid in grids:
        control = controls.get(grid["images"]) if grid["stride"] > 1 else None
        rows.append([grid["stride"], grid["images"], grid["continuity"], percent(grid["metric"]), _models(grid),
                     "–" if control is None else percent(control["metric"]), _models(control)])
    report.table(["stride", "training images", "continuity measure", "metric, strided grid (%)",
                  "models (diverged)", "metric, random subset of as many images (%)", "models (diverged)"], rows)
    report.figure(_plot(grids, controls, ctx.out_dir / "continuity.png"),
                  "metric against the continuity measure (left) and against the number of training images (right)")
    report.paragraph(_reading(grids, controls))
    return report


def _models(condition: dict | None) -> str:
    return "–" if condition is None else f"{len(condition['runs'])} ({condition['diverged']})"


def _reading(grids: list[dict], controls: dict[int, dict]) -> str:
    """How much of the coarsest grid's drop its same-size random control shows too."""
    full, coarsest = grids[0], grids[-1]
    values = [condition and condition["metric"]["mean"] for condition in (full, coarsest,
                                                                          controls.get(coarsest["images"]))]
    if coarsest is full or any(value is None for value in values):
        return "Too few scored training sets to separate continuity from dataset size."
    grid_change, size_change = 100 * (values[1] - values[0]), 100 * (values[2] - values[0])
    return (f"From the full grid to stride {coarsest['stride']} the metric changes by {grid_change:+.1f} points; a "
            f"random subset of the same {coarsest['images']} images changes it by {size_change:+.1f}. The "
            f"difference, {grid_change - size_change:+.1f} points, is what the coarser grid does beyond its size "
            "(negative: the discontinuous grid disentangles worse, as in the paper's Fig. 8).")


def _plot(grids: list[dict], controls: dict[int, dict], path: Path) -> Path:
    figure = new_figure(10, 3.8)
    left, right = figure.subplots(1, 2)
    scored = [grid for grid in grids if grid["metric"]["mean"] is not None]
    matched = [(grid, controls[grid["images"]]) for grid in scored
               if grid["images"] in controls and controls[grid["images"]]["metric"]["mean"] is not None]
    left.errorbar([g["continuity"] for g in scored], [100 * g["metric"]["mean"] for g in scored],
                  yerr=[100 * g["metric"]["std"] for g in scored], marker="o", capsize=3, label="strided grid")
    for grid in scored:
        left.annotate(f"s={grid['stride']}", (grid["continuity"], 100 * grid["metric"]["mean"]), fontsize=7,
                      xytext=(3, 3), textcoords="offset points")
    left.scatter([g["continuity"] for g, _ in matched], [100 * c["metric"]["mean"] for _, c in matched],
                 marker="x", color="tab:red", label="random subset, same size")
    left.set_xlabel("continuity measure (Hamming distance / object pixels)")
    left.set_ylabel("disentanglement metric (%)")
    left.legend(fontsize=8)
    for label, items, style in (("strided grid", scored, "o-"),
                                ("random subset", [c for _, c in matched], "x--")):
        right.plot([c["images"] for c in items], [100 * c["metric"]["mean"] for c in items], style, label=label)
    right.set_xscale("log")
    right.set_xlabel("training images")
    right.set_ylabel("disentanglement metric (%)")
    right.legend(fontsize=8)
    return save_png(figure, path)


EXPERIMENT = Continuity()
