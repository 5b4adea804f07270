"""The training loop: one loop, read top to bottom. Resumable, atomic checkpoints, honest about divergence."""

from __future__ import annotations

import contextlib
import json
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from betavae.config import RunConfig
from betavae.data.ground_truth import ImageDataset
from betavae.data.registry import dataset_image_shape, load_training_data
from betavae.errors import BetaVAEError, DivergedError, StoppedByUser
from betavae.io import append_jsonl, atomic_write_json, atomic_write_text, ensure_writable_dir, provenance, read_json
from betavae.models.registry import NonFiniteLoss, build_task, divergence_hint, prepare_config
from betavae.progress import progress_bar
from betavae.runs import DIVERGED, FINISHED, INTERRUPTED, RUNNING, RunDir, same_run


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
          stop_after: int | None = None, data: ImageDataset | None = None) -> TrainResult:
    """Train ``config`` into ``out_dir``; ``resume`` continues its last checkpoint (``steps`` may grow).

    ``stop_after`` ends this call after that many steps, checkpointing (as a kill would, but cleanly).
    ``data`` is the already loaded training set described by ``config.data`` (else it is loaded here).
    """
    config = prepare_config(config, dataset_image_shape(config.data.dataset, config.data.path))
    writer_class = _tensorboard_writer() if config.train.tensorboard else None  # fail before touching the run
    run = RunDir(ensure_writable_dir(out_dir))
    start_step = _check_run_dir(run, config, resume)
    if start_step is None:  # already finished: never recompute
        return TrainResult(run.path, FINISHED, config.train.steps, None)

    device = resolve_device(config.train.device)
    data = data or load_training_data(config.data.dataset, config.data.path, config.data.subset, progress)
    if tuple(data.image_shape) != tuple(config.model.image_shape):
        raise BetaVAEError(f"{data.name} has images of shape {data.image_shape} but the model expects "
                           f"{config.model.image_shape}; leave model.image_shape unset to take the data's")
    torch.manual_seed(config.train.seed)  # parameter initialisation
    task = build_task(config, device)
    batches = torch.Generator().manual_seed(config.train.seed)  # which images form each batch
    noise = torch.Generator(device=device).manual_seed(config.train.seed + 1)  # reparameterisation noise
    if start_step > 0:
        _restore(run, config, task, batches, noise, device)
        if run.config().train.steps != config.train.steps:  # extending a run, now that it has resumed
            atomic_write_json(run.config_path, {**read_json(run.config_path), "train": config.to_dict()["train"]})
    else:
        atomic_write_json(run.config_path, config.to_dict())
        atomic_write_json(run.provenance_path, {**provenance(), "data": data.describe()})
        run.log_path.unlink(missing_ok=True)
    store = data.image_store(device)
    if start_step == 0:  # so that even an early divergence leaves a good checkpoint behind
        _checkpoint(run, config, task, batches, noise, 0)
    saved_step = start_step
    writer = writer_class(str(run.path / "tensorboard")) if writer_class else None

    steps, batch_size = config.train.steps, config.train.batch_size
    last_step = steps if stop_after is None else min(steps, start_step + stop_after)
    run.set_status(RUNNING, step=start_step, steps=steps)
    sums: dict[str, torch.Tensor] = {}
    logged_steps, interval_start, rate = 0, time.perf_counter(), None
    bar = progress_bar(total=steps, initial=start_step, disable=not progress, unit="step", desc="train",
                       dynamic_ncols=True)
    step = start_step
    with _interrupt_between_steps(run) as interrupt:
        while step < last_step and not interrupt.is_set():
            indices = task.batch_indices(data, batch_size, batches).to(device)
            try:
                metrics = task.step(store.batch(indices), step, noise)
            except NonFiniteLoss as error:
                run.set_status(DIVERGED, step=step, loss=str(error.value), last_good_checkpoint_step=_ckpt_step(run))
                raise DivergedError(f"loss became {error.value} at step {step}; run marked diverged in "
                                    f"{run.status_path}, last good checkpoint kept ({divergence_hint(config)})"
                                    ) from None
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
            if step % config.train.checkpoint_every == 0 or step == last_step:
                _checkpoint(run, config, task, batches, noise, step)
                saved_step = step
            bar.update(1)
    bar.close()
    if writer is not None:
        writer.close()
    if step < last_step:  # a Ctrl-C ended the loop early
        if saved_step != step:
            _checkpoint(run, config, task, batches, noise, step)
        run.set_status(INTERRUPTED, step=step, steps=steps)
        raise StoppedByUser(f"interrupted at step {step}; checkpoint saved — continue with --resume")
    state = FINISHED if step >= steps else INTERRUPTED
    run.set_status(state, step=step, steps=steps)
    return TrainResult(run.path, state, step, rate)


def _check_run_dir(run: RunDir, config: RunConfig, resume: bool) -> int | None:
    """The step to start from (0 = fresh), or None if this exact run already finished."""
    if not run.exists():
        if resume:
            raise BetaVAEError(f"nothing to resume in {run.path} (no config.json); drop --resume to start a run")
        return 0
    run.check_same_run(config)
    if run.finished(config.train.steps):
        return None
    if run.state == DIVERGED:
        raise BetaVAEError(f"{run.path} diverged ({run.status().get('loss')} at step {run.status().get('step')}); "
                           f"start a new run with another --out ({divergence_hint(config)})")
    if not resume:
        raise BetaVAEError(f"{run.path} already holds an unfinished run; pass --resume to continue it "
                           "or choose another --out")
    if not run.checkpoint_path.exists():
        return 0
    return _ckpt_step(run)


def _ckpt_step(run: RunDir) -> int:
    return int(run.load_checkpoint("cpu")["step"]) if run.checkpoint_path.exists() else 0


@contextlib.contextmanager
def _interrupt_between_steps(run: RunDir):
    """A first Ctrl-C ends the loop after the current step (so the checkpoint sits on a step boundary and
    resuming stays bit for bit); a second one stops at once, keeping the last periodic checkpoint."""
    requested = threading.Event()

    def on_sigint(signum, frame):
        if requested.is_set():
            raise KeyboardInterrupt
        requested.set()

    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, on_sigint) if in_main_thread else None
    try:
        yield requested
    except KeyboardInterrupt:
        step = _ckpt_step(run)
        run.set_status(INTERRUPTED, step=step)
        raise StoppedByUser(f"stopped at once; the checkpoint of step {step} is kept — continue with --resume"
                            ) from None
    finally:
        if in_main_thread:
            signal.signal(signal.SIGINT, previous)


def _checkpoint(run: RunDir, config: RunConfig, task, batches: torch.Generator, noise: torch.Generator,
                step: int) -> None:
    """Model, optimisers, every RNG state, the step and the config: enough to continue bit for bit (a GAN
    also gets a sample sheet in figures/).

    Weights that stopped being finite (an update from a finite loss can still overflow them) are never
    saved over the last good checkpoint: the run is marked diverged instead."""
    if not all(torch.isfinite(parameter).all() for parameter in task.model.parameters()):
        run.set_status(DIVERGED, step=step, loss="non-finite weights", last_good_checkpoint_step=_ckpt_step(run))
        raise DivergedError(f"the weights became non-finite by step {step}; run marked diverged in "
                            f"{run.status_path}, last good checkpoint kept ({divergence_hint(config)})")
    run.save_checkpoint({
        "step": step,
        "device": noise.device.type,
        "config": config.to_dict(),
        "model": task.model.state_dict(),
        "optimizers": {name: opt.state_dict() for name, opt in task.optimizers.items()},
        "rng": {"batches": batches.get_state(), "noise": noise.get_state(), "torch": torch.get_rng_state(),
                "numpy": np.random.get_state()},
    })
    run.set_status(RUNNING, step=step, steps=config.train.steps)  # where a killed run would resume
    if config.model_type == "infogan":  # a GAN's losses say little: its samples show collapse
        _draw_gan_samples(task.model, run, step)


def _restore(run: RunDir, config: RunConfig, task, batches: torch.Generator, noise: torch.Generator,
             device: torch.device) -> None:
    state = run.load_checkpoint(device)
    if "config" in state and not same_run(RunConfig.from_dict(state["config"]), config):
        raise BetaVAEError(f"{run.checkpoint_path} belongs to another run (its config differs from "
                           f"{run.config_path.name}); put that run's checkpoint back, or train into a new --out")
    saved_device = state.get("device", device.type)
    if saved_device != device.type:
        raise BetaVAEError(f"{run.path} was trained on {saved_device}; resume it with --device {saved_device} "
                           "(its random-number state only continues bit for bit on the same kind of device)")
    task.model.load_state_dict(state["model"])
    for name, optimizer in task.optimizers.items():
        optimizer.load_state_dict(state["optimizers"][name])
    batches.set_state(state["rng"]["batches"].cpu())
    noise.set_state(state["rng"]["noise"].cpu())
    torch.set_rng_state(state["rng"]["torch"].cpu())
    np.random.set_state(state["rng"]["numpy"])
    _truncate_log(run, int(state["step"]))


def _truncate_log(run: RunDir, step: int) -> None:
    """Drop log lines written after the checkpoint we resume from (a killed run may have logged past it)."""
    if run.log_path.exists():
        kept = [record for record in run.log() if record.get("step", step + 1) <= step]
        atomic_write_text(run.log_path, "".join(json.dumps(record) + "\n" for record in kept))


def _draw_gan_samples(model: torch.nn.Module, run: RunDir, step: int) -> None:
    """The same fixed (c, z) drawn at every checkpoint, in eval mode (batch-norm statistics untouched)."""
    from betavae.viz.grids import draw_samples

    model.eval()
    try:
        draw_samples(model, run.figures_dir / f"samples_step{step:07d}.png", title=f"InfoGAN samples, step {step}")
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
