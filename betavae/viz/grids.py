"""Image grids of a trained model: reconstructions, samples (App. A.9), latent traversals (App. A.10)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure

from betavae.io import atomic_write_buffered
from betavae.viz.canvas import new_figure, save_png


def to_display(images: torch.Tensor | np.ndarray) -> np.ndarray:
    """[n, C, H, W] in [0, 1] (or uint8) → [n, H, W, C] float for imshow (grey kept single-channel)."""
    array = images.detach().cpu().numpy() if isinstance(images, torch.Tensor) else np.asarray(images)
    if array.dtype == np.uint8:
        array = array.astype(np.float32) / 255.0
    return np.clip(array.transpose(0, 2, 3, 1), 0.0, 1.0)


def save_grid(rows: list[np.ndarray], path: str | Path, row_labels: list[str] | None = None,
              title: str | None = None, column_labels: list[str] | None = None) -> Path:
    """Draw rows of images ([k, H, W, C] each) as one PNG, written atomically."""
    return save_png(grid_figure(rows, row_labels, title, column_labels), path)


def grid_figure(rows: list[np.ndarray], row_labels: list[str] | None = None, title: str | None = None,
                column_labels: list[str] | None = None, cell: float = 0.9) -> Figure:
    """Rows of images ([k, H, W, C] each), ``row_labels`` left of them, ``column_labels`` under the bottom row."""
    num_rows, num_cols = len(rows), max(len(row) for row in rows)
    label_width = 1.4 if row_labels else 0.0
    top, bottom = (0.45 if title else 0.05), (0.3 if column_labels else 0.05)
    width, height = num_cols * cell + label_width, num_rows * cell + top + bottom
    figure = new_figure(width, height, layout=None)  # images tile edge to edge: placed by hand, not constrained
    axes = figure.subplots(num_rows, num_cols, squeeze=False)
    for r, row in enumerate(rows):
        for c in range(num_cols):
            axis = axes[r][c]
            axis.set_xticks([])
            axis.set_yticks([])
            for spine in axis.spines.values():
                spine.set_visible(False)
            if c < len(row):
                image = row[c]
                axis.imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap="gray", vmin=0, vmax=1,
                            interpolation="nearest")
        if row_labels:
            axes[r][0].set_ylabel(row_labels[r], rotation=0, ha="right", va="center", fontsize=8)
    for c, label in enumerate(column_labels or []):
        axes[-1][c].set_xlabel(label, fontsize=7, labelpad=2)
    if title:
        figure.suptitle(title, fontsize=9, y=1 - 0.08 / height)
    figure.subplots_adjust(wspace=0.04, hspace=0.04, left=label_width / width, right=1 - 0.02 / width,
                           top=1 - top / height, bottom=bottom / height)
    return figure


def run_caption(run_dir: str | Path) -> str:
    """What a figure of a run is of: its name, model and β, and the training step it reached."""
    from betavae.runs import RunDir

    run = RunDir(run_dir)
    config, status = run.config(), run.status()
    model = config.spec.describe(config, config.section)
    return f"{run.path.resolve().name}: {model}, step {status.get('step', '?')} of {config.train.steps}"


def latents_by_kl(model: torch.nn.Module, images: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Latent units ordered by their mean KL on ``images`` (most informative first), and those KLs."""
    from betavae.models.vae import kl_per_latent

    with torch.no_grad():
        mean, logvar = model.encode(images)
        kl = kl_per_latent(mean, logvar).mean(0).cpu().numpy()
    return np.argsort(-kl), kl


@torch.no_grad()
def traversal_rows(model: torch.nn.Module, image: torch.Tensor, latents: np.ndarray, values: np.ndarray
                   ) -> list[np.ndarray]:
    """App. A.10: start from μ(x) of one image; for each latent, sweep it over ``values``, others fixed."""
    base = model.encode_mean(image[None])[0]
    rows = []
    for latent in latents:
        codes = base.repeat(len(values), 1)
        codes[:, latent] = torch.as_tensor(values, dtype=codes.dtype, device=codes.device)
        rows.append(to_display(torch.sigmoid(model.decode(codes))))
    return rows


def draw_traversals(model: torch.nn.Module, images: torch.Tensor, out_dir: str | Path, limit: float = 3.0,
                    steps: int = 9, max_latents: int = 10, probe: torch.Tensor | None = None,
                    caption: str | None = None) -> list[Path]:
    """One traversal sheet per seed image, latents ordered by their mean KL on ``probe`` (default: the seed
    images; pass the same probe as any KL table beside the sheets), each row labelled with that KL, each column
    with the value given to the traversed latent; ``caption`` (e.g. :func:`run_caption`) heads every sheet."""
    order, kl = latents_by_kl(model, images if probe is None else probe)
    order = order[:max_latents]
    values = np.linspace(-limit, limit, steps)
    paths = []
    for number, image in enumerate(images):
        title = f"latent traversals from seed image {number}: one row per latent, others fixed at μ(x)"
        figure = traversal_figure(model, image, order, kl, values, f"{caption}\n{title}" if caption else title)
        paths.append(save_png(figure, Path(out_dir) / f"traversal_{number}.png"))
    return paths


def traversal_figure(model: torch.nn.Module, image: torch.Tensor, latents: np.ndarray, kl: np.ndarray,
                     values: np.ndarray, title: str) -> Figure:
    """The input, then one row per latent (labelled with its KL), one column per value given to it."""
    rows = [to_display(image[None])] + traversal_rows(model, image, latents, values)
    labels = ["input", *[f"z{latent} KL={kl[latent]:.2f}" for latent in latents]]
    return grid_figure(rows, labels, title, [f"z = {value:g}" for value in values])


@torch.no_grad()
def draw_reconstructions(model: torch.nn.Module, images: torch.Tensor, path: str | Path) -> Path:
    """Inputs (top row) and their reconstructions at z = μ(x) (bottom row)."""
    rows = [to_display(images), to_display(model.reconstruct(images))]
    return save_grid(rows, path, ["input", "recon"], title="reconstructions")


@torch.no_grad()
def draw_samples(model: torch.nn.Module, path: str | Path, num: int = 32, seed: int = 0,
                 title: str = "samples z ~ N(0, I)") -> Path:
    """App. A.9: decoder means for z ~ N(0, I) (a GAN: its generator's images for fresh inputs)."""
    generator = torch.Generator(device=next(model.parameters()).device).manual_seed(seed)
    samples = to_display(model.sample(num, generator))
    per_row = 8
    return save_grid([samples[i:i + per_row] for i in range(0, num, per_row)], path, title=title)


@torch.no_grad()
def save_traversal_gif(model: torch.nn.Module, image: torch.Tensor, latents: np.ndarray, path: str | Path,
                       limit: float = 3.0, frames: int = 20, scale: int = 2) -> Path:
    """App. A.10 as an animation: one panel per latent, all sweeping −limit → limit → −limit together."""
    from PIL import Image

    base = model.encode_mean(image[None])[0]
    sweep = np.concatenate([np.linspace(-limit, limit, frames), np.linspace(limit, -limit, frames)[1:-1]])
    pictures = []
    for value in sweep:
        codes = base.repeat(len(latents), 1)
        codes[torch.arange(len(latents)), torch.as_tensor(latents)] = float(value)
        panels = to_display(torch.sigmoid(model.decode(codes)))  # [K, H, W, C]
        strip = np.concatenate(list(panels), axis=1)
        strip = (np.repeat(np.repeat(strip, scale, 0), scale, 1) * 255).astype(np.uint8)
        pictures.append(Image.fromarray(strip[..., 0] if strip.shape[-1] == 1 else strip))

    def write(handle):
        pictures[0].save(handle, format="GIF", save_all=True, append_images=pictures[1:], duration=80, loop=0)

    return atomic_write_buffered(path, write)
