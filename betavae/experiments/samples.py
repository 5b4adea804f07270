"""App. A.9: samples from the prior through the decoder, β = 4 against β = 1 (a plain VAE)."""

from __future__ import annotations

from pathlib import Path

from betavae.experiments.common import ExperimentContext, beta_vae_config
from betavae.experiments.runner import RunSpec, run_sweep
from betavae.runs import load_model
from betavae.viz.grids import draw_samples
from betavae.viz.report import Report

BETAS = (4.0, 1.0)


def run(ctx: ExperimentContext) -> Path:
    specs = [RunSpec(f"beta{beta:g}-seed0", beta_vae_config(ctx.budget, ctx.dataset, seed=0, beta=beta,
                                                           device=ctx.device, data_path=ctx.data_path))
             for beta in BETAS]
    outcomes = run_sweep(specs, ctx.runs_dir, ctx.budget.workers, ctx.progress, ctx.executor)
    report = Report("Samples from β-VAE (β = 4) and VAE (β = 1) — App. A.9")
    report.paragraph(f"{ctx.dataset}, {ctx.budget.steps} training steps per model (budget {ctx.budget.name}). "
                     "Each picture decodes z ~ N(0, I); the paper's point: β = 4 samples are cleaner but blurrier, "
                     "β = 1 sharper but with more implausible shapes.")
    for beta, outcome in zip(BETAS, outcomes):
        if outcome.state != "finished":
            report.paragraph(f"β = {beta:g}: run {outcome.state} ({outcome.message}); no samples.")
            continue
        _, model = load_model(outcome.run_dir)
        path = draw_samples(model, ctx.out_dir / f"samples_beta{beta:g}.png", num=32, seed=0)
        report.figure(path, f"β = {beta:g}: 32 samples")
    return report.write(ctx.out_dir, ctx.settings())
