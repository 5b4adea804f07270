"""DC-IGN (Kulkarni et al., 2015), the semi-supervised baseline of Sec. 4.2 (its section and spec:
``specs/dcign.py``).

A VAE (β = 1) trained on batches in which one ground-truth factor varies and every other factor keeps one value.
Each factor owns a group of latent units. In a batch where factor k varies, the units of every other factor are
*clamped*. Forward, they take one value for the whole batch, here the batch mean (the released code copies the
batch's first sample), so only factor k's units (and the free ones) can explain the variation. Backward, they
receive no reconstruction or KL gradient, only the invariance signal λ(z_i − z̄)/b that nudges each towards its
batch average, as the paper describes (the released code makes that signal optional; λ = 0 turns it off). As
in the released code, clamping acts on both heads of the encoder, μ(x) and log σ²(x), before the
reparameterisation, whose noise stays per sample.

Units: factor k owns units [k·u, (k+1)·u) with u = ``dcign.units_per_factor`` (default ⌊M / K⌋); units past K·u
are free: never clamped, they vary in every batch. dSprites (K = 5 factors: shape, scale, orientation, pos_x,
pos_y) with M = 10 gives two units per factor and none free.

Networks: the Table 1 conv encoder/decoder (``arch = conv``, Adam 1e-4) unless another is given, so that DC-IGN
differs from the VAE baselines only in how it is trained. The representation is the encoder mean μ(x).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from betavae.config_common import CommonConfig, ModelConfig, ObjectiveConfig
from betavae.data.ground_truth import GroundTruthData, ImageDataset
from betavae.errors import BetaVAEError
from betavae.models.specs.dcign import DCIGNConfig
from betavae.models.training import make_optimizer, update
from betavae.models.vae import BetaVAE, Forward, LossTerms, objective, vae_terms


def factor_units(latents: int, num_factors: int, units_per_factor: int | None = None) -> list[range]:
    """The latent units owned by each factor; units beyond the last group are free."""
    per_factor = units_per_factor or latents // max(num_factors, 1)
    if num_factors * max(per_factor, 1) > latents:
        raise BetaVAEError(f"DC-IGN needs {num_factors} factors × {max(per_factor, 1)} units = "
                           f"{num_factors * max(per_factor, 1)} latent units, but the model has {latents}; "
                           "raise --latents or lower dcign.units_per_factor")
    return [range(k * per_factor, (k + 1) * per_factor) for k in range(num_factors)]


def clamped_units(latents: int, groups: list[range], varying: int) -> torch.Tensor:
    """bool[M]: the units of every factor except ``varying`` (free units are never clamped)."""
    mask = torch.zeros(latents, dtype=torch.bool)
    for factor, units in enumerate(groups):
        if factor != varying:
            mask[list(units)] = True
    return mask


def one_factor_batch(data: GroundTruthData, batch_size: int, generator: torch.Generator) -> tuple[int, torch.Tensor]:
    """A factor k (uniform over factors with > 1 class) and a batch in which only k varies (uniform over its
    classes); every other factor takes one value drawn uniformly for the whole batch."""
    sizes = torch.tensor(data.factor_sizes)
    variable = torch.nonzero(sizes > 1).flatten()
    if len(variable) == 0:
        raise BetaVAEError(f"{data.name} has no factor with more than one value; DC-IGN has nothing to vary")
    factor = int(variable[torch.randint(len(variable), (1,), generator=generator)])
    fixed = (torch.rand(len(sizes), generator=generator) * sizes).long()
    factors = fixed.repeat(batch_size, 1)
    factors[:, factor] = torch.randint(int(sizes[factor]), (batch_size,), generator=generator)
    return factor, torch.from_numpy(data.index(factors.numpy()))


def hold_at_batch_mean(values: torch.Tensor, clamped: torch.Tensor) -> torch.Tensor:
    """Forward: clamped columns become their batch mean; detached, so no gradient reaches them through it."""
    return torch.where(clamped, values.mean(0, keepdim=True).detach(), values)


def invariance_penalty(values: torch.Tensor, clamped: torch.Tensor) -> torch.Tensor:
    """½·mean over the batch of Σ_clamped (z_i − z̄)²: its gradient wrt z_i is exactly (z_i − z̄)/b."""
    deviation = values[:, clamped] - values[:, clamped].mean(0, keepdim=True)
    return 0.5 * deviation.pow(2).sum(1).mean()


@dataclass
class DCIGNTerms:
    loss: torch.Tensor  # scalar to minimise: recon + KL + λ·invariance
    terms: LossTerms  # reconstruction and KL of the clamped posterior
    invariance: torch.Tensor  # scalar: the penalty on μ and log σ² of the clamped units
    forward: Forward  # what the decoder saw (clamped μ, log σ²)
    mean: torch.Tensor  # the encoder's own μ(x) [b, M], before clamping
    logvar: torch.Tensor  # the encoder's own log σ²(x) [b, M], before clamping


def dcign_loss(model: BetaVAE, x: torch.Tensor, clamped: torch.Tensor, model_config: ModelConfig,
               objective_config: ObjectiveConfig, dcign: DCIGNConfig, step: int,
               noise: torch.Generator | None = None) -> DCIGNTerms:
    """Kulkarni et al. (2015), Sec. 3.1: the VAE objective with the other factors' units clamped to the batch mean."""
    clamped = clamped.to(x.device)
    mean, logvar = model.encode(x)
    held_mean, held_logvar = hold_at_batch_mean(mean, clamped), hold_at_batch_mean(logvar, clamped)
    epsilon = torch.randn(mean.shape, generator=noise, device=mean.device, dtype=mean.dtype)
    z = held_mean + torch.exp(0.5 * held_logvar) * epsilon
    forward = Forward(model.decode(z), held_mean, held_logvar, z)
    terms = objective(forward, x, model_config, objective_config, step)
    invariance = invariance_penalty(mean, clamped) + invariance_penalty(logvar, clamped)
    return DCIGNTerms(terms.loss + dcign.invariance * invariance, terms, invariance, forward, mean, logvar)


class DCIGNTask:
    """Batches with one varying factor; ``batch_indices`` records which, ``step`` clamps the others' units."""

    def __init__(self, config: CommonConfig, section: DCIGNConfig, device: torch.device):
        self.config, self.section = config, section
        self.model = BetaVAE(config.model).to(device)
        self.optimizers = {"model": make_optimizer(config.optim.name, self.model.parameters(), config.optim.lr,
                                                   device)}
        self.clamped: torch.Tensor | None = None  # bool[M] for the batch drawn last

    def batch_indices(self, data: ImageDataset, batch_size: int, generator: torch.Generator) -> torch.Tensor:
        if not isinstance(data, GroundTruthData):
            raise BetaVAEError(f"--model dcign needs a dataset with ground-truth factors; {data.name} has none")
        groups = factor_units(self.config.model.latents, data.num_factors, self.section.units_per_factor)
        factor, indices = one_factor_batch(data, batch_size, generator)
        self.clamped = clamped_units(self.config.model.latents, groups, factor)
        return indices

    def step(self, batch: torch.Tensor, step: int, noise: torch.Generator) -> dict[str, torch.Tensor]:
        if self.clamped is None:
            raise RuntimeError("DCIGNTask.step needs a batch from DCIGNTask.batch_indices first")
        config = self.config
        result = dcign_loss(self.model, batch, self.clamped, config.model, config.objective, self.section, step,
                            noise)
        update(self.optimizers["model"], result.loss)
        return {**vae_terms(result.terms), "loss": result.loss, "invariance": result.invariance}
