"""Sweeps: many training runs handed to an executor, each resumable; finished runs are never recomputed.

Interrupt a sweep at any moment and start it again: finished runs are skipped, unfinished ones
continue from their last checkpoint, diverged ones stay diverged and are reported as such. The run
directories under the sweep's folder are the only state, whichever executor trains them (``executors.py``):
the local process pool (default, ``local_executor.py``) or Ray tasks (``ray_executor.py``, the optional
``betavae[ray]`` extra).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from betavae.config import RunConfig
from betavae.errors import BetaVAEError, StoppedByUser
from betavae.experiments.executors import (  # noqa: F401  (re-exported: what a sweep is made of)
    EXECUTORS,
    EvalJob,
    ExecutorSettings,
    RunOutcome,
    RunSpec,
    _worker_stopped,
    executor_named,
    run_one,
)
from betavae.experiments.local_executor import (  # noqa: F401  (re-exported for callers of the runner)
    run_locally as _run_locally,
)
from betavae.experiments.local_executor import stop_local_workers, visible_gpus  # noqa: F401
from betavae.io import set_aside
from betavae.progress import progress_bar
from betavae.runs import DIVERGED, FINISHED, RunDir

if TYPE_CHECKING:
    from betavae.data.ground_truth import GroundTruthData
    from betavae.evaluate import EvalSettings


def resolved(config: RunConfig) -> RunConfig:
    """A copy of ``config`` with every dataset-dependent default filled in, as ``train`` saves it."""
    from betavae.data.registry import dataset_image_shape
    from betavae.models.registry import prepare_config

    copy = RunConfig.from_dict(config.to_dict())
    return prepare_config(copy, dataset_image_shape(copy.data.dataset, copy.data.path))


def run_sweep(specs: list[RunSpec], root: str | Path, workers: int = 1, progress: bool = True,
              executor: ExecutorSettings | None = None, separate_processes: bool = False,
              stop: threading.Event | None = None) -> list[RunOutcome]:
    """Train every spec into ``root/NAME`` with ``executor`` (default: ``workers`` local processes at a time;
    ``separate_processes``: never in this one, even a single run, so that this process can score meanwhile).
    Setting ``stop`` (from another thread) stops the sweep as a Ctrl-C would."""
    executor = executor or ExecutorSettings()
    root = Path(root)
    names = [spec.name for spec in specs]
    if len(set(names)) != len(names):
        raise BetaVAEError("run names in a sweep must be unique")
    outcomes: dict[str, RunOutcome] = {}
    pending = []
    for spec in specs:
        run = RunDir(root / spec.name)
        if run.exists() and not run.threads_recorded():  # trained before threads were part of a run's identity
            set_aside(run.path, "before-threads", "was trained by an older betavae that did not record its torch "
                      "threads; it is trained again, so that no result mixes thread counts")
        if run.exists():  # e.g. the same --out reused with another dataset or budget: refuse, never mix
            run.check_same_run(resolved(spec.config))
        if run.exists() and run.finished(spec.config.train.steps):
            outcomes[spec.name] = RunOutcome(spec.name, run.path, FINISHED)
        else:
            pending.append(spec)
    bar = progress_bar(total=len(specs), initial=len(specs) - len(pending), disable=not progress, unit="run",
                       desc="training runs")

    def record(outcome: RunOutcome) -> None:
        outcomes[outcome.name] = outcome
        bar.update(1)

    try:
        if pending:
            executor_named(executor.kind).train(pending, root, workers, executor, progress, record,
                                                in_this_process=not separate_processes, stop=stop)
    except (KeyboardInterrupt, StoppedByUser):
        diverged = sum(outcome.state == DIVERGED for outcome in outcomes.values())
        raise StoppedByUser(f"sweep stopped: {len(outcomes)} of {len(specs)} runs done and kept ({diverged} of them "
                            "diverged), the others checkpointed; run the same command again to continue") from None
    finally:
        bar.close()
    return [outcomes[name] for name in names]


def train_and_watch(specs: list[RunSpec], root: str | Path, on_kept: Callable[[EvalJob], None],
                    on_wait: Callable[[], None] | None = None, workers: int = 1, progress: bool = True,
                    executor: ExecutorSettings | None = None, poll_s: float = 15.0) -> list[RunOutcome]:
    """Train the sweep in other processes (or Ray tasks) while this process calls ``on_kept`` for each checkpoint a
    run keeps (``train.keep_steps``) as soon as it is written, earliest steps first, and ``on_wait`` every
    ``poll_s`` seconds in which nothing new was kept. Checkpoints kept by earlier invocations are handed over
    too (``on_kept`` finds what it already did in its caches). A Ctrl-C or SIGTERM stops both: the runs
    checkpoint, the sweep raises :class:`StoppedByUser`, and the same call continues where it stopped."""
    root = Path(root)
    stop, box = threading.Event(), {}

    def train_all() -> None:
        try:
            box["outcomes"] = run_sweep(specs, root, workers, progress, executor, separate_processes=True, stop=stop)
        except BaseException as error:  # handed to the main thread, which raises it
            box["error"] = error

    thread = threading.Thread(target=train_all, name="betavae sweep", daemon=True)
    handed: set[tuple[str, int]] = set()
    with _sigterm_as_interrupt():
        thread.start()
        try:
            while True:
                training = thread.is_alive()
                kept = sorted((step, index) for index, spec in enumerate(specs)
                              for step in RunDir(root / spec.name).kept_steps() if (spec.name, step) not in handed)
                for step, index in kept:
                    on_kept(EvalJob(root / specs[index].name, step))
                    handed.add((specs[index].name, step))
                if not training:
                    break
                if not kept:
                    if on_wait is not None:
                        on_wait()
                    thread.join(poll_s)
        except BaseException as error:
            stop.set()
            thread.join()
            if isinstance(error, KeyboardInterrupt):
                raise box.get("error") if isinstance(box.get("error"), StoppedByUser) else StoppedByUser(
                    "sweep stopped; the runs checkpointed: run the same command again to continue") from None
            raise
    if "error" in box:
        raise box["error"]
    return box["outcomes"]


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """In the main thread: SIGTERM (a scheduler ending the job, ``kill``) stops the work as Ctrl-C does."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def evaluate_sweep(jobs: list[EvalJob], data: GroundTruthData, settings: EvalSettings, device: str = "auto",
                   progress: bool = True, executor: ExecutorSettings | None = None) -> list[dict]:
    """Every job's evaluation, cached in its run's eval.json (a scored checkpoint is never scored again), by
    ``executor``: ``local`` in this process, one job after another; ``ray`` one task per job not yet cached."""
    executor = executor or ExecutorSettings()
    return executor_named(executor.kind).score(jobs, data, settings, device, progress, executor)
