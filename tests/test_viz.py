"""Figures: drawn on explicit Figure objects (no backend or pyplot state touched), readable by a paper reader."""

import subprocess
import sys

import numpy as np
import pytest
import torch

BACKEND_CHECK = """
import matplotlib
matplotlib.use("pdf")
import betavae.viz.grids, betavae.viz.latent_maps, betavae.viz.figures
import betavae.experiments.fig6_table, betavae.experiments.traversals, betavae.experiments.beta_norm
import betavae.experiments.beta_epsilon, betavae.experiments.continuity
import matplotlib as m
assert m.get_backend() == "pdf", m.get_backend()
from betavae.experiments.fig6_table import fig6_figure
from betavae.experiments.rows import FIG6_ROWS, RowResult
from betavae.viz.canvas import save_png
evaluation = {"metrics": {"beta-vae": {"result": {"scores": [1.0]}}}}
save_png(fig6_figure([RowResult(FIG6_ROWS[0], 1, [evaluation])], "t"), PATH)
import sys
assert m.get_backend() == "pdf" and "matplotlib.pyplot" not in sys.modules
"""


def test_importing_and_drawing_leaves_the_matplotlib_backend_alone(tmp_path):
    path = tmp_path / "figure.png"
    result = subprocess.run([sys.executable, "-c", BACKEND_CHECK.replace("PATH", repr(str(path)))], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _inside(inner, outer) -> bool:
    return (inner.x0 >= outer.x0 - 0.5 and inner.y0 >= outer.y0 - 0.5 and inner.x1 <= outer.x1 + 0.5
            and inner.y1 <= outer.y1 + 0.5)


def test_fig6_figure_is_readable():
    from betavae.data.synthetic import SyntheticSquares
    from betavae.experiments.fig6_table import fig6_figure
    from betavae.experiments.rows import FIG6_ROWS, RowResult, row_for_data

    rows = [row_for_data(row, SyntheticSquares()) for row in FIG6_ROWS]  # ICA's row with its longest label
    results = [RowResult(row, 2, [{"metrics": {"beta-vae": {"result": {"scores": [row.paper_mean / 100, 0.9]}}}}])
               for row in rows]
    figure = fig6_figure(results, "Fig. 6 metric on dsprites (generated), budget cpu: 3000 steps")
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    axis = figure.axes[0]
    assert _inside(axis.yaxis.label.get_window_extent(renderer), figure.bbox)  # the y-label is not clipped
    for label in axis.get_xticklabels():
        assert _inside(label.get_window_extent(renderer), figure.bbox)
        assert max(len(line) for line in label.get_text().splitlines()) <= 16, label.get_text()
    legend = axis.get_legend().get_window_extent(renderer)
    crosses = axis.transData.transform([(i, row.paper_mean) for i, row in enumerate(FIG6_ROWS)])
    assert not any(legend.contains(x, y) for x, y in crosses)  # no paper marker hidden under the legend
    assert "dsprites (generated)" in axis.get_title() and "budget cpu" in axis.get_title()


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    from betavae.config import DataConfig, ModelConfig, RunConfig, TrainConfig
    from betavae.train import train

    out = tmp_path_factory.mktemp("viz") / "tiny-b4"
    config = RunConfig(data=DataConfig(dataset="synthetic-squares"), model=ModelConfig(arch="burgess"),
                       train=TrainConfig(steps=6, batch_size=8, log_every=2, device="cpu"))
    train(config, out, progress=False)
    return out


def test_traversal_sheets_carry_z_values_and_the_run(tiny_run):
    from betavae.runs import load_model
    from betavae.viz.grids import run_caption, traversal_figure

    _, model = load_model(tiny_run)
    values = np.linspace(-3, 3, 5)
    figure = traversal_figure(model, torch.zeros(1, 64, 64), np.array([1, 0]), np.array([0.5, 1.5]), values,
                              run_caption(tiny_run))
    title = figure._suptitle.get_text()
    assert "tiny-b4" in title and "β = 4" in title and "step 6 of 6" in title
    bottom = [axis.get_xlabel() for axis in figure.axes[-5:]]
    assert bottom == ["z = -3", "z = -1.5", "z = 0", "z = 1.5", "z = 3"]
    assert [axis.get_ylabel() for axis in figure.axes[::5]] == ["input", "z1 KL=1.50", "z0 KL=0.50"]


def test_kl_per_latent_plot_uses_a_log_axis(tiny_run):
    from betavae.experiments.traversals import kl_figure

    axis = kl_figure(tiny_run).axes[0]
    assert axis.get_yscale() == "log" and "tiny-b4" in axis.get_title()


def test_latent_factor_map_has_colour_bars_factor_values_and_shape_names():
    from betavae.data.ground_truth import GroundTruthData
    from betavae.viz.latent_maps import latent_factor_figure

    class Shapes(GroundTruthData):
        """A named categorical shape, a valued scale, positions; each image holds its own index as pixel value."""

        factor_names = ("shape", "scale", "pos_x", "pos_y")
        factor_sizes = (2, 3, 4, 4)
        class_names = {"shape": ("square", "heart")}
        image_shape = (1, 8, 8)

        def factor_values(self, name):
            return np.array([0.5, 0.75, 1.0]) if name == "scale" else super().factor_values(name)

        def images(self, indices):
            return np.broadcast_to(np.asarray(indices, np.uint8)[:, None, None, None], (len(indices), 1, 8, 8))

    data = Shapes()

    class FactorCode:
        """A representation whose code is the factor classes of the image."""

        name = "factors"

        def encode(self, images):
            return data.factors(images[:, 0, 0, 0].astype(np.int64)).astype(np.float32)

    figure = latent_factor_figure(FactorCode(), data, np.array([1, 0]), labels=["z1", "z0"])
    colour_bars = [axis for axis in figure.axes if axis.get_label() == "<colorbar>"]
    panels = [axis for axis in figure.axes if axis.get_label() != "<colorbar>"]
    assert len(colour_bars) == 2 and len(panels) == 4  # per row: position map with its colour bar, scale curves
    scale_panel = panels[1]
    assert [line.get_label() for line in scale_panel.get_lines()] == ["square", "heart"]
    np.testing.assert_allclose(scale_panel.get_lines()[0].get_xdata(), [0.5, 0.75, 1.0])
    np.testing.assert_allclose(scale_panel.get_lines()[0].get_ydata(), [0, 1, 2])  # z1 codes the scale class
    assert scale_panel.get_xlabel() == "" and panels[3].get_xlabel() == "scale (relative size)"


def test_report_html_aligns_names_left_and_keeps_mean_std_on_one_line(tmp_path):
    from betavae.viz.report import Report

    report = Report("t")
    report.table(["representation", "ours (%)"], [["β-VAE (β = 4)", "97.42 ± 1.72"]])
    page = (tmp_path / "report.html").read_text() if report.write(tmp_path, {}) else ""
    assert "td:first-child,th:first-child{text-align:left}" in page
    assert "<td class='pm'>97.42 ± 1.72</td>" in page and ".pm{white-space:nowrap}" in page
