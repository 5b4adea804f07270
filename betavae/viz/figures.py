"""`betavae traverse RUN_DIR`: reconstructions, samples and traversals of one trained run into RUN_DIR/figures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from betavae.data.registry import load_training_data
from betavae.runs import RunDir, load_model
from betavae.viz.grids import draw_reconstructions, draw_samples, draw_traversals, run_caption


def draw_run_figures(run_dir: str | Path, num_seed_images: int = 3, seed: int = 0, device: str = "cpu",
                     data=None) -> list[Path]:
    """Reconstruction, samples and traversal PNGs for a run; returns the paths written."""
    run = RunDir(run_dir)
    config, model = load_model(run.path, device)
    if data is None:
        data = load_training_data(config.data.dataset, config.data.path, config.data.subset)
    rng = np.random.default_rng(seed)
    chosen = rng.choice(data.num_images, size=min(16, data.num_images), replace=False)
    images = torch.from_numpy(data.images(np.sort(chosen))).float().div(255.0).to(device)
    out = run.figures_dir
    samples = draw_samples(model, out / "samples.png", seed=seed)
    if not hasattr(model, "decode"):  # a GAN (InfoGAN): samples only, it has no encoder-decoder pair
        return [samples]
    paths = [draw_reconstructions(model, images[:8], out / "reconstructions.png"), samples]
    paths += draw_traversals(model, images[:num_seed_images], out, probe=images, caption=run_caption(run.path))
    return paths
