"""The β-VAE disentanglement metric (§3, eq. 5, App. A.4) and disentanglement_lib's variant of it.

One point of the metric: choose a factor y uniformly among the scored factors; draw L pairs of factor
vectors that agree on y and are independent otherwise; encode both images of each pair;
z_diff = mean over the pairs of |z1 - z2|, labelled y. A linear classifier predicts y from z_diff;
the score is its accuracy on held-out points. Codes come from a :class:`CodeCache`, so the ~2M image
encodings the points name cost at most one encoder pass over the dataset.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np

from betavae.errors import BetaVAEError
from betavae.metrics.base import Metric, SettingError, Settings, Shared, setting
from betavae.metrics.linear import ClassifierSettings, LinearClassifier, fit_side_by_side, fit_sklearn_logistic
from betavae.threads import available_cores

if TYPE_CHECKING:
    from betavae.data.ground_truth import GroundTruthData
    from betavae.representations import CodeCache, Representation


def default_scored_factors(data: GroundTruthData) -> tuple[str, ...]:
    """§4: on dSprites the paper scores pos_x, pos_y, scale and orientation; shape varies but is never a label.

    A dataset may name its own with a ``metric_factor_names`` attribute; otherwise every true factor is scored
    (a nuisance never is).
    """
    names = getattr(data, "metric_factor_names", None)
    if names is not None:
        return tuple(names)
    if data.name.lower().startswith("dsprites"):
        return tuple(name for name in data.true_factor_names if name != "shape")
    return tuple(data.true_factor_names)


def factor_ids(data: GroundTruthData, names: Sequence[str] | None) -> list[int]:
    """Positions of the named factors in ``data.factor_names`` (None = the dataset's default scored factors)."""
    names = default_scored_factors(data) if names is None else tuple(names)
    unknown = [name for name in names if name not in data.factor_names]
    if unknown or not names or len(set(names)) != len(names):
        raise BetaVAEError(f"scored factors {list(names)} must be distinct names among {list(data.factor_names)}")
    return [data.factor_names.index(name) for name in names]


@dataclass
class PairPoints:
    """Metric points: ``labels[i]`` indexes the scored factor held fixed across the pairs ``first[i], second[i]``."""

    labels: np.ndarray  # int[n]
    first: np.ndarray  # int[n, L] image indices
    second: np.ndarray  # int[n, L]


def sample_pair_points(data: GroundTruthData, scored: Sequence[int], num_points: int, L: int,
                       rng: np.random.Generator) -> PairPoints:
    """Eq. 5: y ~ U(scored factors); L pairs (v1, v2) drawn independently except v2[y] = v1[y]."""
    labels = rng.integers(0, len(scored), size=num_points)
    first = data.sample_factors(num_points * L, rng).reshape(num_points, L, -1)
    second = data.sample_factors(num_points * L, rng).reshape(num_points, L, -1)
    fixed = np.asarray(scored)[labels]
    rows = np.arange(num_points)
    second[rows, :, fixed] = first[rows, :, fixed]
    flat = data.num_factors
    return PairPoints(labels, data.index(first.reshape(-1, flat)).reshape(num_points, L),
                      data.index(second.reshape(-1, flat)).reshape(num_points, L))


def difference_features(cache: CodeCache, points: PairPoints, max_values: int = 1 << 24) -> np.ndarray:
    """Eq. 5: z_diff = (1/L) Σ_l |z1_l - z2_l| for every point (gathered in chunks to bound memory)."""
    num_points, L = points.first.shape
    dim = cache.codes(points.first[:1, :1]).shape[-1]
    chunk = max(1, max_values // (2 * L * dim))
    features = np.zeros((num_points, dim), np.float32)
    for start in range(0, num_points, chunk):
        difference = np.subtract(cache.codes(points.first[start:start + chunk]),
                                 cache.codes(points.second[start:start + chunk]))
        features[start:start + chunk] = np.abs(difference, out=difference).mean(axis=1)  # |.| in place: one array
    return features


def check_pair_memory(L: int, num_train: int, num_test: int, data: GroundTruthData, metric: str) -> None:
    """Refuse sizes whose pairs would not fit in memory, with the figure: each pair is drawn as two factor vectors
    (int64) and named by two image indices, held at once for all of a replicate's points."""
    from betavae.resources import check_memory

    pair_bytes = 2 * 8 * data.num_factors + 6 * 8  # factors of both images; their indices, also gathered for encoding
    check_memory((num_train + num_test) * L * pair_bytes,
                 f"{metric}: {num_train:,} + {num_test:,} points of L = {L:,} pairs each",
                 f"lower L (--{metric}-l) or the points (--{metric}-num-train, --{metric}-num-test)")


def train_test_features(cache: CodeCache, data: GroundTruthData, scored: Sequence[int], L: int, num_train: int,
                         num_test: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """Training points first, then test points, from one generator (as disentanglement_lib draws them)."""
    if L < 1 or num_train < 1 or num_test < 1:
        raise BetaVAEError(f"L, num_train and num_test must be >= 1, got {L}, {num_train}, {num_test}")
    train = sample_pair_points(data, scored, num_train, L, rng)
    test = sample_pair_points(data, scored, num_test, L, rng)
    cache.ensure(np.concatenate([train.first.ravel(), train.second.ravel(), test.first.ravel(), test.second.ravel()]))
    return difference_features(cache, train), train.labels, difference_features(cache, test), test.labels


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, num_classes: int) -> np.ndarray:
    """int[true, predicted] counts."""
    return np.bincount(labels * num_classes + predictions, minlength=num_classes ** 2).reshape(num_classes, -1)


def per_class_accuracy(confusion: np.ndarray) -> np.ndarray:
    """Recall of each true class (NaN for a class with no test points)."""
    totals = confusion.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, np.diag(confusion) / totals, np.nan)


def beta_vae_metric(representation: Representation, data: GroundTruthData, rng: np.random.Generator, *,
                    factors: Sequence[str] | None = None, L: int = 64, num_train: int = 10_000,
                    num_test: int = 5_000, classifier_seeds: Sequence[int] = (0, 1, 2),
                    classifier: ClassifierSettings | None = None, cache: CodeCache | None = None,
                    device: str = "cpu", threads: int = 1) -> dict:
    """§3 eq. 5 / App. A.4: accuracy of a linear softmax classifier (Adagrad) predicting the fixed factor.

    Each classifier seed is one replicate: ``rng`` draws its own training and test points (seed after seed),
    and the seed drives the classifier's initial weights and minibatch order. With shared points the
    replicates would differ only by the start of a convex fit run to convergence (measured: 0.464, 0.465,
    0.466), and the protocol's 3 classifier seeds would not measure anything. The seeds' fits run ``threads`` at a
    time, each with the numbers it has alone. Returns a JSON-able dict.
    """
    classifier = classifier or ClassifierSettings()
    from betavae.representations import cache_for

    cache = cache_for(representation, data, cache)
    scored = factor_ids(data, factors)
    names = [data.factor_names[k] for k in scored]
    splits = [train_test_features(cache, data, scored, L, num_train, num_test, rng) for _ in classifier_seeds]
    start = time.perf_counter()
    fits = fit_side_by_side([(x_train, y_train, len(scored), seed)
                             for (x_train, y_train, _, _), seed in zip(splits, classifier_seeds)],
                            classifier, device, threads)
    result = _scores(fits, splits, names)
    scores = result["scores"]
    return {**result, "mean": float(np.mean(scores)), "std": float(np.std(scores)), "scored_factors": names,
            "chance": 1.0 / len(scored),
            "settings": {"L": L, "num_train": num_train, "num_test": num_test,
                         "classifier_seeds": list(classifier_seeds), "classifier": asdict(classifier)},
            "classify_s": time.perf_counter() - start}


def beta_vae_metric_dlib(representation: Representation, data: GroundTruthData, rng: np.random.Generator, *,
                         L: int = 64, num_train: int = 10_000, num_eval: int = 5_000, seed: int = 0,
                         cache: CodeCache | None = None) -> dict:
    """disentanglement_lib's ``beta_vae_sklearn``: the same points, scored as that library scores them.

    Differences from the paper (:func:`beta_vae_metric`):

    * every factor is a label, shape included on dSprites (the paper scores four of five);
    * the classifier is scikit-learn's ``LogisticRegression()`` with its defaults: L2 penalty (C = 1),
      lbfgs, at most 100 iterations, multinomial (scikit-learn >= 0.22; older versions defaulted to
      liblinear one-vs-rest), on unstandardised inputs; the paper's is an unregularised linear softmax
      trained with Adagrad (lr 1e-2) until convergence;
    * one fit: lbfgs is deterministic, so ``seed`` (given to scikit-learn as ``random_state``) changes nothing;
    * disentanglement_lib loops over points with a ``RandomState``; here the same distribution is drawn
      vectorised from a ``Generator``, so the draws (not their law) differ.
    """
    from betavae.representations import cache_for

    cache = cache_for(representation, data, cache)
    scored = data.true_factors  # every factor of variation; a nuisance is no label
    split = train_test_features(cache, data, scored, L, num_train, num_eval, rng)
    start = time.perf_counter()
    fit = fit_sklearn_logistic(split[0], split[1], len(scored), seed)
    result = _scores([fit], [split], data.true_factor_names)
    return {"score": result["scores"][0], "train_accuracy": result["train_accuracy"][0],
            "per_factor_accuracy": result["per_factor_accuracy"], "confusion": result["confusion"],
            "converged": result["converged"][0], "iterations": result["epochs"][0],
            "scored_factors": data.true_factor_names, "chance": 1.0 / len(scored),
            "settings": {"L": L, "num_train": num_train, "num_eval": num_eval, "seed": seed,
                         "classifier": "sklearn.linear_model.LogisticRegression()"},
            "classify_s": time.perf_counter() - start}


def _scores(fits: Sequence[LinearClassifier], splits: Sequence[tuple[np.ndarray, ...]], names: Sequence[str]) -> dict:
    """Each fit scored on its own split (x_train, y_train, x_test, y_test); the confusion pooled over fits."""
    confusion = sum(confusion_matrix(y_test, fit.predict(x_test), len(names))
                    for fit, (_, _, x_test, y_test) in zip(fits, splits))
    recall = per_class_accuracy(confusion)
    return {"scores": [fit.accuracy(x_test, y_test) for fit, (_, _, x_test, y_test) in zip(fits, splits)],
            "train_accuracy": [fit.accuracy(x_train, y_train) for fit, (x_train, y_train, _, _) in zip(fits, splits)],
            "per_factor_accuracy": {name: _json_float(value) for name, value in zip(names, recall)},
            "confusion": confusion.tolist(),
            "converged": [fit.converged for fit in fits], "epochs": [fit.epochs for fit in fits],
            "updates": [fit.updates for fit in fits], "train_loss": [fit.train_loss for fit in fits]}


def _json_float(value: float) -> float | None:
    return None if np.isnan(value) else float(value)



# --- the metric contract (metrics/base.py) ---------------------------------------------------------------------------

def _percentages(values: Sequence[float]) -> str:
    return "[" + ", ".join(f"{value:.2%}" for value in values) + "]"


def per_factor_cells(accuracies: dict) -> str:
    return ", ".join(f"{name} {'n/a' if acc is None else f'{acc:.1%}'}" for name, acc in accuracies.items())


@dataclass(frozen=True)
class BetaVAESettings(Settings):
    """App. A.4: L = 64 pairs per point, 10,000 training / 5,000 test points, a linear softmax classifier (Adagrad)."""

    L: int = setting(64, "pairs averaged into one z_diff point (eq. 5)", minimum=1)
    num_train: int = setting(10_000, "training points", minimum=1)
    num_test: int = setting(5_000, "test points", minimum=1)
    scored_factors: tuple[str, ...] | None = setting(None, "factors used as labels, comma-separated (none: the "
                                                           "dataset's default; dSprites: all but shape)")
    classifier: ClassifierSettings = setting(ClassifierSettings(), "the linear classifier")

    def check(self) -> None:
        if isinstance(self.scored_factors, str):
            object.__setattr__(self, "scored_factors", (self.scored_factors,))
        if self.scored_factors is not None and not self.scored_factors:
            raise SettingError("scored_factors", "scored_factors must name at least one factor (or be None for the "
                                                 "dataset default)")


class BetaVAEMetric(Metric):
    """§3 eq. 5 / App. A.4 (Higgins et al. 2017): the paper's metric, one replicate per classifier seed."""

    name = "beta-vae"
    title = "β-VAE metric (Higgins et al. 2017, eq. 5, App. A.4)"
    settings_type = BetaVAESettings
    smoke = BetaVAESettings(L=16, num_train=400, num_test=200)
    stream = 0
    seeds = "all"
    combine_rules = {"confusion": "sum", "converged": "all", "epochs": "max", "updates": "max", "classify_s": "sum",
                     "settings": "first", "chance": "first", "scored_factors": "first"}

    def check(self, settings: BetaVAESettings, data: GroundTruthData) -> None:
        factor_ids(data, settings.scored_factors)
        check_pair_memory(settings.L, settings.num_train, settings.num_test, data, self.name)

    def compute(self, cache: CodeCache, data: GroundTruthData, rng: np.random.Generator, settings: BetaVAESettings,
                shared: Shared) -> dict:
        return beta_vae_metric(cache.representation, data, rng, factors=settings.scored_factors, L=settings.L,
                               num_train=settings.num_train, num_test=settings.num_test,
                               classifier_seeds=shared.classifier_seeds, classifier=settings.classifier, cache=cache,
                               device=shared.device, threads=min(shared.threads, available_cores()))

    def combine(self, results: list[dict]) -> dict:
        """Per classifier seed, the mean over the models; the std over seeds of those means; each model's scores."""
        combined = super().combine(results)
        return {**combined, "std": float(np.std(combined["scores"])),
                "per_model_scores": [result["scores"] for result in results]}

    def rows(self, result: dict, settings: BetaVAESettings) -> list[tuple[str, str, str]]:
        fit = (f"{settings.classifier.updates} updates" if settings.classifier.updates else
               f"converged {result['converged']} after {result['epochs']} epochs")
        return [("β-VAE metric (eq. 5)", f"{result['mean']:.2%}",
                 f"± {result['std']:.2%} over classifier seeds: {_percentages(result['scores'])}; chance "
                 f"{result['chance']:.1%}; L = {settings.L}, {settings.num_train} train / {settings.num_test} test "
                 f"points; {fit}"),
                ("  per fixed factor", "", per_factor_cells(result["per_factor_accuracy"]))]

    def headline(self, result: dict) -> dict[str, float | None]:
        return {"β-VAE metric": result["mean"]}


@dataclass(frozen=True)
class DlibSettings(Settings):
    """disentanglement_lib's beta_vae_sklearn: batch_size (L) 64, num_train 10,000, num_eval 5,000."""

    L: int = setting(64, "pairs averaged into one point (dlib's batch_size)", minimum=1)
    num_train: int = setting(10_000, "training points", minimum=1)
    num_test: int = setting(5_000, "evaluation points (dlib's num_eval)", minimum=1)


class DlibMetric(Metric):
    """disentanglement_lib's ``beta_vae_sklearn`` (Locatello et al. 2019's choices for Higgins et al.'s metric)."""

    name = "beta-vae-dlib"
    title = "β-VAE metric as disentanglement_lib scores it (beta_vae_sklearn: all factors, LogisticRegression())"
    settings_type = DlibSettings
    smoke = DlibSettings(L=16, num_train=400, num_test=200)
    stream = 1
    combine_rules = BetaVAEMetric.combine_rules | {"iterations": "max"}

    def check(self, settings: DlibSettings, data: GroundTruthData) -> None:
        check_pair_memory(settings.L, settings.num_train, settings.num_test, data, self.name)

    def compute(self, cache: CodeCache, data: GroundTruthData, rng: np.random.Generator, settings: DlibSettings,
                shared: Shared) -> dict:
        return beta_vae_metric_dlib(cache.representation, data, rng, L=settings.L, num_train=settings.num_train,
                                    num_eval=settings.num_test, seed=shared.classifier_seeds[0], cache=cache)

    def combine(self, results: list[dict]) -> dict:
        return {**super().combine(results), "per_model_scores": [result["score"] for result in results]}

    def rows(self, result: dict, settings: DlibSettings) -> list[tuple[str, str, str]]:
        return [("dlib beta_vae_sklearn", f"{result['score']:.2%}",
                 f"train {result['train_accuracy']:.2%}; chance {result['chance']:.1%}; all factors, "
                 f"LogisticRegression() converged {result['converged']} in {result['iterations']} iterations"),
                ("  per fixed factor", "", per_factor_cells(result["per_factor_accuracy"]))]

    def headline(self, result: dict) -> dict[str, float | None]:
        return {"dlib variant": result["score"]}
