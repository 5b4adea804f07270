"""The ``dcign`` model (network and task: ``models/dcign.py``): its section (Kulkarni et al. 2015) and how it
prepares a config."""

from __future__ import annotations

from dataclasses import dataclass

from betavae.config_common import CommonConfig, option
from betavae.errors import BetaVAEError
from betavae.models.specs.base import ModelSpec
from betavae.models.specs.vae import beta_vae_divergence_hint, require_unit_beta


@dataclass
class DCIGNConfig:
    """Kulkarni et al. (2015) (DC-IGN baseline): latent units owned by each factor, and the invariance signal."""

    units_per_factor: int | None = option(None, "latent units per factor (default --latents // number of "
                                                "factors; leftover units are free)", minimum=1)
    invariance: float = option(1.0, "λ: clamped units are pulled towards their batch mean with gradient "
                                    "λ(z − z̄)/b", minimum=0)


def prepare_dcign(config: CommonConfig, section: DCIGNConfig, image_shape: tuple[int, int, int]) -> None:
    """DC-IGN needs the full factor grid of a ground-truth dataset; its networks default to the Table 1 conv."""
    from betavae.data.registry import FOLDER_DATASETS

    if config.data.dataset in FOLDER_DATASETS:
        raise BetaVAEError(f"--model dcign needs a dataset with ground-truth factors (dsprites, synthetic-squares); "
                           f"{config.data.dataset} has none")
    if config.data.subset is not None:
        raise BetaVAEError("--model dcign draws its batches from the full factor grid; drop --subset")
    require_unit_beta(config, "dcign")
    config.model.arch = config.model.arch or "conv"
    config.resolve(image_shape)


MODEL = ModelSpec("dcign", "DC-IGN (Kulkarni et al. 2015), the semi-supervised baseline of Sec. 4.2",
                  "betavae.models.dcign:DCIGNTask", prepare_dcign, lambda config, section: "dcign",
                  beta_vae_divergence_hint, DCIGNConfig, "dcign")
