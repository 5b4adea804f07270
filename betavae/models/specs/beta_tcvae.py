"""The ``beta-tcvae`` model (network and task: ``models/beta_tcvae.py``): its section (Chen et al. 2018) and how it
prepares a config."""

from __future__ import annotations

from dataclasses import dataclass

from betavae.config_common import CommonConfig, option
from betavae.models.specs.base import ModelSpec
from betavae.models.specs.vae import prepare_successor, sigma_hint

SAMPLINGS = ("mws", "mss")


@dataclass
class BetaTCVAEConfig:
    """Chen et al. (2018), Eq. 4: the weights of the KL's three parts, and how q(z) is estimated (App. C)."""

    # β = 6: among the values Chen et al. sweep on dSprites (1-10) and disentanglement_lib's study (1, 2, 4, 6, 8, 10)
    tc_weight: float = option(6.0, "β, the weight of the total correlation", minimum=0)
    mi_weight: float = option(1.0, "α, the weight of the index-code mutual information", minimum=0)
    dimension_kl_weight: float = option(1.0, "γ, the weight of the dimension-wise KL", minimum=0)
    sampling: str = option("mws", "estimator of log q(z): mws (minibatch-weighted) | mss (minibatch-stratified)",
                           choices=SAMPLINGS)


def prepare_beta_tcvae(config: CommonConfig, section: BetaTCVAEConfig, image_shape: tuple[int, int, int]) -> None:
    prepare_successor(config, "beta-tcvae", image_shape)


def divergence_hint(config: CommonConfig, section: BetaTCVAEConfig) -> str:
    return sigma_hint(config) or f"lower the lr (now {config.optim.lr:g}) or --tc-weight (now {section.tc_weight:g})"


MODEL = ModelSpec("beta-tcvae", "β-TCVAE (Chen et al. 2018): β on the total correlation, estimated on each batch",
                  "betavae.models.beta_tcvae:BetaTCVAETask", prepare_beta_tcvae,
                  lambda config, section: f"β-TCVAE β = {section.tc_weight:g}", divergence_hint, BetaTCVAEConfig,
                  "beta_tcvae")
