"""The β-VAE (§2): Gaussian encoder q(z|x), prior N(0, I), Bernoulli or Gaussian decoder p(x|z); its objectives
(Eq. 4, or the capacity objective of Burgess et al. 2018) and the training task of the ``beta-vae`` and ``vae``
models (their specs: ``specs/vae.py``). The successors (FactorVAE, β-TCVAE, DIP-VAE) build on the network, the
terms and the task defined here."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from betavae.config_common import CommonConfig, ModelConfig, ObjectiveConfig
from betavae.models.architectures import ARCHITECTURE_BUILDERS
from betavae.models.training import make_optimizer, uniform_batch_indices, update


@dataclass
class Forward:
    """What one pass of the β-VAE computes for a batch."""

    logits: torch.Tensor  # decoder output [b, C, H, W]; Bernoulli logits, or pre-sigmoid Gaussian mean
    mean: torch.Tensor  # μ(x) [b, M]
    logvar: torch.Tensor  # log σ²(x) [b, M]
    z: torch.Tensor  # reparameterised sample [b, M]


class BetaVAE(nn.Module):
    """Encoder and decoder of Table 1 with a diagonal-Gaussian posterior (reparameterisation trick)."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        config.validate()
        self.config = config
        channels = config.image_shape[0]
        self.encoder, self.decoder = ARCHITECTURE_BUILDERS[config.arch](channels, config.latents)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """q(z|x) = N(μ(x), diag σ²(x)): returns (μ, log σ²)."""
        mean, logvar = self.encoder(x).chunk(2, dim=1)
        return mean, logvar

    def encode_mean(self, x: torch.Tensor) -> torch.Tensor:
        """μ(x): the representation the paper scores (§3)."""
        return self.encode(x)[0]

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> Forward:
        mean, logvar = self.encode(x)
        noise = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
        z = mean + torch.exp(0.5 * logvar) * noise
        return Forward(self.decode(z), mean, logvar, z)

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Decoder mean at z = μ(x), in [0, 1]."""
        return torch.sigmoid(self.decode(self.encode_mean(x)))

    @torch.no_grad()
    def sample(self, num: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Decoder means for z ~ N(0, I) (App. A.9)."""
        device = next(self.parameters()).device
        z = torch.randn((num, self.config.latents), generator=generator, device=device)
        return torch.sigmoid(self.decode(z))


def kl_per_latent(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(μ, σ²) || N(0, 1)) = ½(μ² + σ² − log σ² − 1), per sample and latent unit: [b, M]."""
    return 0.5 * (mean.pow(2) + logvar.exp() - logvar - 1.0)


def reconstruction_nll(logits: torch.Tensor, x: torch.Tensor, likelihood: str, gaussian_std: float = 1.0
                       ) -> torch.Tensor:
    """−log p(x|z) summed over pixels, per sample: [b]. Bernoulli exact; Gaussian with fixed σ, incl. constant."""
    if likelihood == "bernoulli":
        per_pixel = F.binary_cross_entropy_with_logits(logits, x, reduction="none")
    else:
        per_pixel = (torch.sigmoid(logits) - x).pow(2) / (2 * gaussian_std**2) + math.log(
            gaussian_std * math.sqrt(2 * math.pi))
    return per_pixel.flatten(1).sum(1)


@dataclass
class LossTerms:
    loss: torch.Tensor  # scalar to minimise
    reconstruction: torch.Tensor  # scalar: E_q[−log p(x|z)], summed over pixels, mean over batch
    kl: torch.Tensor  # scalar: KL(q(z|x) || p(z)), summed over latents, mean over batch
    kl_per_latent: torch.Tensor  # [M], mean over batch


def objective(forward: Forward, x: torch.Tensor, model: ModelConfig, config: ObjectiveConfig, step: int
              ) -> LossTerms:
    """Negative of Eq. 4: recon + β·KL; or Burgess et al. (2018): recon + γ·|KL − C(step)|."""
    reconstruction = reconstruction_nll(forward.logits, x, model.likelihood, model.gaussian_std).mean()
    kl_latents = kl_per_latent(forward.mean, forward.logvar).mean(0)
    kl = kl_latents.sum()
    if config.kind == "beta":
        loss = reconstruction + config.beta * kl
    else:
        capacity = config.capacity_max * min(1.0, step / config.capacity_steps)
        loss = reconstruction + config.gamma * (kl - capacity).abs()
    return LossTerms(loss, reconstruction, kl, kl_latents)


def vae_terms(terms: LossTerms) -> dict[str, torch.Tensor]:
    """What a VAE-family step logs of its ELBO (its own terms are added beside these)."""
    return {"loss": terms.loss, "reconstruction": terms.reconstruction, "kl": terms.kl,
            "kl_per_latent": terms.kl_per_latent}


class BetaVAETask:
    """Minimise recon + β·KL (Eq. 4) or the capacity objective with one optimiser."""

    batch_indices = staticmethod(uniform_batch_indices)

    def __init__(self, config: CommonConfig, section: None, device: torch.device):
        self.config = config
        self.model = BetaVAE(config.model).to(device)
        self.optimizers = {"model": make_optimizer(config.optim.name, self.model.parameters(), config.optim.lr,
                                                   device)}

    def step(self, batch: torch.Tensor, step: int, noise: torch.Generator) -> dict[str, torch.Tensor]:
        terms = objective(self.model(batch, noise), batch, self.config.model, self.config.objective, step)
        update(self.optimizers["model"], terms.loss)
        return vae_terms(terms)
