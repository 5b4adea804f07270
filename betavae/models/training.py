"""What every model's network file shares: the training-task contract and the step's helpers (its spec, which
names the task, is in ``specs/base.py``).

A model file imports from here (and from ``vae.py`` for the VAE family), never from ``registry.py``.
"""

from __future__ import annotations

from typing import Protocol

import torch

from betavae.data.ground_truth import ImageDataset


class TrainingTask(Protocol):
    """One optimisation step of a model, and everything a checkpoint must hold to resume it exactly."""

    model: torch.nn.Module  # everything with weights, checkpointed whole (a FactorVAE's discriminator too)
    optimizers: dict[str, torch.optim.Optimizer]

    def batch_indices(self, data: ImageDataset, batch_size: int, generator: torch.Generator) -> torch.Tensor:
        """Which images form the next batch (CPU LongTensor); most tasks draw uniformly at random."""
        ...

    def step(self, batch: torch.Tensor, step: int, noise: torch.Generator) -> dict[str, torch.Tensor]:
        """Update the model on ``batch``; return scalar tensors to log ('loss' first).

        Must raise :class:`DivergedLoss` (see :func:`check_loss`) *before* updating any parameter.
        """
        ...


# A loss per image beyond which a run has diverged although float32 still holds the number. Measured: the paper's
# 2D-shapes MLP with Adagrad spikes to ~1e12 nats at its first update (every weight moves by the full lr) and
# recovers within a few steps (smoke β-ε sweep, β = 16); a run at β = 41 that never recovered reached a KL of 1e32.
# 1e20 sits between: a KL of 1e20 means latent means of ~1e10, which steps of lr ≈ 1e-2 cannot bring back.
ABSURD_LOSS = 1e20


class DivergedLoss(Exception):
    def __init__(self, value: float):
        super().__init__(f"loss is {value}")
        self.value = value


def check_loss(loss: torch.Tensor) -> None:
    """Raise :class:`DivergedLoss` if ``loss`` is NaN, infinite or absurdly large (``ABSURD_LOSS``)."""
    if not loss.detach().abs() <= ABSURD_LOSS:  # NaN fails every comparison
        raise DivergedLoss(float(loss.detach()))


def make_optimizer(name: str, parameters, lr: float, device: torch.device) -> torch.optim.Optimizer:
    """Adagrad (2D shapes) or Adam (conv nets), Table 1; fused kernels where torch has them (a 1.8× step here)."""
    cls = {"adagrad": torch.optim.Adagrad, "adam": torch.optim.Adam}[name]
    try:
        return cls(parameters, lr=lr, fused=True)
    except (RuntimeError, TypeError, ValueError):
        return cls(parameters, lr=lr)


def update(optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> None:
    """One step on ``loss``; non-finite losses raise before any parameter of this optimiser moves."""
    check_loss(loss)
    optimizer.zero_grad(set_to_none=False)  # keep gradient buffers: re-allocating them page-faults
    loss.backward()
    optimizer.step()


def uniform_batch_indices(data: ImageDataset, batch_size: int, generator: torch.Generator) -> torch.Tensor:
    return torch.randint(data.num_images, (batch_size,), generator=generator)
