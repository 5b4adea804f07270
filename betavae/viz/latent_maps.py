"""Fig. 7: what each latent unit codes — its mean activation over the position grid, vs scale, vs rotation."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from betavae.data.ground_truth import GroundTruthData  # noqa: E402
from betavae.io import atomic_write  # noqa: E402
from betavae.representations import Representation  # noqa: E402


def mean_code_over(representation: Representation, data: GroundTruthData, fixed: dict[str, int | None],
                   rng: np.random.Generator, samples: int) -> np.ndarray:
    """Mean code over ``samples`` images whose factors in ``fixed`` take the given class (None: every class).

    Returns float[sizes of the None factors..., d]: e.g. ``{"pos_x": None, "pos_y": None}`` → [32, 32, d].
    """
    swept = [name for name, value in fixed.items() if value is None]
    grids = np.meshgrid(*[np.arange(data.factor_sizes[data.factor_names.index(name)]) for name in swept],
                        indexing="ij")
    cells = np.stack([grid.ravel() for grid in grids], axis=1) if swept else np.zeros((1, 0), dtype=np.int64)
    factors = data.sample_factors(len(cells) * samples, rng)
    for name, value in fixed.items():
        column = data.factor_names.index(name)
        factors[:, column] = np.repeat(cells[:, swept.index(name)], samples) if value is None else value
    codes = representation.encode(data.images(data.index(factors)))
    means = codes.reshape(len(cells), samples, -1).mean(1)
    shape = [data.factor_sizes[data.factor_names.index(name)] for name in swept]
    return means.reshape(*shape, -1)


def draw_latent_factor_map(representation: Representation, data: GroundTruthData, latents: np.ndarray,
                           path: str | Path, seed: int = 0, samples: int = 4, labels: list[str] | None = None) -> Path:
    """One row per latent: a heat map over (pos_x, pos_y), then one panel per other factor, a line per shape.

    Works on any ground-truth data: position panels need factors named pos_x/pos_y, shape lines a 'shape'
    factor; otherwise those parts are left out.
    """
    rng = np.random.default_rng(seed)
    names = list(data.factor_names)
    has_position = "pos_x" in names and "pos_y" in names
    line_factors = [name for name in names if name not in ("pos_x", "pos_y", "shape")]
    shapes = range(data.factor_sizes[names.index("shape")]) if "shape" in names else [None]
    position = mean_code_over(representation, data, {"pos_x": None, "pos_y": None}, rng, samples) \
        if has_position else None
    curves = {(factor, shape): mean_code_over(representation, data,
                                              {factor: None, **({"shape": shape} if shape is not None else {})},
                                              rng, samples * 8)
              for factor in line_factors for shape in shapes}
    columns = int(has_position) + len(line_factors)
    figure, axes = plt.subplots(len(latents), columns, squeeze=False, figsize=(2.2 * columns, 1.6 * len(latents)))
    for row, latent in enumerate(latents):
        column = 0
        if position is not None:
            axis = axes[row][0]
            axis.imshow(position[:, :, latent].T, cmap="viridis", origin="upper")  # rows: pos_y, cols: pos_x
            axis.set_xticks([])
            axis.set_yticks([])
            axis.set_ylabel(labels[row] if labels else f"z{latent}", fontsize=8)
            if row == 0:
                axis.set_title("position (x →, y ↓)", fontsize=8)
            column = 1
        for offset, factor in enumerate(line_factors):
            axis = axes[row][column + offset]
            for shape in shapes:
                axis.plot(curves[(factor, shape)][:, latent], label=None if shape is None else f"shape {shape}")
            axis.tick_params(labelsize=6)
            if row == 0:
                axis.set_title(factor, fontsize=8)
            if column + offset == 0:
                axis.set_ylabel(labels[row] if labels else f"z{latent}", fontsize=8)
    if "shape" in names:
        axes[0][-1].legend(fontsize=6)
    figure.suptitle("mean μ(x) of each latent against the generative factors (Fig. 7)", fontsize=9)
    figure.tight_layout()
    atomic_write(path, lambda handle: figure.savefig(handle, format="png", dpi=90))
    plt.close(figure)
    return Path(path)
