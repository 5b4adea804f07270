"""The metric contract: each disentanglement metric is one file implementing :class:`Metric`, plus one line in
``metrics/registry.py``.

A metric has a name, a frozen settings dataclass (its published defaults; :attr:`Metric.smoke` holds smaller
ones for quick runs), ``compute(cache, data, rng, settings, shared) -> result`` (a JSON-able dict), how the
results of several models combine into one (App. A.3's ICA: one model per pair of shapes, averaged), and how a
result prints as table rows. Settings fields declare their checks and help text in their metadata
(:func:`setting`), so validation, the CLI's flags and ``--help`` all come from the dataclass.
Like disentanglement_lib's ``(ground_truth_data, representation_function, random_state, **settings)``, but
typed, with codes read from one :class:`~betavae.representations.CodeCache` and no global configuration.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from betavae.errors import BetaVAEError  # noqa: F401  (metric files raise it)
from betavae.settings import SettingError, field, flag_name, from_dict, leaves, validate, with_values  # noqa: F401

if TYPE_CHECKING:  # the CLI builds its flags from settings without importing torch
    from betavae.data.ground_truth import GroundTruthData
    from betavae.representations import CodeCache


setting = field  # a metric's setting is a settings.field: default, help, bounds, flag


class Settings:
    """Base of every metric's settings dataclass: lists become tuples, then every field is checked against its
    declaration (:func:`betavae.settings.validate`), then :meth:`check`."""

    def __post_init__(self) -> None:
        for item in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, item.name)
            if isinstance(value, list):
                object.__setattr__(self, item.name, tuple(value))
        validate(self)

    def check(self) -> None:
        """Checks across fields (override); raise :class:`SettingError`."""


@dataclass(frozen=True)
class Shared:
    """What every metric receives besides its own settings: the classifier seeds, the device, progress bars, and the
    CPU threads the evaluation may use (for fits side by side whose numbers do not depend on them: DCI's factors,
    the classifier seeds; :func:`betavae.threads.side_by_side`)."""

    classifier_seeds: tuple[int, ...] = (0, 1, 2)
    device: str = "cpu"
    progress: bool = False
    threads: int = 1


class Metric(ABC):
    """One disentanglement metric. Subclasses set the class attributes and implement compute and rows."""

    name: ClassVar[str]  # registry and CLI name, e.g. "mig"
    title: ClassVar[str]  # one line: what it is, after which paper
    settings_type: ClassVar[type]  # a frozen dataclass deriving from Settings; its defaults are the published ones
    smoke: ClassVar[Any]  # smaller settings for the smoke budget (minutes, tests)
    stream: ClassVar[int]  # this metric's points come from default_rng([sample_seed, stream]); unique per metric
    seeds: ClassVar[str] = "first"  # classifier seeds it uses: "all" (one replicate each), "first" or "none"
    version: ClassVar[int] = 1  # bump when a change moves this metric's numbers: its cached results go stale
    combine_rules: ClassVar[dict[str, str]] = {}  # field -> sum | all | max | first (default: mean over models)
    # Reads a representation's compact form where it has one (``compact()``: one code dimension per factor). Only
    # the ground truth has one: its default one-hot blocks give the paper's linear read-outs every class, but
    # metrics that look for each factor in one dimension (MIG, SAP, DCI, modularity) would score the blocks.
    compact: ClassVar[bool] = False
    # Whether compute reads ground-truth factors. A label-free metric (False) also scores data without any (an image
    # folder: CelebA, chairs, faces), where ``data`` is only an ImageDataset.
    needs_factors: ClassVar[bool] = True

    def check(self, settings: Any, data: GroundTruthData) -> None:
        """Refuse settings this dataset cannot serve, before anything is encoded (override)."""
        return None

    @abstractmethod
    def compute(self, cache: CodeCache, data: GroundTruthData, rng: np.random.Generator, settings: Any,
                shared: Shared) -> dict:
        """The metric's numbers for the representation behind ``cache``, as a JSON-able dict."""

    def combine(self, results: list[dict]) -> dict:
        """Several models' results as one (App. A.3): field by field, by :attr:`combine_rules`."""
        return combine_fields(results, self.combine_rules)

    @abstractmethod
    def rows(self, result: dict, settings: Any) -> list[tuple[str, str, str]]:
        """Table rows (label, value, detail) for a result."""

    @abstractmethod
    def headline(self, result: dict) -> dict[str, float | None]:
        """The few numbers a summary table shows (column name -> value)."""

    def seeds_used(self, seeds: Sequence[int]) -> tuple[int, ...]:
        return {"all": tuple(seeds), "first": tuple(seeds[:1]), "none": ()}[self.seeds]


def combine_fields(values: list, rules: dict[str, str], key: str | None = None):
    """One field of several models' results as one: dicts and lists field by field (a factor name inherits its
    field's rule), strings taken from the first model, numbers averaged (None where absent, e.g. a class never
    drawn as a test label), unless ``rules[field]`` says sum, all, max or first."""
    first = values[0]
    rule = rules.get(key or "")
    if rule == "first" or isinstance(first, str):
        return first
    if rule == "sum" and isinstance(first, list) and first and isinstance(first[0], list):
        return np.sum(values, axis=0).tolist()
    if isinstance(first, dict):
        return {name: combine_fields([value[name] for value in values], rules, name if name in rules else key)
                for name in first}
    if isinstance(first, (list, tuple)):
        return [combine_fields(list(column), rules, key) for column in zip(*values)]
    if rule == "all":
        return None if any(value is None for value in values) else all(values)
    if rule == "max":
        return max(values)
    if rule == "sum":
        return float(sum(values))
    numbers = [value for value in values if value is not None]
    return float(np.mean(numbers)) if numbers else None


def number(value: float | None, digits: int = 3) -> str:
    """A score for a table cell ("n/a" where there is none)."""
    return "n/a" if value is None else f"{value:.{digits}f}"


def settings_from_dict(settings_type: type, values: dict) -> Any:
    """A settings dataclass back from its ``dataclasses.asdict`` form (as stored in eval.json)."""
    return from_dict(settings_type, values, settings_type.__name__, strict=False)
