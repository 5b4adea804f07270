"""DIP-VAE-I and DIP-VAE-II (Kumar et al. 2018, "Variational Inference of Disentangled Latent Concepts from
Unlabeled Observations"): the VAE plus a penalty that moves a covariance towards the identity (Eq. 6-7),

    loss = recon + KL + λ_od·Σ_{i≠j} C_ij² + λ_d·Σ_i (C_ii − 1)²

with C = Cov_p(x)[μ(x)] for DIP-VAE-I (Eq. 6) and C = Cov_q(z) = E_p(x)[diag σ²(x)] + Cov_p(x)[μ(x)] for
DIP-VAE-II (Eq. 7), both estimated on each batch (the batch covariance of μ, divided by the batch size).

Defaults: λ_od = 10 with λ_d = 10·λ_od (I) or λ_d = λ_od (II), the ratios Kumar et al. use and disentanglement_lib's
study keeps. Loss scaling as the β-VAE's (``config_common.py``); the KL's weight is 1. The network is
the VAE's for the dataset, so that only the objective differs; Adam 1e-4 (``specs/vae.py:SUCCESSOR_OPTIMIZER``).
Its section and spec: ``specs/dip_vae.py``.
"""

from __future__ import annotations

import torch

from betavae.config_common import CommonConfig
from betavae.models.specs.dip_vae import DIPVAEConfig
from betavae.models.training import make_optimizer, uniform_batch_indices, update
from betavae.models.vae import BetaVAE, objective, vae_terms


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
