"""The Python API from a script or notebook: clear errors, the CLI's dataset sizes, the CLI's device default."""

import numpy as np
import pytest
import torch

from betavae.errors import BetaVAEError


def test_a_module_without_encode_mean_is_refused_with_what_is_needed():
    from betavae.representations import ModelRepresentation

    with pytest.raises(BetaVAEError, match=r"Linear has no encode_mean method; a model representation needs "
                                           r"encode_mean\(x"):
        ModelRepresentation("linear", torch.nn.Linear(4, 2))


def test_synthetic_squares_default_is_the_cli_dataset_and_scores_a_cli_run(tmp_path):
    from betavae.baselines.registry import load_run_representation
    from betavae.cli import main
    from betavae.data.registry import load_dataset
    from betavae.data.synthetic import SyntheticSquares
    from betavae.evaluate import evaluate_representation, metric_result
    from betavae.experiments.common import paper_settings

    assert SyntheticSquares().image_shape == load_dataset("synthetic-squares").image_shape == (1, 64, 64)
    run = tmp_path / "run"
    assert main(["train", "--dataset", "synthetic-squares", "--steps", "2", "--out", str(run), "--quiet"]) == 0
    representation = load_run_representation(run)
    settings = paper_settings(L=4, num_train=60, num_test=30, metrics=("beta-vae",), classifier_seeds=(0,))
    result = evaluate_representation(representation, SyntheticSquares(), settings, progress=False)
    assert 0.0 <= metric_result(result, "beta-vae")["mean"] <= 1.0


def test_load_run_representation_defaults_to_auto_like_evaluate_run(tmp_path):
    import inspect

    from betavae.baselines.registry import load_run_representation
    from betavae.evaluate import evaluate_run
    from betavae.train import resolve_device

    assert (inspect.signature(load_run_representation).parameters["device"].default
            == inspect.signature(evaluate_run).parameters["device"].default == "auto")
    from betavae.cli import main

    run = tmp_path / "run"
    assert main(["train", "--dataset", "synthetic-squares", "--steps", "1", "--out", str(run), "--quiet"]) == 0
    assert load_run_representation(run).device == resolve_device("auto")
    assert load_run_representation(run, "cpu").device == torch.device("cpu")
    assert np.isfinite(load_run_representation(run).encode(np.zeros((2, 1, 64, 64), np.uint8))).all()
