"""The metric contract: the paper's metric, its dlib variant and Table 2 keep their numbers through the refactor."""

from __future__ import annotations

import numpy as np
import pytest

from betavae.data.synthetic import SyntheticSquares
from betavae.evaluate import evaluate_representation
from betavae.experiments.common import paper_settings
from betavae.metrics import ClassifierSettings
from betavae.representations import FunctionRepresentation

DATA = SyntheticSquares(image_size=16)  # 3 x 8 x 8 = 192 images of 16 x 16, as when the values were pinned


def projection(seed: int) -> FunctionRepresentation:
    """A fixed random non-linear read-out of the pixels: partly informative, deterministic, no torch."""
    weight = np.random.default_rng(seed).normal(size=(256, 6))
    return FunctionRepresentation(f"projection-{seed}", lambda images: np.tanh(images.reshape(len(images), -1)
                                                                                / 255.0 @ weight))


def numbers(result: dict) -> dict:
    metric, table2 = result["metrics"]["beta-vae"]["result"], result["metrics"]["table2"]["result"]
    dlib = result["metrics"].get("beta-vae-dlib", {}).get("result")
    return {"metric": metric["scores"], "train_loss": metric["train_loss"], "epochs": metric["epochs"],
            "converged": metric["converged"], "dlib": dlib and [dlib["score"], dlib["train_accuracy"]],
            "table2": table2["per_factor_scores"]}


# Computed by the code before the Metric contract (commit 18047a0) on CPU; the refactor must not move them.
# Accuracies are exact fractions of the test points; the training loss is compared to float32 precision.
PINNED = [
    ({"metric": [0.42, 0.425], "train_loss": [1.0239768028259277, 1.0346206426620483], "epochs": [75, 63],
      "converged": [True, True], "dlib": [0.5, 0.53],
      "table2": {"size": [0.4666666666666667, 0.45], "pos_x": [0.26666666666666666, 0.25],
                 "pos_y": [0.4166666666666667, 0.3]}}),
    ({"metric": [0.28], "train_loss": [1.083791971206665], "epochs": [40], "converged": [False], "dlib": None,
      "table2": {"size": [0.32], "pos_x": [0.24], "pos_y": [0.22]}}),
    ({"metric": [0.44166666666666665, 0.44166666666666665], "train_loss": [1.0320765972137451, 1.026593565940857],
      "epochs": [30, 30], "converged": [False, False], "dlib": [0.375, 0.575],
      "table2": {"size": [0.4666666666666667, 0.38333333333333336], "pos_x": [0.25, 0.18333333333333335],
                 "pos_y": [0.15833333333333333, 0.18333333333333335]}}),
]


def test_paper_metric_dlib_and_table2_numbers_are_pinned():
    cases = [
        (projection(0), paper_settings(L=4, num_train=300, num_test=200, table2_train=120, table2_test=60,
                                       classifier_seeds=(0, 1))),  # default classifier: converges
        (projection(1), paper_settings(L=2, num_train=200, num_test=100, table2_train=100, table2_test=50,
                                       classifier=ClassifierSettings(max_epochs=40, standardize=False,
                                                                     batch_size=None),
                                       metrics=("beta-vae", "table2"), classifier_seeds=(3,), sample_seed=5)),
        ([projection(2), projection(3)], paper_settings(L=4, num_train=100, num_test=60, table2_train=100,
                                                        table2_test=60, classifier=ClassifierSettings(max_epochs=30),
                                                        classifier_seeds=(0, 1))),  # App. A.3's average
    ]
    for (representation, settings), expected in zip(cases, PINNED):
        got = numbers(evaluate_representation(representation, DATA, settings, progress=False))
        assert got["train_loss"] == pytest.approx(expected["train_loss"], rel=1e-6)
        assert {**got, "train_loss": None} == {**expected, "train_loss": None}


def test_classifier_fits_side_by_side_keep_every_number():
    """The seeds' (and Table 2's factors') fits in two threads give the results of one thread, bit for bit."""
    results = [evaluate_representation(projection(0), DATA, paper_settings(
        L=4, num_train=150, num_test=60, table2_train=90, table2_test=40, classifier_seeds=(0, 1, 2), threads=threads,
        classifier=ClassifierSettings(max_epochs=20)), progress=False)["metrics"] for threads in (1, 2)]
    for name in ("beta-vae", "beta-vae-dlib", "table2"):
        one, two = ({**entry["result"], "classify_s": None} for entry in (results[0][name], results[1][name]))
        assert one == two, name


def test_a_fixed_number_of_classifier_updates_is_trained_and_recorded():
    from betavae.metrics import fit_linear_softmax

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(100, 4)), rng.integers(0, 3, size=100)
    fit = fit_linear_softmax(x, y, 3, seed=0, settings=ClassifierSettings(batch_size=32, updates=10))
    # 100 points in batches of 32 make 4 updates an epoch: 10 updates end two updates into the third epoch
    assert (fit.updates, fit.epochs, fit.converged) == (10, 3, None)
    assert fit_linear_softmax(x, y, 3, seed=0, settings=ClassifierSettings(batch_size=None, updates=7)).updates == 7
    converging = fit_linear_softmax(x, y, 3, seed=0, settings=ClassifierSettings(batch_size=32))
    assert converging.converged is True and converging.updates == 4 * converging.epochs


def test_a_new_metric_is_one_class_and_one_registry_entry(monkeypatch, capsys):
    """The seam: a metric registered in METRICS is scored, cached, printed and given CLI flags, nothing else edited."""
    from dataclasses import dataclass

    from betavae.cli import build_parser, main
    from betavae.evaluate import EvalSettings, format_table, metric_result
    from betavae.metrics.base import Metric, Settings, setting
    from betavae.metrics.registry import METRICS

    @dataclass(frozen=True)
    class CodeSpreadSettings(Settings):
        num_images: int = setting(50, "images whose codes are measured", minimum=1)

    class CodeSpread(Metric):
        """A toy metric: the mean standard deviation of the codes of a few images."""

        name, title, settings_type, stream = "code-spread", "code spread (a test metric)", CodeSpreadSettings, 99
        smoke = CodeSpreadSettings(num_images=20)

        def compute(self, cache, data, rng, settings, shared):
            codes = cache.codes(rng.choice(data.num_images, settings.num_images, replace=False))
            return {"spread": float(codes.std(axis=0).mean())}

        def rows(self, result, settings):
            return [("code spread", f"{result['spread']:.3f}", f"{settings.num_images} images")]

        def headline(self, result):
            return {"spread": result["spread"]}

    monkeypatch.setitem(METRICS, "code-spread", CodeSpread())
    settings = EvalSettings.of("beta-vae,code-spread", smoke=True, changes={"code-spread": {"num_images": 30}})
    result = evaluate_representation(projection(0), DATA, settings, progress=False)
    assert metric_result(result, "code-spread")["spread"] > 0 and "code spread" in format_table(result)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["evaluate", "--help"])
    assert "--code-spread-num-images" in capsys.readouterr().out  # its flag, derived from its settings
    code = main(["evaluate", "--representation", "ground-truth", "--dataset", "synthetic-squares", "--quiet",
                 "--metrics", "code-spread", "--code-spread-num-images", "0"])
    assert code == 2 and "--code-spread-num-images" in capsys.readouterr().err
