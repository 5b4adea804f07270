"""Sweeps: many training runs handed to an executor, each resumable; finished runs are never recomputed.

Interrupt a sweep at any moment and start it again: finished runs are skipped, unfinished ones
continue from their last checkpoint, diverged ones stay diverged and are reported as such. The run
directories under the sweep's folder are the only state, whichever executor trains them: the local
process pool (default) or Ray tasks (``ray_executor.py``, the optional ``betavae[ray]`` extra).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from betavae.config import RunConfig
from betavae.data.ground_truth import GroundTruthData
from betavae.errors import BetaVAEError, DivergedError, StoppedByUser
from betavae.io import set_aside
from betavae.progress import progress_bar
from betavae.runs import DIVERGED, FINISHED, RunDir

if TYPE_CHECKING:
    from betavae.evaluate import EvalSettings

EXECUTORS = ("local", "ray")


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
        if self.kind == "local" and self.address is not None:
            raise BetaVAEError("--address joins a Ray cluster; add --executor ray")
        if self.kind == "local" and self.cpus_per_run is not None:
            raise BetaVAEError("--cpus-per-run is what Ray reserves for each task (--executor ray); the torch threads "
                               "of each run are --threads, and --workers runs train at once")
        if self.kind == "local" and self.gpus_per_run is not None:
            raise BetaVAEError("--gpus-per-run is for --executor ray; the local executor gives each worker one GPU "
                               "(round robin over the visible ones)")


_worker_stopped = threading.Event()  # in a sweep's worker process: a Ctrl-C reached it, start no further run


def _init_worker(gpus, parent: int) -> None:
    """A pool worker takes its own GPU (if there are several) before CUDA starts, and remembers a Ctrl-C that
    arrives between runs: the pool has already handed it the next run (queued runs cannot be cancelled), which it
    must then refuse rather than train to the end.

    It leaves the terminal's process group: a Ctrl-C reaches the driver alone, which passes exactly one on to each
    worker (:func:`stop_local_workers`; a second would stop a run at once, losing the steps since its last
    checkpoint). Should the driver die without doing so (``kill -9``, a closed terminal), the worker stops itself
    the same way, checkpointing, rather than train on unseen."""
    os.setpgrp()
    if gpus is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpus.get()
    signal.signal(signal.SIGINT, lambda signum, frame: _worker_stopped.set())
    threading.Thread(target=_stop_when_orphaned, args=(parent,), daemon=True).start()


def _stop_when_orphaned(parent: int, every: float = 2.0) -> None:
    """Once the driver is gone: stop the run under way as a Ctrl-C does, then end the process. Nothing would ever
    hand it another run, yet it would wait for one forever (the pool's queue stays open in its sibling workers),
    and with it the resource tracker."""
    while os.getppid() == parent:
        time.sleep(every)
    os.kill(os.getpid(), signal.SIGINT)
    _worker_stopped.wait()  # set once the run has checkpointed and marked itself interrupted (or between runs)
    os._exit(EXIT_ORPHANED)


EXIT_ORPHANED = 130  # a worker whose driver died ends as a stopped command does


def stop_local_workers() -> None:
    """One Ctrl-C to each pool worker of this process: each checkpoints after its current step and starts no run."""
    for child in multiprocessing.active_children():
        with contextlib.suppress(ProcessLookupError):
            os.kill(child.pid, signal.SIGINT)


def visible_gpus() -> list[str]:
    """The GPUs this process may use, as ``CUDA_VISIBLE_DEVICES`` entries (the ids it was given, else 0..n-1)."""
    import torch

    if not torch.cuda.is_available():
        return []
    given = os.environ.get("CUDA_VISIBLE_DEVICES")
    if given:
        return [entry.strip() for entry in given.split(",") if entry.strip()][:torch.cuda.device_count()]
    return [str(index) for index in range(torch.cuda.device_count())]


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
        if not pending:
            pass
        elif executor.kind == "ray":
            from betavae.experiments.ray_executor import run_on_ray

            run_on_ray(pending, root, executor, record, stop)
        else:
            _run_locally(pending, root, workers, executor, progress, record, in_this_process=not separate_processes,
                         stop=stop)
    except (KeyboardInterrupt, StoppedByUser):
        diverged = sum(outcome.state == DIVERGED for outcome in outcomes.values())
        raise StoppedByUser(f"sweep stopped: {len(outcomes)} of {len(specs)} runs done and kept ({diverged} of them "
                            "diverged), the others checkpointed; run the same command again to continue") from None
    finally:
        bar.close()
    return [outcomes[name] for name in names]


def _run_locally(pending: list[RunSpec], root: Path, workers: int, executor: ExecutorSettings, progress: bool,
                 record: Callable[[RunOutcome], None], gpus: list[str] | None = None,
                 in_this_process: bool = True, stop: threading.Event | None = None) -> None:
    """In this process (one worker, unless ``in_this_process`` is False: with a step bar), or in ``workers`` spawned
    processes, each pinned to one of the ``gpus`` (default: the visible ones) in turn when there are several
    (``provenance.json`` records which)."""
    if in_this_process and (workers <= 1 or len(pending) <= 1):
        for spec in pending:
            record(run_one(spec, root / spec.name, progress))
        return
    context = multiprocessing.get_context("spawn")
    gpus = visible_gpus() if gpus is None else gpus
    assigned = None
    if len(gpus) > 1:
        assigned = context.SimpleQueue()
        for worker in range(workers):
            assigned.put(gpus[worker % len(gpus)])
    with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_init_worker,
                             initargs=(assigned, os.getpid())) as pool:
        running = {pool.submit(run_one, spec, root / spec.name) for spec in pending}
        try:
            while running:
                done, running = wait(running, timeout=1.0, return_when=FIRST_COMPLETED)
                for future in done:
                    record(future.result())
                if stop is not None and stop.is_set():
                    raise KeyboardInterrupt
        except BaseException as error:  # start nothing new; the workers checkpoint and stop
            if isinstance(error, KeyboardInterrupt):  # it reached this process only: pass it on, once
                stop_local_workers()
            pool.shutdown(wait=True, cancel_futures=True)
            raise


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
    """Every job's evaluation, cached in its run's eval.json (a scored checkpoint is never scored again).

    ``local``: in this process, one job after another. ``ray``: the jobs not yet cached become one Ray task each
    (``--cpus-per-run`` / ``--gpus-per-run`` as for training; the task loads the run's dataset itself), and this
    process then reads what they stored, checking that they scored the same data as ``data``.
    """
    from betavae.evaluate import evaluate_run_cached

    executor = executor or ExecutorSettings()
    if executor.kind == "ray":
        missing = [job for job in jobs
                   if evaluate_run_cached(job.run_dir, data, settings, step=job.step, compute=False) is None]
        if missing:
            from betavae.experiments.ray_executor import evaluate_on_ray

            evaluate_on_ray(missing, settings, device, executor, progress)
        evaluations = [evaluate_run_cached(job.run_dir, data, settings, step=job.step, compute=False) for job in jobs]
        for job, evaluation in zip(jobs, evaluations):
            if evaluation is None:
                raise BetaVAEError(f"the Ray task that scored {job.run_dir} stored no evaluation of the sweep's data "
                                   f"({data.name}): the run's config.json names other data; score it with "
                                   "`betavae evaluate` or rerun with --executor local")
        return evaluations
    return [evaluate_run_cached(job.run_dir, data, settings, device, progress, step=job.step) for job in jobs]
