"""The training loop: one loop, read top to bottom. Resumable, atomic checkpoints, honest about divergence."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import platform
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from betavae.config import RunConfig
from betavae.data.ground_truth import ImageDataset
from betavae.data.registry import dataset_image_shape, load_training_data
from betavae.errors import BetaVAEError, DiskFullError, DivergedError, StoppedByUser
from betavae.io import (
    append_jsonl,
    atomic_write_json,
    ensure_writable_dir,
    is_disk_full,
    notice,
    provenance,
    read_json,
    set_aside,
)
from betavae.models.registry import build_task, divergence_hint, prepare_config
from betavae.models.training import ABSURD_LOSS, DivergedLoss
from betavae.progress import progress_bar
from betavae.runs import DIVERGED, FINISHED, INTERRUPTED, RUNNING, RunDir, flat_config, load_weights, unusable
from betavae.threads import available_cores, torch_threads


@dataclass
class TrainResult:
    run_dir: Path
    state: str  # finished | interrupted
    step: int
    images_per_second: float | None


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise BetaVAEError("--device cuda but no CUDA device is visible; use --device cpu or auto")
    return torch.device(name)


def train(config: RunConfig, out_dir: str | Path, resume: bool = False, progress: bool = True,
          stop_after: int | None = None, data: ImageDataset | None = None, restart: bool = False,
          allow_fewer_cores: bool = False) -> TrainResult:
    """Train ``config`` into ``out_dir`` with ``config.train.threads`` torch threads (the process's own count
    again afterwards); ``resume`` continues its last checkpoint (``steps`` may grow).

    On a resume, ``config`` may differ from the saved one only in its length and in settings that change no
    number (``runs.RESUME_SETTINGS``); the thread count is not one of them, and a resume on fewer cores than
    the run's threads is refused unless ``allow_fewer_cores`` (the numbers stay the same, the steps get slower).
    ``restart`` trains a run whose checkpoint.pt was lost again from step 0, its earlier log.jsonl and
    provenance.json set aside. ``stop_after`` ends this call after that many steps, checkpointing (as a kill would,
    but cleanly). ``data`` is the already loaded training set described by ``config.data`` (else it is loaded
    here). The run directory is locked while this runs: a second process gets one clear error. However the run
    stops, status.json says where: finished, diverged, or interrupted at the step of the checkpoint that was kept.
    """
    config = prepare_config(config, dataset_image_shape(config.data.dataset, config.data.path))
    writer_class = _tensorboard_writer() if config.train.tensorboard else None  # fail before touching the run
    run = RunDir(ensure_writable_dir(out_dir))
    with run.lock():
        run.remove_stale_temp_files()
        config, start = _check_run_dir(run, config, resume, restart)
        if isinstance(start, TrainResult):  # already finished: never recompute
            return start
        _check_cores(run, config, resumed=start is not None, allowed=allow_fewer_cores)
        saved = _Saved()
        with _failures_keep_the_checkpoint(run, config, saved), torch_threads(config.train.threads):
            return _train_locked(run, config, start, saved, writer_class, progress, stop_after, data)


def _train_locked(run: RunDir, config: RunConfig, checkpoint: dict | None, saved: _Saved, writer_class,
                  progress: bool, stop_after: int | None, data: ImageDataset | None) -> TrainResult:
    device = resolve_device(config.train.device)
    data = data or load_training_data(config.data.dataset, config.data.path, config.data.subset, progress)
    if tuple(data.image_shape) != tuple(config.model.image_shape):
        raise BetaVAEError(f"{data.name} has images of shape {data.image_shape} but the model expects "
                           f"{config.model.image_shape}; leave model.image_shape unset to take the data's")
    task = _build_task_seeded(config, device)
    batches = torch.Generator().manual_seed(config.train.seed)  # which images form each batch
    noise = torch.Generator(device=device).manual_seed(config.train.seed + 1)  # reparameterisation noise
    if checkpoint is not None:
        start_step = saved.step = _restore(run, task, batches, noise, device, checkpoint)
        before = run.config()
        if config.train.steps > before.train.steps:
            notice(f"extending {run.path} from {before.train.steps} to {config.train.steps} steps")
        if not run.threads_recorded():
            notice(f"{run.config_path} records no torch thread count (an older betavae wrote it); resuming with "
                   f"{config.train.threads} and recording that: the steps from {start_step} on may differ in their "
                   "last digits from a run trained throughout with its first count")
        if before.to_dict() != config.to_dict() or not run.threads_recorded():  # recorded now that it resumed
            atomic_write_json(run.config_path, config.to_dict())
        origin = _read_provenance(run, data)
        sessions = [*origin.get("sessions", []), _session(device, start_step)]
        atomic_write_json(run.provenance_path, {**origin, "sessions": sessions})
    else:
        start_step = 0
        atomic_write_json(run.config_path, config.to_dict())
        atomic_write_json(run.provenance_path, {**provenance(), "data": data.describe(),
                                                "sessions": [_session(device, 0)]})
        run.log_path.unlink(missing_ok=True)
    store = data.image_store(device)
    if start_step == 0:  # so that even an early divergence leaves a good checkpoint behind
        _checkpoint(run, config, task, batches, noise, 0, saved)

    steps, batch_size = config.train.steps, config.train.batch_size
    last_step = steps if stop_after is None else min(steps, start_step + stop_after)
    run.set_status(RUNNING, step=start_step, steps=steps)
    sums: dict[str, torch.Tensor] = {}
    logged_steps, interval_start, rate = 0, time.perf_counter(), None
    step = start_step
    writer = writer_class(str(run.path / "tensorboard")) if writer_class else None
    bar = progress_bar(total=steps, initial=start_step, disable=not progress, unit="step", desc="train",
                       dynamic_ncols=True)
    try:
        with _interrupt_between_steps(run, saved) as interrupt:
            while step < last_step and not interrupt.is_set():
                indices = task.batch_indices(data, batch_size, batches).to(device)
                try:
                    metrics = task.step(store.batch(indices), step, noise)
                except DivergedLoss as error:
                    kept = saved.step
                    run.set_status(DIVERGED, step=step, loss=str(error.value), last_good_checkpoint_step=kept)
                    raise DivergedError(f"loss became {error.value} at step {step} (beyond {ABSURD_LOSS:g} counts as "
                                        f"diverged); run marked diverged in {run.status_path}, last good checkpoint "
                                        f"(step {kept}) kept ({divergence_hint(config)})") from None
                step += 1
                for name, value in metrics.items():
                    sums[name] = sums.get(name, 0) + value.detach()
                logged_steps += 1
                if step % config.train.log_every == 0 or step == last_step:
                    elapsed = time.perf_counter() - interval_start
                    rate = logged_steps * batch_size / max(elapsed, 1e-9)
                    record = {name: (value / logged_steps).tolist() for name, value in sums.items()}
                    record.update(step=step, images_per_second=round(rate, 1), time=time.time())
                    append_jsonl(run.log_path, record)
                    if writer is not None:
                        _write_scalars(writer, record, step)
                    bar.set_postfix(loss=f"{record['loss']:.2f}", recon=f"{record.get('reconstruction', 0):.2f}",
                                    kl=f"{record.get('kl', 0):.2f}", img_s=f"{rate:.0f}")
                    sums, logged_steps, interval_start = {}, 0, time.perf_counter()
                if step % config.train.checkpoint_every == 0 or step == last_step or step in config.train.keep_steps:
                    _checkpoint(run, config, task, batches, noise, step, saved)
                bar.update(1)
            if step < last_step:  # a Ctrl-C ended the loop early
                if saved.step != step:
                    _checkpoint(run, config, task, batches, noise, step, saved)
                run.set_status(INTERRUPTED, step=step, steps=steps)
                raise StoppedByUser(f"interrupted at step {step}; checkpoint saved — continue with --resume")
    finally:
        bar.close()
        if writer is not None:
            writer.close()
    state = FINISHED if step >= steps else INTERRUPTED
    run.set_status(state, step=step, steps=steps)
    return TrainResult(run.path, state, step, rate)


def _read_provenance(run: RunDir, data: ImageDataset) -> dict:
    """The run's provenance.json to add a session to; a damaged one is set aside (its bytes kept) and a new record
    begun, which names it."""
    if not run.provenance_path.exists():
        return {}
    try:
        origin = read_json(run.provenance_path)
        problem = None if isinstance(origin, dict) and isinstance(origin.get("sessions", []), list) else (
            f"holds {json.dumps(origin)[:40]}, not a record with a list of sessions")
    except BetaVAEError as error:
        problem = str(error).removeprefix(str(run.provenance_path)).strip()
    if problem is None:
        return origin
    aside = set_aside(run.provenance_path, "damaged", f"is damaged ({problem})")
    return {**provenance(), "data": data.describe(), "damaged_record": aside.name}


def _session(device: torch.device, start_step: int) -> dict:
    """Where a start or resume trains (``provenance.json``'s ``sessions``): the step it starts from, the device
    (with the physical GPUs behind ``CUDA_VISIBLE_DEVICES``, as a sweep's executor assigned them), host, process."""
    if device.type == "cuda":
        device = torch.device("cuda", torch.cuda.current_device())
    return {"from_step": start_step, "device": str(device), "threads": torch.get_num_threads(),
            "host": platform.node(), "pid": os.getpid(),
            "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"), "time": time.time()}


@dataclass
class _Saved:
    step: int | None = None  # the step of the checkpoint on disk: where a stopped or failed run resumes


def _build_task_seeded(config: RunConfig, device: torch.device):
    """The task with its parameters initialised from ``config.train.seed``, leaving the global RNG as it was."""
    cuda_devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=cuda_devices):
        torch.manual_seed(config.train.seed)
        return build_task(config, device)


def _check_run_dir(run: RunDir, config: RunConfig, resume: bool,
                   restart: bool = False) -> tuple[RunConfig, dict | None | TrainResult]:
    """The config to train and the checkpoint to resume from (None: start at step 0), or the TrainResult of a run
    that already finished. The checkpoint, not status.json, says how far a run has trained."""
    if not run.exists():
        foreign = run.foreign_files()
        if foreign:
            raise BetaVAEError(f"{run.path} holds files that no betavae run wrote ({', '.join(foreign[:5])}"
                               f"{', …' if len(foreign) > 5 else ''}) and no config.json; train into a new or empty "
                               "--out (betavae never writes over files it did not make)")
        if resume or restart:
            option = "--restart" if restart else "--resume"
            raise BetaVAEError(f"nothing to {option[2:]} in {run.path} (no config.json); drop {option} to start a run")
        return config, None
    saved = run.config()
    config = run.resumed_config(flat_config(config))
    status = run.status()
    if status.get("state") == DIVERGED:
        raise BetaVAEError(f"{run.path} diverged ({status.get('loss')} at step {status.get('step', 0)}); "
                           f"start a new run with another --out ({divergence_hint(config)})")
    missing = run.missing_checkpoint()
    if restart:
        if not missing:
            raise BetaVAEError(f"{run.path} has its checkpoint.pt: --resume continues it (--restart is for a run "
                               "whose checkpoint was lost)")
        for path in (run.log_path, run.provenance_path, run.status_path):
            if path.exists():
                set_aside(path, "before-restart", "belongs to the training before --restart")
        return config, None
    if missing:
        raise BetaVAEError(f"{run.checkpoint_path} {missing}, so {run.path} cannot continue (its config.json and "
                           f"log.jsonl are kept); put the checkpoint back, or pass --restart to train the run again "
                           "from step 0 (its log.jsonl and provenance.json set aside)")
    checkpoint = run.load_checkpoint(config=config) if run.checkpoint_path.exists() else None
    done = checkpoint["step"] if checkpoint else 0
    if checkpoint:
        run.set_status_from_checkpoint(done, saved.train.steps)
        status = run.status()
    if status.get("state") == FINISHED and config.train.steps <= done:
        return config, TrainResult(run.path, FINISHED, done, None)
    if not resume:
        what = f"a run finished at step {done}" if status.get("state") == FINISHED else "an unfinished run"
        raise BetaVAEError(f"{run.path} already holds {what}; pass --resume to continue it or choose another --out")
    if config.train.steps < saved.train.steps:
        raise BetaVAEError(f"{run.path} is a run of {saved.train.steps} steps; --steps {config.train.steps} would "
                           "shorten it, which a resume never does: drop --steps to continue it, or train a new --out")
    return config, checkpoint


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)  # Ctrl-C, and `kill` or a scheduler ending the job


def _check_cores(run: RunDir, config: RunConfig, resumed: bool, allowed: bool) -> None:
    """A run's thread count is part of its numbers: on fewer cores it is kept (slower), said in one line, and for a
    resume (whose count the user did not just choose) only when asked."""
    threads, cores = config.train.threads, available_cores()
    if threads <= cores or resolve_device(config.train.device).type == "cuda":
        return
    if resumed and not allowed:
        raise BetaVAEError(f"{run.path} trains with {threads} torch threads (they decide its numbers) but this machine "
                           f"gives this process {cores} core(s): resuming here keeps the numbers but runs slower; pass "
                           "--allow-fewer-cores to continue anyway, or resume it on a machine with more cores")
    notice(f"training with {threads} torch threads on {cores} core(s): the same numbers as on a larger machine, "
           "more slowly")


@contextlib.contextmanager
def _interrupt_between_steps(run: RunDir, saved: _Saved):
    """A first Ctrl-C or SIGTERM ends the loop after the current step (so the checkpoint sits on a step boundary
    and resuming stays bit for bit); a second one stops at once, keeping the last periodic checkpoint."""
    requested = threading.Event()

    def on_signal(signum, frame):
        if requested.is_set():
            raise KeyboardInterrupt
        requested.set()

    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = {number: signal.signal(number, on_signal) for number in STOP_SIGNALS} if in_main_thread else {}
    try:
        yield requested
    except KeyboardInterrupt:
        run.set_status(INTERRUPTED, step=saved.step)
        raise StoppedByUser(f"stopped at once; the checkpoint of step {saved.step} is kept — continue "
                            "with --resume") from None
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _is_out_of_memory(error: BaseException) -> bool:
    text = str(error).lower()
    return isinstance(error, (torch.OutOfMemoryError, MemoryError)) or (
        isinstance(error, RuntimeError) and ("out of memory" in text or "allocate memory" in text
                                             or "not enough memory" in text))


@contextlib.contextmanager
def _failures_keep_the_checkpoint(run: RunDir, config: RunConfig, saved: _Saved):
    """However training stops early, the run is not left marked 'running' (it is interrupted at its checkpoint's
    step); running out of memory, or a disk that fills up or turns read-only, becomes one error that names the
    checkpoint that survived it."""
    try:
        yield
    except BaseException as error:
        _mark_interrupted(run, config, saved)
        if isinstance(error, DiskFullError):
            problem, fix = error.problem, "free space"
        elif is_disk_full(error):  # e.g. torch's zip writer's "unexpected pos" outside our atomic writes
            problem, fix = f"{os.strerror(errno.ENOSPC)} under {run.path} ({str(error)[:80]})", "free space"
        elif isinstance(error, OSError):
            problem = f"{error.strerror or error} ({error.filename or run.path})"
            fix = "free space or fix the filesystem"
        elif _is_out_of_memory(error):
            problem = (f"out of memory (batch size {config.train.batch_size}, {config.model.latents} latents, "
                       f"device {config.train.device})")
            fix = "use a smaller --batch-size or --latents in a new --out, or a device with more memory"
        else:
            raise
        if saved.step is None:
            raise BetaVAEError(f"{problem}; this command wrote no checkpoint to {run.path} (an earlier one is kept): "
                               f"{fix}") from None
        raise BetaVAEError(f"{problem}; the last good checkpoint (step {saved.step}) is kept: {fix}, then "
                           f"continue with `betavae train --resume --out {run.path}`") from None


def _mark_interrupted(run: RunDir, config: RunConfig, saved: _Saved) -> None:
    """A run this process stopped training without marking it (an error, a signal) is interrupted at the step of its
    last checkpoint; a status already true (diverged, interrupted) stays."""
    with contextlib.suppress(OSError, BetaVAEError):  # the disk that failed may refuse this too
        status = run.status()
        if status.get("state") == RUNNING:
            step = saved.step if saved.step is not None else status.get("step", 0)
            run.set_status(INTERRUPTED, step=step, steps=config.train.steps)


def _checkpoint(run: RunDir, config: RunConfig, task, batches: torch.Generator, noise: torch.Generator,
                step: int, saved: _Saved) -> None:
    """Model, optimisers, the RNG states the loop draws from, the step and the config: enough to continue bit
    for bit (a model whose spec asks for them, a GAN, also gets a sheet of samples in figures/).

    Weights that stopped being finite (an update from a finite loss can still overflow them) are never
    saved over the last good checkpoint: the run is marked diverged instead."""
    if not all(torch.isfinite(parameter).all() for parameter in task.model.parameters()):
        run.set_status(DIVERGED, step=step, loss="non-finite weights", last_good_checkpoint_step=saved.step)
        raise DivergedError(f"the weights became non-finite by step {step}; run marked diverged in "
                            f"{run.status_path}, last good checkpoint (step {saved.step}) kept "
                            f"({divergence_hint(config)})")
    state = {
        "step": step,
        "device": noise.device.type,
        "config": config.to_dict(),
        "model": task.model.state_dict(),
        "optimizers": {name: opt.state_dict() for name, opt in task.optimizers.items()},
        "rng": {"batches": batches.get_state(), "noise": noise.get_state()},
    }
    if step in config.train.keep_steps:  # before checkpoint.pt: a kill in between redoes this step, bit for bit
        run.keep_checkpoint(state)
    run.save_checkpoint(state)
    saved.step = step
    run.set_status(RUNNING, step=step, steps=config.train.steps)  # where a killed run would resume
    if config.spec.checkpoint_samples:
        _draw_samples(task.model, run, step, f"{config.spec.checkpoint_samples}, step {step}")


def _restore(run: RunDir, task, batches: torch.Generator, noise: torch.Generator, device: torch.device,
             state: dict) -> int:
    """Load the checkpoint ``state`` (checked by ``RunDir.load_checkpoint``) into ``task`` and the generators;
    return its step."""
    saved_device = state.get("device", device.type)
    if saved_device != device.type:
        raise BetaVAEError(f"{run.path} was trained on {saved_device}; resume it with --device {saved_device} "
                           "(its random-number state only continues bit for bit on the same kind of device)")
    load_weights(task.model, state, run.checkpoint_path)
    try:
        for name, optimizer in task.optimizers.items():
            optimizer.load_state_dict(state["optimizers"][name])
        batches.set_state(state["rng"]["batches"].cpu())
        noise.set_state(state["rng"]["noise"].cpu())
    except (RuntimeError, KeyError, ValueError, TypeError) as error:
        raise unusable(run.checkpoint_path, f"its optimizer or random-number state does not fit the model its config "
                                            f"describes ({type(error).__name__}: {str(error).splitlines()[0][:120]})"
                       ) from None
    step = state["step"]
    run.truncate_log(step)
    return step


def _draw_samples(model: torch.nn.Module, run: RunDir, step: int, title: str) -> None:
    """The same fixed latent draw at every checkpoint, in eval mode (batch-norm statistics untouched)."""
    from betavae.viz.grids import draw_samples

    model.eval()
    try:
        draw_samples(model, run.figures_dir / f"samples_step{step:07d}.png", title=title)
    finally:
        model.train()


def _tensorboard_writer():
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise BetaVAEError("--tensorboard needs the tensorboard package: pip install tensorboard") from None
    return SummaryWriter


def _write_scalars(writer, record: dict, step: int) -> None:
    """The log record as TensorBoard scalars; per-latent lists become one curve per latent."""
    for name, value in record.items():
        if name in ("step", "time"):
            continue
        if isinstance(value, list):
            for latent, item in enumerate(value):
                writer.add_scalar(f"{name}/{latent}", item, step)
        elif isinstance(value, (int, float)):
            writer.add_scalar(name, value, step)
