"""DIP-VAE-I and DIP-VAE-II (Kumar et al. 2018, "Variational Inference of Disentangled Latent Concepts from
Unlabeled Observations"): the VAE plus a penalty that moves a covariance towards the identity (Eq. 6-7),

    loss = recon + KL + λ_od·Σ_{i≠j} C_ij² + λ_d·Σ_i (C_ii − 1)²

with C = Cov_p(x)[μ(x)] for DIP-VAE-I (Eq. 6) and C = Cov_q(z) = E_p(x)[diag σ²(x)] + Cov_p(x)[μ(x)] for
DIP-VAE-II (Eq. 7), both estimated on each batch (the batch covariance of μ, divided by the batch size).

Defaults: λ_od = 10 with λ_d = 10·λ_od (I) or λ_d = λ_od (II), the ratios Kumar et al. use and disentanglement_lib's
study keeps. Loss scaling as the β-VAE's (``config_common.py``); the KL's weight is 1. The network is
the VAE's for the dataset, so that only the objective differs; Adam 1e-4 (``vae.SUCCESSOR_OPTIMIZER``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from betavae.config_common import CommonConfig, option
from betavae.models.training import ModelSpec, make_optimizer, uniform_batch_indices, update
from betavae.models.vae import BetaVAE, objective, prepare_successor, sigma_hint, vae_terms

LAMBDA_D_FACTOR = {"dip-vae-1": 10.0, "dip-vae-2": 1.0}  # λ_d = factor·λ_od unless given


@dataclass
class DIPVAEConfig:
    """Kumar et al. (2018), Eq. 6-7: the weights of the covariance's off-diagonal and diagonal penalties."""

    lambda_od: float = option(10.0, "λ_od, weight of the off-diagonal covariance penalty", minimum=0)
    lambda_d: float | None = option(None, "λ_d, weight of the diagonal penalty (default 10·λ_od for dip-vae-1, "
                                          "λ_od for dip-vae-2)", minimum=0)


def batch_covariance(values: torch.Tensor) -> torch.Tensor:
    """[K, K]: E[v vᵀ] − E[v] E[v]ᵀ over the batch."""
    centred = values - values.mean(0, keepdim=True)
    return centred.T @ centred / len(values)


def dip_covariance(mean: torch.Tensor, logvar: torch.Tensor, kind: str) -> torch.Tensor:
    """Cov[μ(x)] (DIP-VAE-I, Eq. 6) or Cov_q(z) = E[diag σ²(x)] + Cov[μ(x)] (DIP-VAE-II, Eq. 7)."""
    covariance = batch_covariance(mean)
    if kind == "dip-vae-2":
        covariance = covariance + torch.diag(logvar.exp().mean(0))
    return covariance


def dip_penalty(covariance: torch.Tensor, lambda_od: float, lambda_d: float) -> torch.Tensor:
    """λ_od·Σ_{i≠j} C_ij² + λ_d·Σ_i (C_ii − 1)²: 0 exactly at C = I."""
    diagonal = torch.diagonal(covariance)
    off_diagonal = covariance - torch.diag(diagonal)
    return lambda_od * off_diagonal.pow(2).sum() + lambda_d * (diagonal - 1).pow(2).sum()


class DIPVAETask:
    """One step on recon + KL + the DIP penalty of the batch's covariance."""

    batch_indices = staticmethod(uniform_batch_indices)

    def __init__(self, config: CommonConfig, section: DIPVAEConfig, device: torch.device):
        self.config, self.section, self.kind = config, section, config.model_type
        self.model = BetaVAE(config.model).to(device)
        self.optimizers = {"model": make_optimizer(config.optim.name, self.model.parameters(), config.optim.lr,
                                                   device)}

    def step(self, batch: torch.Tensor, step: int, noise: torch.Generator) -> dict[str, torch.Tensor]:
        forward = self.model(batch, noise)
        terms = objective(forward, batch, self.config.model, self.config.objective, step)
        penalty = dip_penalty(dip_covariance(forward.mean, forward.logvar, self.kind), self.section.lambda_od,
                              self.section.lambda_d)
        loss = terms.loss + penalty
        update(self.optimizers["model"], loss)
        return {**vae_terms(terms), "loss": loss, "dip_penalty": penalty}


def prepare_dip_vae(config: CommonConfig, section: DIPVAEConfig, image_shape: tuple[int, int, int]) -> None:
    if section.lambda_d is None:
        section.lambda_d = LAMBDA_D_FACTOR[config.model_type] * section.lambda_od
    prepare_successor(config, config.model_type, image_shape)


def divergence_hint(config: CommonConfig, section: DIPVAEConfig) -> str:
    return sigma_hint(config) or (f"lower the lr (now {config.optim.lr:g}) or --lambda-od / --lambda-d (now "
                                  f"{section.lambda_od:g} / {section.lambda_d:g})")


def describe(config: CommonConfig, section: DIPVAEConfig) -> str:
    return f"{config.model_type.upper()} λ_od = {section.lambda_od:g}, λ_d = {section.lambda_d:g}"


DIP_VAE_1 = ModelSpec("dip-vae-1", "DIP-VAE-I (Kumar et al. 2018): Cov[μ(x)] pushed to the identity", DIPVAETask,
                      prepare_dip_vae, describe, divergence_hint, DIPVAEConfig, "dip_vae")
DIP_VAE_2 = ModelSpec("dip-vae-2", "DIP-VAE-II (Kumar et al. 2018): Cov_q(z) pushed to the identity", DIPVAETask,
                      prepare_dip_vae, describe, divergence_hint, DIPVAEConfig, "dip_vae")
