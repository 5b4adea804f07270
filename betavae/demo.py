"""`betavae demo` / `make demo`: generate dSprites, train a short β-VAE (β = 4), draw its figures."""

from __future__ import annotations

from pathlib import Path

from betavae.config import DataConfig, RunConfig, TrainConfig
from betavae.viz.figures import draw_run_figures


def demo(out_dir: str | Path = "runs/demo", steps: int = 1500, device: str = "auto") -> list[Path]:
    from betavae.data import dsprites
    from betavae.train import train

    print("1/3 dSprites (generated): rendering all 737,280 images once, then cached ...")
    data = dsprites.load(progress=True)
    print(f"    {data.path}")
    print(f"2/3 training the paper's 2D-shapes β-VAE (MLP, 10 latents, β = 4, Adagrad) for {steps} steps ...")
    config = RunConfig(data=DataConfig(dataset="dsprites"),
                       train=TrainConfig(steps=steps, device=device, checkpoint_every=500, log_every=100))
    result = train(config, out_dir, resume=(Path(out_dir) / "config.json").exists(), data=data)
    print("3/3 drawing reconstructions, samples and latent traversals ...")
    paths = draw_run_figures(result.run_dir, device="cpu", data=data)
    print("figures:")
    for figure in paths:
        print(f"    {figure}")
    return paths
