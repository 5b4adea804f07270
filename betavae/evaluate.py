"""Evaluate one representation on one ground-truth dataset with any of the registered metrics (metrics/registry.py).

Seeds (all explicit numpy/torch generators, nothing global):

* ``sample_seed`` draws *what is scored*: each metric's points come from its own stream,
  ``default_rng([sample_seed, metric.stream])`` (the paper's metric 0, its dlib variant 1, Table 2 2, ...), so
  adding or dropping a metric never moves another's numbers; the paper's metric and Table 2 draw their own points
  for each classifier seed (a replicate), one seed after the other;
* ``classifier_seeds`` drive *how classifiers are fitted*: the paper's metric and Table 2 fit one per seed (initial
  weights, minibatch order); the metrics with one fit (dlib variant, DCI, SAP) use the first as ``random_state``.

Every metric reads codes from one :class:`CodeCache`, so a whole evaluation encodes each image at most once.
Each metric's result is one *entry*, keyed by what decides its numbers (:func:`metric_key`: its settings, the
seeds it uses, the data, the scored checkpoint). An evaluation file (a run's ``eval.json``, or ``--json``)
holds entries under those keys: ``{"version": 3, "metrics": {key: entry}}``, every entry self-describing
(``metric``, ``representation``, ``data``, ``subject``, ``settings``, ``result``, ``seconds``).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from betavae.config_common import DEFAULT_THREADS
from betavae.data.ground_truth import GroundTruthData, ImageDataset
from betavae.errors import BetaVAEError
from betavae.io import atomic_write_json
from betavae.metrics.base import SettingError, Shared, flag_name, settings_from_dict, with_values
from betavae.metrics.registry import (
    LABEL_FREE_METRICS,
    METRICS,
    PAPER_METRICS,
    get_metric,
    metric_for_settings,
    metric_names,
)
from betavae.representations import CodeCache, Representation
from betavae.store import ResultStore, result_key
from betavae.threads import torch_threads

# Bump when a change to the shared machinery changes numbers (a metric's own change bumps its ``version``).
# 2: points drawn per classifier seed; the ground-truth row one-hot coded. 3: torch threads part of the key (they
# decide the last digits of encodings and classifier fits); entries of version 2 are recomputed, not mixed.
EVAL_VERSION = 3
FILE_VERSION = 3  # the evaluation file's layout: {"version": 3, "metrics": {key: entry}}


@dataclass(frozen=True)
class EvalSettings:
    """What every metric shares (seeds, device, encoding batch) and each scored metric's own settings.

    ``metrics`` holds one settings object per metric to compute (e.g. ``BetaVAESettings(L=16)``, ``MIGSettings()``);
    the default is the paper's metric, its dlib variant and Table 2 at their App. A.4 / A.5 sizes.
    """

    metrics: tuple = tuple(METRICS[name].settings_type() for name in PAPER_METRICS)
    classifier_seeds: tuple[int, ...] = (0, 1, 2)
    sample_seed: int = 0
    device: str = "cpu"  # where classifiers train (the representation chooses its own encoding device)
    encode_batch_size: int = 2048
    threads: int = DEFAULT_THREADS  # torch threads for encoding and classifier fits: they decide the last digits

    def __post_init__(self) -> None:
        object.__setattr__(self, "classifier_seeds", tuple(self.classifier_seeds))
        object.__setattr__(self, "metrics", tuple(self.metrics))
        names = [metric_for_settings(settings).name for settings in self.metrics]
        if not names or len(set(names)) != len(names):
            raise BetaVAEError(f"give each metric's settings once (at least one metric), got {names}")
        if not self.classifier_seeds or len(set(self.classifier_seeds)) != len(self.classifier_seeds):
            raise BetaVAEError(f"classifier_seeds must be one or more distinct integers, got {self.classifier_seeds}")
        seeds = (*self.classifier_seeds, self.sample_seed)
        if any(not isinstance(seed, (int, np.integer)) or seed < 0 for seed in seeds):
            raise BetaVAEError("seeds must be integers >= 0")
        if not isinstance(self.threads, (int, np.integer)) or self.threads < 1:
            raise BetaVAEError(f"threads must be an integer >= 1, got {self.threads!r}")
        if not isinstance(self.encode_batch_size, (int, np.integer)) or self.encode_batch_size < 1:
            raise BetaVAEError(f"encode_batch_size must be an integer >= 1, got {self.encode_batch_size!r}")
        try:
            torch.device(self.device)
        except RuntimeError:
            raise BetaVAEError(f"device {self.device!r} is not a torch device; use 'cpu' or 'cuda'") from None

    @classmethod
    def of(cls, metrics: str | Sequence[str] = PAPER_METRICS, smoke: bool = False,
           changes: dict[str, dict[str, Any]] | None = None, **shared: Any) -> EvalSettings:
        """Settings for the named metrics (``"all"``, ``"mig,dci"``): their published defaults (``smoke``: their
        smaller smoke sizes), with ``changes[name][path]`` applied (``{"beta-vae": {"classifier.lr": 0.1}}``).
        A bad value raises one error naming its flag, ``--NAME-FIELD``."""
        chosen = metric_names(metrics)
        unknown = sorted(set(changes or {}) - set(chosen))
        if unknown:
            raise BetaVAEError(f"settings given for metric(s) {unknown} that are not scored; add them to --metrics")
        settings = []
        for name in chosen:
            metric = METRICS[name]
            try:
                settings.append(with_values(metric.smoke if smoke else metric.settings_type(),
                                            (changes or {}).get(name, {})))
            except SettingError as error:
                raise BetaVAEError(f"{error} ({flag_name(name, error.path)})") from None
        return cls(metrics=tuple(settings), **shared)

    def names(self) -> tuple[str, ...]:
        return tuple(metric_for_settings(settings).name for settings in self.metrics)

    def get(self, name: str) -> Any:
        """The settings of metric ``name``."""
        for settings in self.metrics:
            if metric_for_settings(settings).name == name:
                return settings
        raise BetaVAEError(f"metric {name!r} is not among the scored ones: {', '.join(self.names())}")

    def replace_metric(self, name: str, **changes: Any) -> EvalSettings:
        """These settings with some fields of metric ``name`` changed (nested by dotted path: ``classifier.lr``)."""
        return self.select(self.names(), {name: with_values(self.get(name), changes)})

    def select(self, names: Sequence[str], replaced: dict[str, Any] | None = None) -> EvalSettings:
        """Only the metrics ``names`` (in this order of registry), some of their settings ``replaced``."""
        replaced = replaced or {}
        return dataclasses.replace(self, metrics=tuple(replaced.get(name, self.get(name)) for name in names))

    def to_dict(self) -> dict:
        return {"metrics": {name: asdict(settings) for name, settings in zip(self.names(), self.metrics)},
                "classifier_seeds": list(self.classifier_seeds), "sample_seed": self.sample_seed,
                "device": self.device, "encode_batch_size": self.encode_batch_size, "threads": self.threads}


def data_identity(data: ImageDataset) -> dict:
    """What identifies the data scored (not where its file lies, nor where an image folder was read from)."""
    return {name: value for name, value in data.describe().items() if name not in ("path", "cache", "source")}


def metric_key(name: str, settings: EvalSettings, data: ImageDataset, subject: dict | None = None) -> str:
    """A 16-hex-digit hash of what decides metric ``name``'s numbers: its settings and version, the seeds it uses,
    the data, the subject (e.g. a run's checkpoint step, so training further makes old scores stale) and the torch
    threads. Not the device or the encoding batch size, and not the other metrics' settings."""
    metric = get_metric(name)
    return result_key({"version": EVAL_VERSION, "metric": name, "metric_version": metric.version,
                       "settings": asdict(settings.get(name)), "sample_seed": settings.sample_seed,
                       "threads": settings.threads,
                       "classifier_seeds": list(metric.seeds_used(settings.classifier_seeds)),
                       "data": data_identity(data), "subject": subject or {}})


def evaluate_representation(representation: Representation | Sequence[Representation], data: ImageDataset,
                            settings: EvalSettings | None = None, progress: bool = True,
                            subject: dict | None = None, on_entry: Callable[[dict], None] | None = None) -> dict:
    """Every metric of ``settings`` for one representation, as one JSON-able evaluation:
    ``{"representation", "data", "subject", "settings", "metrics": {name: entry}, "representation_info", "timing"}``,
    computed with ``settings.threads`` torch threads; ``on_entry`` receives each metric's entry as it is done.

    A list of representations (App. A.3's ICA, one model per pair of shapes) is scored model by model on the same
    points, and each metric's results combined over the models (:func:`average_evaluations`).
    """
    settings = settings or EvalSettings()
    if isinstance(representation, Sequence):
        combined = average_evaluations([evaluate_representation(part, data, settings, progress, subject)
                                        for part in representation])
        for entry in combined["metrics"].values() if on_entry else ():
            on_entry(entry)
        return combined
    with torch_threads(settings.threads):
        return _evaluate_one(representation, data, settings, progress, subject, on_entry)


def _evaluate_one(representation: Representation, data: ImageDataset, settings: EvalSettings, progress: bool,
                  subject: dict | None, on_entry: Callable[[dict], None] | None) -> dict:
    check_settings(settings, data)  # fail on bad settings before any encoding
    start = time.perf_counter()
    caches: dict[bool, CodeCache] = {False: CodeCache(representation, data, settings.encode_batch_size, progress)}
    compact = representation.compact() if hasattr(representation, "compact") else representation
    if compact is not representation:
        caches[True] = CodeCache(compact, data, settings.encode_batch_size, progress)
    shared = Shared(settings.classifier_seeds, settings.device, progress, settings.threads)
    entries, seconds = {}, {}
    for name in settings.names():
        metric = METRICS[name]
        cache = caches.get(metric.compact, caches[False])
        metric_start, encoded_before = time.perf_counter(), cache.encode_seconds
        result = metric.compute(cache, data, np.random.default_rng([settings.sample_seed, metric.stream]),
                                settings.get(name), shared)
        seconds[name] = time.perf_counter() - metric_start - (cache.encode_seconds - encoded_before)  # not encoding
        entries[name] = {"metric": name, "key": metric_key(name, settings, data, subject),
                         "representation": cache.representation.name,
                         "representation_info": dict(getattr(cache.representation, "info", {})),
                         "data": data.describe(), "subject": subject or {},
                         "settings": {"metric": asdict(settings.get(name)), "sample_seed": settings.sample_seed,
                                      "classifier_seeds": list(metric.seeds_used(settings.classifier_seeds))},
                         "result": result, "seconds": seconds[name]}
        if on_entry is not None:
            on_entry(entries[name])
    encode_s = sum(cache.encode_seconds for cache in caches.values())
    return {"representation": representation.name, "data": data.describe(), "subject": subject or {},
            "settings": settings.to_dict(), "metrics": entries,
            "representation_info": dict(getattr(representation, "info", {})),  # how it was fitted or loaded
            "timing": {"encode_s": encode_s, "images_encoded": sum(cache.images_encoded for cache in caches.values()),
                       "metrics_s": seconds,
                       "total_s": time.perf_counter() - start}}


def check_settings(settings: EvalSettings, data: ImageDataset) -> None:
    """Refuse settings ``data`` cannot serve (each metric's own check: sizes, factors, memory) before any work; on
    data without ground-truth factors, only the label-free metrics (``needs_factors = False``)."""
    if not isinstance(data, GroundTruthData):
        needing = [name for name in settings.names() if get_metric(name).needs_factors]
        if needing:
            raise BetaVAEError(f"{getattr(data, 'name', data)!r} has no ground-truth factors, which "
                               f"{', '.join(needing)} need{'s' if len(needing) == 1 else ''}; score it with the "
                               f"label-free metrics (--metrics {','.join(LABEL_FREE_METRICS)}), or compare runs with "
                               "`betavae udr RUN RUN ...`")
    for name in settings.names():
        get_metric(name).check(settings.get(name), data)


def average_evaluations(parts: list[dict]) -> dict:
    """Several models' evaluations as one (App. A.3): each metric's results combined by the metric (scores averaged
    over the models, counts summed, ...), every model's own numbers kept beside; times summed."""
    if not parts:
        raise BetaVAEError("no evaluations to average")
    first = parts[0]
    name = "+".join(part["representation"] for part in parts)
    info = {"averaged_over": [part["representation_info"] for part in parts]}
    metrics = {}
    for metric_name, entry in first["metrics"].items():
        members = [part["metrics"][metric_name] for part in parts]
        metrics[metric_name] = {**entry, "representation": name, "representation_info": info,
                                "result": METRICS[metric_name].combine([member["result"] for member in members]),
                                "seconds": sum(member["seconds"] for member in members)}
    timing = {"encode_s": sum(part["timing"]["encode_s"] for part in parts),
              "images_encoded": sum(part["timing"]["images_encoded"] for part in parts),
              "metrics_s": {key: sum(part["timing"]["metrics_s"][key] for part in parts)
                            for key in first["timing"]["metrics_s"]},
              "total_s": sum(part["timing"]["total_s"] for part in parts)}
    return {**first, "representation": name, "metrics": metrics, "representation_info": info, "timing": timing}


def metric_result(evaluation: dict | None, name: str) -> dict | None:
    """The numbers of metric ``name`` in an evaluation (None if the evaluation is None or lacks the metric)."""
    entry = (evaluation or {}).get("metrics", {}).get(name)
    return None if entry is None else entry["result"]


# --- evaluation files: RUN/eval.json and --json share one layout ------------------------------------------------------

def evaluation_file(evaluation: dict) -> dict:
    """An evaluation in the layout of eval.json: ``{"version": 3, "metrics": {key: entry}}``."""
    return {"version": FILE_VERSION, "metrics": {entry["key"]: entry for entry in evaluation["metrics"].values()}}


def save_evaluation(evaluation: dict, path: str | Path) -> Path:
    """Write ``evaluation`` atomically in the evaluation-file layout (readers see the old file or the whole new one)."""
    return atomic_write_json(path, evaluation_file(evaluation))


def evaluation_store(path: str | Path) -> ResultStore:
    """An evaluation file (a run's eval.json) as a keyed result store: entries under ``"metrics"``. Entries written
    before file version 3 (under ``"evaluations"``) are kept in the file but not read: their keys hashed every metric
    together."""
    return ResultStore(path, section="metrics", version=FILE_VERSION, entry_problem=_entry_problem)


def read_evaluation_file(path: str | Path) -> dict:
    """An evaluation file's content (``{"version": 3, "metrics": {}}`` if it does not exist, or was set aside as
    damaged: its scores are then computed again)."""
    return evaluation_store(path).read()


# What every stored entry holds, and of which type (an entry is read by evaluate_cached and format_table).
ENTRY_FIELDS = {"metric": str, "key": str, "representation": str, "representation_info": dict, "data": dict,
                "subject": dict, "settings": dict, "result": dict, "seconds": (int, float)}


def _entry_problem(entry: Any) -> str | None:
    """What makes ``entry`` no metric's stored result, or None."""
    wrong = [name for name, kind in ENTRY_FIELDS.items()
             if not isinstance(entry, dict) or not isinstance(entry.get(name), kind)]
    if not wrong and not isinstance(entry["settings"].get("metric"), dict):
        wrong = ["settings.metric"]
    if not wrong:
        return None
    shown = f"a {type(entry).__name__}" if not isinstance(entry, dict) else f"no valid {', '.join(wrong)}"
    return f"{shown}, not a metric's result"


def evaluate_cached(make_representation, data: ImageDataset, settings: EvalSettings, path: str | Path,
                    progress: bool = True, subject: dict | None = None, compute: bool = True) -> dict | None:
    """The evaluation assembled from the entries stored in ``path`` under :func:`metric_key`; the metrics without
    one are computed (one encoder pass serves them all), stored (atomically) and added. With ``compute=False``:
    None unless every metric is stored.

    ``path`` (a run's ``eval.json``) holds one entry per metric key, so a metric already scored for the same
    settings, data and subject is never recomputed, and adding or changing one metric leaves the others' numbers
    where they are. ``make_representation`` is only called when something must be computed. Processes that score
    the same file at once (Ray tasks on one run's steps) each add their entries: the write merges under a lock.
    """
    store = evaluation_store(path)
    stored = store.entries()
    keys = {name: metric_key(name, settings, data, subject) for name in settings.names()}
    missing = [name for name, key in keys.items() if key not in stored]
    if missing and not compute:
        return None
    timing = {"encode_s": 0.0, "images_encoded": 0, "metrics_s": {}, "total_s": 0.0}
    if missing:  # each metric stored as soon as it is done: a kill loses at most the one under way
        check_settings(settings.select(missing), data)  # before the representation is loaded or fitted
        computed = evaluate_representation(make_representation(), data, settings.select(missing), progress, subject,
                                           on_entry=lambda entry: store.put(entry["key"], entry))
        stored = store.entries()
        timing = computed["timing"]
    entries = {name: stored[key] for name, key in keys.items()}
    first = next(iter(entries.values()))
    return {"representation": first["representation"], "data": first["data"], "subject": subject or {},
            "settings": settings.to_dict(), "metrics": entries, "representation_info": first["representation_info"],
            "timing": {**timing, "cached": [name for name in keys if name not in missing]}}


def evaluate_run(run_dir: str | Path, settings: EvalSettings | None = None, device: str = "auto",
                 progress: bool = True, step: int | None = None) -> dict:
    """Score a trained run (its latest checkpoint, or the weights kept at ``step``) on the full ground-truth
    dataset it was trained from; cached in RUN_DIR/eval.json."""
    return evaluate_run_cached(run_dir, run_dataset(run_dir, progress), settings or EvalSettings(), device, progress,
                               step)


def run_dataset(run_dir: str | Path, progress: bool = True) -> ImageDataset:
    """The data a run is scored on: the whole grid it was trained from (also for runs on a subset), or its image
    folder (scored by the label-free metrics only)."""
    from betavae.data.registry import load_dataset
    from betavae.runs import RunDir

    config = RunDir(run_dir).config()
    return load_dataset(config.data.dataset, config.data.path, progress)


def evaluate_run_cached(run_dir: str | Path, data: ImageDataset, settings: EvalSettings, device: str = "auto",
                        progress: bool = True, step: int | None = None, compute: bool = True) -> dict | None:
    """A trained run scored on ``data``, cached in RUN_DIR/eval.json for the checkpoint step it was scored at
    (the latest checkpoint, or the weights kept at ``step``); ``compute=False``: None unless all of it is cached."""
    from betavae.baselines.registry import load_run_representation
    from betavae.runs import RunDir
    from betavae.train import resolve_device

    run = RunDir(run_dir)
    if step is None:  # the step of the checkpoint scored: the checkpoint says, where it is still there
        status = run.status()  # (a diverged run's is its last good one)
        scored_step = (run.checkpoint_step() if run.checkpoint_path.exists()
                       else status.get("last_good_checkpoint_step", status.get("step")))
    else:
        run.require_kept(step)
        scored_step = step
    return evaluate_cached(lambda: load_run_representation(run.path, resolve_device(device), step), data, settings,
                           run.eval_path, progress=progress, subject={"step": scored_step}, compute=compute)


# --- printing ---------------------------------------------------------------------------------------------------

def format_table(evaluation: dict) -> str:
    """The evaluation as one readable text table: a row (or a few) per metric, then how it was fitted and timed."""
    subject = ", ".join(f"{key} {value}" for key, value in evaluation.get("subject", {}).items())
    rows: list[tuple[str, str, str]] = []
    for name, entry in evaluation["metrics"].items():
        metric = get_metric(name)
        rows += metric.rows(entry["result"], settings_from_dict(metric.settings_type, entry["settings"]["metric"]))
    width = max(len(label) for label, _, _ in rows) + 2
    lines = [f"representation {evaluation['representation']} on {evaluation['data'].get('name', '?')}"
             + (f" ({subject})" if subject else ""), "",
             f"{'metric':<{width}}{'value':>9}  detail"]
    lines += [f"{label:<{width}}{value:>9}  {detail}".rstrip() for label, value, detail in rows]
    fit = describe_fit(evaluation.get("representation_info", {}))
    if fit:
        lines += ["", f"fit: {fit}"]
    timing = evaluation["timing"]
    seconds = ", ".join(f"{name} {value:.1f} s" for name, value in timing["metrics_s"].items())
    lines += ["", f"timing: encoded {timing['images_encoded']} images in {timing['encode_s']:.1f} s"
                  + (f"; {seconds}" if seconds else "") + f"; total {timing['total_s']:.1f} s"
                  + (f"; from eval.json: {', '.join(timing['cached'])}" if timing.get("cached") else "")]
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
