"""Figures on explicit ``matplotlib.figure.Figure`` objects with their own Agg canvas.

No pyplot, no backend selected: drawing a figure here leaves a notebook's or a script's matplotlib state
(backend, current figure, rcParams) exactly as it was.
"""

from __future__ import annotations

import io
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from betavae.io import atomic_write_buffered


def new_figure(width: float, height: float, layout: str | None = "constrained") -> Figure:
    """A figure of ``width`` × ``height`` inches; constrained layout keeps labels, titles, legends inside it."""
    figure = Figure(figsize=(width, height), layout=layout)
    FigureCanvasAgg(figure)
    return figure


def save_png(figure: Figure, path: str | Path, dpi: int = 100) -> Path:
    """Write ``figure`` as a PNG, atomically."""
    return atomic_write_buffered(path, lambda handle: figure.savefig(handle, format="png", dpi=dpi))


def save_side_by_side(figures: list[Figure], path: str | Path, dpi: int = 100) -> Path:
    """Several figures drawn next to each other in one PNG (tops aligned, white between), written atomically."""
    from PIL import Image

    pictures = []
    for figure in figures:
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=dpi)
        pictures.append(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))
    gap = 20
    canvas = Image.new("RGB", (sum(p.width for p in pictures) + gap * (len(pictures) - 1),
                               max(p.height for p in pictures)), "white")
    left = 0
    for picture in pictures:
        canvas.paste(picture, (left, 0))
        left += picture.width + gap
    return atomic_write_buffered(path, lambda handle: canvas.save(handle, format="png"))
