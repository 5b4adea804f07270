"""Model-type names → the network and the training step that the one loop in ``train.py`` drives."""

from __future__ import annotations

from typing import Protocol

import torch

from betavae.config import RunConfig
from betavae.data.ground_truth import ImageDataset
from betavae.errors import BetaVAEError
from betavae.models.vae import BetaVAE, objective

MODEL_TYPES = ("beta-vae", "vae", "infogan", "dcign")


class TrainingTask(Protocol):
    """One optimisation step of a model, and everything a checkpoint must hold to resume it exactly."""

    model: torch.nn.Module
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


def uniform_batch_indices(data: ImageDataset, batch_size: int, generator: torch.Generator) -> torch.Tensor:
    return torch.randint(data.num_images, (batch_size,), generator=generator)


class BetaVAETask:
    """Minimise recon + β·KL (Eq. 4) or the capacity objective with one optimiser."""

    batch_indices = staticmethod(uniform_batch_indices)

    def __init__(self, config: RunConfig, device: torch.device):
        self.config = config
        self.model = BetaVAE(config.model).to(device)
        self.optimizers = {"model": make_optimizer(config.optim.name, self.model.parameters(), config.optim.lr,
                                                   device)}

    def step(self, batch: torch.Tensor, step: int, noise: torch.Generator) -> dict[str, torch.Tensor]:
        optimizer = self.optimizers["model"]
        terms = objective(self.model(batch, noise), batch, self.config.model, self.config.objective, step)
        check_loss(terms.loss)
        optimizer.zero_grad(set_to_none=False)  # keep gradient buffers: re-allocating them page-faults
        terms.loss.backward()
        optimizer.step()
        return {"loss": terms.loss, "reconstruction": terms.reconstruction, "kl": terms.kl,
                "kl_per_latent": terms.kl_per_latent}


def divergence_hint(config: RunConfig) -> str:
    """What to change when a run of ``config`` diverges: the knobs its objective actually has."""
    if config.model_type == "infogan":
        return "lower --lr-discriminator / --lr-generator or raise --instance-noise"
    if config.objective.kind == "capacity":
        return f"lower the lr (now {config.optim.lr:g}) or γ (now {config.objective.gamma:g})"
    return f"lower the lr (now {config.optim.lr:g}) or β (now {config.objective.beta:g})"


def prepare_config(config: RunConfig, image_shape: tuple[int, int, int]) -> RunConfig:
    """Model-type specific defaults and checks, then resolve the dataset defaults, β ↔ β_norm, the optimiser."""
    if config.model_type not in MODEL_TYPES:
        raise BetaVAEError(f"unknown model {config.model_type!r}; choose one of: {', '.join(MODEL_TYPES)}")
    if config.model_type == "infogan":
        from betavae.models.infogan import prepare_infogan_config

        return prepare_infogan_config(config, image_shape)
    if config.model_type in ("vae", "dcign"):
        beta, beta_norm = config.objective.beta, config.objective.beta_norm
        if beta not in (None, 1.0) or (beta is None and beta_norm is not None):  # a saved config holds both
            raise BetaVAEError(f"--model {config.model_type} means β = 1; drop --beta/--beta-norm "
                               "or use --model beta-vae")
        config.objective.beta, config.objective.kind = 1.0, "beta"
    if config.model_type == "dcign":
        from betavae.models.dcign import prepare_dcign_config

        prepare_dcign_config(config)
    return config.resolve(image_shape)


def build_task(config: RunConfig, device: torch.device) -> TrainingTask:
    if config.model_type == "infogan":
        from betavae.models.infogan import InfoGANTask

        return InfoGANTask(config, device)
    if config.model_type == "dcign":
        from betavae.models.dcign import DCIGNTask

        return DCIGNTask(config, device)
    return BetaVAETask(config, device)


def build_model(config: RunConfig) -> torch.nn.Module:
    """The network of a saved run, on CPU, for loading its weights."""
    return build_task(config, torch.device("cpu")).model
