"""Figures on explicit ``matplotlib.figure.Figure`` objects with their own Agg canvas.

No pyplot, no backend selected: drawing a figure here leaves a notebook's or a script's matplotlib state
(backend, current figure, rcParams) exactly as it was.
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from betavae.io import atomic_write


def new_figure(width: float, height: float, layout: str | None = "constrained") -> Figure:
    """A figure of ``width`` × ``height`` inches; constrained layout keeps labels, titles, legends inside it."""
    figure = Figure(figsize=(width, height), layout=layout)
    FigureCanvasAgg(figure)
    return figure


def save_png(figure: Figure, path: str | Path, dpi: int = 100) -> Path:
    """Write ``figure`` as a PNG, atomically."""
    return atomic_write(path, lambda handle: figure.savefig(handle, format="png", dpi=dpi))
