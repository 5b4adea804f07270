"""Label-free scores (metrics/unsupervised.py) against cases whose answer is known, and `betavae evaluate` on a run
trained on an image folder, where only they apply."""

import json

import numpy as np
import pytest

from betavae.cli import main
from betavae.data.ground_truth import ImageDataset
from betavae.evaluate import EvalSettings, evaluate_representation
from betavae.metrics.unsupervised import (
    gaussian_total_correlation,
    gaussian_wasserstein_dependency,
    mean_mutual_information,
    unsupervised_scores,
)
from betavae.representations import FunctionRepresentation


def test_total_correlation_of_independent_gaussian_codes_is_about_0():
    codes = np.random.default_rng(0).normal(size=(10_000, 5)) * [1, 2, 3, 0.5, 10]
    scores = unsupervised_scores(codes)
    # ½ Σ log(1 − r²) of sample correlations r ~ 1/√n: about d(d−1)/4n = 5e-4
    assert 0 <= scores["gaussian_total_correlation"] < 3e-3
    assert 0 <= scores["gaussian_wasserstein_correlation_norm"] < 3e-3
    assert scores["mutual_info_score"] < 0.03  # the plug-in estimate's bias at 20 × 20 bins, 10,000 points


@pytest.mark.parametrize("rho", [0.3, 0.6, 0.9])
def test_total_correlation_of_a_correlated_pair_is_minus_half_log_one_minus_rho_squared(rho):
    rng = np.random.default_rng(1)
    n = 20_000
    x, noise = rng.normal(size=(2, n))
    codes = np.stack([x, rho * x + np.sqrt(1 - rho ** 2) * noise], axis=1)
    expected = -0.5 * np.log(1 - rho ** 2)
    # the estimate's standard error: ρ²/√n per unit of ρ² (delta method), well under 0.01 here
    assert unsupervised_scores(codes)["gaussian_total_correlation"] == pytest.approx(expected, abs=0.01)
    exact = np.array([[1.0, rho], [rho, 1.0]])
    assert gaussian_total_correlation(exact) == pytest.approx(expected, rel=1e-12)


def test_total_correlation_grows_with_the_correlation():
    values = [gaussian_total_correlation(np.array([[1.0, r], [r, 1.0]])) for r in (0.0, 0.2, 0.5, 0.8, 0.99)]
    assert values[0] == 0 and values == sorted(values)


def test_wasserstein_matches_the_reference_formula_and_its_closed_form():
    from scipy import linalg as scipy_linalg  # a dependency (pyproject)
    rng = np.random.default_rng(2)
    a = rng.normal(size=(6, 6))
    cov = a @ a.T + 0.1 * np.eye(6)
    reference = 2 * np.trace(cov) - 2 * np.trace(scipy_linalg.sqrtm(cov * np.diag(cov)[:, None])).real  # dlib's
    assert gaussian_wasserstein_dependency(cov) == pytest.approx(reference, rel=1e-8)
    # two unit variances with correlation ρ: W₂² = 4 − 2(√(1+ρ) + √(1−ρ))
    rho = 0.7
    assert gaussian_wasserstein_dependency(np.array([[1, rho], [rho, 1]])) == pytest.approx(
        4 - 2 * (np.sqrt(1 + rho) + np.sqrt(1 - rho)))
    assert gaussian_wasserstein_dependency(np.diag([1.0, 4.0, 9.0])) == pytest.approx(0, abs=1e-12)


def test_mutual_information_of_a_copied_dimension_is_its_entropy():
    rng = np.random.default_rng(3)
    column = rng.integers(0, 4, size=5000).astype(float)
    # two dimensions, each a copy of the other: I = H (4 equiprobable values: log 4)
    assert mean_mutual_information(np.stack([column, column], axis=1), num_bins=4) == pytest.approx(np.log(4), abs=0.01)
    assert mean_mutual_information(column[:, None], num_bins=4) is None


def test_a_constant_dimension_is_left_out_not_a_nan():
    codes = np.random.default_rng(4).normal(size=(2000, 3))
    codes[:, 1] = 5.0
    scores = unsupervised_scores(codes)
    assert scores["constant_dimensions"] == 1 and np.isfinite(scores["gaussian_total_correlation"])
    json.dumps(scores, allow_nan=False)


class Noise(ImageDataset):
    """An image set with no factors at all."""

    name = "noise-images"

    def __init__(self, n=300):
        self.num_images, self.image_shape = n, (1, 8, 8)
        self.pixels = np.random.default_rng(0).integers(0, 256, size=(n, 1, 8, 8), dtype=np.uint8)

    def images(self, indices):
        return self.pixels[indices]


def test_the_label_free_metric_scores_data_without_factors_and_refuses_the_others():
    from betavae.errors import BetaVAEError

    data = Noise()
    correlated = FunctionRepresentation("pixel-pairs", lambda x: x.reshape(len(x), -1)[:, [0, 0]].astype(float))
    evaluation = evaluate_representation(correlated, data, EvalSettings.of("unsupervised", smoke=True), progress=False)
    result = evaluation["metrics"]["unsupervised"]["result"]
    assert result["gaussian_total_correlation"] is None  # two identical dimensions: singular, infinite
    assert result["mutual_info_score"] > 2.5  # the copied pixel: about its entropy, log 20 = 3.0 nats at 20 bins
    with pytest.raises(BetaVAEError, match="no ground-truth factors, which mig needs; .*--metrics unsupervised"):
        evaluate_representation(correlated, data, EvalSettings.of("mig,unsupervised"), progress=False)


def test_evaluate_a_run_trained_on_an_image_folder(tmp_path, capsys):
    """`betavae evaluate RUN --metrics unsupervised` on a CelebA-style folder run; the paper's metrics refused in one
    `error:` line that names the fix."""
    from PIL import Image

    rng = np.random.default_rng(0)
    source = tmp_path / "images" / "img_align_celeba"
    source.mkdir(parents=True)
    for number in range(12):
        Image.fromarray(rng.integers(0, 255, size=(90, 70, 3), dtype=np.uint8)).save(source / f"{number:06d}.png")
    cache, run = tmp_path / "cache", tmp_path / "run"
    assert main(["data", "celeba", "--from", str(tmp_path / "images"), "--out", str(cache), "--quiet"]) == 0
    assert main(["train", "--dataset", "celeba", "--data", str(cache), "--steps", "2", "--batch-size", "4",
                 "--latents", "4", "--out", str(run), "--quiet", "--device", "cpu", "--threads", "1"]) == 0
    capsys.readouterr()
    code = main(["evaluate", str(run), "--metrics", "unsupervised", "--unsupervised-num-points", "200", "--quiet",
                 "--threads", "1"])
    out = capsys.readouterr().out
    assert code == 0 and "Gaussian total correlation" in out and "Mean mutual information" in out
    entry = next(iter(json.loads((run / "eval.json").read_text())["metrics"].values()))
    assert entry["metric"] == "unsupervised" and entry["data"]["name"] == "celeba"
    assert entry["result"]["dimensions"] == 4 and entry["result"]["gaussian_total_correlation"] >= 0
    code = main(["evaluate", str(run), "--quiet"])  # the default: the paper's metrics, which need factors
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith("error: 'celeba' has no ground-truth factors")
    assert "--metrics unsupervised" in err and "Traceback" not in err
