import json
import signal
import sys

import pytest
import torch

import betavae.train
from betavae.errors import BetaVAEError, DivergedError
from betavae.runs import RunDir, load_model
from betavae.train import train


def _log(run_dir):
    return RunDir(run_dir).log()


def test_loss_decreases_on_a_small_set(tmp_path, tiny_config):
    train(tiny_config(arch="mlp", steps=60, log_every=10), tmp_path / "run", progress=False)
    losses = [record["loss"] for record in _log(tmp_path / "run")]
    # measured: the first 10 steps average ~3,000 nats, the last ~500; a quarter is a wide margin
    assert losses[-1] < 0.25 * losses[0]
    record = _log(tmp_path / "run")[-1]
    assert len(record["kl_per_latent"]) == 10
    assert record["kl"] == pytest.approx(sum(record["kl_per_latent"]), rel=1e-4)


def _assert_same_parameters(run_a, run_b):
    _, model_a = load_model(run_a)
    _, model_b = load_model(run_b)
    for (name, a), (_, b) in zip(model_a.state_dict().items(), model_b.state_dict().items()):
        assert torch.equal(a, b), name


@pytest.mark.parametrize("optimizer", ["adam", "adagrad"])  # the conv nets' and the 2D-shapes MLP's (fused)
def test_resume_gives_identical_parameters(tmp_path, tiny_config, optimizer):
    def config():
        run_config = tiny_config(steps=20)
        run_config.optim.name = optimizer
        return run_config

    train(config(), tmp_path / "straight", progress=False)
    stopped = train(config(), tmp_path / "resumed", progress=False, stop_after=10)
    assert stopped.state == "interrupted" and RunDir(tmp_path / "resumed").state == "interrupted"
    train(config(), tmp_path / "resumed", resume=True, progress=False)
    _assert_same_parameters(tmp_path / "straight", tmp_path / "resumed")
    assert [r["step"] for r in _log(tmp_path / "resumed")] == [r["step"] for r in _log(tmp_path / "straight")]


def _patch_task_step(monkeypatch, at_step, action):
    """Make the training task run ``action(task)`` right after its update of step ``at_step``."""
    build_task = betavae.train.build_task

    def patched_build_task(config, device):
        task = build_task(config, device)
        step = task.step

        def step_then_act(batch, index, noise):
            metrics = step(batch, index, noise)
            if index == at_step:
                action(task)
            return metrics

        task.step = step_then_act
        return task

    monkeypatch.setattr(betavae.train, "build_task", patched_build_task)


def test_ctrl_c_mid_step_checkpoints_on_a_step_boundary_and_resumes_bit_for_bit(tmp_path, tiny_config, monkeypatch):
    train(tiny_config(steps=20), tmp_path / "straight", progress=False)
    _patch_task_step(monkeypatch, 6, lambda task: signal.raise_signal(signal.SIGINT))
    with pytest.raises(BetaVAEError, match="interrupted at step 7"):
        train(tiny_config(steps=20), tmp_path / "resumed", progress=False)
    run = RunDir(tmp_path / "resumed")
    assert run.state == "interrupted" and run.load_checkpoint()["step"] == 7
    monkeypatch.undo()
    train(tiny_config(steps=20), tmp_path / "resumed", resume=True, progress=False)
    _assert_same_parameters(tmp_path / "straight", tmp_path / "resumed")


def test_non_finite_weights_are_never_checkpointed(tmp_path, tiny_config, monkeypatch):
    def poison(task):
        with torch.no_grad():
            next(task.model.parameters()).fill_(float("inf"))

    _patch_task_step(monkeypatch, 4, poison)  # the loss of step 4 was finite; the weights after it are not
    with pytest.raises(DivergedError, match="non-finite by step 5"):
        train(tiny_config(steps=20, checkpoint_every=5), tmp_path / "run", progress=False)
    run = RunDir(tmp_path / "run")
    assert run.state == "diverged" and run.status()["last_good_checkpoint_step"] == 0
    assert all(torch.isfinite(p).all() for p in run.load_checkpoint()["model"].values())


def test_checkpoint_records_config_and_refuses_resume_on_another_device(tmp_path, tiny_config):
    train(tiny_config(steps=20), tmp_path / "run", progress=False, stop_after=5)
    run = RunDir(tmp_path / "run")
    checkpoint = run.load_checkpoint()
    assert checkpoint["config"] == run.config().to_dict() and checkpoint["device"] == "cpu"
    run.save_checkpoint({**checkpoint, "device": "cuda"})
    with pytest.raises(BetaVAEError, match="trained on cuda; resume it with --device cuda"):
        train(tiny_config(steps=20), tmp_path / "run", resume=True, progress=False)


def test_a_failed_extension_leaves_the_finished_run_as_it_was(tmp_path, tiny_config):
    train(tiny_config(steps=10), tmp_path / "run", progress=False)
    run = RunDir(tmp_path / "run")
    run.save_checkpoint({**run.load_checkpoint(), "device": "cuda"})  # as if trained on a GPU machine
    with pytest.raises(BetaVAEError, match="trained on cuda"):
        train(tiny_config(steps=20), tmp_path / "run", resume=True, progress=False)
    # the longer length was not recorded, so the run is not mistaken for a finished 20-step one
    assert run.config().train.steps == 10 and run.finished(10) and not run.finished(20)


def test_a_checkpoint_of_another_run_is_refused(tmp_path, tiny_config):
    train(tiny_config(steps=20, seed=1), tmp_path / "other", progress=False, stop_after=5)
    train(tiny_config(steps=20), tmp_path / "run", progress=False, stop_after=5)
    RunDir(tmp_path / "run").save_checkpoint(RunDir(tmp_path / "other").load_checkpoint())
    with pytest.raises(BetaVAEError, match="belongs to another run"):
        train(tiny_config(steps=20), tmp_path / "run", resume=True, progress=False)


def test_tensorboard_missing_is_reported_before_the_run_directory_is_touched(tmp_path, tiny_config, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # makes the import fail
    with pytest.raises(BetaVAEError, match="pip install tensorboard"):
        train(tiny_config(steps=5, tensorboard=True), tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


def test_tensorboard_gets_every_logged_scalar_and_one_curve_per_latent(tmp_path, tiny_config, monkeypatch):
    scalars = {}

    class FakeWriter:
        def __init__(self, log_dir):
            self.log_dir = log_dir

        def add_scalar(self, name, value, step):
            scalars.setdefault(name, []).append((step, value))

        def close(self):
            pass

    monkeypatch.setattr(betavae.train, "_tensorboard_writer", lambda: FakeWriter)
    train(tiny_config(steps=10, tensorboard=True), tmp_path / "run", progress=False)
    assert {"loss", "reconstruction", "kl", "images_per_second", "kl_per_latent/0", "kl_per_latent/9"} <= set(scalars)
    assert "time" not in scalars and "step" not in scalars
    assert [step for step, _ in scalars["loss"]] == [5, 10]


def test_same_seed_same_numbers_and_other_seed_differs(tmp_path, tiny_config):
    for name, seed in [("a", 3), ("b", 3), ("c", 4)]:
        train(tiny_config(steps=10, seed=seed), tmp_path / name, progress=False)
    loss = {name: _log(tmp_path / name)[-1]["loss"] for name in "abc"}
    assert loss["a"] == loss["b"] != loss["c"]


def test_finished_run_is_not_recomputed(tmp_path, tiny_config):
    train(tiny_config(steps=10), tmp_path / "run", progress=False)
    before = (tmp_path / "run" / "checkpoint.pt").stat().st_mtime_ns
    result = train(tiny_config(steps=10), tmp_path / "run", progress=False)
    assert result.state == "finished" and result.images_per_second is None
    assert (tmp_path / "run" / "checkpoint.pt").stat().st_mtime_ns == before


def test_a_run_can_be_extended_with_resume(tmp_path, tiny_config):
    train(tiny_config(steps=10), tmp_path / "run", progress=False)
    result = train(tiny_config(steps=20), tmp_path / "run", resume=True, progress=False)
    assert result.step == 20 and RunDir(tmp_path / "run").config().train.steps == 20


def test_existing_run_with_other_config_is_refused(tmp_path, tiny_config):
    train(tiny_config(steps=10), tmp_path / "run", progress=False)
    other = tiny_config(steps=10)
    other.model.latents = 3
    with pytest.raises(BetaVAEError, match="holds a different run"):
        train(other, tmp_path / "run", progress=False)


def test_unfinished_run_needs_resume(tmp_path, tiny_config):
    train(tiny_config(steps=20), tmp_path / "run", progress=False, stop_after=10)
    with pytest.raises(BetaVAEError, match="--resume"):
        train(tiny_config(steps=20), tmp_path / "run", progress=False)


def test_nan_loss_stops_marks_diverged_and_keeps_last_good_checkpoint(tmp_path, tiny_config):
    config = tiny_config(steps=40, checkpoint_every=5)
    config.optim.lr = 1e6  # Adagrad at this rate blows the weights up within a few steps
    with pytest.raises(DivergedError, match=r"at step \d+"):
        train(config, tmp_path / "run", progress=False)
    run = RunDir(tmp_path / "run")
    status = run.status()
    assert status["state"] == "diverged"
    checkpoint = run.load_checkpoint()
    assert checkpoint["step"] == status["last_good_checkpoint_step"] <= status["step"]
    assert all(torch.isfinite(p).all() for p in checkpoint["model"].values())
    with pytest.raises(BetaVAEError, match="diverged"):
        train(config, tmp_path / "run", progress=False)


def test_resume_without_a_run_is_refused(tmp_path, tiny_config):
    with pytest.raises(BetaVAEError, match="nothing to resume"):
        train(tiny_config(), tmp_path / "empty", resume=True, progress=False)


def test_unwritable_output_directory_is_refused(tmp_path, tiny_config):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(BetaVAEError, match="cannot write to output directory"):
        train(tiny_config(), blocker / "run", progress=False)


def test_config_and_provenance_are_recorded(tmp_path, tiny_config):
    train(tiny_config(steps=5), tmp_path / "run", progress=False)
    config = RunDir(tmp_path / "run").config()
    assert config.objective.beta == 4.0 and config.objective.beta_norm == pytest.approx(4 * 10 / 4096)
    provenance = json.loads((tmp_path / "run" / "provenance.json").read_text())
    assert {"torch", "numpy", "betavae", "python"} <= set(provenance["versions"])
    assert "git_commit" in provenance and provenance["data"]["name"] == "synthetic-squares"
