"""The ``beta-vae`` and ``vae`` models (network and task: ``models/vae.py``), and the rules the successors share:
β = 1 on the KL, and their optimiser."""

from __future__ import annotations

from betavae.config_common import CommonConfig
from betavae.errors import BetaVAEError
from betavae.models.specs.base import ModelSpec


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


TASK = "betavae.models.vae:BetaVAETask"
BETA_VAE = ModelSpec("beta-vae", "β-VAE (Higgins et al. 2017), Eq. 4; or the capacity objective (Burgess et al. "
                     "2018) with --objective capacity", TASK, prepare_beta_vae, describe_beta_vae,
                     beta_vae_divergence_hint)
VAE = ModelSpec("vae", "VAE (Kingma & Welling 2014): the β-VAE at β = 1", TASK, prepare_vae, describe_beta_vae,
                beta_vae_divergence_hint, same_model_as="beta-vae")
