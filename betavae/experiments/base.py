"""The experiment contract: each paper experiment is one file implementing :class:`Experiment`, plus one line in
``experiments/registry.py``.

An experiment has a name, the paper's place it reproduces, the `reproduce` options it takes (``rows``,
``metrics``, ``betas``), a plan for each budget it runs at (the keys of ``plans`` are those budgets), the runs it
needs trained, an analysis that turns the trained runs into a typed :class:`Result` (written as ``results.json``)
and the report of that result. :func:`run_experiment` does what every experiment shares: load and check the
data, train the runs on the chosen executor (resumable, finished runs never recomputed), write results.json,
report.md / report.html and settings.json (budget, plan, seeds, versions, git commit). An experiment that quotes
another reads that one's typed result (:func:`sibling_result`), never a path into its JSON.
"""

from __future__ import annotations

import dataclasses
import json
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from betavae.data.ground_truth import GroundTruthData
from betavae.errors import BetaVAEError
from betavae.experiments.common import ExperimentContext, load_data
from betavae.experiments.runner import RunOutcome, RunSpec, run_sweep
from betavae.io import atomic_write_json
from betavae.viz.report import Report

OPTIONS = ("rows", "metrics", "betas")  # what `reproduce` may pass beyond budget, dataset and executor
STANDARD_BUDGETS = ("smoke", "cpu", "paper")


def at_every_budget(plan: Any) -> dict[str, Any]:
    """``plans`` for an experiment whose plan is the same at every standard budget (sizes come from the budget)."""
    return dict.fromkeys(STANDARD_BUDGETS, plan)

R = TypeVar("R", bound="Result")


def in_memory(default_factory: Any = list) -> Any:
    """A result field the report uses but results.json leaves out (e.g. whole evaluations, stored beside the runs)."""
    return dataclasses.field(default_factory=default_factory, metadata={"json": False})


class Result:
    """Base of an experiment's typed result (a dataclass): results.json is its :meth:`to_json`."""

    def to_json(self) -> dict[str, Any]:
        return {item.name: _plain(getattr(self, item.name)) for item in dataclasses.fields(self)  # type: ignore
                if item.metadata.get("json", True)}

    @classmethod
    def from_json(cls: type[R], values: dict[str, Any]) -> R:
        """The result back from its results.json (fields missing from an older file take their defaults)."""
        names = {item.name for item in dataclasses.fields(cls)}  # type: ignore[arg-type]
        return cls(**{name: value for name, value in values.items() if name in names})


class Experiment(ABC):
    """One paper experiment. Subclasses set the class attributes and implement :meth:`analyse` and :meth:`report`;
    :meth:`runs` names what must be trained (nothing by default), :meth:`train` how (the sweep by default)."""

    name: ClassVar[str]  # `betavae reproduce NAME`
    source: ClassVar[str]  # where in the paper, e.g. "Fig. 6 left, App. A.4"
    summary: ClassVar[str]  # one line: what it writes (the CLI's help)
    result_type: ClassVar[type[Result]]
    plans: ClassVar[Mapping[str, Any]]  # budget name -> this experiment's plan at that budget
    options: ClassVar[tuple[str, ...]] = ()  # of OPTIONS
    ground_truth: ClassVar[bool] = True  # needs a dataset with known factors

    def runs(self, ctx: ExperimentContext) -> list[RunSpec]:
        """The training runs this experiment needs (``ctx.data`` and ``ctx.plan`` are set)."""
        return []

    def train(self, ctx: ExperimentContext, specs: list[RunSpec]) -> dict[str, RunOutcome]:
        """Train ``specs`` on the context's executor: outcome by run name."""
        if not specs:
            return {}
        outcomes = run_sweep(specs, ctx.runs_dir, ctx.budget.workers, ctx.progress, ctx.executor)
        return {outcome.name: outcome for outcome in outcomes}

    @abstractmethod
    def analyse(self, ctx: ExperimentContext, outcomes: dict[str, RunOutcome]) -> Result:
        """What the experiment measured: scores, summaries, the answer to its question."""

    @abstractmethod
    def report(self, ctx: ExperimentContext, result: Result) -> Report:
        """report.md / report.html of ``result`` (figures written into ``ctx.out_dir``)."""

    def settings(self, ctx: ExperimentContext) -> dict[str, Any]:
        """What settings.json records beyond the context and the plan (e.g. the evaluation settings)."""
        return {}


def _plain(value: Any) -> Any:
    return dataclasses.asdict(value) if dataclasses.is_dataclass(value) and not isinstance(value, type) else value


def run_experiment(experiment: Experiment, ctx: ExperimentContext) -> Path:
    """Data, plan, training, analysis, results.json, report and settings.json: what every experiment does."""
    prepare(experiment, ctx)
    return write_outputs(experiment, ctx, experiment.train(ctx, experiment.runs(ctx)))


def prepare(experiment: Experiment, ctx: ExperimentContext) -> None:
    """Load the data (refused if the experiment needs factors it lacks) and pick the budget's plan."""
    ctx.data = load_data(ctx)
    if experiment.ground_truth and not isinstance(ctx.data, GroundTruthData):
        raise BetaVAEError(f"{experiment.name} needs a ground-truth dataset (e.g. dsprites), not {ctx.dataset}")
    ctx.plan = experiment.plans[ctx.budget.name]


def write_outputs(experiment: Experiment, ctx: ExperimentContext, outcomes: dict[str, RunOutcome] | None) -> Path:
    """Analyse, then write results.json, the report and settings.json (``outcomes`` None: while runs still train,
    from what is done so far)."""
    result = experiment.analyse(ctx, outcomes)
    atomic_write_json(ctx.out_dir / "results.json", result.to_json())
    report = experiment.report(ctx, result)
    plan = dataclasses.asdict(ctx.plan) if dataclasses.is_dataclass(ctx.plan) else ctx.plan
    return report.write(ctx.out_dir, {**ctx.settings(), "plan": plan, **experiment.settings(ctx)})


def sibling_result(ctx: ExperimentContext, experiment: Experiment) -> tuple[Path, Result] | None:
    """The typed result of ``experiment`` run on the same dataset beside this one (``reproductions/NAME-BUDGET``,
    the default --out, or any ``NAME-*`` folder next to ``ctx.out_dir``), preferring the same budget."""
    parent = ctx.out_dir.parent
    for folder in [parent / f"{experiment.name}-{ctx.budget.name}", *sorted(parent.glob(f"{experiment.name}-*"))]:
        try:
            settings = json.loads((folder / "settings.json").read_text())["settings"]
            values = json.loads((folder / "results.json").read_text())
        except (OSError, KeyError, TypeError, json.JSONDecodeError, UnicodeDecodeError):
            continue
        if isinstance(settings, dict) and settings.get("dataset") == ctx.dataset and isinstance(values, dict):
            try:
                return folder, experiment.result_type.from_json(values)
            except TypeError:  # a results.json of another layout: not this experiment's
                continue
    return None
