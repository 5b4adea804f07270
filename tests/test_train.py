import json

import pytest
import torch

from betavae.errors import BetaVAEError, DivergedError
from betavae.runs import RunDir, load_model
from betavae.train import train


def _log(run_dir):
    return [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]


def test_loss_decreases_on_a_small_set(tmp_path, tiny_config):
    train(tiny_config(arch="mlp", steps=60, log_every=10), tmp_path / "run", progress=False)
    losses = [record["loss"] for record in _log(tmp_path / "run")]
    # measured: the first 10 steps average ~3,000 nats, the last ~500; a quarter is a wide margin
    assert losses[-1] < 0.25 * losses[0]
    record = _log(tmp_path / "run")[-1]
    assert len(record["kl_per_latent"]) == 10
    assert record["kl"] == pytest.approx(sum(record["kl_per_latent"]), rel=1e-4)


def test_resume_gives_identical_parameters(tmp_path, tiny_config):
    train(tiny_config(steps=20), tmp_path / "straight", progress=False)
    stopped = train(tiny_config(steps=20), tmp_path / "resumed", progress=False, stop_after=10)
    assert stopped.state == "interrupted" and RunDir(tmp_path / "resumed").state == "interrupted"
    train(tiny_config(steps=20), tmp_path / "resumed", resume=True, progress=False)
    _, straight = load_model(tmp_path / "straight")
    _, resumed = load_model(tmp_path / "resumed")
    for (name, a), (_, b) in zip(straight.state_dict().items(), resumed.state_dict().items()):
        assert torch.equal(a, b), name
    assert [r["step"] for r in _log(tmp_path / "resumed")] == [r["step"] for r in _log(tmp_path / "straight")]


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
