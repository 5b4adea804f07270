"""App. A.10 and Fig. 7: latent traversals of a β = 4 model, what each latent codes, KL per latent in training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure

from betavae.data.ground_truth import GroundTruthData
from betavae.experiments.common import ExperimentContext, beta_vae_config, load_data
from betavae.experiments.runner import RunSpec, run_sweep
from betavae.representations import ModelRepresentation
from betavae.runs import RunDir, load_model
from betavae.viz.canvas import new_figure, save_png
from betavae.viz.grids import draw_traversals, latents_by_kl, run_caption, save_traversal_gif
from betavae.viz.latent_maps import draw_latent_factor_map
from betavae.viz.report import Report

SEED_IMAGES = 3


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


def run(ctx: ExperimentContext) -> Path:
    spec = RunSpec("beta4-seed0", beta_vae_config(ctx.budget, ctx.dataset, seed=0, beta=4.0, device=ctx.device,
                                                 data_path=ctx.data_path))
    (outcome,) = run_sweep([spec], ctx.runs_dir, ctx.budget.workers, ctx.progress, ctx.executor)
    report = Report("Latent traversals and what each latent codes — App. A.10, Fig. 7")
    if outcome.state != "finished":
        report.paragraph(f"the run {outcome.state}: {outcome.message}")
        return report.write(ctx.out_dir, ctx.settings())
    data = load_data(ctx)
    _, model = load_model(outcome.run_dir)
    rng = np.random.default_rng(0)
    chosen = np.sort(rng.choice(data.num_images, min(512, data.num_images), replace=False))
    probe = torch.from_numpy(data.images(chosen)).float() / 255
    order, kl = latents_by_kl(model, probe)
    seeds = probe[:SEED_IMAGES]
    report.paragraph(f"β = 4, {ctx.dataset}, {ctx.budget.steps} steps. Latents ordered by their mean KL on 512 "
                     "images; rows traverse one latent from −3 to 3 with the others at μ(x) of the seed image. "
                     "Latents with KL ≈ 0 are unused (they decode to the same image throughout).")
    report.table(["latent", "KL (nats)"], [[f"z{latent}", float(kl[latent])] for latent in order])
    for number, path in enumerate(draw_traversals(model, seeds, ctx.out_dir, probe=probe,
                                                        caption=run_caption(outcome.run_dir))):
        report.figure(path, f"traversals from seed image {number}")
        gif = save_traversal_gif(model, seeds[number], order, ctx.out_dir / f"traversal_{number}.gif")
        report.paragraph(f"animation: {gif.name}")
    if isinstance(data, GroundTruthData):
        labels = [f"z{latent} ({kl[latent]:.2f})" for latent in order]
        representation = ModelRepresentation("beta-vae", model)
        path = draw_latent_factor_map(representation, data, order, ctx.out_dir / "latent_factor_map.png",
                                      labels=labels)
        report.figure(path, "mean μ(x) of each latent over position, scale, rotation, per shape (Fig. 7)")
    report.figure(draw_kl_over_training(outcome.run_dir, ctx.out_dir / "kl_per_latent.png"),
                  "KL per latent unit over training")
    return report.write(ctx.out_dir, ctx.settings())
