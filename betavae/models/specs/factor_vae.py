"""The ``factor-vae`` model (network and task: ``models/factor_vae.py``): its section (Kim & Mnih 2018) and how it
prepares a config."""

from __future__ import annotations

from dataclasses import dataclass

from betavae.config_common import CommonConfig, option
from betavae.models.specs.base import ModelSpec
from betavae.models.specs.vae import prepare_successor, sigma_hint


@dataclass
class FactorVAEConfig:
    """Kim & Mnih (2018): γ, and the total-correlation discriminator with its optimiser (App. A)."""

    gamma: float = option(40.0, "γ, the weight of the total correlation", minimum=0, flag="factor-gamma")
    discriminator_units: int = option(1000, "hidden units per layer of the TC discriminator", minimum=1)
    discriminator_layers: int = option(6, "hidden layers of the TC discriminator", minimum=1)
    discriminator_lr: float = option(1e-4, "Adam lr of the TC discriminator (β = 0.5, 0.9)", above=0)


def prepare_factor_vae(config: CommonConfig, section: FactorVAEConfig, image_shape: tuple[int, int, int]) -> None:
    prepare_successor(config, "factor-vae", image_shape)


def divergence_hint(config: CommonConfig, section: FactorVAEConfig) -> str:
    return sigma_hint(config) or (f"lower the lr (now {config.optim.lr:g}), --factor-gamma (now {section.gamma:g}) "
                                  f"or --discriminator-lr (now {section.discriminator_lr:g})")


MODEL = ModelSpec("factor-vae", "FactorVAE (Kim & Mnih 2018): γ on the total correlation, estimated by a "
                  "discriminator", "betavae.models.factor_vae:FactorVAETask", prepare_factor_vae,
                  lambda config, section: f"FactorVAE γ = {section.gamma:g}", divergence_hint, FactorVAEConfig,
                  "factor_vae")
