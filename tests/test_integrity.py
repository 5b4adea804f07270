"""A run directory that cannot be corrupted, hijacked or shared by accident (issue 14): crafted and damaged
checkpoints, two processes on one folder, kills, full and read-only disks, damaged status and log files."""

import errno
import json
import os
import pickle
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import betavae.io
import betavae.train
from betavae.cli import main
from betavae.errors import BetaVAEError, DivergedError
from betavae.models.training import ABSURD_LOSS, DivergedLoss, check_loss
from betavae.runs import RunDir, load_checkpoint, load_model, save_checkpoint
from betavae.train import train

REPO = Path(__file__).resolve().parents[1]
TINY = ["--dataset", "synthetic-squares", "--arch", "burgess", "--batch-size", "4", "--device", "cpu", "--quiet"]


@pytest.fixture
def tiny_config(tiny_config):
    """The shared tiny run with batches of 4: these tests check files and processes, not learning."""
    return lambda arch="burgess", **train: tiny_config(arch, **{"batch_size": 4, **train})


def _cli(capsys, *argv):
    code = main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _one_error_line(code, err, *fragments):
    assert code == 2, err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in err, err


def _betavae(*argv, **kwargs):
    """`betavae ARGV` as a real process (one thread, so two of them fit on a small machine)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-m", "betavae", *map(str, argv)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kwargs)


def _same_parameters(run_a, run_b):
    _, model_a = load_model(run_a)
    _, model_b = load_model(run_b)
    return all(torch.equal(a, b) for a, b in zip(model_a.state_dict().values(), model_b.state_dict().values()))


# --- 1. a resume starts from the run's saved config -------------------------------------------------------------

def test_plain_resume_continues_the_saved_run_whatever_its_flags_were(tmp_path, capsys):
    run = tmp_path / "vae"
    code, out, _ = _cli(capsys, "train", *TINY, "--model", "vae", "--steps", "6", "--out", run)
    assert code == 0 and "finished at step 6" in out
    code, out, err = _cli(capsys, "train", "--resume", "--out", run)  # the README's line, no other flag
    assert code == 0 and "finished at step 6 (already finished)" in out, err
    assert RunDir(run).config().train.steps == 6 and RunDir(run).config().model_type == "vae"


def test_resume_takes_settings_that_change_no_number_and_extends_with_more_steps(tmp_path, tiny_config, capsys):
    run = tmp_path / "run"
    train(tiny_config(steps=8, log_every=2), run, progress=False, stop_after=2)
    code, out, err = _cli(capsys, "train", "--resume", "--out", run, "--log-every", "3", "--checkpoint-every", "5",
                          "--quiet")
    assert code == 0 and "finished at step 8" in out, err
    assert [record["step"] for record in RunDir(run).log()] == [2, 3, 6, 8]  # the new logging interval
    train(tiny_config(steps=8), tmp_path / "straight", progress=False)
    assert _same_parameters(run, tmp_path / "straight")  # logging and checkpointing changed no number
    code, out, err = _cli(capsys, "train", "--resume", "--out", run, "--steps", "10", "--quiet")
    assert code == 0 and "finished at step 10" in out and "extending" in err and "from 8 to 10 steps" in err
    assert RunDir(run).config().train.steps == 10


def test_resume_refuses_a_change_naming_the_field_and_both_values(tmp_path, tiny_config, capsys):
    run = tmp_path / "run"
    train(tiny_config(steps=10), run, progress=False, stop_after=2)
    code, _, err = _cli(capsys, "train", "--resume", "--out", run, "--beta", "8")
    _one_error_line(code, err, "objective.beta is 4.0, not 8.0")
    code, _, err = _cli(capsys, "train", "--resume", "--out", run, "--steps", "5")
    _one_error_line(code, err, "run of 10 steps", "--steps 5 would shorten it")
    assert RunDir(run).config().train.steps == 10 and RunDir(run).state == "interrupted"


def test_fewer_steps_on_a_finished_run_report_the_real_step(tmp_path, tiny_config, capsys):
    train(tiny_config(steps=6), tmp_path / "run", progress=False)
    code, out, _ = _cli(capsys, "train", "--resume", "--out", tmp_path / "run", "--steps", "3")
    assert code == 0 and "finished at step 6" in out
    assert RunDir(tmp_path / "run").config().train.steps == 6


def test_a_full_config_may_differ_in_settings_that_change_no_number(tmp_path, tiny_config):
    train(tiny_config(steps=10), tmp_path / "run", progress=False, stop_after=5)
    result = train(tiny_config(steps=10, log_every=2, checkpoint_every=3), tmp_path / "run", resume=True,
                   progress=False)
    assert result.state == "finished" and result.step == 10


# --- 2. a crafted checkpoint never runs ------------------------------------------------------------------------

class _Payload:
    """Unpickling this creates the marker file: what a hostile checkpoint could do."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


@pytest.mark.parametrize("command", ["evaluate", "traverse", "resume"])
def test_a_crafted_checkpoint_is_refused_without_running(tmp_path, tiny_config, capsys, command):
    run = tmp_path / "run"
    train(tiny_config(steps=4), run, progress=False)
    marker = tmp_path / "pwned"
    torch.save({"step": 4, "model": _Payload(marker)}, run / "checkpoint.pt")
    argv = {"evaluate": ["evaluate", run, "--quiet", "--no-table2", "--no-dlib", "--pairs", "4", "--device", "cpu"],
            "traverse": ["traverse", run], "resume": ["train", "--resume", "--out", run, "--steps", "8", "--quiet"]}
    code, _, err = _cli(capsys, *argv[command])
    _one_error_line(code, err, "checkpoint.pt was refused", "was not unpickled")
    assert not marker.exists()


def test_a_raw_pickle_is_refused_without_running(tmp_path):
    marker = tmp_path / "pwned"
    (tmp_path / "checkpoint.pt").write_bytes(pickle.dumps(_Payload(marker), protocol=2))
    with pytest.raises(BetaVAEError, match="was not unpickled"):
        load_checkpoint(tmp_path / "checkpoint.pt")
    assert not marker.exists()


def test_a_checkpoint_of_the_first_format_gets_a_clear_error(tmp_path):
    """Before format 2, checkpoints held numpy's pickled RNG state and no checksum: refused, not loaded."""
    torch.save({"step": 3, "rng": {"numpy": np.random.get_state()}}, tmp_path / "old.pt")
    with pytest.raises(BetaVAEError, match="an older betavae"):
        load_checkpoint(tmp_path / "old.pt")
    torch.save({"step": 3, "model": {}}, tmp_path / "plain.pt")  # loadable, but no checksum
    with pytest.raises(BetaVAEError, match="no checksum"):
        load_checkpoint(tmp_path / "plain.pt")


# --- 3. a damaged checkpoint is refused as corrupt, not scored, not called diverged ---------------------------

def _flip_bytes(path: Path, count: int = 8) -> None:
    """Invert ``count`` bytes spread over the middle of the file (the tensors' data)."""
    data = bytearray(path.read_bytes())
    for offset in np.linspace(len(data) * 0.3, len(data) * 0.7, count).astype(int):
        data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def test_a_checkpoint_round_trips_and_a_flipped_one_is_corrupt(tmp_path):
    state = {"step": 7, "config": {"a": [1, 2.5, None]}, "weights": torch.arange(100_000, dtype=torch.float32)}
    save_checkpoint(tmp_path / "checkpoint.pt", state)
    loaded = load_checkpoint(tmp_path / "checkpoint.pt")
    assert loaded["step"] == 7 and loaded["config"] == state["config"] and torch.equal(loaded["weights"],
                                                                                        state["weights"])
    _flip_bytes(tmp_path / "checkpoint.pt")
    with pytest.raises(BetaVAEError, match=r"is corrupt \(checksum mismatch\); restore it from a backup"):
        load_checkpoint(tmp_path / "checkpoint.pt")


def test_a_flipped_checkpoint_is_not_scored_and_not_called_diverged(tmp_path, tiny_config, capsys):
    run = tmp_path / "run"
    train(tiny_config(steps=10), run, progress=False, stop_after=5)
    _flip_bytes(run / "checkpoint.pt")
    code, out, err = _cli(capsys, "evaluate", run, "--quiet", "--no-table2", "--no-dlib", "--pairs", "4",
                          "--device", "cpu")
    _one_error_line(code, err, "is corrupt (checksum mismatch)")
    assert out == "" and not (run / "eval.json").exists()
    code, _, err = _cli(capsys, "train", "--resume", "--out", run, "--quiet")
    _one_error_line(code, err, "is corrupt (checksum mismatch)")
    assert RunDir(run).state == "interrupted"  # not diverged


# --- 4. one training process per run directory -----------------------------------------------------------------

def _wait_for(condition, seconds=120.0):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_second_train_on_the_same_folder_gets_one_error_naming_the_holder(tmp_path):
    run = tmp_path / "run"
    argv = ["train", *TINY, "--steps", "100000", "--log-every", "2", "--checkpoint-every", "4", "--out", run]
    first = _betavae(*argv)
    _wait_for(lambda: (run / "status.json").exists())  # holds the lock by now
    second = _betavae(*argv)
    _, err = second.communicate(timeout=120)
    _one_error_line(second.returncode, err, "is being trained by another process", f"pid {first.pid} on host")
    assert first.poll() is None, "the first run trains on, untouched"
    first.send_signal(signal.SIGINT)  # stop it cleanly: it checkpoints after the current step
    first_out, first_err = first.communicate(timeout=120)
    assert first.returncode == 130 and "interrupted at step" in first_err, first_err
    steps = [record["step"] for record in RunDir(run).log()]
    assert steps == list(range(2, 2 * len(steps) + 1, 2))  # one run's lines, no duplicates


def test_two_configs_racing_into_one_new_folder_lose_nothing_silently(tmp_path):
    run = tmp_path / "run"
    racers = {beta: _betavae("train", *TINY, "--steps", "10", "--beta", beta, "--out", run) for beta in (4, 8)}
    results = {beta: (process.wait(timeout=300), process.stderr.read()) for beta, process in racers.items()}
    winners = [beta for beta, (code, _) in results.items() if code == 0]
    assert len(winners) == 1, results
    (loser,) = set(results) - set(winners)
    code, err = results[loser]
    _one_error_line(code, err)
    assert "is being trained by another process" in err or "holds a different run" in err
    assert RunDir(run).config().objective.beta == winners[0] and RunDir(run).finished(10)


def test_a_lock_left_by_a_dead_process_is_taken_over_and_said_so(tmp_path, tiny_config, capsys):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    run = tmp_path / "run"
    run.mkdir()
    (run / ".lock").write_text(json.dumps({"pid": dead.pid, "host": "somehost", "since": "yesterday"}))
    assert train(tiny_config(steps=4), run, progress=False).state == "finished"
    err = capsys.readouterr().err
    assert f"took over the lock of {run} from pid {dead.pid} on host somehost, since yesterday" in err
    assert (run / ".lock").read_text() == ""  # released cleanly: nothing for the next holder to report


def test_a_held_lock_refuses_in_process_too(tmp_path, tiny_config):
    run = RunDir(tmp_path / "run")
    with run.lock():
        with pytest.raises(BetaVAEError, match=f"pid {os.getpid()} on host"):
            train(tiny_config(steps=4), run.path, progress=False)
    assert train(tiny_config(steps=4), run.path, progress=False).state == "finished"


# --- 5. bad files and resources: one error line, never a traceback --------------------------------------------

@pytest.fixture
def finished_run(tmp_path, tiny_config):
    train(tiny_config(steps=4), tmp_path / "run", progress=False)
    return tmp_path / "run"


def test_a_config_that_no_longer_fits_the_checkpoint(finished_run, capsys):
    values = json.loads((finished_run / "config.json").read_text())
    values["model"]["latents"] = 5
    (finished_run / "config.json").write_text(json.dumps(values))
    code, _, err = _cli(capsys, "traverse", finished_run)
    _one_error_line(code, err, "belongs to another run", "model.latents is 10, not 5")


@pytest.mark.parametrize("content", ["[1, 2]", '{"state": "finished", "step": "abc"}', '"x"'])
def test_a_damaged_status_file(finished_run, capsys, content):
    (finished_run / "status.json").write_text(content)
    code, _, err = _cli(capsys, "train", "--resume", "--out", finished_run, "--quiet")
    _one_error_line(code, err, "status.json is damaged", "--resume")
    code, _, err = _cli(capsys, "evaluate", finished_run, "--quiet", "--device", "cpu")
    _one_error_line(code, err, "status.json is damaged")


def test_a_damaged_eval_file_is_set_aside_and_scored_again(finished_run, capsys):
    (finished_run / "eval.json").write_text("[1]")
    code, out, err = _cli(capsys, "evaluate", finished_run, "--quiet", "--device", "cpu", "--metrics", "mig")
    assert code == 0 and "eval.json is damaged" in err and "set aside as eval.json.damaged" in err, err
    assert (finished_run / "eval.json.damaged").read_text() == "[1]"  # a cache, but the user's bytes are kept
    assert json.loads((finished_run / "eval.json").read_text())["metrics"]


def test_damaged_log_lines_are_kept_aside_and_reported(tmp_path, tiny_config, capsys):
    run = tmp_path / "run"
    train(tiny_config(steps=10, log_every=2, checkpoint_every=4), run, progress=False, stop_after=4)
    with open(run / "log.jsonl", "ab") as handle:
        handle.write(b"5\n\xff\xfe not utf-8\n")
    code, out, err = _cli(capsys, "train", "--resume", "--out", run, "--quiet")
    assert code == 0 and "finished at step 10" in out, err
    assert "2 damaged line(s)" in err and "log.jsonl.damaged" in err
    assert (run / "log.jsonl.damaged").read_bytes() == b"5\n\xff\xfe not utf-8\n"
    assert [record["step"] for record in RunDir(run).log()] == [2, 4, 6, 8, 10]


@pytest.mark.parametrize("flag", ["--latents", "--batch-size"])
def test_out_of_memory_is_one_error_and_the_run_is_not_left_running(tmp_path, capsys, flag):
    run = tmp_path / "run"
    code, _, err = _cli(capsys, "train", *TINY, flag, "100000000", "--steps", "3", "--out", run)
    _one_error_line(code, err, "out of memory", "smaller --batch-size or --latents")
    assert RunDir(run).state != "running"


def test_a_directory_as_config_file(tmp_path, capsys):
    code, _, err = _cli(capsys, "train", "--config", tmp_path, "--out", tmp_path / "run")
    _one_error_line(code, err, f"cannot read config file {tmp_path}")


def _fail_writes_after(monkeypatch, step, error_number):
    """From the update of ``step`` on, every file write of betavae.io fails with ``error_number`` — as on a disk
    that filled up (ENOSPC) or was remounted read-only (EROFS). Only the OS call is faked; our handling is real."""
    failing = {"on": False}
    real_fsync, real_open, real_mkstemp = os.fsync, open, tempfile.mkstemp

    def fail_if_on(real):
        def call(*args, **kwargs):
            if failing["on"]:
                raise OSError(error_number, os.strerror(error_number))
            return real(*args, **kwargs)
        return call

    monkeypatch.setattr(betavae.io.os, "fsync", fail_if_on(real_fsync))
    monkeypatch.setattr(betavae.io.tempfile, "mkstemp", fail_if_on(real_mkstemp))
    monkeypatch.setattr(betavae.io, "open", fail_if_on(real_open), raising=False)
    build_task = betavae.train.build_task

    def patched_build_task(config, device):
        task = build_task(config, device)
        real_step = task.step

        def step(batch, index, noise):
            failing["on"] = failing["on"] or index == step_number
            return real_step(batch, index, noise)

        task.step = step
        return task

    step_number = step
    monkeypatch.setattr(betavae.train, "build_task", patched_build_task)


@pytest.mark.parametrize("error_number", [errno.ENOSPC, errno.EROFS])
def test_a_full_or_read_only_disk_keeps_the_last_good_checkpoint(tmp_path, tiny_config, capsys, monkeypatch,
                                                                 error_number):
    run = tmp_path / "run"
    config_path = tmp_path / "config.json"
    config = tiny_config(steps=8, checkpoint_every=4, log_every=3)
    config_path.write_text(json.dumps(config.to_dict()))
    _fail_writes_after(monkeypatch, 5, error_number)
    code, _, err = _cli(capsys, "train", "--config", config_path, "--out", run, "--quiet")
    _one_error_line(code, err, os.strerror(error_number), "last good checkpoint (step 4) is kept", "--resume")
    monkeypatch.undo()
    assert RunDir(run).load_checkpoint()["step"] == 4
    assert not list(run.glob(".*.tmp"))
    train(config, run, resume=True, progress=False)
    train(config, tmp_path / "straight", progress=False)
    assert _same_parameters(run, tmp_path / "straight")


# --- 6. a damaged dSprites cache is refused and rebuilt with --force (full-size CLI check: test_end_to_end) ---

def test_a_damaged_dsprites_cache_is_refused_and_force_rebuilds_it(tmp_path, damage_zip_member):
    from betavae.data import dsprites as ds

    small = (1, 3, 2, 2, 3, 4)
    path = ds.ensure_dsprites(tmp_path, progress=False, sizes=small)
    good = path.read_bytes()
    damage_zip_member(path, "imgs.npy")
    ds.ensure_dsprites(tmp_path, progress=False, sizes=small)  # the cheap check reads no pixels
    with pytest.raises(BetaVAEError, match="rebuild it with `betavae data dsprites --force`"):
        ds.ensure_dsprites(tmp_path, progress=False, sizes=small, verify=True)
    assert ds.ensure_dsprites(tmp_path, progress=False, sizes=small, force=True, verify=True) == path
    assert path.read_bytes() == good


# --- 7. loose ends -----------------------------------------------------------------------------------------------

def test_progress_bar_and_tensorboard_are_closed_when_the_run_diverges(tmp_path, tiny_config, monkeypatch):
    closed = []

    class Writer:
        def __init__(self, log_dir):
            pass

        def add_scalar(self, *args):
            pass

        def close(self):
            closed.append("writer")

    real_progress_bar = betavae.train.progress_bar

    def recording_progress_bar(*args, **kwargs):
        bar = real_progress_bar(*args, **kwargs)
        close = bar.close
        bar.close = lambda: (closed.append("bar"), close())
        return bar

    monkeypatch.setattr(betavae.train, "_tensorboard_writer", lambda: Writer)
    monkeypatch.setattr(betavae.train, "progress_bar", recording_progress_bar)
    config = tiny_config(steps=40, checkpoint_every=5, tensorboard=True)
    config.optim.lr = 1e6
    with pytest.raises(DivergedError):
        train(config, tmp_path / "run", progress=False)
    assert set(closed) == {"bar", "writer"}  # (tqdm may close itself again when collected)


def test_a_resume_loads_the_checkpoint_once(tmp_path, tiny_config, monkeypatch):
    train(tiny_config(steps=10), tmp_path / "run", progress=False, stop_after=5)
    loads = []
    real = RunDir.load_checkpoint
    monkeypatch.setattr(RunDir, "load_checkpoint",
                        lambda self, *args, **kwargs: loads.append(1) or real(self, *args, **kwargs))
    train(tiny_config(steps=10), tmp_path / "run", resume=True, progress=False)
    assert len(loads) == 1


def test_an_absurd_but_finite_loss_counts_as_diverged(tmp_path, tiny_config, monkeypatch):
    assert not torch.isfinite(torch.tensor(float("nan")))
    for value in (float("nan"), float("inf"), 2 * ABSURD_LOSS):
        with pytest.raises(DivergedLoss):
            check_loss(torch.tensor(value))
    check_loss(torch.tensor(ABSURD_LOSS / 2))
    build_task = betavae.train.build_task

    def blown_up_decoder(config, device):  # logits ~1e30: a finite loss of ~1e33 nats per image
        task = build_task(config, device)
        last = [module for module in task.model.modules() if hasattr(module, "bias") and module.bias is not None][-1]
        real_step = task.step

        def step(batch, index, noise):
            if index == 7:
                with torch.no_grad():
                    last.bias.fill_(1e30)
            return real_step(batch, index, noise)

        task.step = step
        return task

    monkeypatch.setattr(betavae.train, "build_task", blown_up_decoder)
    with pytest.raises(DivergedError, match="at step 7"):
        train(tiny_config(steps=20, checkpoint_every=5), tmp_path / "run", progress=False)
    status = RunDir(tmp_path / "run").status()
    assert status["state"] == "diverged" and status["last_good_checkpoint_step"] == 5
    assert ABSURD_LOSS < float(status["loss"]) < float("inf")  # finite, yet diverged


def test_train_leaves_the_global_random_state_as_it_was(tmp_path, tiny_config):
    torch.manual_seed(1234)
    before = torch.get_rng_state()
    train(tiny_config(steps=4), tmp_path / "run", progress=False)
    train(tiny_config(steps=8), tmp_path / "run", resume=True, progress=False)
    assert torch.equal(torch.get_rng_state(), before)


# --- 8. kills and leftovers --------------------------------------------------------------------------------------

def test_stale_checkpoint_temp_files_are_removed_on_the_next_start(tmp_path, tiny_config):
    run = tmp_path / "run"
    train(tiny_config(steps=10), run, progress=False, stop_after=5)
    (run / ".checkpoint.pt.abc123.tmp").write_bytes(b"x" * 1000)
    (run / ".notes.tmp").write_text("not ours")
    train(tiny_config(steps=10), run, resume=True, progress=False)
    assert not (run / ".checkpoint.pt.abc123.tmp").exists() and (run / ".notes.tmp").exists()


@pytest.mark.slow  # two real training processes of 60 steps (~20 s); CI runs it with -m slow
def test_kill_9_mid_run_then_resume_is_bit_identical(tmp_path):
    argv = [*TINY, "--steps", "60", "--checkpoint-every", "7", "--log-every", "5"]
    straight = _betavae("train", *argv, "--out", tmp_path / "straight")
    assert straight.wait(timeout=300) == 0
    run = tmp_path / "killed"
    killed = _betavae("train", *argv, "--out", run)

    def midway():
        try:
            return json.loads((run / "status.json").read_text()).get("step", 0) >= 21
        except (OSError, ValueError):
            return False

    _wait_for(midway)
    killed.send_signal(signal.SIGKILL)
    killed.wait(timeout=60)
    assert killed.returncode == -signal.SIGKILL and RunDir(run).state == "running"
    resumed = _betavae("train", "--resume", "--out", run, "--quiet")
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0 and "finished at step 60" in out, err
    assert _same_parameters(run, tmp_path / "straight")
    assert [r["step"] for r in RunDir(run).log()] == [r["step"] for r in RunDir(tmp_path / "straight").log()]


SCORE_STEP_SCRIPT = """
import sys, time
from pathlib import Path
from betavae.data.synthetic import SyntheticSquares
from betavae.evaluate import EvalSettings, evaluate_run_cached

run_dir, step, go = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
data, settings = SyntheticSquares(), EvalSettings.of("beta-vae,mig", smoke=True)
while not go.exists():  # both processes read eval.json at the same moment, then score for a while
    time.sleep(0.01)
evaluate_run_cached(run_dir, data, settings, "cpu", progress=False, step=step)
"""


def test_two_processes_scoring_one_run_at_once_both_keep_their_evaluations(tmp_path, tiny_config):
    """eval.json is read, then written after scoring: the write merges under a lock, so that neither process's
    entries are lost (as two Ray tasks scoring two kept steps of one run would otherwise lose one)."""
    from betavae.data.synthetic import SyntheticSquares
    from betavae.evaluate import EvalSettings, evaluate_run_cached

    run_dir = tmp_path / "run"
    train(tiny_config(steps=20, keep_steps=(10, 20)), run_dir)
    go = tmp_path / "go"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    scorers = [subprocess.Popen([sys.executable, "-c", SCORE_STEP_SCRIPT, str(run_dir), str(step), str(go)], env=env,
                                stderr=subprocess.PIPE, text=True) for step in (10, 20)]
    time.sleep(3)  # both have imported torch and wait
    go.touch()
    for scorer in scorers:
        assert scorer.wait(timeout=300) == 0, scorer.stderr.read()
    stored = json.loads(RunDir(run_dir).eval_path.read_text())["metrics"]
    assert sorted((entry["metric"], entry["subject"]["step"]) for entry in stored.values()) == [
        ("beta-vae", 10), ("beta-vae", 20), ("mig", 10), ("mig", 20)]
    for step in (10, 20):  # and each is read back as cached
        assert evaluate_run_cached(run_dir, SyntheticSquares(), EvalSettings.of("beta-vae,mig", smoke=True),
                                   step=step, compute=False) is not None
