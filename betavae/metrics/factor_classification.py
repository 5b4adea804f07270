"""Ground-truth factor classification (App. A.5, Table 2).

For each factor, a linear softmax classifier (the metric's own, :func:`fit_linear_softmax`) predicts the
factor's value class (3, 6, 40, 32 and 32 classes on dSprites) from an image's code; the table reports
per-factor and mean test accuracy. Training and test images are distinct (drawn without replacement).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict

import numpy as np

from betavae.data.ground_truth import GroundTruthData
from betavae.errors import BetaVAEError
from betavae.metrics.linear import ClassifierSettings, fit_linear_softmax
from betavae.representations import CodeCache, Representation, cache_for


def factor_classification(representation: Representation, data: GroundTruthData, rng: np.random.Generator, *,
                          num_train: int = 10_000, num_test: int = 5_000, classifier_seeds: Sequence[int] = (0, 1, 2),
                          classifier: ClassifierSettings | None = None,
                          cache: CodeCache | None = None) -> dict:
    """App. A.5 / Table 2: test accuracy of a linear classifier predicting each factor's class from the code.

    Each classifier seed is one replicate: ``rng`` draws its own images (train then test, distinct) and the
    seed drives the classifier. ``per_factor`` is the mean over classifier seeds; ``mean`` averages it over
    factors.
    """
    if num_train < 1 or num_test < 1:
        raise BetaVAEError(f"Table 2 needs >= 1 training and test image, got {num_train} and {num_test}")
    if num_train + num_test > data.num_images:
        raise BetaVAEError(f"Table 2 asks for {num_train} + {num_test} distinct images but {data.name} has "
                           f"{data.num_images}; lower the Table 2 train/test sizes")
    classifier = classifier or ClassifierSettings()
    cache = cache_for(representation, data, cache)
    draws = [rng.choice(data.num_images, size=num_train + num_test, replace=False) for _ in classifier_seeds]
    splits = [(cache.codes(indices), data.factors(indices)) for indices in draws]
    start = time.perf_counter()
    scores: dict[str, list[float]] = {}
    converged: dict[str, list[bool]] = {}
    epochs: dict[str, list[int]] = {}
    for k, (name, size) in enumerate(zip(data.factor_names, data.factor_sizes)):
        fits = [fit_linear_softmax(codes[:num_train], factors[:num_train, k], size, seed, classifier)
                for (codes, factors), seed in zip(splits, classifier_seeds)]
        scores[name] = [fit.accuracy(codes[num_train:], factors[num_train:, k])
                        for fit, (codes, factors) in zip(fits, splits)]
        converged[name] = [fit.converged for fit in fits]
        epochs[name] = [fit.epochs for fit in fits]
    per_factor = {name: float(np.mean(values)) for name, values in scores.items()}
    return {"per_factor": per_factor, "mean": float(np.mean(list(per_factor.values()))),
            "per_factor_scores": scores,
            "chance": {name: 1.0 / size for name, size in zip(data.factor_names, data.factor_sizes)},
            "converged": converged, "epochs": epochs,
            "settings": {"num_train": num_train, "num_test": num_test, "classifier_seeds": list(classifier_seeds),
                         "classifier": asdict(classifier)},
            "classify_s": time.perf_counter() - start}
