"""``reproduce --executor local`` (the default): a sweep's runs in this process, or in a pool of spawned worker
processes, each pinned to its own GPU (round robin) when there are several; evaluations in this process."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path
from typing import TYPE_CHECKING

from betavae.errors import BetaVAEError
from betavae.experiments.executors import (
    EvalJob,
    Executor,
    ExecutorSettings,
    RunOutcome,
    RunSpec,
    _worker_stopped,
    run_one,
)

if TYPE_CHECKING:
    from betavae.data.ground_truth import GroundTruthData
    from betavae.evaluate import EvalSettings


def check(settings: ExecutorSettings) -> None:
    """Refuse Ray's options: they would be recorded but change nothing here."""
    if settings.address is not None:
        raise BetaVAEError("--address joins a Ray cluster; add --executor ray")
    if settings.cpus_per_run is not None:
        raise BetaVAEError("--cpus-per-run is what Ray reserves for each task (--executor ray); the torch threads "
                           "of each run are --threads, and --workers runs train at once")
    if settings.gpus_per_run is not None:
        raise BetaVAEError("--gpus-per-run is for --executor ray; the local executor gives each worker one GPU "
                           "(round robin over the visible ones)")


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


def run_locally(pending: list[RunSpec], root: Path, workers: int, settings: ExecutorSettings, progress: bool,
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


def score_locally(jobs: list[EvalJob], data: GroundTruthData, settings: EvalSettings, device: str, progress: bool,
                  executor: ExecutorSettings) -> list[dict]:
    """In this process, one job after another."""
    from betavae.evaluate import evaluate_run_cached

    return [evaluate_run_cached(job.run_dir, data, settings, device, progress, step=job.step) for job in jobs]


EXECUTOR = Executor("local", check, run_locally, score_locally)
