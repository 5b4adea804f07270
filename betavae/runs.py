"""A run directory: ``config.json``, ``provenance.json`` (versions, git commit, data), ``checkpoint.pt``,
``log.jsonl``, ``status.json``, ``figures/``, ``eval.json``, and ``checkpoints/step_NNNNNNN.pt``: the weights
of the steps named in ``train.keep_steps`` (model only, for training curves; never resumed from).

``status.json`` says ``running``, ``interrupted``, ``finished`` or ``diverged``; the paper's seed
protocol reads it, so a diverged model is counted in the open rather than silently dropped.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from betavae.config import RunConfig
from betavae.errors import BetaVAEError
from betavae.io import atomic_torch_save, atomic_write_json, read_json

FINISHED, DIVERGED, RUNNING, INTERRUPTED = "finished", "diverged", "running", "interrupted"


class RunDir:
    def __init__(self, path: str | Path):
        self.path = Path(path)

    config_path = property(lambda self: self.path / "config.json")
    provenance_path = property(lambda self: self.path / "provenance.json")
    checkpoint_path = property(lambda self: self.path / "checkpoint.pt")
    log_path = property(lambda self: self.path / "log.jsonl")
    status_path = property(lambda self: self.path / "status.json")
    eval_path = property(lambda self: self.path / "eval.json")
    figures_dir = property(lambda self: self.path / "figures")
    kept_dir = property(lambda self: self.path / "checkpoints")

    def kept_checkpoint_path(self, step: int) -> Path:
        return self.kept_dir / f"step_{step:07d}.pt"

    def kept_steps(self) -> list[int]:
        """The steps whose weights this run kept (``train.keep_steps`` reached so far), in order."""
        return sorted(int(path.stem.removeprefix("step_")) for path in self.kept_dir.glob("step_*.pt"))

    def exists(self) -> bool:
        return self.config_path.exists()

    def status(self) -> dict[str, Any]:
        return read_json(self.status_path) if self.status_path.exists() else {"state": None}

    @property
    def state(self) -> str | None:
        return self.status().get("state")

    def log(self) -> list[dict[str, Any]]:
        """The records of log.jsonl, oldest first (a line cut short by a kill is skipped)."""
        if not self.log_path.exists():
            return []
        records = []
        for line in self.log_path.read_text().splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return records

    def finished(self, steps: int) -> bool:
        """Whether this run finished at least ``steps`` steps (status.json is written after the last checkpoint)."""
        status = self.status()
        return status.get("state") == FINISHED and int(status.get("step") or 0) >= steps

    def set_status(self, state: str, **info: Any) -> None:
        atomic_write_json(self.status_path, {"state": state, **info})

    def config(self) -> RunConfig:
        if not self.config_path.exists():
            raise BetaVAEError(f"{self.path} is not a run directory (no config.json); train one with "
                               "`betavae train --out DIR`")
        return RunConfig.load(self.config_path)

    def check_same_run(self, config: RunConfig) -> None:
        """Refuse a resolved ``config`` that differs from the saved one in anything but length or device."""
        if not same_run(self.config(), config):
            raise BetaVAEError(f"{self.path} holds a different run (config differs); choose another --out, "
                               "or delete that directory yourself")

    def save_checkpoint(self, state: dict[str, Any]) -> None:
        atomic_torch_save(self.checkpoint_path, state)

    def require_kept(self, step: int) -> None:
        if not self.kept_checkpoint_path(step).exists():
            raise BetaVAEError(f"{self.path} kept no weights of step {step} (kept: {self.kept_steps() or 'none'}); "
                               "train with --keep-steps to keep them")

    def keep_checkpoint(self, step: int, model_state: dict[str, Any]) -> None:
        atomic_torch_save(self.kept_checkpoint_path(step), {"step": step, "model": model_state})

    def load_checkpoint(self, device: torch.device | str = "cpu", step: int | None = None) -> dict[str, Any]:
        """The latest checkpoint, or with ``step`` the weights kept at that step."""
        if step is not None:
            self.require_kept(step)
        path = self.checkpoint_path if step is None else self.kept_checkpoint_path(step)
        if not path.exists():
            raise BetaVAEError(f"{self.path} has no checkpoint.pt yet; train it first (or --resume it)")
        try:
            return torch.load(path, map_location=device, weights_only=False)
        except Exception as exc:  # torch raises many types for a damaged file
            raise BetaVAEError(f"checkpoint {path} is unreadable ({type(exc).__name__}); "
                               "delete it and retrain, or restore it from a backup") from None


def same_run(first: RunConfig, second: RunConfig) -> bool:
    """Whether two resolved configs describe the same run (they may differ in length, device, TensorBoard)."""
    return _identity(first) == _identity(second)


def _identity(config: RunConfig) -> dict:
    """What makes two configs the same run: everything but its length, device and TensorBoard switch."""
    values = config.to_dict()
    values["train"] = {k: v for k, v in values["train"].items()
                       if k not in ("steps", "device", "tensorboard", "keep_steps")}
    return values


def load_model(path: str | Path, device: torch.device | str = "cpu",
               step: int | None = None) -> tuple[RunConfig, torch.nn.Module]:
    """The trained model of a run directory (its latest checkpoint, or the weights kept at ``step``), in eval mode."""
    from betavae.models.registry import build_model

    run = RunDir(path)
    config = run.config()
    model = build_model(config)
    model.load_state_dict(run.load_checkpoint(device, step)["model"])
    return config, model.to(device).eval()
