"""``reproduce --executor ray``: each training run of a sweep, and each evaluation of a trained run, is one Ray task
(the optional ``betavae[ray]`` extra).

Ray places the tasks (``--cpus-per-run``, ``--gpus-per-run``, fractions allowed) and retries a task whose worker
process or node died (``MAX_RETRIES``); the retry resumes from the run's last checkpoint, because the run
directories on the sweep's shared folder are the only state. A task that fails for a user error (a
:class:`BetaVAEError`) is not retried. Ray is imported only here, only when this executor is chosen.
"""

from __future__ import annotations

import contextlib
import os
import platform
import socket
import threading
import uuid
from collections.abc import Callable
from pathlib import Path

from betavae.data.ground_truth import GroundTruthData
from betavae.errors import BetaVAEError
from betavae.evaluate import EvalSettings
from betavae.experiments.executors import (
    EvalJob,
    Executor,
    ExecutorSettings,
    RunOutcome,
    RunSpec,
    _worker_stopped,
    run_one,
)
from betavae.io import COMMAND_ENV, atomic_write_text, command_line
from betavae.progress import progress_bar

MAX_RETRIES = 3  # a worker or node that dies: the task runs again, from the run's last checkpoint
MARKER = ".sweep-id"  # in the sweep folder: a task that cannot read it runs on a node that does not see the folder
STOP_WAIT_S = 120  # after Ctrl-C, how long running tasks get to write their checkpoint
INSTALL_HINT = "pip install 'betavae[ray]'"


def import_ray():
    """The ``ray`` module, or one error saying how to install it."""
    try:
        import ray
    except ImportError:
        raise BetaVAEError(f"--executor ray needs Ray, an optional extra: {INSTALL_HINT} (or use --executor "
                           "local)") from None
    return ray


def check(settings: ExecutorSettings) -> None:
    """Ray takes every option; whether the cluster can hold a task is checked once it is joined (``_check_fits``)."""


def run_on_ray(pending: list[RunSpec], root: Path, workers: int, settings: ExecutorSettings, progress: bool,
               record: Callable[[RunOutcome], None], *, in_this_process: bool = True,
               stop: threading.Event | None = None) -> None:
    """Train ``pending`` as Ray tasks into ``root/NAME``; ``record`` receives each outcome as it arrives; setting
    ``stop`` (from another thread) stops them as a Ctrl-C would. The cluster's resources, not ``workers``, decide
    how many train at once; none trains in this process, and none draws a step bar."""
    root = root.resolve()  # tasks may run elsewhere: a path that means the same folder on every node
    sweep_id = _mark(root)
    calls = [(spec.name, (spec, root, sweep_id)) for spec in pending]
    threads = max(spec.config.train.threads for spec in pending)
    _run_tasks(_train_task, calls, settings, {spec.config.train.device for spec in pending}, record, threads, stop)


def score_on_ray(jobs: list[EvalJob], data: GroundTruthData, settings: EvalSettings, device: str, progress: bool,
                 executor: ExecutorSettings) -> list[dict]:
    """The jobs not yet cached become one Ray task each (``--cpus-per-run`` / ``--gpus-per-run`` as for training;
    the task loads the run's dataset itself); this process then reads what they stored, checking that they scored
    the same data as ``data``."""
    from betavae.evaluate import evaluate_run_cached

    missing = [job for job in jobs
               if evaluate_run_cached(job.run_dir, data, settings, step=job.step, compute=False) is None]
    if missing:
        _store_on_ray(missing, settings, device, executor, progress)
    evaluations = [evaluate_run_cached(job.run_dir, data, settings, step=job.step, compute=False) for job in jobs]
    for job, evaluation in zip(jobs, evaluations):
        if evaluation is None:
            raise BetaVAEError(f"the Ray task that scored {job.run_dir} stored no evaluation of the sweep's data "
                               f"({data.name}): the run's config.json names other data; score it with "
                               "`betavae evaluate` or rerun with --executor local")
    return evaluations


def _store_on_ray(jobs: list[EvalJob], settings: EvalSettings, device: str, executor: ExecutorSettings,
                  progress: bool) -> None:
    """Score each job in a Ray task of its own, which stores the evaluation in the run's eval.json (tasks on steps
    of one run merge their entries under the file's lock)."""
    calls = []
    for job in jobs:
        run_dir = job.run_dir.resolve()
        label = run_dir.name if job.step is None else f"{run_dir.name} step {job.step}"
        calls.append((f"scoring {label}", (run_dir, job.step, settings, device, _mark(run_dir.parent))))
    bar = progress_bar(total=len(calls), disable=not progress, unit="run", desc="scoring runs (ray)")
    try:
        _run_tasks(_evaluate_task, calls, executor, {device}, lambda _: bar.update(1), settings.threads)
    finally:
        bar.close()


def _run_tasks(function: Callable, calls: list[tuple[str, tuple]], settings: ExecutorSettings, devices: set[str],
               record: Callable, threads: int, stop: threading.Event | None = None) -> None:
    """``function(*args)`` for each ``(label, args)`` of ``calls`` as a Ray task with the executor's resources (CPUs:
    ``--cpus-per-run``, else the ``threads`` the tasks compute with); ``record`` receives each result as it
    arrives. Ctrl-C, ``stop`` or a failed task: the queued tasks never start, the running ones are interrupted (a
    run checkpoints first)."""
    ray = import_ray()
    with ray_session(settings.address):
        gpus = _gpus_per_run(ray, settings, devices)
        cpus = settings.cpus_per_run or threads
        _check_fits(ray, cpus, gpus)
        forwarded = {name: os.environ[name] for name in ("BETAVAE_DATA_DIR",) if name in os.environ}
        forwarded[COMMAND_ENV] = os.environ.get(COMMAND_ENV) or command_line()  # provenance names the sweep's command
        options = dict(num_cpus=cpus, num_gpus=gpus, max_retries=MAX_RETRIES, retry_exceptions=False,
                       runtime_env={"env_vars": forwarded})
        task = ray.remote(function)
        running = {task.options(name=f"betavae {label}", **options).remote(*args): label for label, args in calls}
        try:
            while running:
                done, _ = ray.wait(list(running), num_returns=1, timeout=None if stop is None else 1.0)
                for ref in done:
                    record(_result(ray, ref, running.pop(ref)))
                if stop is not None and stop.is_set():
                    raise KeyboardInterrupt
        except BaseException:
            _stop(ray, list(running))
            raise


def _train_task(spec: RunSpec, root: Path, sweep_id: str) -> RunOutcome:
    """One run, on whichever node Ray chose (with the torch threads its config records)."""
    check_sees_sweep(root, sweep_id)
    _worker_stopped.clear()  # Ray reuses worker processes, and starts a task only while the sweep goes on
    return run_one(spec, root / spec.name)


_datasets: dict[tuple, GroundTruthData] = {}  # in a Ray worker process: the last dataset loaded, kept for the next


def _evaluate_task(run_dir: Path, step: int | None, settings: EvalSettings, device: str, sweep_id: str) -> None:
    """One evaluation, stored in the run's eval.json, on whichever node Ray chose; the data is the whole grid the
    run was trained from (as ``betavae evaluate RUN`` scores it)."""
    from betavae.data.registry import load_dataset
    from betavae.evaluate import evaluate_run_cached
    from betavae.runs import RunDir

    check_sees_sweep(run_dir.parent, sweep_id)
    config = RunDir(run_dir).config()
    source = (config.data.dataset, config.data.path)
    if source not in _datasets:  # a sweep's runs share their data: load it once per worker process
        _datasets.clear()
        _datasets[source] = load_dataset(*source, progress=False)
    evaluate_run_cached(run_dir, _datasets[source], settings, device, progress=False, step=step)  # settings.threads


def check_sees_sweep(root: Path, sweep_id: str) -> None:
    """Refuse to train on a node where ``root`` is not the driver's sweep folder (a silent empty run otherwise)."""
    try:
        seen = (root / MARKER).read_text().strip()
    except OSError:
        seen = None
    if seen != sweep_id:
        found = f"no {MARKER} there" if seen is None else f"its {MARKER} is another sweep's"
        raise BetaVAEError(f"node {platform.node()} does not see the sweep folder {root} ({found}); --out must be a "
                           "folder every node sees at the same path, e.g. on a shared filesystem")


def _mark(root: Path) -> str:
    """The sweep folder's id, written once into it (kept across invocations, so concurrent commands agree)."""
    root.mkdir(parents=True, exist_ok=True)
    marker = root / MARKER
    if not marker.exists():
        atomic_write_text(marker, uuid.uuid4().hex + "\n")
    return marker.read_text().strip()


@contextlib.contextmanager
def ray_session(address: str | None):
    """Ray as the caller has it (already initialised: used as is), else joined at ``address`` / ``RAY_ADDRESS``,
    else a local instance started here; disconnected (and a local instance stopped) at the end. `reproduce` holds
    one for the whole command, so that its sweeps share it."""
    ray = import_ray()
    if ray.is_initialized():
        yield
        return
    target = address or os.environ.get("RAY_ADDRESS") or "local"
    _check_answers(target)
    try:
        ray.init(address=target, include_dashboard=False, logging_level="WARNING")
    except (ConnectionError, RuntimeError, ValueError) as error:
        raise BetaVAEError(f"cannot join the Ray cluster at {target} ({str(error).splitlines()[0][:160]}); start it "
                           "with `ray start --head` and pass the address it prints to --address") from None
    try:
        yield
    finally:
        ray.shutdown()


def _check_answers(address: str) -> None:
    """Refuse a ``HOST:PORT`` that nothing answers at: Ray itself would keep retrying for many minutes."""
    host, _, port = address.rpartition(":")
    if "://" in address or not port.isdigit():
        return  # "local", "auto" or a ray:// client address: left to Ray
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=10).close()
    except OSError as error:
        raise BetaVAEError(f"nothing answers at the Ray cluster address {address} ({error.strerror or error}); start "
                           "the cluster with `ray start --head` and pass the address it prints to --address") from None


def _gpus_per_run(ray, settings: ExecutorSettings, devices: set[str]) -> float:
    """``--gpus-per-run``, by default 1 where the cluster has GPUs and the tasks may use them (``devices``: their
    ``--device`` values; Ray hides every GPU from a task that asked for none)."""
    cluster_gpus = ray.cluster_resources().get("GPU", 0)
    gpus = settings.gpus_per_run
    if gpus is None:
        gpus = 1.0 if cluster_gpus and devices != {"cpu"} else 0.0
    if gpus == 0 and "cuda" in devices:
        raise BetaVAEError("--device cuda with --gpus-per-run 0: Ray hides the GPUs from such tasks; give each run "
                           "a GPU share, e.g. --gpus-per-run 0.25")
    if gpus and "cpu" in devices:
        raise BetaVAEError("--device cpu with --gpus-per-run > 0 would hold GPUs that the runs never use; drop "
                           "--gpus-per-run or use --device auto")
    return gpus


def _check_fits(ray, cpus: float, gpus: float) -> None:
    """A task no node can hold would wait forever: say so now."""
    nodes = [node["Resources"] for node in ray.nodes() if node.get("Alive")]
    if not any(node.get("CPU", 0) >= cpus and node.get("GPU", 0) >= gpus for node in nodes):
        largest = max(((node.get("CPU", 0), node.get("GPU", 0)) for node in nodes), default=(0, 0))
        raise BetaVAEError(f"no node of the Ray cluster has {cpus:g} CPUs and {gpus:g} GPUs for one run (the largest "
                           f"has {largest[0]:g} CPUs, {largest[1]:g} GPUs); lower --cpus-per-run / --gpus-per-run")


def _result(ray, ref, label: str):
    """The task's result; its user error as raised in the task; a worker that died every time as one error."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as error:
        if isinstance(error.cause, BetaVAEError):
            raise error.cause from None
        raise
    except (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError,
            ray.exceptions.OutOfMemoryError) as error:
        raise BetaVAEError(f"{label}: its Ray worker died {MAX_RETRIES + 1} times ({type(error).__name__}); what "
                           "it had done is kept (a run's last checkpoint): run the same command again to continue") \
            from None


def _stop(ray, refs: list) -> None:
    """Cancel ``refs``: queued ones never start, running ones get a Ctrl-C (they checkpoint and stop)."""
    for ref in refs:
        ray.cancel(ref)
    with contextlib.suppress(Exception):
        ray.wait(refs, num_returns=len(refs), timeout=STOP_WAIT_S)


EXECUTOR = Executor("ray", check, run_on_ray, score_on_ray)
