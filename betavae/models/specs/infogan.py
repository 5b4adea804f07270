"""The ``infogan`` model (network and task: ``models/infogan.py``): its section (App. A.2, Chen et al. 2016), how
it prepares a config, and its sample sheets at each checkpoint."""

from __future__ import annotations

from dataclasses import dataclass

from betavae.config_common import CommonConfig, dataset_defaults, option
from betavae.errors import BetaVAEError
from betavae.models.specs.base import ModelSpec


@dataclass
class InfoGANConfig:
    """App. A.2 (InfoGAN baseline): codes, instance noise, MI weight and the two Adam learning rates."""

    codes: int = option(5, "continuous codes c ~ U(-1, 1); the other --latents minus codes generator inputs are "
                           "noise", minimum=1)
    width: int = option(64, "DCGAN channel base: convolutions of width·(1, 2, 4, 8)", minimum=1, flag="gan-width")
    instance_noise: float = option(0.2, "std of Gaussian noise on the discriminator's inputs (images in [-1, 1])",
                                   minimum=0)
    info_weight: float = option(1.0, "λ of the mutual-information term", minimum=0)
    # Chen et al. (2016), App. C: 2e-4 for D, 1e-3 for G, λ = 1
    lr_discriminator: float = option(2e-4, "Adam lr of the discriminator D", above=0)
    lr_generator: float = option(1e-3, "Adam lr of the generator G and recognition head Q", above=0)


# Flags of the β-VAE that mean nothing for a GAN; refusing them beats recording values that were never used.
VAE_ONLY_SETTINGS = {("model", "arch"): "--arch", ("model", "likelihood"): "--likelihood",
                     ("objective", "beta"): "--beta", ("objective", "beta_norm"): "--beta-norm",
                     ("optim", "name"): "--optimizer", ("optim", "lr"): "--lr"}


def prepare_infogan(config: CommonConfig, section: InfoGANConfig, image_shape: tuple[int, int, int]) -> None:
    """Check the InfoGAN settings and take the data's image shape (no β, architecture or VAE optimiser)."""
    given = [flag for (section, name), flag in VAE_ONLY_SETTINGS.items()
             if getattr(getattr(config, section), name) is not None]
    if config.objective.kind != "beta":
        given.append("--objective")
    if given:
        raise BetaVAEError(f"--model infogan does not use {', '.join(given)}; its settings are the infogan "
                           "section (codes, width, instance_noise, info_weight, lr_discriminator, lr_generator)")
    config.validate()
    config.model.image_shape = tuple(config.model.image_shape or image_shape)
    # App. A.2 on 2D shapes: 5 codes + 5 noise variables, i.e. the dataset's usual latent count
    config.model.latents = config.model.latents or dataset_defaults(config.data.dataset).latents
    if tuple(config.model.image_shape[1:]) != (64, 64):
        raise BetaVAEError(f"the InfoGAN convolutions take 64x64 images, got {config.model.image_shape[1:]}; "
                           "prepare the data with --size 64")
    if section.codes > config.model.latents:
        raise BetaVAEError(f"infogan.codes ({section.codes}) exceeds the generator's {config.model.latents} "
                           "inputs (--latents), which hold the codes c and the noise z together")


def infogan_divergence_hint(config: CommonConfig, section: InfoGANConfig) -> str:
    return "lower --lr-discriminator / --lr-generator or raise --instance-noise"


MODEL = ModelSpec("infogan", "InfoGAN (Chen et al. 2016), the baseline of App. A.2",
                  "betavae.models.infogan:InfoGANTask", prepare_infogan, lambda config, section: "infogan",
                  infogan_divergence_hint, InfoGANConfig, "infogan",
                  checkpoint_samples="InfoGAN samples",  # a GAN's losses say little: its samples show collapse
                  budget_section=lambda width: InfoGANConfig(width=width))  # smaller budgets train narrower GANs
