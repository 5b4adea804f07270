"""UDR (Duan et al. 2020): the score against cases whose answer is known, and `betavae udr` on tiny trained runs."""

import json

import numpy as np
import pytest

from betavae.cli import main
from betavae.metrics.udr import UDRSettings, relative_strength, spearman_matrix, udr_scores


def _codes(seed=0, n=5000, d=5):
    return np.random.default_rng(seed).normal(size=(n, d))


def _permuted_flipped(codes, seed):
    rng = np.random.default_rng(seed)
    signs = rng.choice([-1.0, 1.0], size=codes.shape[1])
    return codes[:, rng.permutation(codes.shape[1])] * signs


def _factor_grid(sizes=(3, 4, 5, 6)):
    """Every combination of independent factors: a perfectly disentangled code of a ground-truth grid, whose columns
    are exactly uncorrelated in rank and in value (a full factorial design)."""
    return np.stack([axis.ravel() for axis in np.meshgrid(*map(np.arange, sizes), indexing="ij")], axis=1) * 1.0


@pytest.mark.parametrize("correlation", ["spearman", "lasso"])
def test_a_representation_and_its_permuted_sign_flipped_copies_score_1(correlation):
    codes = _factor_grid()
    runs = [codes, _permuted_flipped(codes, 1), np.exp(_permuted_flipped(codes, 2))]  # exp: monotone, not linear
    if correlation == "lasso":
        runs[2] = _permuted_flipped(codes, 2) * 3.0 + 1.0  # Lasso matches linearly
    result = udr_scores(runs, [np.ones(4)] * 3, UDRSettings(correlation=correlation))
    # Lasso shrinks each matched weight of standardised codes from 1 to 1 − α: a perfect match scores 0.9, as in dlib
    perfect = 1.0 if correlation == "spearman" else 1 - UDRSettings().lasso_alpha
    assert result["scores"] == pytest.approx([perfect] * 3, abs=1e-12)
    assert all(value == pytest.approx(perfect, abs=1e-12) for row in result["pairwise"] for value in row
               if value is not None)


def test_random_gaussian_codes_and_a_permuted_copy_score_1_up_to_sampling_noise():
    codes = _codes()
    # each off-diagonal |ρ| ~ 1/√n = 0.014 adds to the sums: max²/sum ≈ 1/(1 + 4·0.011) ≈ 0.96 at n = 5000
    assert udr_scores([codes, _permuted_flipped(codes, 1)], [np.ones(5)] * 2)["scores"] == pytest.approx(
        [1.0, 1.0], abs=0.06)


def test_independent_random_codes_score_near_0():
    runs = [_codes(seed) for seed in range(3)]
    kls = [np.ones(5)] * 3
    spearman = udr_scores(runs, kls)["scores"]
    # |ρ| of independent columns ~ 1/√n = 0.014: max²/sum about 0.005
    assert all(0 <= score < 0.02 for score in spearman)
    lasso = udr_scores(runs, kls, UDRSettings(correlation="lasso"))["scores"]
    assert lasso == [0.0, 0.0, 0.0]  # alpha 0.1 zeroes every weight of an unrelated regressor


def test_inactive_latents_are_left_out_and_latent_sizes_may_differ():
    codes = _factor_grid()
    noise = np.random.default_rng(9).normal(size=(len(codes), 6))
    wide = np.concatenate([_permuted_flipped(codes, 3), noise], axis=1)  # 4 informative latents + 6 unrelated ones
    kl_wide = np.array([2.0, 1.0, 0.5, 0.3, 0.0, 0.001, 0.01, 0.005, 0.0, 0.002])  # the 6 are inactive (<= 0.01)
    result = udr_scores([codes, wide], [np.ones(4), kl_wide])
    assert result["scores"] == pytest.approx([1.0, 1.0])
    assert result["active"][1] == [True] * 4 + [False] * 6
    unmasked = udr_scores([codes, wide], [np.ones(4), np.ones(10)])["scores"]
    assert max(unmasked) < 0.9  # scored with the unrelated latents, the match is no longer one to one


def test_a_model_without_active_latents_scores_0_and_one_mixing_scores_between():
    codes = _factor_grid((20, 20))
    rotated = codes @ np.array([[1.0, 1.0], [-1.0, 1.0]]) / np.sqrt(2)  # 45°: each latent half of both
    result = udr_scores([codes, rotated, codes], [np.ones(2), np.ones(2), np.zeros(2)])
    assert result["pairwise"][0][2] == result["pairwise"][2][0] == 0.0
    matrix = spearman_matrix(codes, rotated)  # every entry the same |ρ| ≈ 0.7: max² / sum = |ρ| / 2
    assert np.ptp(matrix) < 1e-9 and result["pairwise"][0][1] == pytest.approx(matrix[0, 0] / 2)
    assert 0.3 < result["pairwise"][0][1] < 0.4  # far from the 1 of a one-to-one match
    assert result["scores"][2] == 0.0


def test_relative_strength_by_hand():
    assert relative_strength(np.eye(3)) == 1.0
    assert relative_strength(np.ones((2, 2))) == pytest.approx(0.5)  # max² / sum = 1/2 for every row and column
    assert relative_strength(np.array([[1.0, 0.0], [0.0, 0.0]])) == pytest.approx(0.5)  # zero row and column: 0
    assert relative_strength(np.zeros((0, 3))) == 0.0


def test_spearman_matrix_matches_scipy():
    from scipy import stats  # a dependency (pyproject)
    rng = np.random.default_rng(5)
    first, second = rng.normal(size=(200, 3)), rng.integers(0, 4, size=(200, 2)).astype(float)  # ties in second
    expected = np.array([[abs(stats.spearmanr(first[:, i], second[:, j])[0]) for j in range(2)] for i in range(3)])
    assert spearman_matrix(first, second) == pytest.approx(expected, abs=1e-12)


def _train(run, *flags):
    assert main(["train", "--arch", "burgess", "--steps", "20", "--batch-size", "16", "--out", str(run), "--quiet",
                 "--device", "cpu", "--threads", "1", *flags]) == 0


def test_udr_command_ranks_runs_caches_their_codes_and_refuses_other_data(tmp_path, capsys):
    runs = [tmp_path / f"seed{seed}" for seed in range(3)]
    for seed, run in enumerate(runs):
        _train(run, "--dataset", "synthetic-squares", "--seed", str(seed))
    capsys.readouterr()
    out = tmp_path / "udr"
    small = ["--num-points", "300", "--threads", "1", "--quiet", "--device", "cpu", "--out", str(out)]
    assert main(["udr", *map(str, runs[:2]), *small]) == 0
    first_codes = {run: next((run / "udr").glob("*.npy")).stat().st_mtime_ns for run in runs[:2]}
    assert main(["udr", *map(str, runs), *small]) == 0  # a third run: only it is encoded
    printed = capsys.readouterr().out
    assert all(next((run / "udr").glob("*.npy")).stat().st_mtime_ns == first_codes[run] for run in runs[:2])
    assert "UDR (spearman) of 3 runs on synthetic-squares" in printed and printed.count("seed") >= 3
    result = json.loads((out / "udr.json").read_text())
    assert [run["run"] for run in result["runs"]] == [str(run) for run in runs]
    assert all(0 <= run["udr"] <= 1 and run["latents"] == 10 for run in result["runs"])
    pairwise = np.array([[np.nan if v is None else v for v in row] for row in result["pairwise"]])
    assert np.allclose(pairwise, pairwise.T, equal_nan=True)  # Spearman scores each pair alike both ways
    for index in range(3):  # a run's UDR: the median of its column
        assert result["runs"][index]["udr"] == pytest.approx(np.median(np.delete(pairwise[:, index], index)))
    assert (out / "udr.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["udr", *map(str, runs), *small, "--correlation", "lasso"]) == 0  # the same codes, Lasso-matched
    assert all(len(list((run / "udr").glob("*.npy"))) == 1 for run in runs)
    assert json.loads((out / "udr.json").read_text())["settings"]["correlation"] == "lasso"
    capsys.readouterr()

    from PIL import Image  # a run on an image folder: other images, refused in one line

    source = tmp_path / "images"
    source.mkdir()
    for number in range(8):
        Image.fromarray(np.full((64, 64, 3), 30 * number, dtype=np.uint8)).save(source / f"{number}.png")
    assert main(["data", "folder", "--from", str(source), "--out", str(tmp_path / "cache"), "--quiet"]) == 0
    _train(tmp_path / "folder-run", "--dataset", "folder", "--data", str(tmp_path / "cache"), "--steps", "2",
           "--batch-size", "4")
    capsys.readouterr()
    code = main(["udr", str(runs[0]), str(tmp_path / "folder-run"), *small])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "UDR compares runs on the same images" in err
    code = main(["udr", str(runs[0]), *small])
    assert code == 2 and "at least two run directories" in capsys.readouterr().err
    code = main(["udr", str(runs[0]), str(runs[1]), *small, "--correlation", "pearson"])
    assert code == 2 and "--correlation" in capsys.readouterr().err


@pytest.mark.slow  # ~90 s: 10 training runs, UDR and two supervised metrics of each; CI runs it with -m slow
def test_reproduce_udr_smoke_on_the_synthetic_squares(tmp_path):
    """`betavae reproduce udr --budget smoke`: 5 β × 2 seeds, UDR within each β, the supervised metrics beside it."""
    from betavae.experiments.reproduce import reproduce

    out = tmp_path / "udr"
    report = reproduce("udr", budget="smoke", out_dir=out, dataset="synthetic-squares", device="cpu",
                       progress=False, threads=1)
    text = report.read_text()
    results = json.loads((out / "results.json").read_text())
    assert [(m["beta"], m["seed"]) for m in results["models"]] == [(b, s) for b in (1, 2, 4, 8, 16) for s in (0, 1)]
    finished = [m for m in results["models"] if m["state"] == "finished"]
    assert len(finished) == 10 and all(0 <= m["udr"] <= 1 for m in finished)
    for beta in (1, 2, 4, 8, 16):  # two seeds: each one's UDR is their one pairwise score, the same for both
        first, second = [m["udr"] for m in finished if m["beta"] == beta]
        assert first == pytest.approx(second)
    assert set(results["rank_correlations"]) == {"MIG", *finished[0]["metrics"]} - {"UDR"}
    assert all(r["num_models"] == 10 for r in results["rank_correlations"].values())
    assert set(results["picks"]["UDR"]) <= {1, 2, 4, 8, 16} and results["picks"]["UDR"] and "Which β" in text
    assert "Rank correlation with UDR" in text and (out / "udr_vs_metrics.png").exists()
    assert all(len(list((out / "runs" / m["name"] / "udr").glob("*.npy"))) == 1 for m in finished)
