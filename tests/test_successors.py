"""The β-VAE's successors (FactorVAE, β-TCVAE, DIP-VAE-I/II): regularisers by hand, one step, resume, divergence."""

import json
import math

import pytest
import torch

from betavae.cli import main
from betavae.config import DataConfig, OptimConfig, RunConfig, TrainConfig
from betavae.data.synthetic import SyntheticSquares
from betavae.errors import BetaVAEError, DivergedError
from betavae.models.beta_tcvae import decompose_kl, log_normal
from betavae.models.dip_vae import batch_covariance, dip_covariance, dip_penalty
from betavae.models.factor_vae import FactorVAEConfig, discriminator_loss, permute_dims, tc_discriminator, tc_estimate
from betavae.models.registry import build_task, prepare_config
from betavae.models.training import DivergedLoss
from betavae.runs import RunDir
from betavae.train import train

SUCCESSORS = ["factor-vae", "beta-tcvae", "dip-vae-1", "dip-vae-2"]
IMAGES = SyntheticSquares(image_size=64)
SMALL_FACTOR_VAE = FactorVAEConfig(discriminator_units=64, discriminator_layers=2)


def run_config(model_type: str, **train_values) -> RunConfig:
    values = {"steps": 10, "batch_size": 16, "checkpoint_every": 5, "log_every": 5, "device": "cpu"}
    values.update(train_values)
    return RunConfig(model_type=model_type, data=DataConfig(dataset="synthetic-squares"),
                     train=TrainConfig(**values), section=SMALL_FACTOR_VAE if model_type == "factor-vae" else None)


def task_for(model_type: str, lr: float = 1e-3):
    config = run_config(model_type)
    config.optim = OptimConfig(name="adam", lr=lr)
    torch.manual_seed(0)
    task = build_task(prepare_config(config, (1, 64, 64)), torch.device("cpu"))
    indices = task.batch_indices(IMAGES, 32, torch.Generator().manual_seed(0))
    return task, torch.from_numpy(IMAGES.images(indices.numpy())).float() / 255


# --- β-TCVAE: the minibatch estimate of the total correlation (Chen et al. 2018, App. C) ---------------------------

def gaussian_batch(correlated: bool, size: int = 2000, latents: int = 3, seed: int = 0):
    """Posteriors N(μ_n, 0.5²) whose means are independent across latents, or one shared value (ρ = 1)."""
    generator = torch.Generator().manual_seed(seed)
    mean = torch.randn(size, 1 if correlated else latents, generator=generator).expand(size, latents) * 2
    logvar = torch.full((size, latents), math.log(0.25))
    z = mean + 0.5 * torch.randn(size, latents, generator=generator)
    return z, mean.contiguous(), logvar


def test_stratified_tc_estimate_is_zero_for_a_factorised_batch_and_large_for_a_correlated_one():
    z, mean, logvar = gaussian_batch(correlated=False)
    factorised = decompose_kl(z, mean, logvar, dataset_size=10_000, sampling="mss")
    assert abs(float(factorised.total_correlation)) < 0.1  # measured 0.06-0.07 over seeds 0-2: the 3-D mixture's bias
    z, mean, logvar = gaussian_batch(correlated=True)
    correlated = decompose_kl(z, mean, logvar, dataset_size=10_000, sampling="mss")
    # q(z) is Gaussian here: each z_k = 2u + 0.5ε_k, so ρ = 4/4.25 between any two, and TC = −½·log det R with
    # R's eigenvalues 1 + 2ρ, 1 − ρ, 1 − ρ: 2.30 nats (measured estimate 2.33-2.36 over seeds 0-2)
    rho = 4 / 4.25
    exact = -0.5 * math.log((1 + 2 * rho) * (1 - rho) ** 2)
    assert float(correlated.total_correlation) == pytest.approx(exact, abs=0.15)


def test_weighted_tc_estimate_is_the_batch_mixture_estimate_plus_its_constant_offset():
    """MWS: log q(z_i) ≈ logsumexp_j log q(z_i|n_j) − log(N·M); so TC = TC of the batch mixture + (K−1)·log N."""
    z, mean, logvar = gaussian_batch(correlated=False, size=200)
    pairs = log_normal(z[:, None, :], mean[None], logvar[None])
    mixture_joint = torch.logsumexp(pairs.sum(2), 1) - math.log(200)
    mixture_marginals = (torch.logsumexp(pairs, 1) - math.log(200)).sum(1)
    by_hand = (mixture_joint - mixture_marginals).mean() + 2 * math.log(5000)
    parts = decompose_kl(z, mean, logvar, dataset_size=5000, sampling="mws")
    torch.testing.assert_close(parts.total_correlation, by_hand)
    # the three parts always add up to a sampling estimate of the KL, whatever the estimator
    log_q = log_normal(z, mean, logvar).sum(1)
    log_p = log_normal(z, torch.zeros_like(z), torch.zeros_like(z)).sum(1)
    for sampling in ("mws", "mss"):
        parts = decompose_kl(z, mean, logvar, dataset_size=5000, sampling=sampling)
        total = parts.mutual_information + parts.total_correlation + parts.dimension_kl
        torch.testing.assert_close(total, (log_q - log_p).mean())


# --- DIP-VAE: the covariance penalty (Kumar et al. 2018, Eq. 6-7) ---------------------------------------------------

def whitened(size: int, latents: int, scale: float = 1.0) -> torch.Tensor:
    """A batch whose batch covariance is exactly scale·I."""
    values = torch.randn(size, latents, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    values = values - values.mean(0)
    root = torch.linalg.cholesky(batch_covariance(values))
    return values @ torch.linalg.inv(root).T * math.sqrt(scale)


def test_dip_penalty_is_zero_at_identity_covariance_and_hand_computed_elsewhere():
    mean = whitened(64, 4)
    torch.testing.assert_close(batch_covariance(mean), torch.eye(4, dtype=torch.float64))
    assert float(dip_penalty(dip_covariance(mean, torch.zeros_like(mean) - 50, "dip-vae-1"), 10, 100)) < 1e-12
    # DIP-VAE-II: Cov[μ] = ½I and E[σ²] = ½ make Cov_q(z) = I
    half = whitened(64, 4, scale=0.5)
    logvar = torch.full_like(half, math.log(0.5))
    assert float(dip_penalty(dip_covariance(half, logvar, "dip-vae-2"), 10, 10)) < 1e-12
    assert float(dip_penalty(dip_covariance(half, logvar, "dip-vae-1"), 10, 10)) == pytest.approx(4 * 10 * 0.25)
    covariance = torch.tensor([[2.0, 0.5], [0.5, 1.0]])
    assert float(dip_penalty(covariance, 3.0, 7.0)) == pytest.approx(3.0 * 2 * 0.25 + 7.0 * 1.0)


# --- FactorVAE: the discriminator's estimate (Kim & Mnih 2018, Eq. 3 and Alg. 2) --------------------------------------

def test_permuting_dims_keeps_every_marginal_and_breaks_the_joint():
    z = torch.arange(40.0).reshape(20, 2)
    z[:, 1] = z[:, 0]
    permuted = permute_dims(z, torch.Generator().manual_seed(0))
    for k in range(2):
        assert torch.equal(permuted[:, k].sort().values, z[:, k].sort().values)
    assert not torch.equal(permuted[:, 0], permuted[:, 1])


def test_tc_discriminator_estimates_zero_for_factorised_and_positive_for_correlated_latents():
    """A small discriminator trained as FactorVAE trains it: TC ≈ 0 on independent latents, > 0 on correlated ones."""
    estimates = {}
    for correlated in (False, True):
        torch.manual_seed(0)
        generator = torch.Generator().manual_seed(1)
        discriminator = tc_discriminator(2, 32, 2)
        optimizer = torch.optim.Adam(discriminator.parameters(), lr=1e-2, betas=(0.5, 0.9))
        for _ in range(300):
            z = torch.randn(256, 2, generator=generator)
            if correlated:
                z[:, 1] = 0.95 * z[:, 0] + math.sqrt(1 - 0.95**2) * z[:, 1]
            loss = discriminator_loss(discriminator(z), discriminator(permute_dims(z, generator)))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        with torch.no_grad():
            z = torch.randn(4096, 2, generator=generator)
            if correlated:
                z[:, 1] = 0.95 * z[:, 0] + math.sqrt(1 - 0.95**2) * z[:, 1]
            estimates[correlated] = float(tc_estimate(discriminator(z)))
    # the true TC of a bivariate Gaussian with ρ = 0.95 is −½·log(1 − ρ²) ≈ 1.16 nats; of independent ones 0
    assert abs(estimates[False]) < 0.15 and estimates[True] > 0.6, estimates


# --- every successor: one step, resume, divergence, the CLI ---------------------------------------------------------

def _loss_without_update(task, batch) -> float:
    """The step's loss on ``batch`` with the noise of seed 7, weights restored afterwards."""
    state = {name: value.clone() for name, value in task.model.state_dict().items()}
    optimizers = [optimizer.state_dict() for optimizer in task.optimizers.values()]
    lr = [group["lr"] for optimizer in task.optimizers.values() for group in optimizer.param_groups]
    for optimizer in task.optimizers.values():
        for group in optimizer.param_groups:
            group["lr"] = 0.0
    loss = float(task.step(batch, 0, torch.Generator().manual_seed(7))["loss"].detach())
    task.model.load_state_dict(state)
    rates = iter(lr)
    for optimizer, saved in zip(task.optimizers.values(), optimizers):
        optimizer.load_state_dict(saved)
        for group in optimizer.param_groups:
            group["lr"] = next(rates)
    return loss


@pytest.mark.parametrize("model_type", SUCCESSORS)
def test_one_step_lowers_the_loss_on_a_fixed_batch(model_type):
    task, batch = task_for(model_type)
    before = _loss_without_update(task, batch)
    discriminator = {name: value.clone() for name, value in task.model.state_dict().items()
                     if name.startswith("discriminator.")}
    metrics = task.step(batch, 0, torch.Generator().manual_seed(7))
    assert float(metrics["loss"].detach()) == pytest.approx(before, rel=1e-5)
    if discriminator:  # FactorVAE: the VAE's step judged by the discriminator it stepped against
        task.model.load_state_dict(discriminator, strict=False)
    after = _loss_without_update(task, batch)
    assert after < before, (before, after)
    logged = {"factor-vae": {"tc", "discriminator"}, "beta-tcvae": {"tc", "mutual_information", "dimension_kl"},
              "dip-vae-1": {"dip_penalty"}, "dip-vae-2": {"dip_penalty"}}[model_type]
    assert {"loss", "reconstruction", "kl", "kl_per_latent"} | logged <= set(metrics)


def test_factor_vae_discriminator_step_lowers_its_loss():
    task, batch = task_for("factor-vae")
    model, generator = task.model, torch.Generator().manual_seed(3)
    with torch.no_grad():
        z = model(batch, torch.Generator().manual_seed(7)).z
    permuted = permute_dims(z, generator)
    with torch.no_grad():
        before = float(discriminator_loss(model.discriminator(z), model.discriminator(permuted)))
    vae = {name: value.clone() for name, value in model.state_dict().items() if not name.startswith("discriminator.")}
    task.step(batch, 0, torch.Generator().manual_seed(7))
    model.load_state_dict(vae, strict=False)  # the discriminator's step alone
    with torch.no_grad():
        after = float(discriminator_loss(model.discriminator(z), model.discriminator(permuted)))
    assert after < before, (before, after)


@pytest.mark.parametrize("model_type", SUCCESSORS)
def test_divergence_is_detected_before_any_update_and_marks_the_run(tmp_path, model_type):
    task, batch = task_for(model_type)
    before = {name: value.clone() for name, value in task.model.state_dict().items()}
    with pytest.raises(DivergedLoss):
        task.step(torch.full_like(batch, float("nan")), 0, torch.Generator().manual_seed(0))
    for name, value in task.model.state_dict().items():
        assert torch.equal(value, before[name]), name
    config = run_config(model_type, steps=20)
    config.optim = OptimConfig(name="adagrad", lr=1e6)
    with pytest.raises(DivergedError, match="lower the lr"):
        train(config, tmp_path / "run", progress=False)
    assert RunDir(tmp_path / "run").state == "diverged"


def test_settings_are_checked_and_the_cli_derives_each_models_flags(tmp_path, capsys):
    config = run_config("dip-vae-2")
    assert prepare_config(config, (1, 64, 64)).section.lambda_d == 10.0  # λ_d = λ_od for DIP-VAE-II
    assert prepare_config(run_config("dip-vae-1"), (1, 64, 64)).section.lambda_d == 100.0
    config = run_config("beta-tcvae")
    config.objective.beta = 4.0
    with pytest.raises(BetaVAEError, match="--model beta-tcvae means β = 1"):
        prepare_config(config, (1, 64, 64))
    run = tmp_path / "tc"
    argv = ["train", "--model", "beta-tcvae", "--tc-weight", "2", "--sampling", "mss", "--dataset",
            "synthetic-squares", "--steps", "3", "--batch-size", "8", "--out", str(run), "--quiet", "--device", "cpu"]
    assert main(argv) == 0
    saved = json.loads((run / "config.json").read_text())
    assert saved["beta_tcvae"] == {"tc_weight": 2.0, "mi_weight": 1.0, "dimension_kl_weight": 1.0, "sampling": "mss"}
    assert main(["train", "--resume", "--out", str(run), "--steps", "4", "--quiet"]) == 0
    assert main(["train", "--resume", "--out", str(run), "--tc-weight", "3", "--quiet"]) == 2
    assert "its beta_tcvae.tc_weight is 2.0, not 3.0" in capsys.readouterr().err
    for extra, message in [(["--codes", "3"], "--codes is a setting of --model infogan, not of --model dip-vae-1"),
                           (["--lambda-od", "-1"], "dip_vae.lambda_od must be >= 0"),
                           (["--sampling", "exact"], "unknown beta_tcvae.sampling 'exact'")]:
        model = "beta-tcvae" if "--sampling" in extra else "dip-vae-1"
        code = main(["train", "--model", model, *extra, "--out", str(tmp_path / "x"), "--quiet"])
        assert code == 2 and message in capsys.readouterr().err


# --- beside β-VAE in the Fig. 6 table ---------------------------------------------------------------------------------

def test_the_successors_are_rows_of_the_fig6_table():
    from betavae.experiments.common import BUDGETS, beta_vae_config
    from betavae.experiments.rows import select_rows

    rows = select_rows(tuple(SUCCESSORS) + ("beta-vae-b4",))
    assert [row.model_type for row in rows] == ["beta-vae", *SUCCESSORS]
    for row in rows:
        config = beta_vae_config(BUDGETS["smoke"], "synthetic-squares", seed=0, beta=row.beta,
                                 model_type=row.model_type, device="cpu")
        prepared = prepare_config(config, (1, 64, 64))
        assert prepared.model.arch == "mlp" and prepared.train.steps == BUDGETS["smoke"].steps
        # the paper's 2D-shapes Adagrad for β-VAE; Adam 1e-4 for the successors (specs.vae.SUCCESSOR_OPTIMIZER)
        expected = ("adagrad", 1e-2) if row.model_type == "beta-vae" else ("adam", 1e-4)
        assert (prepared.optim.name, prepared.optim.lr) == expected


@pytest.mark.slow
def test_fig6_table_scores_the_successors_beside_beta_vae(tmp_path):
    from betavae.experiments.reproduce import reproduce

    rows = ",".join(["beta-vae-b4", *SUCCESSORS])
    report = reproduce("fig6-table", budget="smoke", out_dir=tmp_path / "fig6", dataset="synthetic-squares",
                       device="cpu", progress=False, rows=rows)
    results = json.loads((tmp_path / "fig6" / "results.json").read_text())["rows"]
    assert [row["key"] for row in results] == ["beta-vae-b4", *SUCCESSORS]
    for row in results:
        assert row["protocol"]["mean"] is not None or row["diverged"], row
    text = report.read_text()
    assert all(label in text for label in ("FactorVAE", "β-TCVAE", "DIP-VAE-I", "DIP-VAE-II"))
