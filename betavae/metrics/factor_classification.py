"""Ground-truth factor classification (App. A.5, Table 2).

For each factor, a linear softmax classifier (the metric's own, :func:`fit_linear_softmax`) predicts the
factor's value class (3, 6, 40, 32 and 32 classes on dSprites) from an image's code; the table reports
per-factor and mean test accuracy. Training and test images are distinct (drawn without replacement).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np

from betavae.errors import BetaVAEError
from betavae.metrics.base import Metric, Settings, Shared, setting
from betavae.metrics.linear import ClassifierSettings, fit_side_by_side
from betavae.threads import available_cores

if TYPE_CHECKING:
    from betavae.data.ground_truth import GroundTruthData
    from betavae.representations import CodeCache, Representation


def factor_classification(representation: Representation, data: GroundTruthData, rng: np.random.Generator, *,
                          num_train: int = 10_000, num_test: int = 5_000, classifier_seeds: Sequence[int] = (0, 1, 2),
                          classifier: ClassifierSettings | None = None,
                          cache: CodeCache | None = None, device: str = "cpu", threads: int = 1) -> dict:
    """App. A.5 / Table 2: test accuracy of a linear classifier predicting each factor's class from the code.

    Each classifier seed is one replicate: ``rng`` draws its own images (train then test, distinct) and the
    seed drives the classifier. ``per_factor`` is the mean over classifier seeds; ``mean`` averages it over
    factors. The fits (one per factor and seed) run ``threads`` at a time, each with the numbers it has alone.
    """
    if num_train < 1 or num_test < 1:
        raise BetaVAEError(f"Table 2 needs >= 1 training and test image, got {num_train} and {num_test}")
    _check_sizes(num_train, num_test, data)
    classifier = classifier or ClassifierSettings()
    from betavae.representations import cache_for

    cache = cache_for(representation, data, cache)
    draws = [rng.choice(data.num_images, size=num_train + num_test, replace=False) for _ in classifier_seeds]
    splits = [(cache.codes(indices), data.factors(indices)) for indices in draws]
    start = time.perf_counter()
    scores: dict[str, list[float]] = {}
    converged: dict[str, list[bool]] = {}
    epochs: dict[str, list[int]] = {}
    every_fit = fit_side_by_side([(codes[:num_train], factors[:num_train, k], size, seed)  # factor by factor
                                  for k, size in zip(data.true_factors, data.true_factor_sizes)
                                  for (codes, factors), seed in zip(splits, classifier_seeds)],
                                 classifier, device, threads)
    for index, (k, name) in enumerate(zip(data.true_factors, data.true_factor_names)):
        fits = every_fit[index * len(classifier_seeds):(index + 1) * len(classifier_seeds)]
        scores[name] = [fit.accuracy(codes[num_train:], factors[num_train:, k])
                        for fit, (codes, factors) in zip(fits, splits)]
        converged[name] = [fit.converged for fit in fits]
        epochs[name] = [fit.epochs for fit in fits]
    per_factor = {name: float(np.mean(values)) for name, values in scores.items()}
    return {"per_factor": per_factor, "mean": float(np.mean(list(per_factor.values()))),
            "per_factor_scores": scores,
            "chance": {name: 1.0 / size for name, size in zip(data.true_factor_names, data.true_factor_sizes)},
            "converged": converged, "epochs": epochs,
            "settings": {"num_train": num_train, "num_test": num_test, "classifier_seeds": list(classifier_seeds),
                         "classifier": asdict(classifier)},
            "classify_s": time.perf_counter() - start}


def _check_sizes(num_train: int, num_test: int, data: GroundTruthData) -> None:
    if num_train + num_test > data.num_images:
        raise BetaVAEError(f"Table 2 asks for {num_train} + {num_test} distinct images but {data.name} has "
                           f"{data.num_images}; lower them (--table2-num-train / --table2-num-test)")


@dataclass(frozen=True)
class Table2Settings(Settings):
    """App. A.5: 10,000 training / 5,000 test images (distinct), the metric's linear classifier."""

    num_train: int = setting(10_000, "training images", minimum=1)
    num_test: int = setting(5_000, "test images (distinct from the training images)", minimum=1)
    classifier: ClassifierSettings = setting(ClassifierSettings(), "the linear classifier")


class Table2Metric(Metric):
    """App. A.5 / Table 2 (Higgins et al. 2017): per-factor linear classification accuracy."""

    name = "table2"
    title = "Table 2: factor classification (Higgins et al. 2017, App. A.5)"
    settings_type = Table2Settings
    smoke = Table2Settings(num_train=400, num_test=200)
    stream = 2
    seeds = "all"
    combine_rules = {"converged": "all", "epochs": "max", "classify_s": "sum", "settings": "first", "chance": "first"}

    def check(self, settings: Table2Settings, data: GroundTruthData) -> None:
        _check_sizes(settings.num_train, settings.num_test, data)

    def compute(self, cache: CodeCache, data: GroundTruthData, rng: np.random.Generator, settings: Table2Settings,
                shared: Shared) -> dict:
        return factor_classification(cache.representation, data, rng, num_train=settings.num_train,
                                     num_test=settings.num_test, classifier_seeds=shared.classifier_seeds,
                                     classifier=settings.classifier, cache=cache, device=shared.device,
                                     threads=min(shared.threads, available_cores()))

    def combine(self, results: list[dict]) -> dict:
        return {**super().combine(results), "per_model_mean": [result["mean"] for result in results]}

    def rows(self, result: dict, settings: Table2Settings) -> list[tuple[str, str, str]]:
        sizes = f"{settings.num_train} train / {settings.num_test} test images"
        return ([("Table 2: factor classification", f"{result['mean']:.2%}", f"mean over factors; {sizes}")] +
                [(f"  {name}", f"{accuracy:.2%}", f"chance {result['chance'][name]:.2%}")
                 for name, accuracy in result["per_factor"].items()])

    def headline(self, result: dict) -> dict[str, float | None]:
        return {"Table 2 mean": result["mean"]}
