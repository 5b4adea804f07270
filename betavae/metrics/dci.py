"""DCI: disentanglement, completeness, informativeness (Eastwood & Williams 2018, ICLR, §2-3).

Per factor, a classifier predicts its class from the code; the importance of code dimension i for factor k,
R[i, k], is the classifier's feature importance. Disentanglement: 1 − H_K of each dimension's row of R
(normalised), weighted by the dimension's share of the total importance. Completeness: 1 − H_D of each factor's
column. Informativeness: the classifiers' accuracy (train and test). Eastwood & Williams used lasso and random
forests; disentanglement_lib's choice, followed here, is gradient-boosted trees with scikit-learn's defaults
(100 stages of depth-3 trees, learning rate 0.1) on 10,000 training / 5,000 test points.

Boosting fits one tree per class per stage: 11,300 trees for dSprites' five factors (113 classes), the factors
side by side in the evaluation's threads (:func:`fit_factors`; the same trees as one after another). The default,
``trees="exact"``, is disentanglement_lib's ``GradientBoostingClassifier``: 344 s for one β-VAE on this project's
2-core machine (measured with another job running). ``trees="histogram"`` fits the same boosting (stages, depth,
learning rate, softmax loss) with ``HistGradientBoostingClassifier``, which bins each code dimension into 255
quantiles, in 35 s on the same model, taking importance as each dimension's total split gain. It is not the
default because its numbers differ: on that β-VAE D 0.080 / 0.069, C 0.116 / 0.101, I 0.384 / 0.374 (histogram /
exact); on noisy synthetic factors D 0.335 / 0.260; and a duplicated code dimension leaves its completeness at
1.0 (a tie always goes to the first dimension) where exact trees, which shuffle features, give 0.834.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

import numpy as np

from betavae.metrics.base import Metric, SettingError, Settings, Shared, number, setting
from betavae.metrics.codes import normalized_entropy, train_test_codes
from betavae.progress import progress_bar
from betavae.threads import available_cores, side_by_side

if TYPE_CHECKING:
    from betavae.data.ground_truth import GroundTruthData
    from betavae.representations import CodeCache


def disentanglement_completeness(importance: np.ndarray) -> tuple[float, float]:
    """Eastwood & Williams' D and C from an importance matrix R[d, K] (0 and 0 where R is all zero)."""
    total = importance.sum()
    if total <= 0:
        return 0.0, 0.0
    disentanglement = 1 - normalized_entropy(importance, axis=1)  # per code dimension, base K
    completeness = 1 - normalized_entropy(importance, axis=0)  # per factor, base d
    return (float(disentanglement @ (importance.sum(axis=1) / total)),
            float(completeness @ (importance.sum(axis=0) / total)))


def boosted_trees(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray,
                  settings: DCISettings, seed: int, threads: int = 1) -> tuple[np.ndarray, float, float]:
    """One factor: the trees' feature importances, train and test accuracy (one class: nothing to learn).
    ``threads``: the OpenMP threads histogram trees may use (exact trees use one; neither's numbers depend on it)."""
    if len(np.unique(y_train)) < 2:
        return np.zeros(x_train.shape[1]), 1.0, float(np.mean(y_test == y_train[0]))
    from threadpoolctl import threadpool_limits  # a dependency of scikit-learn

    with threadpool_limits(limits=threads, user_api="openmp"):  # this thread's OpenMP setting, given back after
        if settings.trees == "exact":
            from sklearn.ensemble import GradientBoostingClassifier

            model = GradientBoostingClassifier(n_estimators=settings.stages, max_depth=settings.max_depth,
                                               random_state=seed).fit(x_train, y_train)
            importance = np.abs(model.feature_importances_)
        else:
            from sklearn.ensemble import HistGradientBoostingClassifier

            model = HistGradientBoostingClassifier(max_iter=settings.stages, max_depth=settings.max_depth,
                                                   max_leaf_nodes=2 ** settings.max_depth, early_stopping=False,
                                                   random_state=seed).fit(x_train, y_train)
            importance = split_gains(model, x_train.shape[1])
        return (importance, float(np.mean(model.predict(x_train) == y_train)),
                float(np.mean(model.predict(x_test) == y_test)))


def fit_factors(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray,
                settings: DCISettings, seed: int, threads: int = 1,
                progress: bool = False) -> list[tuple[np.ndarray, float, float]]:
    """:func:`boosted_trees` for each factor (column of ``y``), up to ``threads`` fits side by side, in factor order.

    The fits are independent and deterministic, so each gives the same trees in any thread. Threads, not processes:
    the trees are built in scikit-learn's Cython without the GIL (measured by ``benchmarks/dci_parallel.py``), and
    threads need no ``__main__`` guard, no copies of the codes and no start-up. Boosting fits one tree per class
    per stage, so the factors with the most classes start first: on dSprites (3, 6, 40, 32 and 32 classes) two
    threads finish after 64 classes' trees instead of 70 in factor order."""
    factors = y_train.shape[1]
    order = sorted(range(factors), key=lambda k: -len(np.unique(y_train[:, k])))
    workers = max(1, min(factors, threads))
    with progress_bar(total=factors, desc="DCI: gradient-boosted trees per factor (slow)", unit="factor",
                      leave=False, disable=not progress) as bar:
        fits = side_by_side([partial(boosted_trees, x_train, y_train[:, k], x_test, y_test[:, k], settings, seed,
                                     max(1, threads // workers)) for k in order], workers, lambda _: bar.update(1))
    return [fits[order.index(k)] for k in range(factors)]


def split_gains(model, dimensions: int) -> np.ndarray:
    """A fitted HistGradientBoostingClassifier's importance of each input: its total split gain over all trees,
    normalised to sum 1 (what GradientBoostingClassifier's impurity importance measures, on binned inputs)."""
    try:
        trees = [tree for stage in model._predictors for tree in stage]
        gains = np.zeros(dimensions)
        for tree in trees:
            split = tree.nodes["is_leaf"] == 0
            np.add.at(gains, tree.nodes["feature_idx"][split], np.maximum(tree.nodes["gain"][split], 0.0))
    except (AttributeError, KeyError, ValueError) as error:  # private layout of scikit-learn's trees
        from betavae.errors import BetaVAEError

        raise BetaVAEError(f"this scikit-learn's histogram trees do not expose their splits ({error}); use "
                           "--dci-trees exact") from None
    total = gains.sum()
    return gains / total if total > 0 else gains


@dataclass(frozen=True)
class DCISettings(Settings):
    """disentanglement_lib's dci defaults: 10,000 / 5,000 points, GradientBoostingClassifier() (100 stages, depth 3)."""

    num_train: int = setting(10_000, "training points", minimum=1)
    num_test: int = setting(5_000, "test points", minimum=1)
    stages: int = setting(100, "boosting stages (scikit-learn's n_estimators)", minimum=1)
    max_depth: int = setting(3, "depth of each tree", minimum=1)
    trees: str = setting("exact", "exact (GradientBoostingClassifier, as disentanglement_lib) | histogram "
                                  "(HistGradientBoostingClassifier: ~10x faster, numbers differ: see dci.py)")

    def check(self) -> None:
        if self.trees not in ("histogram", "exact"):
            raise SettingError("trees", f"trees must be histogram or exact, got {self.trees!r}")


class DCI(Metric):
    """Eastwood & Williams 2018: disentanglement, completeness and informativeness from an importance matrix."""

    name = "dci"
    title = "DCI disentanglement, completeness, informativeness (Eastwood & Williams 2018)"
    settings_type = DCISettings
    smoke = DCISettings(num_train=500, num_test=300, stages=20)
    stream = 5
    compact = True
    combine_rules = {"chance": "first"}

    def compute(self, cache: CodeCache, data: GroundTruthData, rng: np.random.Generator, settings: DCISettings,
                shared: Shared) -> dict:
        x_train, y_train, x_test, y_test = train_test_codes(cache, data, settings.num_train, settings.num_test, rng)
        # the true factors (a nuisance is no label), side by side in the threads the evaluation may use
        fits = fit_factors(x_train, y_train, x_test, y_test, settings, shared.classifier_seeds[0],
                           min(shared.threads, available_cores()), shared.progress)
        importance = np.stack([fit[0] for fit in fits], axis=1)
        disentanglement, completeness = disentanglement_completeness(importance)
        return {"disentanglement": disentanglement, "completeness": completeness,
                "informativeness_train": float(np.mean([fit[1] for fit in fits])),
                "informativeness_test": float(np.mean([fit[2] for fit in fits])),
                "per_factor_test_accuracy": dict(zip(data.true_factor_names, [fit[2] for fit in fits])),
                "chance": {name: 1.0 / size for name, size in zip(data.true_factor_names, data.true_factor_sizes)},
                "importance": importance.tolist()}

    def rows(self, result: dict, settings: DCISettings) -> list[tuple[str, str, str]]:
        sizes = (f"{settings.num_train} train / {settings.num_test} test points, {settings.stages} boosting stages "
                 f"({settings.trees} trees)")
        return [("DCI disentanglement", number(result["disentanglement"]), sizes),
                ("DCI completeness", number(result["completeness"]), ""),
                ("DCI informativeness", f"{result['informativeness_test']:.2%}",
                 f"test accuracy (train {result['informativeness_train']:.2%})")]

    def headline(self, result: dict) -> dict[str, float | None]:
        return {"DCI D": result["disentanglement"], "DCI C": result["completeness"],
                "DCI I (test)": result["informativeness_test"]}
