"""Fig. 7: what each latent unit codes — its mean activation over the position grid, vs scale, vs rotation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from betavae.data.ground_truth import GroundTruthData
from betavae.representations import Representation
from betavae.viz.canvas import new_figure, save_png


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
    figure = latent_factor_figure(representation, data, latents, seed, samples, labels)
    return save_png(figure, path, dpi=90)


def latent_factor_figure(representation: Representation, data: GroundTruthData, latents: np.ndarray, seed: int = 0,
                         samples: int = 4, labels: list[str] | None = None) -> Figure:
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
    figure = new_figure(2.6 * columns + 0.6, 1.7 * len(latents) + 0.6)
    axes = figure.subplots(len(latents), columns, squeeze=False)
    values = {factor: data.factor_values(factor) for factor in line_factors}
    shape_names = data.class_names.get("shape")
    for row, latent in enumerate(latents):
        name = labels[row] if labels else f"z{latent}"
        # one colour scale per latent, shared by its heat map (colour bar) and its curves (y axis)
        shown = [curve[:, latent] for curve in curves.values()] + ([] if position is None else [position[..., latent]])
        low, high = min(float(part.min()) for part in shown), max(float(part.max()) for part in shown)
        low, high = (low, high) if high > low else (low - 0.5, high + 0.5)
        if position is not None:
            axis = axes[row][0]
            # rows: pos_y (down), columns: pos_x, on DeepMind's [0, 1] position values where the data has them
            extent = (*_span(data.factor_values("pos_x")), *_span(data.factor_values("pos_y"))[::-1])
            image = axis.imshow(position[:, :, latent].T, cmap="viridis", origin="upper", extent=extent,
                                vmin=low, vmax=high, aspect="auto")
            figure.colorbar(image, ax=axis, fraction=0.08, pad=0.03).ax.tick_params(labelsize=6)
            axis.tick_params(labelsize=6)
            axis.set_ylabel(f"{name}\npos_y", fontsize=8)
            if row == 0:
                axis.set_title("position (x →, y ↓)", fontsize=8)
            if row == len(latents) - 1:
                axis.set_xlabel("pos_x", fontsize=7)
        for offset, factor in enumerate(line_factors):
            axis = axes[row][int(has_position) + offset]
            for shape in shapes:
                label = None if shape is None else (shape_names[shape] if shape_names else f"shape {shape}")
                axis.plot(values[factor], curves[(factor, shape)][:, latent], label=label)
            axis.set_ylim(low, high)
            axis.tick_params(labelsize=6)
            if row == 0:
                axis.set_title(f"{factor} (a line per shape)" if "shape" in names else factor, fontsize=8)
            if row == len(latents) - 1:
                axis.set_xlabel(FACTOR_UNITS.get(factor, factor), fontsize=7)
            if not has_position and offset == 0:
                axis.set_ylabel(name, fontsize=8)
    if "shape" in names and line_factors:
        axes[0][-1].legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0)
    figure.suptitle("mean μ(x) of each latent against the generative factors (Fig. 7)\n"
                    "a row's colour bar also spans its curves' y axis", fontsize=9)
    return figure


FACTOR_UNITS = {"orientation": "orientation (radians)", "scale": "scale (relative size)",
                "size": "size (side in pixels)"}


def _span(values: np.ndarray) -> tuple[float, float]:
    """Image extent along one axis whose cells are centred on ``values`` (evenly spaced)."""
    step = (values[-1] - values[0]) / max(len(values) - 1, 1) or 1.0
    return float(values[0] - step / 2), float(values[-1] + step / 2)
