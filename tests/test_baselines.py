"""The paper's baselines (Sec. 4.2, App. A.2-A.3): each is a representation that would fail here if it degenerated."""

import warnings

import numpy as np
import pytest
import torch
from sklearn.exceptions import ConvergenceWarning

from betavae.baselines import (
    REPRESENTATION_NAMES,
    PixelICA,
    fit_sample,
    ica_on_shape_pairs,
    load_run_representation,
    make_representation,
)
from betavae.config import DataConfig, DCIGNConfig, InfoGANConfig, ModelConfig, RunConfig, TrainConfig
from betavae.data.ground_truth import SubsetData
from betavae.data.synthetic import SyntheticSquares
from betavae.errors import BetaVAEError
from betavae.experiments.rows import FIG6_ROWS, row_for_data
from betavae.models.dcign import DCIGNTask, dcign_loss, factor_units
from betavae.models.registry import build_task, prepare_config
from betavae.models.vae import BetaVAE
from betavae.representations import CodeCache, Representation
from betavae.runs import RunDir, load_model
from betavae.train import train

SMALL = SyntheticSquares(image_size=16)  # 192 images of 256 pixels: for the linear baselines
LARGE = SyntheticSquares(image_size=64)  # the networks take 64×64


class ShapedSquares(SyntheticSquares):
    """The squares with their size renamed 'shape', to exercise the shape-pair ICA protocol."""

    factor_names = ("shape", "pos_x", "pos_y")


def run_config(model_type: str, **train_values) -> RunConfig:
    values = {"steps": 10, "batch_size": 16, "checkpoint_every": 5, "log_every": 5, "device": "cpu"}
    values.update(train_values)
    return RunConfig(model_type=model_type, data=DataConfig(dataset="synthetic-squares"),
                     train=TrainConfig(**values),
                     section=InfoGANConfig(width=8) if model_type == "infogan" else None)


def log(run_dir):
    return RunDir(run_dir).log()


# --- raw pixels, PCA, ICA (App. A.3) ------------------------------------------------------------------------------

def test_raw_pixels_are_the_flattened_pixels():
    images = SMALL.images(np.arange(0, 192, 7))
    codes = make_representation("raw-pixels", SMALL).encode(images)
    assert codes.shape == (len(images), 256)
    np.testing.assert_array_equal(codes, images.reshape(len(images), -1) / np.float32(255))


def test_pca_components_are_orthonormal_and_explained_variance_is_reported():
    whitened = make_representation("pca", SMALL, seed=0, fit_size=150)
    raw = make_representation("pca-raw", SMALL, seed=0, fit_size=150)
    components = whitened.components_
    assert components.shape == (10, 256)
    np.testing.assert_allclose(components @ components.T, np.eye(10), atol=1e-5)
    info = whitened.info
    assert info["fit_size"] == 150 and info["n_components"] == 10
    ratios = info["explained_variance_ratio_per_component"]
    assert 0 < info["explained_variance_ratio"] < 1
    assert info["explained_variance_ratio"] == pytest.approx(sum(ratios))
    assert all(a >= b for a, b in zip(ratios, ratios[1:]))
    # whitening rescales the codes (unit variance on the fit sample), never the subspace or the variance explained
    sample = fit_sample(SMALL, 150, seed=0)
    np.testing.assert_allclose(whitened.encode(sample).var(0, ddof=1), 1.0, rtol=1e-3)
    assert raw.info["explained_variance_ratio"] == pytest.approx(info["explained_variance_ratio"])
    np.testing.assert_allclose(whitened.encode(sample) * np.sqrt(raw.pca_.explained_variance_),
                               raw.encode(sample), atol=1e-3)


def test_ica_unmixes_whitened_components_and_records_convergence():
    ica = make_representation("ica", SMALL, seed=0, fit_size=150)
    assert ica.unmixing_.shape == (10, 10) and ica.components_.shape == (10, 256)
    np.testing.assert_allclose(ica.unmixing_ @ ica.unmixing_.T, np.eye(10), atol=1e-3)  # a rotation
    codes = ica.encode(fit_sample(SMALL, 150, seed=0))
    np.testing.assert_allclose(np.cov(codes.T), np.eye(10), atol=1e-2)  # independent ⇒ uncorrelated, unit variance
    assert isinstance(ica.info["converged"], bool) and ica.info["n_iter"] >= 1 and ica.info["fit_size"] == 150


def test_ica_non_convergence_is_recorded_not_hidden_nor_raised():
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        ica = PixelICA(seed=0, max_iter=1).fit(fit_sample(SMALL, 150, seed=0))
    assert ica.info["converged"] is False and ica.info["n_iter"] == 1
    assert any("did not converge" in message for message in ica.info["warnings"])


def test_ica_shape_pair_protocol_fits_one_model_per_pair_of_shapes():
    models = ica_on_shape_pairs(ShapedSquares(image_size=16), seed=0, fit_size=1000)
    assert [model.info["shapes"] for model in models] == [[0, 1], [0, 2], [1, 2]]
    assert len({model.name for model in models}) == 3
    assert all(model.info["fit_size"] == 2 * 64 for model in models)  # only the two shapes' images were drawn
    with pytest.raises(BetaVAEError, match="'shape' factor"):
        ica_on_shape_pairs(SMALL)
    with pytest.raises(BetaVAEError, match=">= 2 shapes"):  # one shape leaves nothing to pair
        ica_on_shape_pairs(ShapedSquares(image_size=16, num_sizes=1))


def test_ica_row_follows_the_shape_pairs_only_where_there_are_shapes():
    ica_row = next(row for row in FIG6_ROWS if row.key == "ica")
    assert row_for_data(ica_row, ShapedSquares(image_size=16)).fitted == "ica-pairs"
    fallback = row_for_data(ica_row, SyntheticSquares())
    assert fallback.fitted == "ica" and "no 'shape' factor" in fallback.label and fallback.key == "ica"
    assert row_for_data(ica_row, ShapedSquares(image_size=16, num_sizes=1)).fitted == "ica"  # one shape: no pairs


def test_ica_shape_pairs_are_scored_one_by_one_and_averaged():
    from betavae.evaluate import evaluate_representation, format_table, metric_result
    from betavae.experiments.common import paper_settings
    from betavae.metrics import ClassifierSettings

    data = ShapedSquares(image_size=16)
    settings = paper_settings(L=4, num_train=100, num_test=60, table2_train=100, table2_test=60,
                              classifier=ClassifierSettings(max_epochs=30), classifier_seeds=(0, 1),
                              metrics=("beta-vae", "beta-vae-dlib", "table2", "mig"), smoke=True)
    models = make_representation("ica-pairs", data, seed=0, fit_size=1000)
    averaged = evaluate_representation(models, data, settings, progress=False)
    singles = [evaluate_representation(model, data, settings, progress=False) for model in models]
    metric, dlib, table2 = (metric_result(averaged, name) for name in ("beta-vae", "beta-vae-dlib", "table2"))
    single = [{name: metric_result(s, name) for name in ("beta-vae", "beta-vae-dlib", "table2", "mig")}
              for s in singles]
    for k in range(2):  # per classifier seed, the mean over the three models
        assert metric["scores"][k] == pytest.approx(np.mean([s["beta-vae"]["scores"][k] for s in single]))
    assert metric["per_model_scores"] == [s["beta-vae"]["scores"] for s in single]
    assert dlib["score"] == pytest.approx(np.mean([s["beta-vae-dlib"]["score"] for s in single]))
    assert table2["mean"] == pytest.approx(np.mean([s["table2"]["mean"] for s in single]))
    assert metric_result(averaged, "mig")["mig"] == pytest.approx(np.mean([s["mig"]["mig"] for s in single]))
    assert [part["shapes"] for part in averaged["representation_info"]["averaged_over"]] == [[0, 1], [0, 2], [1, 2]]
    assert "shapes [0, 1], fitted on 128 images" in format_table(averaged)
    # every other field is combined over the three models too, never taken from the first alone
    for name, accuracy in dlib["per_factor_accuracy"].items():
        values = [s["beta-vae-dlib"]["per_factor_accuracy"][name] for s in single
                  if s["beta-vae-dlib"]["per_factor_accuracy"][name] is not None]
        assert accuracy == pytest.approx(np.mean(values))
    assert metric["confusion"] == np.sum([s["beta-vae"]["confusion"] for s in single], axis=0).tolist()
    assert metric["converged"] == [all(column) for column in zip(*(s["beta-vae"]["converged"] for s in single))]
    assert metric["std"] == pytest.approx(np.std(metric["scores"]))
    assert table2["settings"] == single[0]["table2"]["settings"]
    with pytest.raises(BetaVAEError, match="no evaluations"):
        from betavae.evaluate import average_evaluations

        average_evaluations([])


# --- the untrained VAE, the floor and the ceiling -------------------------------------------------------------------

def test_untrained_vae_is_the_seeded_initialisation():
    images = LARGE.images(np.arange(0, 192, 5))
    rng_before = torch.get_rng_state()
    a = make_representation("untrained-vae", LARGE, seed=3)
    codes = a.encode(images)
    assert torch.equal(torch.get_rng_state(), rng_before)
    np.testing.assert_array_equal(codes, make_representation("untrained-vae", LARGE, seed=3).encode(images))
    assert not np.allclose(codes, make_representation("untrained-vae", LARGE, seed=4).encode(images))
    assert codes.shape == (len(images), 10) and codes.std(0).min() > 0
    torch.manual_seed(3)  # what `train` builds for seed 3 before its first step
    reference = BetaVAE(ModelConfig(arch="mlp", latents=10, likelihood="bernoulli", image_shape=(1, 64, 64)))
    for (name, x), (_, y) in zip(a.model.state_dict().items(), reference.state_dict().items()):
        assert torch.equal(x, y), name


def test_ground_truth_and_constant_are_served():
    images = SMALL.images(np.array([5, 17]))
    codes = make_representation("ground-truth", SMALL).encode(images)  # one-hot blocks, one per factor
    assert codes.shape == (2, sum(SMALL.factor_sizes))
    blocks = np.split(codes, np.cumsum(SMALL.factor_sizes)[:-1], axis=1)
    np.testing.assert_array_equal(np.stack([block.argmax(axis=1) for block in blocks], axis=1), SMALL.factors([5, 17]))
    assert make_representation("constant", SMALL, dim=4).encode(images).shape == (2, 4)


@pytest.mark.parametrize("name", [name for name in REPRESENTATION_NAMES if name != "ica-pairs"])  # a list: above
def test_every_name_is_a_representation_the_code_cache_can_read(name):
    options = {"fit_size": 100} if name in ("pca", "pca-raw", "ica") else {}
    representation = make_representation(name, LARGE, seed=0, **options)
    assert isinstance(representation, Representation) and representation.name == name
    codes = CodeCache(representation, LARGE).codes(np.array([3, 50, 3]))
    assert codes.shape[0] == 3 and np.isfinite(codes).all()
    np.testing.assert_array_equal(codes[0], codes[2])


def test_unknown_names_and_options_are_refused():
    with pytest.raises(BetaVAEError, match="unknown representation 'pixels'"):
        make_representation("pixels", SMALL)
    with pytest.raises(BetaVAEError, match=r"no option\(s\) \['whiten'\]"):
        make_representation("ica", SMALL, whiten=False)
    with pytest.raises(BetaVAEError, match="factors"):
        make_representation("ground-truth", SubsetData(SMALL, [0, 1]))


# --- InfoGAN (App. A.2) -----------------------------------------------------------------------------------------

def test_infogan_recognises_its_own_codes_after_a_short_run(tmp_path):
    train(run_config("infogan", steps=30, batch_size=32, checkpoint_every=30, log_every=10), tmp_path / "run",
          progress=False)
    assert {"discriminator", "generator", "information", "real_score", "fake_score"} <= set(log(tmp_path / "run")[-1])
    _, model = load_model(tmp_path / "run")
    generator = torch.Generator().manual_seed(123)
    with torch.no_grad():
        codes, inputs = model.latent_sample(512, generator)
        estimate = model.encode_mean((model.generator(inputs) + 1) / 2)
    correlations = [np.corrcoef(codes[:, j], estimate[:, j])[0, 1] for j in range(5)]
    # measured after 30 steps: 0.66-0.90 per code over seeds 0-2; at initialisation |r| < 0.2
    assert min(correlations) > 0.5, correlations
    samples = model.sample(8, torch.Generator().manual_seed(0))
    assert samples.shape == (8, 1, 64, 64) and 0 <= samples.min() and samples.max() <= 1
    codes = load_run_representation(tmp_path / "run").encode(LARGE.images(np.arange(20)))
    assert codes.shape == (20, 5) and np.isfinite(codes).all()
    # samples at every checkpoint (steps 0 and 30), so a collapse shows while it trains
    assert sorted(p.name for p in (tmp_path / "run" / "figures").iterdir()) == [
        "samples_step0000000.png", "samples_step0000030.png"]


@pytest.mark.parametrize("model_type", ["infogan", "dcign", "factor-vae", "beta-tcvae", "dip-vae-1", "dip-vae-2"])
def test_resume_gives_identical_parameters(tmp_path, model_type):
    """Every model resumes bit for bit: the baselines here, the β-VAE in test_train, the successors of issue 13."""
    train(run_config(model_type), tmp_path / "straight", progress=False)
    train(run_config(model_type), tmp_path / "resumed", progress=False, stop_after=5)
    train(run_config(model_type), tmp_path / "resumed", resume=True, progress=False)
    _, straight = load_model(tmp_path / "straight")
    _, resumed = load_model(tmp_path / "resumed")
    for (name, a), (_, b) in zip(straight.state_dict().items(), resumed.state_dict().items()):
        assert torch.equal(a, b), name
    assert log(tmp_path / "straight")[-1]["loss"] == log(tmp_path / "resumed")[-1]["loss"]


def test_infogan_non_finite_loss_raises_before_any_update():
    from betavae.models.training import DivergedLoss

    config = prepare_config(run_config("infogan"), (1, 64, 64))
    task = build_task(config, torch.device("cpu"))
    before = {name: value.clone() for name, value in task.model.state_dict().items()}
    with pytest.raises(DivergedLoss):
        task.step(torch.full((4, 1, 64, 64), float("nan")), 0, torch.Generator().manual_seed(0))
    for name, value in task.model.state_dict().items():
        assert torch.equal(value, before[name]) or "running" in name or "num_batches" in name, name


def test_infogan_config_is_checked():
    config = run_config("infogan")
    config.objective.beta = 4.0
    with pytest.raises(BetaVAEError, match="does not use --beta"):
        prepare_config(config, (1, 64, 64))
    config = run_config("infogan")
    config.section.codes = 11
    with pytest.raises(BetaVAEError, match="exceeds the generator's 10 inputs"):
        prepare_config(config, (1, 64, 64))
    config = run_config("infogan")
    config.section.lr_generator = 0
    with pytest.raises(BetaVAEError, match="infogan.lr_generator must be > 0"):
        config.validate()
    prepared = prepare_config(run_config("infogan"), (1, 64, 64))
    assert prepared.model.arch is None and prepared.optim.name is None and prepared.objective.beta is None
    assert RunConfig.from_dict(prepared.to_dict()) == prepared


# --- DC-IGN (Kulkarni et al., 2015) --------------------------------------------------------------------------------

def dcign_task(invariance: float) -> DCIGNTask:
    config = run_config("dcign")
    config.section = DCIGNConfig(invariance=invariance)
    torch.manual_seed(0)
    return build_task(prepare_config(config, (1, 64, 64)), torch.device("cpu"))


def test_dcign_batches_vary_one_factor_and_clamp_the_others_units():
    task = dcign_task(1.0)
    generator = torch.Generator().manual_seed(0)
    groups = factor_units(10, 3)  # squares: size, pos_x, pos_y → 3 units each, unit 9 free
    assert [list(units) for units in groups] == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    seen = set()
    for _ in range(12):
        factors = LARGE.factors(task.batch_indices(LARGE, 32, generator).numpy())
        varying = [k for k in range(3) if len(np.unique(factors[:, k])) > 1]
        assert len(varying) == 1
        seen.add(varying[0])
        expected = torch.ones(10, dtype=torch.bool)
        expected[list(groups[varying[0]])] = False
        expected[9] = False
        assert torch.equal(task.clamped, expected)
    assert seen == {0, 1, 2}


@pytest.mark.parametrize("invariance", [0.0, 2.0])
def test_dcign_clamped_units_get_only_the_invariance_gradient(invariance):
    task = dcign_task(invariance)
    indices = task.batch_indices(LARGE, 16, torch.Generator().manual_seed(1))
    batch = torch.from_numpy(LARGE.images(indices.numpy())).float() / 255
    config = task.config
    result = dcign_loss(task.model, batch, task.clamped, config.model, config.objective, task.section, 0,
                        torch.Generator().manual_seed(0))
    result.mean.retain_grad()
    result.logvar.retain_grad()
    result.loss.backward()
    clamped = task.clamped
    for held in (result.forward.mean, result.forward.logvar):  # what the decoder saw is one value per batch
        assert torch.equal(held[:, clamped], held[:1, clamped].expand(16, -1))
    for raw in (result.mean, result.logvar):
        expected = invariance * (raw - raw.mean(0)).detach()[:, clamped] / len(batch)
        torch.testing.assert_close(raw.grad[:, clamped], expected, rtol=1e-4, atol=1e-7)
        assert raw.grad[:, ~clamped].abs().sum() > 0
    if invariance == 0:
        assert result.mean.grad[:, clamped].abs().max() == 0 and result.logvar.grad[:, clamped].abs().max() == 0


def test_dcign_needs_ground_truth_factors():
    task = dcign_task(1.0)
    with pytest.raises(BetaVAEError, match="ground-truth factors"):
        task.batch_indices(SubsetData(LARGE, np.arange(10)), 4, torch.Generator())
    for change, message in [({"dataset": "celeba"}, "ground-truth factors"), ({"subset": "stride:size=2"}, "--subset")]:
        config = run_config("dcign")
        for name, value in change.items():
            setattr(config.data, name, value)
        with pytest.raises(BetaVAEError, match=message):
            prepare_config(config, (1, 64, 64))
    with pytest.raises(BetaVAEError, match="raise --latents"):
        factor_units(4, 5)
    config = prepare_config(run_config("dcign"), (1, 64, 64))
    assert (config.model.arch, config.objective.beta, config.optim.name) == ("conv", 1.0, "adam")


# --- every trained row is scorable ----------------------------------------------------------------------------------

@pytest.mark.parametrize("model_type,dim", [("vae", 10), ("infogan", 5), ("dcign", 10), ("factor-vae", 10),
                                            ("beta-tcvae", 10), ("dip-vae-1", 10), ("dip-vae-2", 10)])
def test_trained_runs_are_representations(tmp_path, model_type, dim):
    train(run_config(model_type, steps=2), tmp_path / "run", progress=False)
    representation = load_run_representation(tmp_path / "run")
    codes = representation.encode(LARGE.images(np.arange(0, 192, 9)))
    assert codes.shape == (22, dim) and np.isfinite(codes).all()
    assert representation.info["model_type"] == model_type and representation.info["state"] == "finished"
