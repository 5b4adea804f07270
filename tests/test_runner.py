"""Sweeps (many runs, resumable, parallel) and the evaluation cache: finished work is reused, never mixed up."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from betavae.data.synthetic import SyntheticSquares
from betavae.errors import BetaVAEError
from betavae.evaluate import EvalSettings, evaluate_run_cached
from betavae.experiments.runner import ExecutorSettings, RunSpec, run_sweep
from betavae.metrics import BetaVAESettings, ClassifierSettings
from betavae.runs import RunDir
from betavae.train import train

REPO = Path(__file__).resolve().parents[1]


def test_parallel_sweep_trains_every_run_once_and_reuses_them(tmp_path, tiny_config):
    specs = [RunSpec(f"seed{seed}", tiny_config(steps=6, seed=seed)) for seed in (0, 1)]
    outcomes = run_sweep(specs, tmp_path, workers=2, progress=False)
    assert [(o.name, o.state) for o in outcomes] == [("seed0", "finished"), ("seed1", "finished")]
    stamps = [(tmp_path / name / "checkpoint.pt").stat().st_mtime_ns for name in ("seed0", "seed1")]
    again = run_sweep(specs, tmp_path, workers=2, progress=False)
    assert [o.state for o in again] == ["finished", "finished"]
    assert [(tmp_path / name / "checkpoint.pt").stat().st_mtime_ns for name in ("seed0", "seed1")] == stamps


def test_each_local_worker_is_pinned_to_its_own_gpu_and_each_run_records_which(tmp_path, tiny_config):
    """The round robin over GPUs, on this machine's CPUs: two (pretended) GPUs, two workers, four runs. What it
    leaves untested is only torch's view of real GPUs (``visible_gpus``); a worker pinned to "1" trains on it as
    cuda:0."""
    from betavae.experiments.runner import _run_locally

    specs = [RunSpec(f"seed{seed}", tiny_config(steps=6, seed=seed)) for seed in range(4)]
    outcomes, before = [], os.environ.get("CUDA_VISIBLE_DEVICES")
    _run_locally(specs, tmp_path, 2, ExecutorSettings(), False, outcomes.append, gpus=["0", "1"])
    assert sorted(outcome.name for outcome in outcomes) == [f"seed{seed}" for seed in range(4)]
    pinned = {}  # worker process -> the CUDA_VISIBLE_DEVICES its runs trained under
    for seed in range(4):
        [session] = json.loads((tmp_path / f"seed{seed}" / "provenance.json").read_text())["sessions"]
        assert pinned.setdefault(session["pid"], session["cuda_visible_devices"]) == session["cuda_visible_devices"]
    assert sorted(pinned.values()) == ["0", "1"]
    assert os.environ.get("CUDA_VISIBLE_DEVICES") == before  # this process kept its own setting


def test_sweep_continues_an_interrupted_run_and_keeps_a_diverged_one(tmp_path, tiny_config):
    train(tiny_config(steps=10), tmp_path / "stopped", progress=False, stop_after=5)
    exploding = tiny_config(steps=30, checkpoint_every=5)
    exploding.optim.lr = 1e6
    specs = [RunSpec("stopped", tiny_config(steps=10)), RunSpec("exploding", exploding)]
    outcomes = run_sweep(specs, tmp_path, progress=False)
    assert [o.state for o in outcomes] == ["finished", "diverged"] and "at step" in outcomes[1].message
    assert RunDir(tmp_path / "stopped").status()["step"] == 10
    sessions = json.loads((tmp_path / "stopped" / "provenance.json").read_text())["sessions"]
    assert [session["from_step"] for session in sessions] == [0, 5] and sessions[1]["device"] == "cpu"
    again = run_sweep(specs, tmp_path, progress=False)
    assert [o.state for o in again] == ["finished", "diverged"]


def test_sweep_refuses_a_finished_run_with_another_config(tmp_path, tiny_config):
    """E.g. the same output folder reused for another dataset or β: never reuse the wrong models."""
    run_sweep([RunSpec("run", tiny_config(steps=4))], tmp_path, progress=False)
    other = tiny_config(steps=4)
    other.objective.beta = 16.0
    with pytest.raises(BetaVAEError, match="holds a different run"):
        run_sweep([RunSpec("run", other)], tmp_path, progress=False)


def test_a_run_evaluation_is_cached_until_the_run_trains_further(tmp_path, tiny_config):
    data = SyntheticSquares(image_size=64)
    settings = EvalSettings(metrics=(BetaVAESettings(L=4, num_train=60, num_test=30,
                                                     classifier=ClassifierSettings(max_epochs=20)),),
                            classifier_seeds=(0,))
    train(tiny_config(steps=4), tmp_path / "run", progress=False)
    first = evaluate_run_cached(tmp_path / "run", data, settings, device="cpu", progress=False)
    assert first["subject"] == {"step": 4}  # the checkpoint scored, whatever its state
    assert first["representation_info"]["step"] == 4
    eval_path = tmp_path / "run" / "eval.json"
    stamp = eval_path.stat().st_mtime_ns
    again = evaluate_run_cached(tmp_path / "run", data, settings, device="cpu", progress=False)
    assert again["metrics"] == first["metrics"]  # the same entry: numbers, provenance and all
    assert eval_path.stat().st_mtime_ns == stamp  # reused, not recomputed
    train(tiny_config(steps=8), tmp_path / "run", resume=True, progress=False)
    later = evaluate_run_cached(tmp_path / "run", data, settings, device="cpu", progress=False)
    assert later["subject"]["step"] == 8 and later["representation_info"]["step"] == 8
    assert len(json.loads(eval_path.read_text())["metrics"]) == 2


def _python(*argv):
    """`python ARGV` as a real process: (exit status, stdout, stderr)."""
    done = subprocess.run([sys.executable, *argv], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    return done.returncode, done.stdout, done.stderr


def test_without_ray_betavae_imports_and_executor_ray_says_how_to_install_it(tmp_path):
    hide_ray = "import sys; sys.modules['ray'] = None; "  # as if the extra were not installed
    code, out, err = _python("-c", hide_ray + "import betavae.experiments.reproduce, betavae.cli; print('imported')")
    assert code == 0 and out.strip() == "imported", err
    code, _, err = _python("-c", hide_ray + "from betavae.cli import main; raise SystemExit(main())", "reproduce",
                           "samples", "--dataset", "synthetic-squares", "--out", str(tmp_path / "out"), "--executor",
                           "ray")
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith("error: --executor ray needs Ray") and "pip install 'betavae[ray]'" in err
    assert not (tmp_path / "out" / "runs").exists()  # refused before any work


def test_executor_flags_that_contradict_each_other_are_refused():
    with pytest.raises(BetaVAEError, match="add --executor ray"):
        ExecutorSettings("local", address="10.0.0.1:6379")
    with pytest.raises(BetaVAEError, match="--gpus-per-run is for --executor ray"):
        ExecutorSettings("local", gpus_per_run=0.5)
    with pytest.raises(BetaVAEError, match="--cpus-per-run is what Ray reserves for each task"):
        ExecutorSettings("local", cpus_per_run=1)
    with pytest.raises(BetaVAEError, match="--cpus-per-run must be > 0"):
        ExecutorSettings("ray", cpus_per_run=0)
    with pytest.raises(BetaVAEError, match="unknown executor 'slurm'"):
        ExecutorSettings("slurm")
