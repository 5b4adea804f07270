"""Sweeps: many training runs in parallel processes, each resumable; finished runs are never recomputed.

Interrupt a sweep at any moment and start it again: finished runs are skipped, unfinished ones
continue from their last checkpoint, diverged ones stay diverged and are reported as such.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from betavae.config import RunConfig
from betavae.errors import BetaVAEError, DivergedError, StoppedByUser
from betavae.progress import progress_bar
from betavae.runs import DIVERGED, FINISHED, RunDir


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


_worker_stopped = threading.Event()  # in a sweep's worker process: a Ctrl-C reached it, start no further run


def _init_worker() -> None:
    """A pool worker remembers a Ctrl-C that arrives between runs: the pool has already handed it the next run
    (queued runs cannot be cancelled), which it must then refuse rather than train to the end."""
    signal.signal(signal.SIGINT, lambda signum, frame: _worker_stopped.set())


def run_one(spec: RunSpec, run_dir: Path, threads: int | None = None, progress: bool = False) -> RunOutcome:
    """Train one run to completion (or divergence); resume it if it was started before."""
    import torch

    from betavae.train import train

    if _worker_stopped.is_set():
        raise StoppedByUser(f"{spec.name} not started: the sweep was stopped")
    if threads:
        torch.set_num_threads(threads)
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


def run_sweep(specs: list[RunSpec], root: str | Path, workers: int = 1, progress: bool = True) -> list[RunOutcome]:
    """Train every spec into ``root/NAME``, ``workers`` processes at a time (threads split between them)."""
    root = Path(root)
    names = [spec.name for spec in specs]
    if len(set(names)) != len(names):
        raise BetaVAEError("run names in a sweep must be unique")
    outcomes: dict[str, RunOutcome] = {}
    pending = []
    for spec in specs:
        run = RunDir(root / spec.name)
        if run.exists():  # e.g. the same --out reused with another dataset or budget: refuse, never mix
            run.check_same_run(resolved(spec.config))
        if run.exists() and run.finished(spec.config.train.steps):
            outcomes[spec.name] = RunOutcome(spec.name, run.path, FINISHED)
        else:
            pending.append(spec)
    bar = progress_bar(total=len(specs), initial=len(specs) - len(pending), disable=not progress, unit="run",
                       desc="training runs")
    try:
        if workers <= 1 or len(pending) <= 1:
            for spec in pending:
                outcomes[spec.name] = run_one(spec, root / spec.name, progress=progress)  # with a step bar
                bar.update(1)
        else:
            threads = max(1, (os.cpu_count() or 1) // workers)
            context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_init_worker) as pool:
                futures = {pool.submit(run_one, spec, root / spec.name, threads): spec for spec in pending}
                try:
                    for future in as_completed(futures):
                        outcomes[futures[future].name] = future.result()
                        bar.update(1)
                except BaseException:  # Ctrl-C reaches the workers too; start nothing new, let them checkpoint
                    pool.shutdown(wait=True, cancel_futures=True)
                    raise
    except (KeyboardInterrupt, StoppedByUser):
        diverged = sum(outcome.state == DIVERGED for outcome in outcomes.values())
        raise StoppedByUser(f"sweep stopped: {len(outcomes)} of {len(specs)} runs done and kept ({diverged} of them "
                            "diverged), the others checkpointed; run the same command again to continue") from None
    finally:
        bar.close()
    return [outcomes[name] for name in names]
