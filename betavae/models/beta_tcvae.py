"""β-TCVAE (Chen et al. 2018, "Isolating Sources of Disentanglement in Variational Autoencoders").

The ELBO's KL, averaged over the data, splits into index-code mutual information, total correlation and
dimension-wise KL (Eq. 2); β-TCVAE weighs them separately (Eq. 4, α = γ = 1 in the paper):

    loss = recon + α·I_q(z; n) + β·TC(q(z)) + γ·Σ_k KL(q(z_k) || p(z_k))

The terms need the aggregate posterior q(z) = (1/N)·Σ_n q(z|n) and its marginals q(z_k), estimated on each
minibatch of M images (App. C) from the M×M table of log q(z_i|n_j):
- minibatch-weighted sampling (MWS, App. C.1, the default of Chen et al.'s code):
  log q(z_i) ≈ log Σ_j q(z_i|n_j) − log(N·M). Its three terms are offset by constants (MI by +log N, TC by
  (K−1)·log N, the dimension-wise KL by −K·log N for K latents) that cancel in their sum and move no gradient;
- minibatch-stratified sampling (MSS, App. C.2): importance weights 1/N on the image's own posterior and
  ≈ 1/(M−1) on the others'; no such offset.
Both need N, the size of the training set: the task takes it from the data it draws its batches from.

Loss scaling as the β-VAE's (``config_common.py``): reconstruction summed over pixels, each term summed over
latent units, everything averaged over the batch; β = α = γ = 1 is the VAE with its KL estimated by sampling.
Network as the VAE's for the dataset, so that only the objective differs; Adam 1e-4
(``specs/vae.py:SUCCESSOR_OPTIMIZER``). Its section and spec: ``specs/beta_tcvae.py``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from betavae.config_common import CommonConfig
from betavae.data.ground_truth import ImageDataset
from betavae.errors import BetaVAEError
from betavae.models.specs.beta_tcvae import BetaTCVAEConfig
from betavae.models.training import make_optimizer, uniform_batch_indices, update
from betavae.models.vae import BetaVAE, Forward, objective, vae_terms


def log_normal(z: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; μ, σ²) elementwise; standardised before squaring, so a tiny σ gives a finite value, not 0·∞."""
    return -0.5 * (math.log(2 * math.pi) + logvar + ((z - mean) * torch.exp(-0.5 * logvar)).pow(2))


def log_importance_weights(batch_size: int, dataset_size: int, sampling: str) -> torch.Tensor:
    """[M, M] log-weights of q(z_i|n_j) in the estimate of q(z_i): MWS 1/(N·M) each; MSS (App. C.2) 1/N for j = i,
    (N − M + 1)/(N·(M − 1)) for one other image and 1/(M − 1) for the rest (Chen et al.'s code)."""
    if sampling == "mws":
        return torch.full((batch_size, batch_size), -math.log(dataset_size * batch_size))
    if batch_size < 2 or dataset_size < batch_size - 1:
        raise BetaVAEError(f"minibatch-stratified sampling needs batches of >= 2 images from a set at least as large "
                           f"(got {batch_size} from {dataset_size}); use --sampling mws")
    others = batch_size - 1
    weights = torch.full((batch_size, batch_size), 1 / others)
    weights.view(-1)[::batch_size] = 1 / dataset_size
    stratum = (dataset_size - others) / (dataset_size * others)
    weights.view(-1)[1::batch_size] = stratum
    weights[others - 1, 0] = stratum
    return weights.log()


@dataclass
class KLDecomposition:
    mutual_information: torch.Tensor  # scalar: E[log q(z|n) − log q(z)]
    total_correlation: torch.Tensor  # scalar: E[log q(z) − Σ_k log q(z_k)]
    dimension_kl: torch.Tensor  # scalar: E[Σ_k log q(z_k) − log p(z)]


def decompose_kl(z: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor, dataset_size: int,
                 sampling: str = "mws") -> KLDecomposition:
    """Chen et al. (2018), Eq. 2 with the minibatch estimators of App. C: the three parts, averaged over the batch."""
    pairs = log_normal(z[:, None, :], mean[None, :, :], logvar[None, :, :])  # [M, M, K]: log q(z_ik | n_j)
    weights = log_importance_weights(len(z), dataset_size, sampling).to(z)
    log_qz = torch.logsumexp(pairs.sum(2) + weights, dim=1)
    log_qz_marginals = torch.logsumexp(pairs + weights[:, :, None], dim=1).sum(1)
    log_qz_given_n = log_normal(z, mean, logvar).sum(1)
    log_pz = log_normal(z, torch.zeros_like(z), torch.zeros_like(z)).sum(1)
    return KLDecomposition((log_qz_given_n - log_qz).mean(), (log_qz - log_qz_marginals).mean(),
                           (log_qz_marginals - log_pz).mean())


class BetaTCVAETask:
    """One Adam/Adagrad step on recon + α·MI + β·TC + γ·dimension-wise KL; N from the data batches are drawn from."""

    def __init__(self, config: CommonConfig, section: BetaTCVAEConfig, device: torch.device):
        self.config, self.section = config, section
        self.model = BetaVAE(config.model).to(device)
        self.optimizers = {"model": make_optimizer(config.optim.name, self.model.parameters(), config.optim.lr,
                                                   device)}
        self.dataset_size: int | None = None  # N of the set the batches come from

    def batch_indices(self, data: ImageDataset, batch_size: int, generator: torch.Generator) -> torch.Tensor:
        self.dataset_size = data.num_images
        return uniform_batch_indices(data, batch_size, generator)

    def step(self, batch: torch.Tensor, step: int, noise: torch.Generator) -> dict[str, torch.Tensor]:
        if self.dataset_size is None:
            raise RuntimeError("BetaTCVAETask.step needs a batch from BetaTCVAETask.batch_indices first (for N)")
        forward: Forward = self.model(batch, noise)
        terms = objective(forward, batch, self.config.model, self.config.objective, step)  # the analytic KL, logged
        parts = decompose_kl(forward.z, forward.mean, forward.logvar, self.dataset_size, self.section.sampling)
        section = self.section
        loss = (terms.reconstruction + section.mi_weight * parts.mutual_information
                + section.tc_weight * parts.total_correlation + section.dimension_kl_weight * parts.dimension_kl)
        update(self.optimizers["model"], loss)
        return {**vae_terms(terms), "loss": loss, "mutual_information": parts.mutual_information,
                "tc": parts.total_correlation, "dimension_kl": parts.dimension_kl}
