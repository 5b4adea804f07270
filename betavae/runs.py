"""A run directory: ``config.json``, ``provenance.json`` (versions, git commit, data), ``checkpoint.pt``,
``log.jsonl``, ``status.json``, ``figures/``, ``eval.json``, ``.lock`` while a process trains it, and
``checkpoints/step_NNNNNNN.pt``: the weights of the steps named in ``train.keep_steps`` (model and config only,
for training curves; never resumed from; the same checksummed format as ``checkpoint.pt``).

``status.json`` says ``running``, ``interrupted``, ``finished`` or ``diverged``; the paper's seed
protocol reads it, so a diverged model is counted in the open rather than silently dropped.

Checkpoint file format (``CHECKPOINT_FORMAT`` = 2), written by :func:`save_checkpoint`, read by
:func:`load_checkpoint`: one torch file holding ``{"format": 2, "payload_sha256": HEX, "payload": uint8 tensor}``,
where ``payload`` is the ``torch.save`` bytes of the checkpoint itself (tensors, and plain values: the config
as a dict of primitives, RNG states as tensors) and ``payload_sha256`` their SHA-256. Both layers are loaded
with ``weights_only=True``, so a file holding any other Python object is refused without running it, and
a file whose payload fails its checksum is refused as corrupt, never trained on nor scored. Checkpoints of
the first format (no checksum, numpy's pickled RNG state) are refused the same way: retrain them.

``.lock`` is held with ``flock`` by the one process training the run (the kernel releases it when that
process dies, even by ``kill -9``); it names the holder (pid, host, since when) for the message another
process gets, and is emptied on a clean release, so a name left in it tells of a holder that died.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import io
import json
import math
import os
import pickle
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from betavae.config import CommonConfig, RunConfig
from betavae.errors import BetaVAEError
from betavae.io import (
    atomic_torch_save,
    atomic_write_json,
    atomic_write_text,
    notice,
    read_json,
    remove_temp_files,
)
from betavae.models.registry import build_model
from betavae.settings import flag_of, leaves, resumable_paths

FINISHED, DIVERGED, RUNNING, INTERRUPTED = "finished", "diverged", "running", "interrupted"
# What only the process training a run writes (holding its lock); eval.json has its own lock.
RUN_FILES = ("config.json", "provenance.json", "checkpoint.pt", "log.jsonl", "status.json")
STATES = (FINISHED, DIVERGED, RUNNING, INTERRUPTED)
CHECKPOINT_FORMAT = 2

# What a resume may change: settings that alter no number the run computes (a resumed run is bit-identical
# whatever they are; the device's kind is checked against the checkpoint's separately). ``train.steps`` may
# grow too: that extends the run.
RESUME_SETTINGS = resumable_paths(CommonConfig)  # declared on the fields: settings.field(..., resume=True)


class RunDir:
    def __init__(self, path: str | Path):
        self.path = Path(path)

    config_path = property(lambda self: self.path / "config.json")
    provenance_path = property(lambda self: self.path / "provenance.json")
    checkpoint_path = property(lambda self: self.path / "checkpoint.pt")
    log_path = property(lambda self: self.path / "log.jsonl")
    damaged_log_path = property(lambda self: self.path / "log.jsonl.damaged")
    status_path = property(lambda self: self.path / "status.json")
    eval_path = property(lambda self: self.path / "eval.json")
    lock_path = property(lambda self: self.path / ".lock")
    figures_dir = property(lambda self: self.path / "figures")
    kept_dir = property(lambda self: self.path / "checkpoints")

    def kept_checkpoint_path(self, step: int) -> Path:
        return self.kept_dir / f"step_{step:07d}.pt"

    def kept_steps(self) -> list[int]:
        """The steps whose weights this run kept (``train.keep_steps`` reached so far), in order."""
        return sorted(int(path.stem.removeprefix("step_")) for path in self.kept_dir.glob("step_*.pt"))

    def exists(self) -> bool:
        return self.config_path.exists()

    def foreign_files(self) -> list[str]:
        """What this folder holds that no betavae run wrote, when it has no config.json (a run writes that first):
        every entry but the lock and temporary files of betavae's own writes."""
        if self.exists() or not self.path.is_dir():
            return []
        return sorted(entry.name for entry in self.path.iterdir()
                      if entry.name != self.lock_path.name and not entry.name.endswith(".tmp"))

    def missing_checkpoint(self) -> str | None:
        """What is wrong with checkpoint.pt when a run that has trained (a log, a status past step 0, kept weights)
        lacks it — "is missing", "is a symbolic link that leads nowhere" — else None."""
        if self.checkpoint_path.exists():
            return None
        if self.checkpoint_path.is_symlink():
            return "is a symbolic link that leads nowhere (to a missing file, or round in a loop)"
        trained = (self.log_path.exists() or self.kept_steps()
                   or self.status_path.exists() and self.status().get("step", 0) > 0)
        return "is missing" if trained else None

    # --- status.json and log.jsonl ---------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        if not self.status_path.exists():
            return {"state": None}
        status = read_json(self.status_path)
        if not _valid_status(status):
            raise BetaVAEError(f"{self.status_path} is damaged (it holds {json.dumps(status)[:60]}); delete it and "
                               f"run `betavae train --resume --out {self.path}` to rebuild it from the checkpoint")
        return status

    @property
    def state(self) -> str | None:
        return self.status().get("state")

    def set_status(self, state: str, **info: Any) -> None:
        atomic_write_json(self.status_path, {"state": state, **info})

    def log(self) -> list[dict[str, Any]]:
        """The records of log.jsonl, oldest first (damaged lines, e.g. one cut short by a kill, are skipped)."""
        return self._read_log()[0]

    def _read_log(self) -> tuple[list[dict[str, Any]], list[bytes]]:
        """(records, damaged lines): a line is damaged unless it is a JSON object with an integer step."""
        if not self.log_path.exists():
            return [], []
        records, damaged = [], []
        for line in self.log_path.read_bytes().splitlines(keepends=True):
            if not line.strip():
                continue
            try:
                record = json.loads(line)  # bytes that are not UTF-8 raise UnicodeDecodeError, a ValueError
            except ValueError:
                record = None
            if isinstance(record, dict) and _is_count(record.get("step")):
                records.append(record)
            else:
                damaged.append(line if line.endswith(b"\n") else line + b"\n")
        return records, damaged

    def truncate_log(self, step: int) -> None:
        """Drop log lines written after the checkpoint of ``step`` (a killed run may have logged past it);
        damaged lines are appended to log.jsonl.damaged, and the user is told."""
        records, damaged = self._read_log()
        if damaged:
            with open(self.damaged_log_path, "ab") as handle:
                handle.writelines(damaged)
            notice(f"{len(damaged)} damaged line(s) of {self.log_path} moved to {self.damaged_log_path}")
        if records or damaged:
            kept = [record for record in records if record["step"] <= step]
            atomic_write_text(self.log_path, "".join(json.dumps(record) + "\n" for record in kept))

    # --- config.json -------------------------------------------------------------------------------------------

    def config(self) -> RunConfig:
        if not self.config_path.exists():
            raise BetaVAEError(f"{self.path} is not a run directory (no config.json); train one with "
                               "`betavae train --out DIR`")
        values = read_json(self.config_path, "config file")
        try:
            return RunConfig.from_dict(values).validate()
        except BetaVAEError as error:
            raise BetaVAEError(f"{self.config_path} is not a betavae run's config ({error}); if betavae did not write "
                               "it, train into another --out") from None

    def threads_recorded(self) -> bool:
        """Whether config.json names the torch threads the run trains with (betavae before 0.2 did not)."""
        try:
            saved = json.loads(self.config_path.read_text())
        except (OSError, ValueError):
            return True  # unreadable: config() says what is wrong with it
        return not isinstance(saved, dict) or not isinstance(saved.get("train"), dict) or "threads" in saved["train"]

    def finished(self, steps: int) -> bool:
        """Whether this run finished at least ``steps`` steps (status.json is written after the last checkpoint)."""
        status = self.status()
        return status.get("state") == FINISHED and status.get("step", 0) >= steps

    def check_same_run(self, config: RunConfig) -> None:
        """Refuse a resolved ``config`` that differs from the saved one in more than a resume may change."""
        self.resumed_config(flat_config(config))

    def resumed_config(self, changes: dict[str, Any]) -> RunConfig:
        """The saved config with ``changes`` ("section.field": value, e.g. the flags a user gave, or a whole
        resolved config) applied; see :func:`resume_config`."""
        if not self.exists():
            raise BetaVAEError(f"nothing to resume in {self.path} (no config.json); drop --resume to start a run")
        return resume_config(self.config(), changes, self.path)

    def check_checkpoint(self, state: dict[str, Any], config: RunConfig, path: Path | None = None) -> None:
        """Refuse a checkpoint (at ``path``, default checkpoint.pt) trained under another config than ``config``
        (what a resume may change aside)."""
        path = path or self.checkpoint_path
        refused = _refused_changes(flat_config(checkpoint_config(state, path)), flat_config(config))
        if refused:
            raise BetaVAEError(f"{path} belongs to another run than {self.config_path.name} describes"
                               f" ({refused}); put back that run's config.json or checkpoint, or train a new --out")

    # --- checkpoint.pt -----------------------------------------------------------------------------------------

    def save_checkpoint(self, state: dict[str, Any]) -> None:
        save_checkpoint(self.checkpoint_path, state)

    def require_kept(self, step: int) -> None:
        if not self.kept_checkpoint_path(step).exists():
            raise BetaVAEError(f"{self.path} kept no weights of step {step} (kept: {self.kept_steps() or 'none'}); "
                               "train with --keep-steps to keep them")

    def keep_checkpoint(self, state: dict[str, Any]) -> None:
        """Keep the step, config and weights of a checkpoint ``state`` as checkpoints/step_NNNNNNN.pt."""
        save_checkpoint(self.kept_checkpoint_path(state["step"]),
                        {key: state[key] for key in ("step", "config", "model")})

    def load_checkpoint(self, device: torch.device | str = "cpu", step: int | None = None,
                        config: RunConfig | None = None) -> dict[str, Any]:
        """The latest checkpoint, or with ``step`` the weights kept at that step, checked to hold what a betavae
        checkpoint holds (and, given the run's ``config``, to belong to it)."""
        if step is not None:
            self.require_kept(step)
        path = self.checkpoint_path if step is None else self.kept_checkpoint_path(step)
        missing = self.missing_checkpoint() if step is None else None
        if missing:
            raise BetaVAEError(f"{path} {missing}; put the run's checkpoint back (or `betavae train --restart --out "
                               f"{self.path}` to train it again from step 0)")
        if not path.exists():
            raise BetaVAEError(f"{self.path} has no checkpoint.pt yet; train it first (or --resume it)")
        version = _file_version(path)
        state = load_checkpoint(path, device)
        check_structure(state, path, resumable=step is None)
        if config is not None:
            self.check_checkpoint(state, config, path)
        _CHECKPOINT_STEPS[version] = state["step"]
        return state

    def checkpoint_step(self) -> int:
        """The step of checkpoint.pt: how far the run has really trained, whatever status.json says (read once per
        version of the file in a process)."""
        version = _file_version(self.checkpoint_path) if self.checkpoint_path.exists() else None
        if version not in _CHECKPOINT_STEPS:
            return self.load_checkpoint()["step"]
        return _CHECKPOINT_STEPS[version]

    def remove_stale_temp_files(self) -> None:
        """Delete the temporary files of writes that a kill interrupted (call only holding the lock)."""
        for name in (*RUN_FILES, "checkpoints/step_*.pt"):
            remove_temp_files(self.path / name)

    def set_status_from_checkpoint(self, step: int, steps: int) -> None:
        """Correct a status.json that claims more than checkpoint.pt (at ``step``, of a run of ``steps``) holds: the
        checkpoint is the truth."""
        status = self.status()
        if status.get("state") in (FINISHED, INTERRUPTED, RUNNING) and status.get("step", 0) != step:
            state = FINISHED if step >= steps else INTERRUPTED
            notice(f"{self.status_path} said {status.get('state')} at step {status.get('step', 0)} but "
                   f"{self.checkpoint_path.name} holds step {step}; the checkpoint is the truth: {state} at step "
                   f"{step}")
            self.set_status(state, step=step, steps=steps)

    # --- .lock -------------------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold this run directory exclusively; a second holder gets one error naming the first."""
        self.path.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as error:
                if error.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                raise BetaVAEError(f"{self.path} is being trained by another process ({_holder(fd)}); wait for it "
                                   "to end (or stop it), or train into another --out") from None
            left_behind = _holder(fd)
            if left_behind != "holder unknown":
                notice(f"took over the lock of {self.path} from {left_behind}, which ended without releasing it")
            holder = {"pid": os.getpid(), "host": socket.gethostname(),
                      "since": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(holder).encode(), 0)
            try:
                yield
            finally:
                with contextlib.suppress(OSError):  # e.g. a disk turned read-only: the error that says so goes on
                    os.ftruncate(fd, 0)  # released cleanly: nothing left for the next holder to report
        finally:
            os.close(fd)  # closing releases the flock


_CHECKPOINT_STEPS: dict[tuple, int] = {}  # (path, inode, size, mtime) of a checkpoint read in this process → step


def _file_version(path: Path) -> tuple:
    stat = path.stat()
    return str(path.resolve()), stat.st_ino, stat.st_size, stat.st_mtime_ns


def _holder(fd: int) -> str:
    try:
        holder = json.loads(os.pread(fd, 4096, 0))
        return f"pid {holder['pid']} on host {holder['host']}, since {holder['since']}"
    except (OSError, ValueError, TypeError, KeyError):
        return "holder unknown"


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _valid_status(status: Any) -> bool:
    return (isinstance(status, dict) and status.get("state") in (None, *STATES)
            and all(_is_count(status[key]) for key in ("step", "steps", "last_good_checkpoint_step") if key in status))


# --- resuming: which changes a saved run accepts ----------------------------------------------------------------

def flat_config(config: RunConfig) -> dict[str, Any]:
    """``{"section.field": value}`` for every field of ``config`` (``model_type`` has no section)."""
    flat = {}
    for name, value in config.to_dict().items():
        if isinstance(value, dict):
            flat.update({f"{name}.{field}": item for field, item in value.items()})
        else:
            flat[name] = value
    return flat


def resume_config(saved: RunConfig, changes: dict[str, Any], where: str | Path) -> RunConfig:
    """``saved`` with ``changes`` applied, for a resume: settings that change no number (``RESUME_SETTINGS``)
    and ``train.steps`` are taken; any other field that differs is refused, naming it and both values."""
    values = flat_config(saved)
    refused = _refused_changes(values, changes)
    if refused:
        free = ", ".join(flag_of(leaf, by_name=True) for leaf in leaves(CommonConfig) if leaf.resume)
        raise BetaVAEError(f"{where} holds a different run: {refused}; a resume may change only --steps (to extend "
                           f"the run) and settings that change no number ({free}); drop that option to continue the "
                           "run, or train into another --out")
    values.update(changes)
    sections: dict[str, Any] = {}
    for name, value in values.items():
        section, _, field = name.rpartition(".")
        if section:
            sections.setdefault(section, {})[field] = value
        else:
            sections[name] = value
    return RunConfig.from_dict(sections).validate()


def _refused_changes(values: dict[str, Any], changes: dict[str, Any]) -> str:
    """The changes a resume may not make, as "its model.latents is 10, not 5" (empty if none)."""
    refused = [f"its {name} is {_show(values.get(name))}, not {_show(value)}" for name, value in changes.items()
               if name not in (*RESUME_SETTINGS, "train.steps") and not _same_value(values.get(name), value)]
    return ", ".join(refused)


def _same_value(first: Any, second: Any) -> bool:
    if isinstance(first, (list, tuple)) and isinstance(second, (list, tuple)):
        return list(first) == list(second)
    if isinstance(first, float) or isinstance(second, float):
        return (isinstance(first, (int, float)) and isinstance(second, (int, float))
                and math.isclose(first, second, rel_tol=1e-12, abs_tol=0.0))
    return first == second


def _show(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, tuple) else json.dumps(list(value))


# --- checkpoint files -------------------------------------------------------------------------------------------

def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Write ``state`` (tensors and plain values only) atomically, with the SHA-256 of its bytes (format 2)."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    payload = buffer.getbuffer()
    atomic_torch_save(path, {"format": CHECKPOINT_FORMAT, "payload_sha256": hashlib.sha256(payload).hexdigest(),
                             "payload": torch.frombuffer(payload, dtype=torch.uint8)}, size=len(payload) + 4096)


def load_checkpoint(path: str | Path, device: torch.device | str = "cpu") -> dict[str, Any]:
    """The state saved by :func:`save_checkpoint`; any file that is not one, intact, is refused unread."""
    path = Path(path)
    fix = CHECKPOINT_FIX
    if path.exists() and not path.is_file():  # a device such as /dev/zero, a pipe or a folder: never read
        raise BetaVAEError(f"checkpoint {path} is not a regular file (a folder, device or pipe); {fix}")
    try:
        envelope = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise BetaVAEError(f"checkpoint {path} does not exist; train the run first") from None
    except pickle.UnpicklingError:
        raise BetaVAEError(f"checkpoint {path} was refused: it holds Python objects other than tensors and plain "
                           "values (a checkpoint of an older betavae, or a crafted file) and was not unpickled; "
                           f"{fix}") from None
    except Exception as error:  # torch raises many types for a damaged file
        raise BetaVAEError(f"checkpoint {path} is corrupt (unreadable: {type(error).__name__}); {fix}") from None
    if not (isinstance(envelope, dict) and envelope.get("format") == CHECKPOINT_FORMAT
            and isinstance(envelope.get("payload"), torch.Tensor) and envelope["payload"].dtype == torch.uint8):
        raise BetaVAEError(f"checkpoint {path} is not a betavae checkpoint of format {CHECKPOINT_FORMAT} (it has no "
                           f"checksum, e.g. written by an older betavae); {fix}")
    payload = envelope["payload"].numpy()
    if hashlib.sha256(payload).hexdigest() != envelope.get("payload_sha256"):
        raise BetaVAEError(f"checkpoint {path} is corrupt (checksum mismatch); {fix}")
    try:
        return torch.load(io.BytesIO(payload.tobytes()), map_location=device, weights_only=True)
    except Exception as error:
        raise BetaVAEError(f"checkpoint {path} is corrupt (its payload is unreadable: {type(error).__name__}); "
                           f"{fix}") from None


CHECKPOINT_FIX = "restore it from a backup, or delete it and train the run again"


def unusable(path: Path, problem: str) -> BetaVAEError:
    """The error for a checkpoint whose bytes are intact but whose inside is not a betavae checkpoint's."""
    return BetaVAEError(f"checkpoint {path} is not usable: {problem} (its checksum holds, so the file was written so, "
                        f"not damaged on disk); {CHECKPOINT_FIX}")


def check_structure(state: Any, path: Path, resumable: bool = True) -> None:
    """Refuse a loaded checkpoint that lacks what betavae reads from one: ``step``, ``config``, ``model`` (and, for
    ``resumable`` ones, i.e. checkpoint.pt, ``optimizers`` and ``rng``), each of the right type."""
    if not isinstance(state, dict):
        raise unusable(path, f"it holds a {type(state).__name__}, not a dict of step, config and weights")
    required = ("step", "config", "model", *(("optimizers", "rng") if resumable else ()))
    missing = [key for key in required if key not in state]
    if missing:
        raise unusable(path, f"it has no {', '.join(map(repr, missing))}")
    checks = [(_is_count(state["step"]), f"its step is {state['step']!r}, not a step number >= 0"),
              (isinstance(state["config"], dict), "its config is not a JSON object"),
              (_is_tensor_dict(state["model"]), "its model is not a dict of named tensors")]
    if resumable:
        rng = state["rng"]
        checks += [(isinstance(state["optimizers"], dict)
                    and all(isinstance(value, dict) for value in state["optimizers"].values()),
                    "its optimizers are not a dict of optimizer states"),
                   (isinstance(rng, dict) and all(isinstance(rng.get(name), torch.Tensor)
                                                  and rng[name].dtype == torch.uint8 for name in ("batches", "noise")),
                    "its random-number states (rng.batches, rng.noise) are not byte tensors"),
                   (isinstance(state.get("device", ""), str), "its device is not a name")]
    for fine, problem in checks:
        if not fine:
            raise unusable(path, problem)


def _is_tensor_dict(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(key, str) and isinstance(item, torch.Tensor)
                                           for key, item in value.items())


def checkpoint_config(state: dict[str, Any], path: Path) -> RunConfig:
    """The config a checkpoint was trained with (saved inside it; its steps reach the checkpoint's step)."""
    try:
        config = RunConfig.from_dict(state["config"]).validate()
    except BetaVAEError as error:
        raise unusable(path, f"the config saved inside it is invalid ({error})") from None
    if state["step"] > config.train.steps:
        raise unusable(path, f"its step {state['step']} lies beyond the {config.train.steps} steps of the config "
                             "saved inside it")
    return config


def load_weights(model: torch.nn.Module, state: dict[str, Any], path: Path) -> None:
    """``state``'s weights into ``model``; weights of other names or shapes make the checkpoint unusable."""
    try:
        model.load_state_dict(state["model"])
    except (RuntimeError, KeyError, ValueError) as error:
        raise unusable(path, f"its weights do not fit the model its config describes "
                             f"({str(error).splitlines()[0][:160]})") from None


def load_model(path: str | Path, device: torch.device | str = "cpu",
               step: int | None = None) -> tuple[RunConfig, torch.nn.Module]:
    """The trained model of a run directory (its latest checkpoint, or the weights kept at ``step``), in eval mode."""
    run = RunDir(path)
    config = run.config()
    state = run.load_checkpoint(device, step, config)
    model = build_model(config)
    load_weights(model, state, run.checkpoint_path if step is None else run.kept_checkpoint_path(step))
    return config, model.to(device).eval()
