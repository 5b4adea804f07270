"""The ``dip-vae-1`` and ``dip-vae-2`` models (network and task: ``models/dip_vae.py``): their section (Kumar et al.
2018) and how they prepare a config."""

from __future__ import annotations

from dataclasses import dataclass

from betavae.config_common import CommonConfig, option
from betavae.models.specs.base import ModelSpec
from betavae.models.specs.vae import prepare_successor, sigma_hint

LAMBDA_D_FACTOR = {"dip-vae-1": 10.0, "dip-vae-2": 1.0}  # λ_d = factor·λ_od unless given


@dataclass
class DIPVAEConfig:
    """Kumar et al. (2018), Eq. 6-7: the weights of the covariance's off-diagonal and diagonal penalties."""

    lambda_od: float = option(10.0, "λ_od, weight of the off-diagonal covariance penalty", minimum=0)
    lambda_d: float | None = option(None, "λ_d, weight of the diagonal penalty (default 10·λ_od for dip-vae-1, "
                                          "λ_od for dip-vae-2)", minimum=0)


def prepare_dip_vae(config: CommonConfig, section: DIPVAEConfig, image_shape: tuple[int, int, int]) -> None:
    if section.lambda_d is None:
        section.lambda_d = LAMBDA_D_FACTOR[config.model_type] * section.lambda_od
    prepare_successor(config, config.model_type, image_shape)


def divergence_hint(config: CommonConfig, section: DIPVAEConfig) -> str:
    return sigma_hint(config) or (f"lower the lr (now {config.optim.lr:g}) or --lambda-od / --lambda-d (now "
                                  f"{section.lambda_od:g} / {section.lambda_d:g})")


def describe(config: CommonConfig, section: DIPVAEConfig) -> str:
    return f"{config.model_type.upper()} λ_od = {section.lambda_od:g}, λ_d = {section.lambda_d:g}"


TASK = "betavae.models.dip_vae:DIPVAETask"
DIP_VAE_1 = ModelSpec("dip-vae-1", "DIP-VAE-I (Kumar et al. 2018): Cov[μ(x)] pushed to the identity", TASK,
                      prepare_dip_vae, describe, divergence_hint, DIPVAEConfig, "dip_vae")
DIP_VAE_2 = ModelSpec("dip-vae-2", "DIP-VAE-II (Kumar et al. 2018): Cov_q(z) pushed to the identity", TASK,
                      prepare_dip_vae, describe, divergence_hint, DIPVAEConfig, "dip_vae")
