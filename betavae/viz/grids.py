"""Image grids of a trained model: reconstructions, samples (App. A.9), latent traversals (App. A.10)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from betavae.io import atomic_write  # noqa: E402


def to_display(images: torch.Tensor | np.ndarray) -> np.ndarray:
    """[n, C, H, W] in [0, 1] (or uint8) → [n, H, W, C] float for imshow (grey kept single-channel)."""
    array = images.detach().cpu().numpy() if isinstance(images, torch.Tensor) else np.asarray(images)
    if array.dtype == np.uint8:
        array = array.astype(np.float32) / 255.0
    return np.clip(array.transpose(0, 2, 3, 1), 0.0, 1.0)


def save_grid(rows: list[np.ndarray], path: str | Path, row_labels: list[str] | None = None,
              title: str | None = None, cell: float = 0.9) -> Path:
    """Draw rows of images ([k, H, W, C] each) as one PNG, written atomically."""
    num_rows, num_cols = len(rows), max(len(row) for row in rows)
    label_width = 1.4 if row_labels else 0.0
    figure, axes = plt.subplots(num_rows, num_cols, squeeze=False,
                                figsize=(num_cols * cell + label_width, num_rows * cell + (0.4 if title else 0)))
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
    if title:
        figure.suptitle(title, fontsize=10)
    figure.subplots_adjust(wspace=0.04, hspace=0.04, left=label_width / (num_cols * cell + label_width))
    path = Path(path)
    atomic_write(path, lambda handle: figure.savefig(handle, format="png", dpi=100))
    plt.close(figure)
    return path


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
                    steps: int = 9, max_latents: int = 10, probe: torch.Tensor | None = None) -> list[Path]:
    """One traversal sheet per seed image, latents ordered by their mean KL on ``probe`` (default: the seed
    images; pass the same probe as any KL table beside the sheets), each row labelled with that KL."""
    order, kl = latents_by_kl(model, images if probe is None else probe)
    order = order[:max_latents]
    values = np.linspace(-limit, limit, steps)
    labels = [f"z{latent} KL={kl[latent]:.2f}" for latent in order]
    paths = []
    for number, image in enumerate(images):
        rows = [np.repeat(to_display(image[None]), 1, axis=0)] + traversal_rows(model, image, order, values)
        path = Path(out_dir) / f"traversal_{number}.png"
        paths.append(save_grid(rows, path, ["input", *labels], title=f"latent traversals, z in [-{limit}, {limit}]"))
    return paths


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

    return atomic_write(path, write)
