import math

import pytest
import torch

from betavae.config import ModelConfig, ObjectiveConfig, RunConfig
from betavae.errors import BetaVAEError
from betavae.models.vae import BetaVAE, kl_per_latent, objective, reconstruction_nll


def test_closed_form_kl_matches_monte_carlo():
    generator = torch.Generator().manual_seed(0)
    mean = torch.randn(4, 3, generator=generator)
    logvar = torch.randn(4, 3, generator=generator) * 0.5
    std = torch.exp(0.5 * logvar)
    z = mean + std * torch.randn(200_000, 4, 3, generator=generator)
    log_q = torch.distributions.Normal(mean, std).log_prob(z)
    log_p = torch.distributions.Normal(0.0, 1.0).log_prob(z)
    monte_carlo = (log_q - log_p).mean(0)
    # 200k samples: the MC standard error is < 0.01 for these KLs (all < 3 nats)
    assert torch.allclose(kl_per_latent(mean, logvar), monte_carlo, atol=0.02)


def test_kl_is_zero_at_the_prior():
    assert kl_per_latent(torch.zeros(2, 5), torch.zeros(2, 5)).abs().max() == 0


def test_normalised_beta_round_trip():
    """App. A.6: β_norm = β·M/N; dSprites N = 4096, M = 10 → β = 4 is β_norm ≈ 0.00977."""
    config = RunConfig(objective=ObjectiveConfig(beta=4.0)).resolve((1, 64, 64))
    assert config.objective.beta_norm == pytest.approx(4 * 10 / 4096)
    back = RunConfig(objective=ObjectiveConfig(beta_norm=config.objective.beta_norm)).resolve((1, 64, 64))
    assert back.objective.beta == pytest.approx(4.0)


def test_conflicting_beta_and_beta_norm_are_refused():
    with pytest.raises(BetaVAEError, match="disagree"):
        RunConfig(objective=ObjectiveConfig(beta=4.0, beta_norm=1.0)).resolve((1, 64, 64))


@pytest.mark.parametrize("beta, message", [(-1.0, "beta must be >= 0"), (float("nan"), "beta must be a finite number")])
def test_negative_or_nan_beta_is_refused(beta, message):
    with pytest.raises(BetaVAEError, match=message):  # NaN: the message `train --beta nan` has always given
        ObjectiveConfig(beta=beta).validate()


def test_bernoulli_reconstruction_is_summed_over_pixels():
    logits = torch.zeros(2, 1, 64, 64)
    x = torch.ones(2, 1, 64, 64)
    assert torch.allclose(reconstruction_nll(logits, x, "bernoulli"), torch.full((2,), 4096 * math.log(2)))


def test_gaussian_reconstruction_is_exact_nll():
    logits = torch.zeros(1, 1, 2, 2)  # decoder mean sigmoid(0) = 0.5
    x = torch.full((1, 1, 2, 2), 0.5)
    expected = 4 * math.log(0.5 * math.sqrt(2 * math.pi))
    assert reconstruction_nll(logits, x, "gaussian", 0.5).item() == pytest.approx(expected)


@pytest.mark.parametrize("arch,channels,parameters", [("mlp", 1, 14_196_516), ("conv", 3, None), ("burgess", 1, None)])
def test_architectures_shapes(arch, channels, parameters):
    model = BetaVAE(ModelConfig(arch=arch, latents=7, likelihood="bernoulli", image_shape=(channels, 64, 64)))
    forward = model(torch.rand(2, channels, 64, 64))
    assert forward.logits.shape == (2, channels, 64, 64)
    assert forward.mean.shape == forward.logvar.shape == (2, 7)
    if parameters:  # Table 1 MLP: 4096-1200-1200-20 / 10-1200-1200-1200-4096 at M = 10
        full = BetaVAE(ModelConfig(arch=arch, latents=10, likelihood="bernoulli", image_shape=(1, 64, 64)))
        assert sum(p.numel() for p in full.parameters()) == parameters


def test_capacity_objective_targets_ramped_capacity():
    model_config = ModelConfig(arch="mlp", latents=4, likelihood="bernoulli", image_shape=(1, 64, 64))
    model = BetaVAE(model_config)
    x = torch.rand(3, 1, 64, 64).round()
    forward = model(x)
    config = ObjectiveConfig(kind="capacity", gamma=10.0, capacity_max=20.0, capacity_steps=100)
    terms = objective(forward, x, model_config, config, step=50)  # C = 10 nats halfway
    assert terms.loss.item() == pytest.approx((terms.reconstruction + 10.0 * (terms.kl - 10.0).abs()).item())
