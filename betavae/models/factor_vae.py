"""FactorVAE (Kim & Mnih 2018, "Disentangling by Factorising"): the VAE plus γ times the total correlation of
q(z), estimated by a discriminator (Eq. 2-3):

    VAE:            loss = recon + KL + γ·TC,   TC ≈ E_q(z)[log D(z) − log(1 − D(z))]
    discriminator:  tells samples of q(z) from samples of Π_k q(z_k), made by permuting each latent across
                    the batch (Alg. 2); cross-entropy, its own Adam optimiser.

Each batch makes one step of both, from gradients taken before either moves (the VAE's through D(z) reach only
the VAE; D's through the detached z only D), so a non-finite loss stops the run before any weight changes.
Kim & Mnih draw a second batch for the permuted samples; here the same batch's z is permuted, as in
disentanglement_lib, so a FactorVAE step reads as many images as a β-VAE step.

Kim & Mnih's discriminator (App. A): an MLP of 6 layers of 1000 units, leaky ReLU (0.2), two logits; Adam with
lr 1e-4, β = (0.5, 0.9). γ = 40 is one of the values they sweep on dSprites (10-100; disentanglement_lib's study:
10, 20, 30, 40, 50, 100). Loss scaling as the β-VAE's (``config_common.py``), KL weight 1, the VAE's network
for the dataset, so that only the objective differs; the VAE's optimiser Adam 1e-4
(``specs/vae.py:SUCCESSOR_OPTIMIZER``). Its section and spec: ``specs/factor_vae.py``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from betavae.config_common import CommonConfig, ModelConfig
from betavae.models.specs.factor_vae import FactorVAEConfig
from betavae.models.training import check_loss, make_optimizer, uniform_batch_indices
from betavae.models.vae import BetaVAE, objective, vae_terms

LEAK = 0.2  # Kim & Mnih (2018), App. A


def tc_discriminator(latents: int, units: int, layers: int) -> nn.Module:
    """MLP latents → units (×layers, leaky ReLU) → 2 logits: [from q(z), from Π_k q(z_k)]."""
    sizes = [latents] + [units] * layers
    body: list[nn.Module] = []
    for fan_in, fan_out in zip(sizes, sizes[1:]):
        body += [nn.Linear(fan_in, fan_out), nn.LeakyReLU(LEAK)]
    return nn.Sequential(*body, nn.Linear(sizes[-1], 2))


class FactorVAE(BetaVAE):
    """The β-VAE's encoder and decoder, and the TC discriminator (checkpointed with them)."""

    def __init__(self, config: ModelConfig, section: FactorVAEConfig):
        super().__init__(config)
        self.discriminator = tc_discriminator(config.latents, section.discriminator_units,
                                              section.discriminator_layers)

    def vae_parameters(self) -> list[nn.Parameter]:
        return [*self.encoder.parameters(), *self.decoder.parameters()]


def permute_dims(z: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Alg. 2: each latent shuffled across the batch on its own: samples of Π_k q(z_k)."""
    order = torch.argsort(torch.rand(z.shape, generator=generator, device=z.device), dim=0)
    return torch.gather(z, 0, order)


def tc_estimate(logits: torch.Tensor) -> torch.Tensor:
    """Eq. 3: E[log D(z) − log(1 − D(z))], the logit difference of a two-logit discriminator, batch mean."""
    return (logits[:, 0] - logits[:, 1]).mean()


def discriminator_loss(joint_logits: torch.Tensor, permuted_logits: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of D telling q(z) (class 0) from Π_k q(z_k) (class 1), averaged over the two."""
    zeros = torch.zeros(len(joint_logits), dtype=torch.long, device=joint_logits.device)
    ones = torch.ones(len(permuted_logits), dtype=torch.long, device=permuted_logits.device)
    return 0.5 * (F.cross_entropy(joint_logits, zeros) + F.cross_entropy(permuted_logits, ones))


class FactorVAETask:
    """One VAE step on recon + KL + γ·TC and one discriminator step, on each batch."""

    batch_indices = staticmethod(uniform_batch_indices)

    def __init__(self, config: CommonConfig, section: FactorVAEConfig, device: torch.device):
        self.config, self.section = config, section
        self.model = FactorVAE(config.model, section).to(device)
        self.optimizers = {
            "model": make_optimizer(config.optim.name, self.model.vae_parameters(), config.optim.lr, device),
            "discriminator": torch.optim.Adam(self.model.discriminator.parameters(), lr=section.discriminator_lr,
                                              betas=(0.5, 0.9)),
        }

    def step(self, batch: torch.Tensor, step: int, noise: torch.Generator) -> dict[str, torch.Tensor]:
        model, vae_optimizer, d_optimizer = self.model, self.optimizers["model"], self.optimizers["discriminator"]
        forward = model(batch, noise)
        terms = objective(forward, batch, self.config.model, self.config.objective, step)
        joint_logits = model.discriminator(forward.z)
        tc = tc_estimate(joint_logits)
        loss = terms.loss + self.section.gamma * tc
        z = forward.z.detach()
        d_loss = discriminator_loss(model.discriminator(z), model.discriminator(permute_dims(z, noise)))
        check_loss(loss)
        check_loss(d_loss)
        vae_optimizer.zero_grad(set_to_none=False)
        loss.backward(inputs=model.vae_parameters())
        d_optimizer.zero_grad(set_to_none=False)
        d_loss.backward()
        vae_optimizer.step()
        d_optimizer.step()
        return {**vae_terms(terms), "loss": loss, "tc": tc, "discriminator": d_loss}
