"""The β-VAE (§2): Gaussian encoder q(z|x), prior N(0, I), Bernoulli or Gaussian decoder p(x|z); its objectives
(Eq. 4, or the capacity objective of Burgess et al. 2018), its training task, and the ``beta-vae`` and ``vae``
models. The successors (FactorVAE, β-TCVAE, DIP-VAE) build on the network, the terms and the task defined here."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from betavae.config_common import CommonConfig, ModelConfig, ObjectiveConfig
from betavae.errors import BetaVAEError
from betavae.models.architectures import ARCHITECTURE_BUILDERS
from betavae.models.training import ModelSpec, make_optimizer, uniform_batch_indices, update


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


def require_unit_beta(config: CommonConfig, model: str) -> None:
    """Models whose KL weight is 1 (the VAE, DC-IGN, and the successors that add their own term to the ELBO):
    refuse a β, β_norm or capacity objective given for them, then set β = 1."""
    beta, beta_norm = config.objective.beta, config.objective.beta_norm
    if (beta not in (None, 1.0) or (beta is None and beta_norm is not None)  # a saved config holds both
            or config.objective.kind != "beta"):
        raise BetaVAEError(f"--model {model} means β = 1; drop --beta/--beta-norm/--objective "
                           "or use --model beta-vae")
    config.objective.beta = 1.0


# The optimiser of the successors unless --optimizer/--lr say otherwise: Adam, lr 1e-4, as disentanglement_lib trained
# all six models of Locatello et al. (2019) and Kim & Mnih (2018) trained FactorVAE. Not the 2D-shapes Adagrad at
# lr 1e-2 of Table 1: its first update moves every weight by the full lr, and the squared covariances of DIP-VAE
# turn the β-VAE's first-step spike (~1e12 nats) into an overflow (measured: 9e35 at step 1 for DIP-VAE-II).
SUCCESSOR_OPTIMIZER = ("adam", 1e-4)


def prepare_successor(config: CommonConfig, model: str, image_shape: tuple[int, int, int]) -> None:
    """The VAE's network for the dataset, β = 1 on the KL, and SUCCESSOR_OPTIMIZER unless one was given."""
    require_unit_beta(config, model)
    if config.optim.name is None:
        config.optim.name = SUCCESSOR_OPTIMIZER[0]
        config.optim.lr = config.optim.lr if config.optim.lr is not None else SUCCESSOR_OPTIMIZER[1]
    config.resolve(image_shape)


def prepare_beta_vae(config: CommonConfig, section: None, image_shape: tuple[int, int, int]) -> None:
    config.resolve(image_shape)


def prepare_vae(config: CommonConfig, section: None, image_shape: tuple[int, int, int]) -> None:
    require_unit_beta(config, "vae")
    config.resolve(image_shape)


def describe_beta_vae(config: CommonConfig, section: None) -> str:
    objective = config.objective
    if objective.kind == "capacity":
        return f"capacity C → {objective.capacity_max:g} nats, γ = {objective.gamma:g}"
    return f"β = {objective.beta:g}"


# A Gaussian decoder weighs each pixel's squared error by 1/(2σ²); beyond this weight σ, not the lr or β, is what
# makes a loss explode (the default σ = 1 gives 0.5; σ = 0.01 already 5,000).
SIGMA_WEIGHT_LIMIT = 1e4


def sigma_hint(config: CommonConfig) -> str | None:
    """What to change when a Gaussian decoder's σ is small enough to be the cause of a divergence, else None."""
    std = config.model.gaussian_std
    if config.model.likelihood != "gaussian" or 1.0 / (2.0 * std * std) <= SIGMA_WEIGHT_LIMIT:
        return None
    return (f"the Gaussian decoder's σ = {std:g} (--gaussian-std) weighs each pixel's squared error by 1/(2σ²) = "
            f"{1.0 / (2.0 * std * std):.3g}, which no lr or β makes trainable: raise --gaussian-std (default 1)")


def beta_vae_divergence_hint(config: CommonConfig, section: None) -> str:
    if config.objective.kind == "capacity":
        return sigma_hint(config) or f"lower the lr (now {config.optim.lr:g}) or γ (now {config.objective.gamma:g})"
    return sigma_hint(config) or f"lower the lr (now {config.optim.lr:g}) or β (now {config.objective.beta:g})"


BETA_VAE = ModelSpec("beta-vae", "β-VAE (Higgins et al. 2017), Eq. 4; or the capacity objective (Burgess et al. "
                     "2018) with --objective capacity", BetaVAETask, prepare_beta_vae, describe_beta_vae,
                     beta_vae_divergence_hint)
VAE = ModelSpec("vae", "VAE (Kingma & Welling 2014): the β-VAE at β = 1", BetaVAETask, prepare_vae,
                describe_beta_vae, beta_vae_divergence_hint)
