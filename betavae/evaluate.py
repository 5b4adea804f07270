"""Evaluate one representation on one ground-truth dataset: the paper's metric, its dlib variant and Table 2.

Seeds (all explicit numpy/torch generators, nothing global):

* ``sample_seed`` draws *what is scored*: the metric's points from ``default_rng([sample_seed, 0])``,
  the dlib variant's from ``default_rng([sample_seed, 1])`` and Table 2's images from
  ``default_rng([sample_seed, 2])``; each classifier seed (a replicate) gets its own points, drawn one
  seed after the other from that generator;
* each of ``classifier_seeds`` also drives *how the classifier is fitted*: its initial weights and
  minibatch order (paper metric and Table 2); the dlib variant is fitted once, on one draw, with
  ``classifier_seeds[0]`` as scikit-learn's ``random_state`` (which lbfgs does not use).

Everything reads codes from one :class:`CodeCache`, so a whole evaluation encodes each image at most once.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch

from betavae.data.ground_truth import GroundTruthData
from betavae.errors import BetaVAEError
from betavae.io import atomic_write_json
from betavae.metrics.factor_classification import factor_classification
from betavae.metrics.higgins import beta_vae_metric, beta_vae_metric_dlib, factor_ids
from betavae.metrics.linear import ClassifierSettings
from betavae.representations import CodeCache, Representation

# Bump when a change to the metrics changes their numbers: old keys stop matching.
# 2: points drawn per classifier seed; the ground-truth row one-hot coded.
EVAL_VERSION = 2
_NOT_IN_KEY = ("device", "encode_batch_size")  # where and how fast, not what is computed


@dataclass(frozen=True)
class EvalSettings:
    """Everything that decides an evaluation's numbers (App. A.4 defaults: L = 64, 10k train / 5k test)."""

    L: int = 64  # pairs averaged per metric point (eq. 5)
    num_train: int = 10_000  # metric training points (paper and dlib)
    num_test: int = 5_000  # metric held-out points (paper and dlib)
    classifier_seeds: tuple[int, ...] = (0, 1, 2)
    sample_seed: int = 0
    scored_factors: tuple[str, ...] | None = None  # None: the dataset's default (dSprites: all but shape)
    dlib: bool = True
    table2: bool = True
    table2_train: int = 10_000
    table2_test: int = 5_000
    lr: float = 1e-2  # Adagrad (App. A.4)
    classifier_batch_size: int | None = 64  # None: full batch
    max_epochs: int = 1000
    tol: float = 1e-3  # converged: best training NLL improved by < tol over the last `window` epochs
    window: int = 10
    standardize: bool = True
    device: str = "cpu"  # where the classifiers train (the representation chooses its own encoding device)
    encode_batch_size: int = 2048

    def __post_init__(self) -> None:
        object.__setattr__(self, "classifier_seeds", tuple(self.classifier_seeds))
        if isinstance(self.scored_factors, str):
            object.__setattr__(self, "scored_factors", (self.scored_factors,))
        elif self.scored_factors is not None:
            object.__setattr__(self, "scored_factors", tuple(self.scored_factors))
        for name in ("L", "num_train", "num_test", "table2_train", "table2_test", "encode_batch_size"):
            if not isinstance(getattr(self, name), (int, np.integer)) or getattr(self, name) < 1:
                raise BetaVAEError(f"{name} must be an integer >= 1, got {getattr(self, name)!r}")
        if not self.classifier_seeds or len(set(self.classifier_seeds)) != len(self.classifier_seeds):
            raise BetaVAEError(f"classifier_seeds must be one or more distinct integers, got {self.classifier_seeds}")
        seeds = (*self.classifier_seeds, self.sample_seed)
        if any(not isinstance(seed, (int, np.integer)) or seed < 0 for seed in seeds):
            raise BetaVAEError("seeds must be integers >= 0")
        if self.scored_factors is not None and not self.scored_factors:
            raise BetaVAEError("scored_factors must name at least one factor (or be None for the dataset default)")
        try:
            torch.device(self.device)
        except RuntimeError:
            raise BetaVAEError(f"device {self.device!r} is not a torch device; use 'cpu' or 'cuda'") from None
        self.classifier()  # validates lr, batch size, epochs, tol, window

    def classifier(self) -> ClassifierSettings:
        return ClassifierSettings(lr=self.lr, batch_size=self.classifier_batch_size, max_epochs=self.max_epochs,
                                  tol=self.tol, window=self.window, standardize=self.standardize, device=self.device)


def settings_key(settings: EvalSettings) -> str:
    """A stable 16-hex-digit hash of the settings that decide the numbers (not device or encode batch size)."""
    values = {f.name: getattr(settings, f.name) for f in fields(settings) if f.name not in _NOT_IN_KEY}
    text = json.dumps({"version": EVAL_VERSION, **values}, sort_keys=True, default=list)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def evaluate_representation(representation: Representation | Sequence[Representation], data: GroundTruthData,
                            settings: EvalSettings | None = None, progress: bool = True) -> dict:
    """The metric (§3 eq. 5, App. A.4), its dlib variant and Table 2 (App. A.5) as one JSON-able dict.

    A list of representations (App. A.3's ICA, one model per pair of shapes) is scored model by model on
    the same points, and its numbers averaged over the models (:func:`average_evaluations`).
    """
    settings = settings or EvalSettings()
    if isinstance(representation, Sequence):
        return average_evaluations([evaluate_representation(part, data, settings, progress)
                                    for part in representation])
    if not isinstance(data, GroundTruthData):
        raise BetaVAEError(f"{getattr(data, 'name', data)!r} has no ground-truth factors; the disentanglement "
                           "metrics need a ground-truth dataset such as dsprites")
    factor_ids(data, settings.scored_factors)  # fail on bad settings before any encoding
    if settings.table2 and settings.table2_train + settings.table2_test > data.num_images:
        raise BetaVAEError(f"Table 2 asks for {settings.table2_train} + {settings.table2_test} distinct images but "
                           f"{data.name} has {data.num_images}; lower them (--table2-train/--table2-test)")
    start = time.perf_counter()
    cache = CodeCache(representation, data, batch_size=settings.encode_batch_size, progress=progress)
    classifier = settings.classifier()
    result: dict = {"representation": representation.name, "data": data.describe(),
                    "settings": asdict(settings), "settings_key": settings_key(settings)}
    result["metric"] = beta_vae_metric(
        representation, data, _points_rng(settings, 0), factors=settings.scored_factors,
        L=settings.L, num_train=settings.num_train, num_test=settings.num_test,
        classifier_seeds=settings.classifier_seeds, classifier=classifier, cache=cache)
    if settings.dlib:
        result["dlib"] = beta_vae_metric_dlib(
            representation, data, _points_rng(settings, 1), L=settings.L, num_train=settings.num_train,
            num_eval=settings.num_test, seed=settings.classifier_seeds[0], cache=cache)
    if settings.table2:
        result["table2"] = factor_classification(
            representation, data, _points_rng(settings, 2), num_train=settings.table2_train,
            num_test=settings.table2_test, classifier_seeds=settings.classifier_seeds, classifier=classifier,
            cache=cache)
    result["representation_info"] = dict(getattr(representation, "info", {}))  # how it was fitted or loaded
    result["timing"] = {
        "encode_s": cache.encode_seconds, "images_encoded": cache.images_encoded,
        "classify_s": sum(result[part]["classify_s"] for part in ("metric", "dlib", "table2") if part in result),
        "total_s": time.perf_counter() - start,
    }
    return result


def average_evaluations(parts: list[dict]) -> dict:
    """Several models' evaluations as one: scores averaged over the models per classifier seed, confusions and
    times summed, a fit counted converged only if every model's did; each model's own score kept beside."""
    if not parts:
        raise BetaVAEError("no evaluations to average")
    first = parts[0]
    result = {"representation": "+".join(part["representation"] for part in parts), "data": first["data"],
              "settings": first["settings"], "settings_key": first["settings_key"]}
    for section in ("metric", "dlib", "table2"):
        if section in first:
            result[section] = _combine([part[section] for part in parts])
    result["metric"]["std"] = float(np.std(result["metric"]["scores"]))
    result["metric"]["per_model_scores"] = [part["metric"]["scores"] for part in parts]
    if "dlib" in result:
        result["dlib"]["per_model_scores"] = [part["dlib"]["score"] for part in parts]
    if "table2" in result:
        result["table2"]["per_model_mean"] = [part["table2"]["mean"] for part in parts]
    result["representation_info"] = {"averaged_over": [part["representation_info"] for part in parts]}
    result["timing"] = {key: sum(part["timing"][key] for part in parts) for key in first["timing"]}
    return result


_KEPT_FROM_FIRST = ("settings", "chance", "scored_factors")  # the same for every model
_COMBINE_RULES = ("confusion", "converged", "epochs", "iterations", "classify_s") + _KEPT_FROM_FIRST


def _combine(values: list, key: str | None = None):
    """One field of several models' results as one (dicts and lists field by field; see average_evaluations)."""
    first = values[0]
    if key in _KEPT_FROM_FIRST or isinstance(first, str):
        return first
    if key == "confusion":
        return np.sum(values, axis=0).tolist()
    if isinstance(first, dict):  # keys are fields, or factor names that inherit their field's rule
        return {name: _combine([value[name] for value in values], name if name in _COMBINE_RULES else key)
                for name in first}
    if isinstance(first, (list, tuple)):
        return [_combine(list(column), key) for column in zip(*values)]
    if key == "converged":
        return all(values)
    if key in ("epochs", "iterations"):
        return max(values)
    if key == "classify_s":
        return float(sum(values))
    numbers = [value for value in values if value is not None]  # None: a class never drawn as a test label
    return float(np.mean(numbers)) if numbers else None


def _points_rng(settings: EvalSettings, stream: int) -> np.random.Generator:
    return np.random.default_rng([settings.sample_seed, stream])


def save_evaluation(result: dict, path: str | Path) -> Path:
    """Write ``result`` as JSON atomically (readers see the old file or the whole new one)."""
    return atomic_write_json(path, result)


def format_table(result: dict) -> str:
    """The evaluation as a readable text table."""
    metric = result["metric"]
    lines = [f"representation {result['representation']} on {result['data'].get('name', '?')}  "
             f"(settings {result.get('settings_key', '?')})",
             "",
             f"β-VAE metric (eq. 5, L = {metric['settings']['L']}, {metric['settings']['num_train']} train / "
             f"{metric['settings']['num_test']} test points; chance {metric['chance']:.1%})",
             f"  accuracy {metric['mean']:.2%} ± {metric['std']:.2%} over classifier seeds "
             f"{metric['settings']['classifier_seeds']}: {_percentages(metric['scores'])}",
             f"  converged {metric['converged']} after {metric['epochs']} epochs"]
    lines += _per_factor_rows("  held-out accuracy per fixed factor", metric["per_factor_accuracy"])
    if "dlib" in result:
        dlib = result["dlib"]
        lines += ["", f"dlib beta_vae_sklearn (all factors, LogisticRegression(); chance {dlib['chance']:.1%})",
                  f"  eval accuracy {dlib['score']:.2%}  (train {dlib['train_accuracy']:.2%}; "
                  f"converged {dlib['converged']} in {dlib['iterations']} iterations)"]
        lines += _per_factor_rows("  held-out accuracy per fixed factor", dlib["per_factor_accuracy"])
    if "table2" in result:
        table = result["table2"]
        lines += ["", f"Table 2: factor classification ({table['settings']['num_train']} train / "
                      f"{table['settings']['num_test']} test images)",
                  f"  {'factor':<14}{'accuracy':>10}{'chance':>10}"]
        lines += [f"  {name:<14}{accuracy:>10.2%}{table['chance'][name]:>10.2%}"
                  for name, accuracy in table["per_factor"].items()]
        lines.append(f"  {'mean':<14}{table['mean']:>10.2%}")
    fit = describe_fit(result.get("representation_info", {}))
    if fit:
        lines += ["", f"fit: {fit}"]
    timing = result["timing"]
    lines += ["", f"timing: encoded {timing['images_encoded']} images in {timing['encode_s']:.1f} s; "
                  f"classifiers {timing['classify_s']:.1f} s; total {timing['total_s']:.1f} s"]
    return "\n".join(lines)


def describe_fit(info: dict) -> str:
    """A fitted baseline's record in one line: fit size, explained variance, FastICA convergence."""
    if "averaged_over" in info:
        return "; ".join(filter(None, (describe_fit(part) for part in info["averaged_over"])))
    parts = []
    if "shapes" in info:
        parts.append(f"shapes {info['shapes']}")
    if "fit_size" in info:
        parts.append(f"fitted on {info['fit_size']} images")
    if "explained_variance_ratio" in info:
        parts.append(f"{info['n_components']} components explain {info['explained_variance_ratio']:.1%} of the "
                     "pixel variance")
    if "converged" in info:
        parts.append(f"FastICA {'converged' if info['converged'] else 'did NOT converge'} in {info['n_iter']} "
                     f"of {info['max_iter']} iterations")
    return ", ".join(parts)


def _percentages(values: Sequence[float]) -> str:
    return "[" + ", ".join(f"{value:.2%}" for value in values) + "]"


def _per_factor_rows(title: str, accuracies: dict) -> list[str]:
    cells = [f"{name} {'n/a' if acc is None else f'{acc:.1%}'}" for name, acc in accuracies.items()]
    return [f"{title}: " + ", ".join(cells)]


def evaluation_key(settings: EvalSettings, data: GroundTruthData, subject: dict | None = None) -> str:
    """What decides an evaluation's numbers: the settings, the data scored (not where its file lies) and the
    subject (e.g. a run's checkpoint step, so training a run further makes its old scores stale)."""
    data_identity = {name: value for name, value in data.describe().items() if name not in ("path", "cache")}
    text = json.dumps({"settings": settings_key(settings), "data": data_identity, "subject": subject or {}},
                      sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def evaluate_cached(make_representation, data: GroundTruthData, settings: EvalSettings, path: str | Path,
                    progress: bool = True, subject: dict | None = None) -> dict:
    """The evaluation stored in ``path`` under :func:`evaluation_key`, or compute, store (atomically), return it.

    ``path`` (a run's ``eval.json``) holds one entry per key, so an evaluation already done for the same
    settings, data and subject is never recomputed, and one for other settings does not overwrite it.
    ``make_representation`` is only called when something must be computed.
    """
    path = Path(path)
    stored: dict = {"evaluations": {}}
    if path.exists():
        try:
            stored = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise BetaVAEError(f"{path} is not valid JSON; delete it to evaluate again") from None
        if not isinstance(stored, dict) or not isinstance(stored.get("evaluations", {}), dict):
            raise BetaVAEError(f"{path} is damaged (not an object of evaluations); delete it to evaluate again")
    key = evaluation_key(settings, data, subject)
    if key in stored.get("evaluations", {}):
        return stored["evaluations"][key]
    result = evaluate_representation(make_representation(), data, settings, progress=progress)
    from betavae.io import provenance

    result["provenance"] = provenance()
    result["subject"] = subject or {}
    stored.setdefault("evaluations", {})[key] = result
    atomic_write_json(path, stored)
    return result


def evaluate_run(run_dir: str | Path, settings: EvalSettings | None = None, device: str = "auto",
                 progress: bool = True, step: int | None = None) -> dict:
    """Score a trained run (its latest checkpoint, or the weights kept at ``step``) on the full ground-truth
    dataset it was trained from; cached in RUN_DIR/eval.json."""
    from betavae.data.registry import load_dataset
    from betavae.runs import RunDir

    run = RunDir(run_dir)
    config = run.config()
    data = load_dataset(config.data.dataset, config.data.path, progress)  # the whole grid, also for runs on a subset
    return evaluate_run_cached(run.path, data, settings or EvalSettings(), device, progress, step)


def evaluate_run_cached(run_dir: str | Path, data: GroundTruthData, settings: EvalSettings, device: str = "auto",
                        progress: bool = True, step: int | None = None) -> dict:
    """A trained run scored on ``data``, cached in RUN_DIR/eval.json for the checkpoint step it was scored at
    (the latest checkpoint, or the weights kept at ``step``)."""
    from betavae.baselines.registry import load_run_representation
    from betavae.runs import RunDir
    from betavae.train import resolve_device

    run = RunDir(run_dir)
    if step is None:
        status = run.status()  # the step of the checkpoint that is scored: a diverged run keeps its last good one
        scored_step = status.get("last_good_checkpoint_step", status.get("step"))
    else:
        run.require_kept(step)
        scored_step = step
    return evaluate_cached(lambda: load_run_representation(run.path, resolve_device(device), step), data, settings,
                           run.eval_path, progress=progress, subject={"step": scored_step})
