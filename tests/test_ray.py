"""`reproduce --executor ray` against a real local Ray instance: the same runs as the local pool, a killed worker's
run resumed from its checkpoint, nothing recomputed on a rerun. Skipped only where the `ray` extra is missing."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from betavae.errors import BetaVAEError
from betavae.experiments.runner import ExecutorSettings, RunSpec, run_sweep
from betavae.runs import RunDir

REPO = Path(__file__).resolve().parents[1]


ray = pytest.importorskip("ray", reason="the ray extra is not installed (pip install -e '.[dev,ray]'; CI installs it)")


def test_an_address_nothing_answers_at_is_one_error_line_at_once(tmp_path):
    code, _, err = _betavae_process("reproduce", "samples", "--dataset", "synthetic-squares", "--out",
                                    str(tmp_path / "out"), "--executor", "ray", "--address", "127.0.0.1:1", "--quiet")
    assert code == 2 and err.count("error:") == 1 and "Traceback" not in err, err
    assert "nothing answers at the Ray cluster address 127.0.0.1:1" in err and "ray start --head" in err


@pytest.fixture(scope="module")
def ray_instance():
    """One local Ray instance (2 CPUs, as CI has) for this module; a sweep uses a Ray it finds initialised."""
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    yield
    ray.shutdown()


ON_RAY = ExecutorSettings("ray", cpus_per_run=1)


def _log(run_dir: Path) -> list[dict]:
    """A run's log without wall-clock fields."""
    records = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    return [{k: v for k, v in record.items() if k not in ("time", "images_per_second")} for record in records]


def _sessions(run_dir: Path) -> list[dict]:
    return json.loads((run_dir / "provenance.json").read_text())["sessions"]


def test_a_ray_sweep_trains_the_same_runs_as_the_local_pool_and_a_rerun_recomputes_nothing(tmp_path, tiny_config,
                                                                                           ray_instance):
    specs = [RunSpec(f"seed{seed}", tiny_config(steps=6, seed=seed)) for seed in (0, 1)]
    # both on their default path: each run trains with the threads its config records, whatever the executor
    local = run_sweep(specs, tmp_path / "local", progress=False, executor=ExecutorSettings())
    on_ray = run_sweep(specs, tmp_path / "ray", progress=False, executor=ExecutorSettings("ray"))
    assert [(o.name, o.state) for o in on_ray] == [(o.name, o.state) for o in local] == [("seed0", "finished"),
                                                                                       ("seed1", "finished")]
    for outcome in on_ray:
        assert outcome.run_dir == tmp_path.resolve() / "ray" / outcome.name
        assert _log(outcome.run_dir) == _log(tmp_path / "local" / outcome.name)  # every logged loss, bit for bit
        assert _sessions(outcome.run_dir)[0]["pid"] != os.getpid()  # trained in a Ray worker, not here
    stamps = {path: path.stat().st_mtime_ns for path in (tmp_path / "ray").rglob("*") if path.is_file()}
    again = run_sweep(specs, tmp_path / "ray", progress=False, executor=ON_RAY)
    assert [o.state for o in again] == ["finished", "finished"]
    assert {path: path.stat().st_mtime_ns for path in (tmp_path / "ray").rglob("*") if path.is_file()} == stamps


def test_a_killed_ray_worker_is_retried_and_its_run_resumes_from_the_checkpoint(tmp_path, tiny_config, ray_instance):
    specs = [RunSpec(f"seed{seed}", tiny_config(steps=100, checkpoint_every=20, log_every=10, seed=seed))
             for seed in (0, 1)]
    victim = tmp_path / "seed0"
    killed = []

    def kill_after_first_checkpoint():
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if RunDir(victim).exists() and 20 <= RunDir(victim).status().get("step", 0) < 80:
                pid = _sessions(victim)[-1]["pid"]
                os.kill(pid, signal.SIGKILL)
                killed.append((pid, RunDir(victim).status()["step"]))
                return
            time.sleep(0.05)

    watcher = threading.Thread(target=kill_after_first_checkpoint)
    watcher.start()
    outcomes = run_sweep(specs, tmp_path, progress=False, executor=ON_RAY)
    watcher.join()
    assert killed, "the run finished before its worker could be killed"
    assert [o.state for o in outcomes] == ["finished", "finished"]
    first, retry = _sessions(victim)
    assert first["pid"] == killed[0][0] and retry["pid"] != first["pid"]
    assert retry["from_step"] >= 20  # resumed from a checkpoint, not restarted from step 0
    assert [record["step"] for record in _log(victim)] == list(range(10, 101, 10))  # each step logged once
    assert RunDir(victim).status()["step"] == 100


def test_a_task_on_a_node_that_does_not_see_the_sweep_folder_fails_with_one_clear_error(tmp_path, tiny_config,
                                                                                        ray_instance):
    from betavae.experiments.ray_executor import _train_task, check_sees_sweep

    spec = RunSpec("run", tiny_config(steps=2))
    (tmp_path / ".sweep-id").write_text("the id this node's folder holds\n")  # a same-named folder, another sweep
    with pytest.raises(ray.exceptions.RayTaskError) as raised:
        ray.get(ray.remote(_train_task).remote(spec, tmp_path, "the driver's sweep id"))
    error = raised.value.cause
    assert isinstance(error, BetaVAEError) and "does not see the sweep folder" in str(error)
    assert "--out must be a folder every node sees" in str(error)
    assert not (tmp_path / "run").exists()  # nothing was trained into the wrong folder
    with pytest.raises(BetaVAEError, match=r"does not see the sweep folder .*missing \(no \.sweep-id there\)"):
        check_sees_sweep(tmp_path / "missing", "the driver's sweep id")


def test_evaluations_on_ray_are_tasks_that_store_the_local_numbers_and_are_never_repeated(tmp_path, tiny_config,
                                                                                         ray_instance):
    """Four checkpoints of one run scored as four Ray tasks, two at a time on the same eval.json."""
    import shutil

    from betavae.data.synthetic import SyntheticSquares
    from betavae.evaluate import EvalSettings, metric_result
    from betavae.experiments.runner import EvalJob, evaluate_sweep
    from betavae.io import command_line

    spec = RunSpec("seed0", tiny_config(steps=20, keep_steps=(5, 10, 15)))
    run_sweep([spec], tmp_path / "local", progress=False, executor=ExecutorSettings())
    shutil.copytree(tmp_path / "local", tmp_path / "ray")
    data, settings = SyntheticSquares(), EvalSettings.of("beta-vae,mig", smoke=True)

    def jobs(root):
        return [EvalJob(root / "seed0", step) for step in (5, 10, 15, None)]

    here = evaluate_sweep(jobs(tmp_path / "local"), data, settings, "cpu", progress=False)
    there = evaluate_sweep(jobs(tmp_path / "ray"), data, settings, "cpu", progress=False, executor=ON_RAY)
    for local, on_ray in zip(here, there):
        assert on_ray["subject"] == local["subject"]
        for name in ("beta-vae", "mig"):
            numbers = [{key: value for key, value in metric_result(evaluation, name).items() if not key.endswith("_s")}
                       for evaluation in (on_ray, local)]
            assert numbers[0] == numbers[1]
    eval_file = tmp_path / "ray" / "seed0" / "eval.json"
    stored = json.loads(eval_file.read_text())["metrics"].values()
    assert sorted((entry["subject"]["step"], entry["metric"]) for entry in stored) == [
        (step, name) for step in (5, 10, 15, 20) for name in ("beta-vae", "mig")]  # no task lost another's entries
    assert {entry["provenance"]["pid"] for entry in stored} - {os.getpid()} == {entry["provenance"]["pid"]
                                                                                 for entry in stored}
    assert {entry["provenance"]["command"] for entry in stored} == {command_line()}  # the sweep's, not Ray's worker
    stamp = eval_file.stat().st_mtime_ns
    assert evaluate_sweep(jobs(tmp_path / "ray"), data, settings, "cpu", progress=False, executor=ON_RAY) == there
    assert eval_file.stat().st_mtime_ns == stamp  # nothing scored again
    other = SyntheticSquares(image_size=16)  # data the run's config.json does not name: refused, not mixed up
    with pytest.raises(BetaVAEError, match="stored no evaluation of the sweep's data"):
        evaluate_sweep(jobs(tmp_path / "ray")[:1], other, settings, "cpu", progress=False, executor=ON_RAY)


@pytest.mark.slow
def test_reproduce_on_ray_gives_the_local_numbers_and_a_rerun_recomputes_nothing(tmp_path):
    """The same command on `--executor local` and `--executor ray` (a local Ray instance started and stopped by the
    command), each with its defaults: the runs and evaluations record and use the same threads, so every number
    agrees to the last digit."""
    common = ["reproduce", "fig6-table", "--budget", "smoke", "--dataset", "synthetic-squares", "--rows",
              "vae,beta-vae-b4", "--quiet"]
    code, _, err = _betavae_process(*common, "--executor", "local", "--out", str(tmp_path / "local"))
    assert code == 0, err
    code, out, err = _betavae_process(*common, "--executor", "ray", "--out", str(tmp_path / "ray"))
    assert code == 0 and "report:" in out, err

    def numbers(folder):  # results.json without the seconds each part took
        def strip(value):
            if isinstance(value, dict):
                return {k: strip(v) for k, v in value.items() if not k.endswith("_s") and k != "seconds"}
            return [strip(v) for v in value] if isinstance(value, list) else value
        return strip(json.loads((folder / "results.json").read_text()))

    assert numbers(tmp_path / "ray") == numbers(tmp_path / "local")
    assert [row["key"] for row in numbers(tmp_path / "ray")["rows"]] == ["vae", "beta-vae-b4"]  # trained rows
    for seed in (0, 1):
        for model in ("vae", "beta-vae-b4"):
            run = f"runs/{model}-seed{seed}"
            assert _log(tmp_path / "ray" / run) == _log(tmp_path / "local" / run)
            assert {session["threads"] for session in _sessions(tmp_path / "ray" / run)} == {2}
    runs = tmp_path / "ray" / "runs"
    stamps = {path: path.stat().st_mtime_ns for path in runs.rglob("*") if path.is_file()}
    code, _, err = _betavae_process(*common, "--executor", "ray", "--out", str(tmp_path / "ray"))
    assert code == 0, err
    assert {path: path.stat().st_mtime_ns for path in runs.rglob("*") if path.is_file()} == stamps


def _betavae_process(*argv):
    """`betavae ARGV` as a real process: (exit status, stdout, stderr)."""
    done = subprocess.run([sys.executable, "-m", "betavae", *argv], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    return done.returncode, done.stdout, done.stderr


SWEEP_SCRIPT = """
import sys
from betavae.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from betavae.errors import StoppedByUser
from betavae.experiments.runner import ExecutorSettings, RunSpec, run_sweep

def config(seed):
    return RunConfig(data=DataConfig(dataset="synthetic-squares"), model=ModelConfig(arch="burgess"),
                     train=TrainConfig(steps=200, batch_size=16, checkpoint_every=20, log_every=10, device="cpu",
                                       seed=seed))

specs = [RunSpec(f"seed{seed}", config(seed)) for seed in range(4)]
try:
    outcomes = run_sweep(specs, sys.argv[1], progress=False, executor=ExecutorSettings("ray", cpus_per_run=1))
except StoppedByUser as error:
    print(f"error: {error}", file=sys.stderr)
    raise SystemExit(130)
print("finished:", sum(outcome.state == "finished" for outcome in outcomes))
"""


@pytest.mark.slow
def test_ctrl_c_stops_a_ray_sweep_keeping_checkpoints_and_the_same_command_continues(tmp_path):
    """Ctrl-C reaches the whole terminal process group; the two running runs checkpoint, the queued two never start."""
    command = [sys.executable, "-c", SWEEP_SCRIPT, str(tmp_path)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    driver = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              start_new_session=True)
    deadline = time.monotonic() + 300
    while sum(RunDir(tmp_path / f"seed{seed}").status().get("step", 0) >= 20 for seed in range(4)
              if (tmp_path / f"seed{seed}" / "status.json").exists()) < 2:
        assert time.monotonic() < deadline and driver.poll() is None, driver.communicate()
        time.sleep(0.1)
    os.killpg(driver.pid, signal.SIGINT)
    _, err = driver.communicate(timeout=300)
    assert driver.returncode == 130 and "sweep stopped: 0 of 4 runs done" in err, err
    states = {seed: RunDir(tmp_path / f"seed{seed}").state for seed in range(4)
              if (tmp_path / f"seed{seed}" / "status.json").exists()}
    assert list(states.values()) == ["interrupted", "interrupted"], states  # the queued runs never started
    stopped_at = {seed: RunDir(tmp_path / f"seed{seed}").status()["step"] for seed in states}
    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and "finished: 4" in again.stdout, again.stderr
    for seed, step in stopped_at.items():
        assert [session["from_step"] for session in _sessions(tmp_path / f"seed{seed}")] == [0, step]
