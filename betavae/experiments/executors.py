"""What the sweep runner and every executor share: run and evaluation specs, outcomes, the executor contract and
its registry, and a worker's side of one run (``run_one`` and its stop flag).

An executor is one file (``local_executor.py``, ``ray_executor.py``) holding an :class:`Executor`; the registry
names each by a lazy reference, so this module imports no executor and no executor imports the runner.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from betavae.config import RunConfig
from betavae.errors import BetaVAEError, DivergedError, StoppedByUser
from betavae.lazy import resolve
from betavae.runs import DIVERGED, FINISHED, RunDir

if TYPE_CHECKING:
    from betavae.data.ground_truth import GroundTruthData
    from betavae.evaluate import EvalSettings

# --executor NAME → its Executor, imported when chosen (one line per executor)
EXECUTORS = {
    "local": "betavae.experiments.local_executor:EXECUTOR",
    "ray": "betavae.experiments.ray_executor:EXECUTOR",
}


@dataclass
class RunSpec:
    name: str  # directory name under the sweep's runs/ folder
    config: RunConfig


@dataclass
class RunOutcome:
    name: str
    run_dir: Path
    state: str  # finished | diverged
    message: str = ""


@dataclass(frozen=True)
class EvalJob:
    """A trained run to score: its latest checkpoint, or the weights it kept at ``step``."""

    run_dir: Path
    step: int | None = None


@dataclass(frozen=True)
class ExecutorSettings:
    """Where a sweep's runs train: ``local`` processes (``workers`` at once, one GPU each when there are several)
    or ``ray`` tasks with ``cpus_per_run`` / ``gpus_per_run`` each on the cluster at ``address`` (None:
    ``RAY_ADDRESS`` if set, else a local Ray instance for the length of the sweep). Either way a run trains with
    the torch threads its config records (``train.threads``), so the executor never changes its numbers."""

    kind: str = "local"
    address: str | None = None
    cpus_per_run: float | None = None  # ray only: CPUs reserved per task (default: the run's torch threads)
    gpus_per_run: float | None = None  # ray only; fractions pack runs onto one GPU (default 1 where GPUs exist)

    def __post_init__(self) -> None:
        if self.kind not in EXECUTORS:
            raise BetaVAEError(f"unknown executor {self.kind!r}; choose one of: {', '.join(EXECUTORS)}")
        if self.cpus_per_run is not None and not self.cpus_per_run > 0:
            raise BetaVAEError(f"--cpus-per-run must be > 0, got {self.cpus_per_run}")
        if self.gpus_per_run is not None and not self.gpus_per_run >= 0:
            raise BetaVAEError(f"--gpus-per-run must be >= 0, got {self.gpus_per_run}")
        executor_named(self.kind).check(self)


class TrainRuns(Protocol):
    def __call__(self, pending: list[RunSpec], root: Path, workers: int, settings: ExecutorSettings, progress: bool,
                 record: Callable[[RunOutcome], None], *, in_this_process: bool = True,
                 stop: threading.Event | None = None) -> None:
        """Train each of ``pending`` into ``root/NAME`` (resuming what was started), handing each outcome to
        ``record`` as it arrives. ``workers``, ``progress`` (a step bar) and ``in_this_process`` (False: never in
        this process) are the local pool's; setting ``stop`` (from another thread) stops the runs as Ctrl-C does:
        queued ones never start, running ones checkpoint."""
        ...


class ScoreJobs(Protocol):
    def __call__(self, jobs: list[EvalJob], data: GroundTruthData, settings: EvalSettings, device: str,
                 progress: bool, executor: ExecutorSettings) -> list[dict]:
        """Every job's evaluation on ``data``, cached in its run's eval.json (a scored checkpoint is never scored
        again), in the order of ``jobs``."""
        ...


@dataclass(frozen=True)
class Executor:
    """One ``--executor``: the options it refuses, how it trains a sweep's runs and how it scores trained ones."""

    name: str
    check: Callable[[ExecutorSettings], None]  # raise BetaVAEError for options it does not take
    train: TrainRuns
    score: ScoreJobs


def executor_named(kind: str) -> Executor:
    """The executor registered as ``kind`` (its module imported now)."""
    return resolve(EXECUTORS[kind])


_worker_stopped = threading.Event()  # in a sweep's worker process: a Ctrl-C reached it, start no further run


def run_one(spec: RunSpec, run_dir: Path, progress: bool = False) -> RunOutcome:
    """Train one run to completion (or divergence), with the torch threads of its config; resume it if it was
    started before."""
    from betavae.train import train

    if _worker_stopped.is_set():
        raise StoppedByUser(f"{spec.name} not started: the sweep was stopped")
    run = RunDir(run_dir)
    if run.exists() and run.state == DIVERGED:
        return RunOutcome(spec.name, run_dir, DIVERGED, str(run.status().get("loss")))
    try:
        train(spec.config, run_dir, resume=run.exists(), progress=progress)
    except DivergedError as error:  # recorded, then handled by the paper's discard rule in the open
        return RunOutcome(spec.name, run_dir, DIVERGED, str(error))
    except (StoppedByUser, KeyboardInterrupt):
        _worker_stopped.set()
        raise
    return RunOutcome(spec.name, run_dir, FINISHED)
