"""App. A.10 and Fig. 7: latent traversals of a β = 4 model, what each latent codes, KL per latent in training."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure

from betavae.data.ground_truth import GroundTruthData
from betavae.experiments.base import Experiment, Result, at_every_budget
from betavae.experiments.common import ExperimentContext, beta_vae_config
from betavae.experiments.runner import RunOutcome, RunSpec
from betavae.representations import ModelRepresentation
from betavae.runs import FINISHED, RunDir, load_model
from betavae.viz.canvas import new_figure, save_png
from betavae.viz.grids import draw_traversals, latents_by_kl, run_caption, save_traversal_gif
from betavae.viz.latent_maps import draw_latent_factor_map
from betavae.viz.report import Report


def draw_kl_over_training(run_dir: Path, path: Path) -> Path:
    return save_png(kl_figure(run_dir), path)


def kl_figure(run_dir: Path) -> Figure:
    """KL of every latent unit against the training step, from the run's log.jsonl."""
    records = RunDir(run_dir).log()
    steps = [record["step"] for record in records]
    per_latent = np.array([record["kl_per_latent"] for record in records])
    figure = new_figure(7, 3.6)
    axis = figure.subplots()
    for latent in range(per_latent.shape[1]):
        axis.plot(steps, per_latent[:, latent], label=f"z{latent}")
    axis.set_yscale("log")  # the first steps' hundreds of nats would flatten everything after on a linear axis
    axis.set_xlabel("training step")
    axis.set_ylabel("KL (nats, log scale)")
    axis.set_title(f"KL per latent unit during training — {run_caption(run_dir)}", fontsize=9)
    axis.legend(fontsize=6, ncol=2, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    return figure


@dataclass(frozen=True)
class TraversalsPlan:
    beta: float = 4.0
    seed_images: int = 3  # traversal sheets (and GIFs), one per seed image
    probe_images: int = 512  # images the latents' KL order is measured on


@dataclass
class TraversalsResult(Result):
    state: str = FINISHED
    message: str = ""
    kl: dict[str, float] = field(default_factory=dict)  # latent -> mean KL (nats), most informative first
    sheets: list[str] = field(default_factory=list)
    gifs: list[str] = field(default_factory=list)
    latent_map: str | None = None
    kl_over_training: str | None = None


class Traversals(Experiment):
    name = "traversals"
    source = "App. A.10, Fig. 7"
    summary = "traversal sheets and GIFs, what each latent codes, KL per latent over training"
    result_type = TraversalsResult
    plans = at_every_budget(TraversalsPlan())
    ground_truth = False

    def runs(self, ctx: ExperimentContext) -> list[RunSpec]:
        return [RunSpec(f"beta{ctx.plan.beta:g}-seed0", beta_vae_config(
            ctx.budget, ctx.dataset, seed=0, beta=ctx.plan.beta, device=ctx.device, data_path=ctx.data_path))]

    def analyse(self, ctx: ExperimentContext, outcomes: dict[str, RunOutcome]) -> TraversalsResult:
        (outcome,) = outcomes.values()
        if outcome.state != FINISHED:
            return TraversalsResult(outcome.state, outcome.message)
        data, plan = ctx.data, ctx.plan
        _, model = load_model(outcome.run_dir)
        chosen = np.sort(np.random.default_rng(0).choice(data.num_images, min(plan.probe_images, data.num_images),
                                                         replace=False))
        probe = torch.from_numpy(data.images(chosen)).float() / 255
        order, kl = latents_by_kl(model, probe)
        seeds = probe[:plan.seed_images]
        sheets = draw_traversals(model, seeds, ctx.out_dir, probe=probe, caption=run_caption(outcome.run_dir))
        gifs = [save_traversal_gif(model, seeds[number], order, ctx.out_dir / f"traversal_{number}.gif")
                for number in range(len(sheets))]
        latent_map = None
        if isinstance(data, GroundTruthData):
            labels = [f"z{latent} ({kl[latent]:.2f})" for latent in order]
            latent_map = draw_latent_factor_map(ModelRepresentation("beta-vae", model), data, order,
                                                ctx.out_dir / "latent_factor_map.png", labels=labels).name
        curve = draw_kl_over_training(outcome.run_dir, ctx.out_dir / "kl_per_latent.png")
        return TraversalsResult(FINISHED, "", {f"z{latent}": float(kl[latent]) for latent in order},
                                [path.name for path in sheets], [path.name for path in gifs], latent_map, curve.name)

    def report(self, ctx: ExperimentContext, result: TraversalsResult) -> Report:
        report = Report("Latent traversals and what each latent codes — App. A.10, Fig. 7")
        if result.state != FINISHED:
            report.paragraph(f"the run {result.state}: {result.message}")
            return report
        report.paragraph(f"β = {ctx.plan.beta:g}, {ctx.dataset}, {ctx.budget.steps} steps. Latents ordered by their "
                         f"mean KL on {ctx.plan.probe_images} images; rows traverse one latent from −3 to 3 with the "
                         "others at μ(x) of the seed image. Latents with KL ≈ 0 are unused (they decode to the same "
                         "image throughout).")
        report.table(["latent", "KL (nats)"], [[latent, value] for latent, value in result.kl.items()])
        for number, (sheet, gif) in enumerate(zip(result.sheets, result.gifs)):
            report.figure(ctx.out_dir / sheet, f"traversals from seed image {number}")
            report.paragraph(f"animation: {gif}")
        if result.latent_map:
            report.figure(ctx.out_dir / result.latent_map,
                          "mean μ(x) of each latent over position, scale, rotation, per shape (Fig. 7)")
        report.figure(ctx.out_dir / result.kl_over_training, "KL per latent unit over training")
        return report


EXPERIMENT = Traversals()
