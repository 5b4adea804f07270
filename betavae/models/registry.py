"""Model names → their :class:`ModelSpec`: one line per model. Nothing below this module imports it, and it loads no
torch until a run is built (the CLI and config loading read it)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from betavae.config_common import CommonConfig
from betavae.errors import BetaVAEError
from betavae.models.specs import beta_tcvae, dcign, dip_vae, factor_vae, infogan, vae
from betavae.models.specs.base import ModelSpec

if TYPE_CHECKING:
    import torch

    from betavae.models.training import TrainingTask

MODELS: dict[str, ModelSpec] = {spec.name: spec for spec in (
    vae.BETA_VAE,
    vae.VAE,
    infogan.MODEL,
    dcign.MODEL,
    factor_vae.MODEL,
    beta_tcvae.MODEL,
    dip_vae.DIP_VAE_1,
    dip_vae.DIP_VAE_2,
)}
MODEL_TYPES = tuple(MODELS)


def model_spec(name: str) -> ModelSpec:
    if name not in MODELS:
        raise BetaVAEError(f"unknown model {name!r}; choose one of: {', '.join(MODELS)}")
    return MODELS[name]


def prepare_config(config: CommonConfig, image_shape: tuple[int, int, int]) -> CommonConfig:
    """The model's own checks and defaults for a dataset of ``image_shape`` (β ↔ β_norm, the optimiser, …)."""
    config.validate()  # a RunConfig: also types the model's section
    model_spec(config.model_type).prepare(config, config.section, image_shape)
    return config


def divergence_hint(config: CommonConfig) -> str:
    """What to change when a run of ``config`` diverges: the knobs its objective actually has."""
    return model_spec(config.model_type).divergence_hint(config, config.section)


def build_task(config: CommonConfig, device: torch.device) -> TrainingTask:
    """The model's training task on ``device`` (imports its network module, and torch)."""
    return model_spec(config.model_type).task_class()(config, config.section, device)


def build_model(config: CommonConfig) -> torch.nn.Module:
    """The network of a saved run, on CPU, for loading its weights."""
    import torch

    return build_task(config, torch.device("cpu")).model
