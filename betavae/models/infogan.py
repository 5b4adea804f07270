"""InfoGAN (Chen et al., 2016) as trained for the paper's 2D-shapes comparison (Sec. 4.2, App. A.2); its section and
spec: ``specs/infogan.py``.

App. A.2: 5 continuous codes c ~ U(−1, 1) with the mutual-information term and 5 noise variables z; instance
noise (Gaussian, std 0.2 on images scaled to [−1, 1]) on the discriminator's inputs; DCGAN convolutions
(Radford et al., 2015) for 64×64 images with batch norm in every layer except the generator's last and the
discriminator's first. The representation is the recognition head's estimate of c.

Choices the appendix leaves open, taken from Chen et al. (2016): Q(c|x) shares the discriminator's body and is
a factored Gaussian (here with unit variance, so the MI lower bound is −½‖c − Q(x)‖² up to constants); Adam
with β1 = 0.5, lr 2e-4 for D and 1e-3 for G and Q, λ = 1, leaky ReLU slope 0.1; z ~ N(0, I). Each batch makes
one discriminator step, then one generator + Q step (the usual alternation), and the MI term enters both, as in
Chen et al.'s released code, so the shared body also learns features that carry c.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from betavae.config_common import CommonConfig, ModelConfig
from betavae.errors import BetaVAEError
from betavae.models.specs.infogan import InfoGANConfig
from betavae.models.training import uniform_batch_indices, update

LEAK = 0.1  # Chen et al. (2016), App. C
Q_HIDDEN = 128


def dcgan_generator(inputs: int, channels: int, width: int) -> nn.Module:
    """FC to 8w×4×4, then 4×4 stride-2 transposed convolutions 4w-2w-w-C up to 64×64; tanh output."""
    layers: list[nn.Module] = [nn.Linear(inputs, 8 * width * 16, bias=False), nn.BatchNorm1d(8 * width * 16),
                               nn.ReLU(), nn.Unflatten(1, (8 * width, 4, 4))]
    widths = (8 * width, 4 * width, 2 * width, width)
    for in_width, out_width in zip(widths, widths[1:]):
        layers += [nn.ConvTranspose2d(in_width, out_width, 4, stride=2, padding=1, bias=False),
                   nn.BatchNorm2d(out_width), nn.ReLU()]
    layers += [nn.ConvTranspose2d(width, channels, 4, stride=2, padding=1), nn.Tanh()]  # no batch norm (A.2)
    return nn.Sequential(*layers)


def dcgan_discriminator_body(channels: int, width: int) -> nn.Module:
    """4×4 stride-2 convolutions w-2w-4w-8w from 64×64 down to 4×4, leaky ReLU; no batch norm on the first (A.2)."""
    layers: list[nn.Module] = [nn.Conv2d(channels, width, 4, stride=2, padding=1), nn.LeakyReLU(LEAK)]
    widths = (width, 2 * width, 4 * width, 8 * width)
    for in_width, out_width in zip(widths, widths[1:]):
        layers += [nn.Conv2d(in_width, out_width, 4, stride=2, padding=1, bias=False),
                   nn.BatchNorm2d(out_width), nn.LeakyReLU(LEAK)]
    layers.append(nn.Flatten())
    return nn.Sequential(*layers)


def dcgan_init(module: nn.Module) -> None:
    """Radford et al. (2015): weights N(0, 0.02), batch-norm scales N(1, 0.02), biases 0."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class InfoGAN(nn.Module):
    """App. A.2: generator G(c, z), discriminator D and recognition head Q(c|x) on D's shared body."""

    def __init__(self, model: ModelConfig, gan: InfoGANConfig):
        super().__init__()
        channels, height, width = model.image_shape
        if (height, width) != (64, 64):
            raise BetaVAEError(f"the InfoGAN convolutions take 64x64 images, got {height}x{width}")
        self.codes, self.inputs = gan.codes, model.latents
        self.generator = dcgan_generator(model.latents, channels, gan.width)
        self.body = dcgan_discriminator_body(channels, gan.width)
        features = 8 * gan.width * 4 * 4
        self.d_head = nn.Linear(features, 1)
        self.q_head = nn.Sequential(nn.Linear(features, Q_HIDDEN, bias=False), nn.BatchNorm1d(Q_HIDDEN),
                                    nn.LeakyReLU(LEAK), nn.Linear(Q_HIDDEN, gan.codes))
        self.apply(dcgan_init)

    def latent_sample(self, num: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(c ~ U(−1, 1) [num, codes], the generator input [c, z] with z ~ N(0, I))."""
        device = next(self.parameters()).device
        codes = torch.rand((num, self.codes), generator=generator, device=device) * 2 - 1
        noise = torch.randn((num, self.inputs - self.codes), generator=generator, device=device)
        return codes, torch.cat([codes, noise], dim=1)

    def critic(self, x: torch.Tensor, recognise: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        """D's logit [b] for images in [−1, 1], and Q's estimate of c [b, codes] if ``recognise``."""
        features = self.body(x)
        return self.d_head(features).squeeze(1), self.q_head(features) if recognise else None

    def encode_mean(self, x: torch.Tensor) -> torch.Tensor:
        """Q's estimate of c for images in [0, 1]: the representation scored in Sec. 4.2."""
        return self.q_head(self.body(x * 2 - 1))

    @torch.no_grad()
    def sample(self, num: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Generated images in [0, 1] for fresh (c, z) (shows collapse at a glance)."""
        return (self.generator(self.latent_sample(num, generator)[1]) + 1) / 2


def information_loss(estimate: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
    """−log Q(c|x) of a unit-variance factored Gaussian, less constants: ½‖c − Q(x)‖², mean over the batch."""
    return 0.5 * (estimate - codes).pow(2).sum(1).mean()


def adversarial_loss(logits: torch.Tensor, real: bool) -> torch.Tensor:
    target = torch.ones_like(logits) if real else torch.zeros_like(logits)
    return F.binary_cross_entropy_with_logits(logits, target)


def adam(parameters, lr: float) -> torch.optim.Adam:
    """DCGAN's Adam (β1 = 0.5), also used by Chen et al. (2016)."""
    return torch.optim.Adam(parameters, lr=lr, betas=(0.5, 0.999))


class InfoGANTask:
    """One discriminator step, then one generator + Q step, on each batch of real images."""

    batch_indices = staticmethod(uniform_batch_indices)

    def __init__(self, config: CommonConfig, section: InfoGANConfig, device: torch.device):
        self.config = section
        self.model = InfoGAN(config.model, section).to(device)
        model = self.model
        self.optimizers = {
            "discriminator": adam([*model.body.parameters(), *model.d_head.parameters()], section.lr_discriminator),
            "generator": adam([*model.generator.parameters(), *model.q_head.parameters()], section.lr_generator),
        }

    def instance_noise(self, images: torch.Tensor, noise: torch.Generator) -> torch.Tensor:
        """App. A.2: Gaussian noise on everything the discriminator sees."""
        return images + self.config.instance_noise * torch.randn(
            images.shape, generator=noise, device=images.device, dtype=images.dtype)

    def step(self, batch: torch.Tensor, step: int, noise: torch.Generator) -> dict[str, torch.Tensor]:
        model, weight = self.model, self.config.info_weight
        real = batch * 2 - 1
        codes, inputs = model.latent_sample(len(batch), noise)
        fake = model.generator(inputs)

        real_logits, _ = model.critic(self.instance_noise(real, noise))
        fake_logits, estimate = model.critic(self.instance_noise(fake.detach(), noise), recognise=True)
        discriminator = adversarial_loss(real_logits, True) + adversarial_loss(fake_logits, False)
        update(self.optimizers["discriminator"], discriminator + weight * information_loss(estimate, codes))

        fake_logits, estimate = model.critic(self.instance_noise(fake, noise), recognise=True)
        generator = adversarial_loss(fake_logits, True)  # the non-saturating form
        information = information_loss(estimate, codes)
        update(self.optimizers["generator"], generator + weight * information)
        return {"loss": discriminator + generator + weight * information, "discriminator": discriminator,
                "generator": generator, "information": information,
                "real_score": torch.sigmoid(real_logits).mean(), "fake_score": torch.sigmoid(fake_logits).mean()}
