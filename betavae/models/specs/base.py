"""The model contract, importable without torch: what ``--model NAME`` is and where its training task lives.

The CLI and config loading read specs, so ``betavae --help`` and ``--print-config`` load no torch; the task is
named by a lazy reference (``"betavae.models.MODULE:TaskClass"``) and imported only when a run is built. Hooks say
what is special about a model, so that no code outside ``models/`` tests a model's name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from betavae.config_common import CommonConfig
from betavae.lazy import resolve


@dataclass(frozen=True)
class ModelSpec:
    """One ``--model``: its config section, how it adapts a config to a dataset, its training task and its hooks."""

    name: str  # --model NAME
    title: str  # one line: what it is, after which paper (CLI help, README)
    task: str  # lazy reference to its TrainingTask class, built as Task(config, its section, device)
    prepare: Callable[[CommonConfig, Any, tuple[int, int, int]], None]  # checks and fills the config for the data
    describe: Callable[[CommonConfig, Any], str]  # the model and its weights in a few words (figure captions)
    divergence_hint: Callable[[CommonConfig, Any], str]  # what to lower when a run diverges: its actual knobs
    section: type | None = None  # its own settings: a dataclass of option() fields, or None
    section_key: str | None = None  # where that section sits in config.json, e.g. "infogan"
    # hooks, each unset for most models:
    checkpoint_samples: str | None = None  # title of a sheet of its samples drawn at each checkpoint (figures/)
    budget_section: Callable[[int], Any] | None = None  # its section at a compute budget's network width
    same_model_as: str | None = None  # the model whose runs its runs are when their configs agree

    def task_class(self) -> type:
        """The training task class, imported now (its module imports torch)."""
        return resolve(self.task)

    def section_for_budget(self, width: int) -> Any:
        """Its section at a budget's network ``width``; None (its defaults) unless the model scales with budgets."""
        return None if self.budget_section is None else self.budget_section(width)

    @property
    def identity(self) -> str:
        """The name its runs are compared under: two runs with equal configs train the same network the same way."""
        return self.same_model_as or self.name
