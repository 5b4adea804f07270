"""``reproduce --executor ray``: each training run of a sweep is one Ray task (the optional ``betavae[ray]`` extra).

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
import uuid
from collections.abc import Callable
from pathlib import Path

from betavae.errors import BetaVAEError
from betavae.experiments.runner import ExecutorSettings, RunOutcome, RunSpec, _worker_stopped, run_one
from betavae.io import atomic_write_text

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


def run_on_ray(pending: list[RunSpec], root: Path, settings: ExecutorSettings,
               record: Callable[[RunOutcome], None]) -> None:
    """Train ``pending`` as Ray tasks into ``root/NAME``; ``record`` receives each outcome as it arrives."""
    ray = import_ray()
    root = root.resolve()  # tasks may run elsewhere: a path that means the same folder on every node
    sweep_id = _mark(root)
    with ray_session(settings.address):
        gpus = _gpus_per_run(ray, settings, pending)
        cpus = settings.cpus_per_run or 1
        _check_fits(ray, cpus, gpus)
        forwarded = {name: os.environ[name] for name in ("BETAVAE_DATA_DIR",) if name in os.environ}
        options = dict(num_cpus=cpus, num_gpus=gpus, max_retries=MAX_RETRIES, retry_exceptions=False,
                       runtime_env={"env_vars": forwarded} if forwarded else None)
        task, threads = ray.remote(_train_task), max(1, int(cpus))
        running = {task.options(name=f"betavae {spec.name}", **options).remote(spec, root, sweep_id, threads): spec
                   for spec in pending}
        try:
            while running:
                done, _ = ray.wait(list(running), num_returns=1)
                spec = running.pop(done[0])
                record(_outcome(ray, done[0], spec))
        except BaseException:  # Ctrl-C or a failed run: queued runs never start, running ones checkpoint
            _stop(ray, list(running))
            raise


def _train_task(spec: RunSpec, root: Path, sweep_id: str, threads: int) -> RunOutcome:
    """One run, on whichever node Ray chose."""
    check_sees_sweep(root, sweep_id)
    _worker_stopped.clear()  # Ray reuses worker processes, and starts a task only while the sweep goes on
    return run_one(spec, root / spec.name, threads)


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


def _gpus_per_run(ray, settings: ExecutorSettings, pending: list[RunSpec]) -> float:
    """``--gpus-per-run``, by default 1 where the cluster has GPUs and the runs may use them (Ray hides every GPU
    from a task that asked for none)."""
    devices = {spec.config.train.device for spec in pending}
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


def _outcome(ray, ref, spec: RunSpec) -> RunOutcome:
    """The task's outcome; its user error as raised in the task; a worker that died every time as one error."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as error:
        if isinstance(error.cause, BetaVAEError):
            raise error.cause from None
        raise
    except (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError,
            ray.exceptions.OutOfMemoryError) as error:
        raise BetaVAEError(f"run {spec.name}: its Ray worker died {MAX_RETRIES + 1} times "
                           f"({type(error).__name__}); its last checkpoint is kept: run the same command again to "
                           "continue it") from None


def _stop(ray, refs: list) -> None:
    """Cancel ``refs``: queued ones never start, running ones get a Ctrl-C (they checkpoint and stop)."""
    for ref in refs:
        ray.cancel(ref)
    with contextlib.suppress(Exception):
        ray.wait(refs, num_returns=len(refs), timeout=STOP_WAIT_S)
