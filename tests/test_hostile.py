"""What a hostile walk-through broke (issue 24, items 2 and 3): nothing the user has is lost, and every bad input or
fault ends in one `error:` line. Real files, real filesystems (a small tmpfs for a full disk), real processes for
kills and signals."""

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from test_integrity import TINY, _betavae, _cli, _one_error_line, _wait_for  # the hostile tests' shared helpers

import betavae.train
from betavae.data import dsprites
from betavae.data.images import prepare_images
from betavae.runs import RunDir, load_checkpoint, save_checkpoint
from betavae.train import train

EVALUATE = ["--quiet", "--device", "cpu", "--metrics", "mig"]  # the quickest score of a run


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A finished 6-step run made once; each test works on its own copy (``copy_of``)."""
    from betavae.config import DataConfig, ModelConfig, RunConfig, TrainConfig

    config = RunConfig(data=DataConfig(dataset="synthetic-squares"), model=ModelConfig(arch="burgess"),
                       train=TrainConfig(steps=6, batch_size=4, checkpoint_every=3, log_every=2, device="cpu"))
    run = tmp_path_factory.mktemp("trained") / "run"
    train(config, run, progress=False)
    return run


@pytest.fixture
def copy_of(trained, tmp_path):
    def copy() -> Path:
        return Path(shutil.copytree(trained, tmp_path / "run"))

    return copy


def _snapshot(run: Path) -> dict[str, bytes]:
    """Every file of a run directory by name, with its bytes (what "nothing is lost" compares; not the locks)."""
    return {path.name: path.read_bytes() for path in run.iterdir() if path.is_file() and not path.name.startswith(".")}


# --- item 2: a run directory whose checkpoint is gone is refused, never silently trained again ------------------

@pytest.mark.parametrize("loss", ["deleted", "looping symlink"])
def test_a_run_without_its_checkpoint_is_refused_and_restart_keeps_the_old_files(copy_of, capsys, loss):
    run = copy_of()
    (run / "checkpoint.pt").unlink()
    if loss == "looping symlink":
        os.symlink("checkpoint.pt", run / "checkpoint.pt")
    before = _snapshot(run)
    code, _, err = _cli(capsys, "train", "--resume", "--steps", "10", "--out", run)
    _one_error_line(code, err, "checkpoint.pt", "missing" if loss == "deleted" else "symbolic link", "--restart")
    assert _snapshot(run) == before  # log.jsonl and provenance.json untouched
    code, _, err = _cli(capsys, "evaluate", run, *EVALUATE)
    _one_error_line(code, err, "checkpoint.pt")
    code, out, err = _cli(capsys, "train", "--restart", "--steps", "10", "--out", run, "--quiet")
    assert code == 0 and "finished at step 10" in out, err
    assert (run / "log.jsonl.before-restart").read_bytes() == before["log.jsonl"]
    assert (run / "provenance.json.before-restart").read_bytes() == before["provenance.json"]
    assert [record["step"] for record in RunDir(run).log()] == [2, 4, 6, 8, 10]


def test_restart_is_documented_and_refused_where_a_checkpoint_exists(copy_of, capsys):
    with pytest.raises(SystemExit):
        _cli(capsys, "train", "--help")
    assert "--restart" in capsys.readouterr().out
    run = copy_of()
    code, _, err = _cli(capsys, "train", "--restart", "--out", run)
    _one_error_line(code, err, "has its checkpoint.pt", "--resume")


@pytest.mark.parametrize("name", ["log.jsonl", "checkpoint.pt", "notes.txt"])
def test_an_out_folder_with_files_betavae_did_not_write_is_refused(tmp_path, capsys, name):
    out = tmp_path / "mine"
    out.mkdir()
    (out / name).write_bytes(b"the user's own bytes\n")
    code, _, err = _cli(capsys, "train", *TINY, "--steps", "2", "--out", out)
    _one_error_line(code, err, "holds files that no betavae run wrote", name)
    assert sorted(path.name for path in out.iterdir()) == sorted([name, ".lock"])
    assert (out / name).read_bytes() == b"the user's own bytes\n"


def test_a_foreign_config_json_is_named(tmp_path, capsys):
    out = tmp_path / "project"
    out.mkdir()
    (out / "config.json").write_text('{"name": "my project", "version": 3}')
    for resume in ([], ["--resume"]):
        code, _, err = _cli(capsys, "train", *TINY, *resume, "--steps", "2", "--out", out)
        _one_error_line(code, err, f"{out / 'config.json'} is not a betavae run's config", "unknown key")
    assert (out / "config.json").read_text() == '{"name": "my project", "version": 3}'


# --- item 2: the checkpoint is the truth; every way a run stops leaves status.json true ---------------------------

def test_a_status_claiming_more_than_the_checkpoint_is_corrected_from_it(copy_of, capsys):
    run = copy_of()
    (run / "status.json").write_text(json.dumps({"state": "finished", "step": 999, "steps": 6}))
    code, out, err = _cli(capsys, "evaluate", run, *EVALUATE)
    assert code == 0 and "(step 6)" in out, err
    assert [entry["subject"] for entry in json.loads((run / "eval.json").read_text())["metrics"].values()] == [
        {"step": 6}]
    code, out, err = _cli(capsys, "train", "--resume", "--steps", "10", "--out", run, "--quiet")
    assert code == 0 and "finished at step 10" in out, err  # trained on from step 6, not "finished at step 999"
    assert "the checkpoint is the truth" in err
    assert RunDir(run).status() == {"state": "finished", "step": 10, "steps": 10}


def test_sigterm_stops_training_with_a_checkpoint_and_a_true_status(tmp_path, tiny_config):
    run = tmp_path / "run"
    process = _betavae("train", *TINY, "--steps", "100000", "--checkpoint-every", "3", "--log-every", "3",
                       "--out", run)
    _wait_for(lambda: RunDir(run).log())  # training, past the first steps
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130 and "interrupted at step" in err, err
    status, step = RunDir(run).status(), RunDir(run).load_checkpoint()["step"]
    assert status["state"] == "interrupted" and status["step"] == step > 0
    result = train(tiny_config(steps=100000, batch_size=4), run, resume=True, progress=False, stop_after=2)
    assert result.step == step + 2


def test_an_unforeseen_error_leaves_the_run_interrupted_at_its_checkpoint(tmp_path, tiny_config, monkeypatch):
    build_task = betavae.train.build_task

    def failing_at_step_5(config, device):  # a fault no handler knows (a bug, a failing library)
        task = build_task(config, device)
        real_step = task.step

        def step(batch, index, noise):
            if index == 5:
                raise ZeroDivisionError("a fault in the middle of training")
            return real_step(batch, index, noise)

        task.step = step
        return task

    monkeypatch.setattr(betavae.train, "build_task", failing_at_step_5)
    with pytest.raises(ZeroDivisionError):
        train(tiny_config(steps=10, batch_size=4, checkpoint_every=4), tmp_path / "run", progress=False)
    assert RunDir(tmp_path / "run").status() == {"state": "interrupted", "step": 4, "steps": 10}


# --- item 2: temporary files of a killed `data` command are removed by the next one --------------------------------

def _kill_when(process: subprocess.Popen, condition) -> None:
    _wait_for(lambda: condition() or process.poll() is not None)
    assert process.poll() is None, "it ended before it could be killed: " + process.stderr.read()
    process.kill()
    process.wait(timeout=60)


def test_a_killed_dsprites_render_leaves_nothing_behind_the_next_one(tmp_path):
    process = _betavae("data", "dsprites", "--out", tmp_path, "--quiet")
    _kill_when(process, lambda: list(tmp_path.glob(".*.tmp")))
    assert list(tmp_path.glob(".*.tmp"))
    small = (1, 3, 2, 2, 3, 4)
    assert dsprites.ensure_dsprites(tmp_path, progress=False, sizes=small).exists()
    assert not list(tmp_path.glob(".*.tmp"))


def test_a_killed_folder_preparation_leaves_nothing_behind_the_next_one(tmp_path):
    from PIL import Image

    images = tmp_path / "images"
    images.mkdir()
    noise = np.random.default_rng(0).integers(0, 256, size=(384, 384, 3), dtype=np.uint8)
    for index in range(400):  # seconds of decoding: the kill lands midway
        Image.fromarray(np.roll(noise, index, axis=0)).save(images / f"{index:03d}.jpg", quality=95)
    out = tmp_path / "cache"
    process = _betavae("data", "folder", "--from", images, "--out", out, "--quiet")
    _kill_when(process, lambda: list(out.glob(".images.npy.*.tmp")))
    assert list(out.glob(".*.tmp"))
    prepare_images(images, out, "folder", progress=False)
    assert not list(out.glob(".*.tmp")) and (out / "index.json").exists()


# --- item 2: a zero is a value given, not "not given" ------------------------------------------------------------

@pytest.mark.parametrize("flag", ["--pairs", "--train-points", "--table2-train"])
def test_evaluate_refuses_a_zero_size_with_the_allowed_range(tmp_path, capsys, flag):
    code, out, err = _cli(capsys, "evaluate", "--representation", "ground-truth", "--dataset", "synthetic-squares",
                          "--quiet", "--json", tmp_path / "scores.json", flag, "0")
    _one_error_line(code, err, f"{flag} must be from 1 to", "got 0")
    assert out == "" and not (tmp_path / "scores.json").exists()


# --- item 3: a checksum-valid checkpoint whose inside is wrong ---------------------------------------------------

def _broken(state: dict, damage: str):
    """``state`` damaged in one way the checksum cannot see (the file is written whole, with a valid checksum)."""
    if damage == "a list":
        return [state["step"], state["model"]]
    if damage in ("no config", "no model"):
        return {key: value for key, value in state.items() if key != damage.split()[1]}
    if damage == "wrong shapes":
        name = next(iter(state["model"]))
        return {**state, "model": {**state["model"], name: torch.zeros(3)}}
    if damage == "unknown config key":
        return {**state, "config": {**state["config"], "train": {**state["config"]["train"], "speed": 11}}}
    return {**state, "step": {"step a string": "6", "step -7": -7}[damage]}


@pytest.mark.parametrize("damage", ["a list", "no config", "no model", "wrong shapes", "step a string", "step -7",
                                    "unknown config key"])
@pytest.mark.parametrize("command", ["resume", "evaluate", "traverse"])
def test_a_checkpoint_with_a_wrong_inside_is_refused_saying_so(copy_of, capsys, damage, command):
    run = copy_of()
    save_checkpoint(run / "checkpoint.pt", _broken(load_checkpoint(run / "checkpoint.pt"), damage))
    before = _snapshot(run)
    argv = {"resume": ["train", "--resume", "--steps", "8", "--out", run, "--quiet"],
            "evaluate": ["evaluate", run, *EVALUATE], "traverse": ["traverse", run]}[command]
    code, _, err = _cli(capsys, *argv)
    _one_error_line(code, err, f"checkpoint {run / 'checkpoint.pt'} is not usable")
    assert "config.json" not in err  # the checkpoint is to blame, not the run's config
    assert _snapshot(run) == before


# --- item 3: damaged side files are reported (a cache set aside and computed again), never a traceback -----------

@pytest.mark.parametrize("entry", [7, "a string", [1, 2], {"metric": "mig"}])
def test_an_eval_json_entry_of_the_wrong_type_is_set_aside_and_scored_again(copy_of, capsys, entry):
    run = copy_of()
    damaged = json.dumps({"version": 3, "metrics": {"0123456789abcdef": entry}})
    (run / "eval.json").write_text(damaged)
    code, out, err = _cli(capsys, "evaluate", run, *EVALUATE)
    assert code == 0 and "MIG" in out, err
    assert "eval.json is damaged" in err and "set aside as eval.json.damaged" in err
    assert (run / "eval.json.damaged").read_text() == damaged


def test_a_provenance_file_holding_a_list_is_set_aside(copy_of, capsys):
    run = copy_of()
    (run / "provenance.json").write_text("[1, 2]")
    code, out, err = _cli(capsys, "train", "--resume", "--steps", "8", "--out", run, "--quiet")
    assert code == 0 and "finished at step 8" in out, err
    assert "provenance.json is damaged" in err and (run / "provenance.json.damaged").read_text() == "[1, 2]"
    record = json.loads((run / "provenance.json").read_text())
    assert record["damaged_record"] == "provenance.json.damaged" and record["sessions"][0]["from_step"] == 6


# --- item 3: integers beyond 64 bits, and JSON no parser should swallow ---------------------------------------------

def test_integers_beyond_64_bits_are_refused_with_the_allowed_range(copy_of, tmp_path, capsys):
    huge = str(2**70)
    for argv in (["train", *TINY, "--seed", huge, "--out", tmp_path / "a"],
                 ["evaluate", "--representation", "pca", "--dataset", "synthetic-squares", "--seed", huge],
                 ["traverse", copy_of(), "--seed", huge]):
        with pytest.raises(SystemExit) as stop:
            _cli(capsys, *argv)
        err = capsys.readouterr().err
        assert stop.value.code == 2 and err.count("\n") == 1 and err.startswith("error: argument --seed"), err
        assert "0 to 4294967295" in err


@pytest.mark.parametrize("text, fragment", [
    ('{"train": {"seed": 1180591620717411303424}}', "beyond 64 bits"),
    ('{"train": {"seed": 1099511627776}}', "from 0 to 4294967295"),
    ('{"train": {"steps": 1180591620717411303424}}', "beyond 64 bits"),
    ('{"train": {"keep_steps": [1180591620717411303424]}}', "beyond 64 bits"),
    ('{"train": {"steps": ' + "9" * 5001 + "}}", "cannot be read"),
    ('{"train": ' + "[" * 100_000 + "]" * 100_000 + "}", "nests arrays or objects too deeply"),
])
def test_a_config_with_numbers_or_nesting_beyond_reason_is_refused(tmp_path, capsys, text, fragment):
    (tmp_path / "config.json").write_text(text)
    code, _, err = _cli(capsys, "train", "--config", tmp_path / "config.json", "--out", tmp_path / "run")
    _one_error_line(code, err, fragment)
    assert len(err) < 400 and not (tmp_path / "run").exists()


# --- item 3: output that cannot show β, or cannot be written at all -------------------------------------------------

def _run(*argv, env=None, **streams) -> subprocess.CompletedProcess:
    """`betavae ARGV` as a real process, its output captured unless ``streams`` say where it goes."""
    return subprocess.run([sys.executable, "-m", "betavae", *map(str, argv)], text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})},
                          **(streams or {"capture_output": True}))


@pytest.mark.parametrize("env", [{"PYTHONIOENCODING": "ascii"}, {"LC_ALL": "C", "LANG": "C"}])
def test_output_that_cannot_encode_beta_does_not_crash(tmp_path, env):
    for argv in (["--help"], ["train", "--help"], ["train", *TINY, "--steps", "2", "--out", tmp_path / "run"],
                 ["evaluate", tmp_path / "run", "--quiet", "--device", "cpu", "--metrics", "beta-vae",
                  "--pairs", "2", "--train-points", "20", "--test-points", "10", "--classifier-seeds", "1"]):
        done = _run(*argv, env=env)
        assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert "-VAE metric" in done.stdout  # β shown as the output's encoding allows


def test_standard_output_on_a_full_device_is_one_error_line():
    with open("/dev/full", "w") as full:
        done = _run("train", "--print-config", "--dataset", "synthetic-squares", stdout=full, stderr=subprocess.PIPE)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("error: cannot write to standard output (No space left on device)")


def _ctrl_c_as_in_a_terminal() -> None:
    """A command started in the background of a shell without job control (``nohup make test &``) inherits SIGINT
    ignored, and Python keeps it ignored: give the child the disposition a terminal gives it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_while_torch_is_still_importing_is_one_line():
    # `--help` no longer imports torch at all (the CLI and the registries are torch-free): a command that scores
    # does, so it is interrupted while torch loads. The command would then work for a minute (the paper's metric on
    # raw pixels), so that on a loaded machine a signal sent a little late still finds it running.
    process = subprocess.Popen([sys.executable, "-m", "betavae", "evaluate", "--representation", "raw-pixels",
                                "--dataset", "synthetic-squares", "--metrics", "beta-vae", "--quiet"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=_ctrl_c_as_in_a_terminal)

    def importing_torch() -> bool:  # its shared library is mapped: the import has begun, and lasts a second more
        try:
            return "libtorch" in Path(f"/proc/{process.pid}/maps").read_text()
        except OSError:
            return False

    _wait_for(lambda: importing_torch() or process.poll() is not None, seconds=60)
    assert process.poll() is None, "it ended before the signal"
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    # 130, or ended by the SIGINT itself after printing its line (as a shell sees it, both are 128 + 2): Python ends a
    # process that way when the interrupt reached it at certain points of torch's import
    assert process.returncode in (130, -signal.SIGINT) and err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith("stopped (Ctrl-C)")


# --- item 3: a full disk (a real one: a small tmpfs) ----------------------------------------------------------------

class SmallDisk:
    """A tmpfs mounted at ``path``: ``resize`` changes its size, ``fill`` takes all but ``keep`` bytes of it."""

    def __init__(self, path: Path):
        self.path = path

    def resize(self, megabytes: float) -> None:
        subprocess.run(["mount", "-o", f"remount,size={int(megabytes * 1024)}k", str(self.path)], check=True)

    def fill(self, keep: int = 0) -> None:
        free = shutil.disk_usage(self.path).free
        fd = os.open(self.path / "filler", os.O_WRONLY | os.O_CREAT)
        try:
            os.posix_fallocate(fd, 0, max(1, free - keep))
        finally:
            os.close(fd)


@pytest.fixture
def small_disk(tmp_path):
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mount)], capture_output=True,
                          text=True)
    if done.returncode != 0:
        pytest.skip(f"a real full disk needs a small tmpfs, and mounting one needs root: {done.stderr.strip()}")
    yield SmallDisk(mount)
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_during_training_keeps_the_checkpoint_and_marks_the_run(small_disk, tiny_config, capsys):
    run = small_disk.path / "run"
    config = tiny_config(steps=8, batch_size=4, checkpoint_every=4)
    (small_disk.path.parent / "config.json").write_text(json.dumps(config.to_dict()))
    small_disk.resize(9)  # room for the step-4 checkpoint (6 MB with Adam's state) but not for step 8's beside it
    code, _, err = _cli(capsys, "train", "--config", small_disk.path.parent / "config.json", "--out", run, "--quiet")
    _one_error_line(code, err, f"No space left on device for {run / 'checkpoint.pt'}: it needs about 5.8 MB",
                    "last good checkpoint (step 4) is kept", "--resume")
    assert RunDir(run).status() == {"state": "interrupted", "step": 4, "steps": 8}
    assert RunDir(run).load_checkpoint()["step"] == 4 and not list(run.glob(".*.tmp"))
    small_disk.resize(64)
    code, out, err = _cli(capsys, "train", "--resume", "--out", run, "--quiet")
    assert code == 0 and "finished at step 8" in out, err


def test_a_full_disk_keeps_the_previous_eval_json_and_figures(small_disk, trained, capsys):
    run = Path(shutil.copytree(trained, small_disk.path / "run"))
    code, _, err = _cli(capsys, "evaluate", run, *EVALUATE)
    assert code == 0, err
    before = (run / "eval.json").read_bytes()
    small_disk.fill()
    code, _, err = _cli(capsys, "evaluate", run, "--quiet", "--device", "cpu", "--metrics", "sap")
    _one_error_line(code, err, f"No space left on device for {run / 'eval.json'}: it needs",
                    "the previous eval.json is kept")
    assert (run / "eval.json").read_bytes() == before
    code, _, err = _cli(capsys, "traverse", run)
    _one_error_line(code, err, "No space left on device for", ".png: it needs")
    assert not list(run.rglob(".*.tmp"))


def test_a_full_disk_while_preparing_data_names_the_file_and_the_space(small_disk, tmp_path):
    from PIL import Image

    images = tmp_path / "images"
    images.mkdir()
    for index in range(600):
        Image.new("RGB", (80, 80), (index % 256, 0, 0)).save(images / f"{index:03d}.png")
    small_disk.resize(4)  # 600 images of 3×64×64 need 7 MB
    code, _, err = _cli_error_of(["data", "folder", "--from", images, "--out", small_disk.path / "cache", "--quiet"])
    _one_error_line(code, err, f"No space left on device for {small_disk.path / 'cache' / 'images.npy'}",
                    "it needs about 7.0 MB", "4.0 MB free")
    small_disk.fill()
    code, _, err = _cli_error_of(["data", "dsprites", "--out", small_disk.path / "dsprites", "--quiet"])
    _one_error_line(code, err, "No space left on device for", f"{dsprites.GENERATED_FILENAME}: it needs about")
    assert not list(small_disk.path.rglob(".*.tmp"))


def _cli_error_of(argv):
    """`betavae ARGV` as a real process, for data commands whose progress would otherwise fill a test's output."""
    done = _run(*argv)
    return done.returncode, done.stdout, done.stderr


# --- item 3: checks before any work --------------------------------------------------------------------------------

def test_evaluate_json_into_a_directory_or_an_unwritable_path_is_refused_before_any_work(copy_of, tmp_path, capsys):
    run = copy_of()
    (tmp_path / "a file").write_text("")
    for target, fragment in ((tmp_path, "is a directory"), (tmp_path / "a file" / "scores.json", "cannot write")):
        code, out, err = _cli(capsys, "evaluate", run, *EVALUATE, "--json", target)
        _one_error_line(code, err, f"--json {target}", fragment)
        assert out == "" and not (run / "eval.json").exists()


@pytest.mark.parametrize("flag, value", [("--pairs", 10**9), ("--train-points", 10**10)])
def test_evaluation_sizes_beyond_memory_are_refused_with_the_figure(copy_of, capsys, flag, value):
    run = copy_of()
    code, _, err = _cli(capsys, "evaluate", run, "--quiet", "--device", "cpu", "--metrics", "beta-vae", flag, value)
    _one_error_line(code, err, "would need about", "of memory but", "is available")
    assert not (run / "eval.json").exists()


def test_an_image_size_beyond_memory_is_refused_with_the_figure(tmp_path, capsys):
    from PIL import Image

    (tmp_path / "images").mkdir()
    Image.new("RGB", (40, 40)).save(tmp_path / "images" / "one.png")
    code, _, err = _cli(capsys, "data", "folder", "--from", tmp_path / "images", "--out", tmp_path / "cache",
                        "--size", "100000", "--quiet")
    _one_error_line(code, err, "--size 100000", "GB of memory", "is available")
    assert not (tmp_path / "cache").exists()


# --- item 3: messages that misled ----------------------------------------------------------------------------------

def test_a_section_key_in_a_beta_vae_config_says_where_its_settings_go(tmp_path, capsys):
    (tmp_path / "config.json").write_text('{"section": {}}')
    code, _, err = _cli(capsys, "train", "--config", tmp_path / "config.json", "--out", tmp_path / "run")
    _one_error_line(code, err, "unknown key 'section'", "no section of its own")
    assert "None" not in err


def test_a_tiny_gaussian_sigma_is_named_as_the_cause_of_divergence(tmp_path, capsys):
    code, _, err = _cli(capsys, "train", *TINY, "--likelihood", "gaussian", "--gaussian-std", "1e-30", "--steps", "4",
                        "--out", tmp_path / "run")
    assert code == 3 and err.startswith("error: ") and err.count("\n") == 1, err
    assert "σ = 1e-30 (--gaussian-std)" in err and "raise --gaussian-std" in err and "lower the lr" not in err


def test_a_folder_given_as_dsprites_data_is_called_a_folder(tmp_path, capsys):
    code, _, err = _cli(capsys, "train", "--dataset", "dsprites", "--data", tmp_path, "--out", tmp_path / "run")
    _one_error_line(code, err, f"{tmp_path} is a folder, not a dSprites .npz file")
    assert "does not exist" not in err


def test_a_checkpoint_that_is_a_device_is_not_called_a_pickle(copy_of, capsys):
    run = copy_of()
    (run / "checkpoint.pt").unlink()
    os.symlink("/dev/zero", run / "checkpoint.pt")
    code, _, err = _cli(capsys, "evaluate", run, *EVALUATE)
    _one_error_line(code, err, "is not a regular file")
    assert "pickle" not in err and "unpickled" not in err


# --- item 2: a sweep's workers end with their driver (the fix is runner._stop_when_orphaned) -------------------

def _descendants(pid: int) -> list[int]:
    """The processes below ``pid`` now (children, grandchildren, …)."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    found, frontier = [], [pid]
    while frontier:
        children = [child for child, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has ended
    except OSError:
        return False


@pytest.mark.slow  # a smoke sweep of four runs, killed and then run again to its report (minutes)
def test_kill_9_of_a_sweep_driver_ends_its_workers_and_the_sweep_resumes(tmp_path):
    out = tmp_path / "fig6"
    argv = ["reproduce", "fig6-table", "--budget", "smoke", "--dataset", "synthetic-squares", "--rows",
            "vae,beta-vae-b4", "--workers", "2", "--out", out, "--quiet"]
    driver = _betavae(*argv)
    runs = out / "runs"
    _wait_for(lambda: any(RunDir(run).log() for run in runs.glob("*")) if runs.exists() else False, seconds=600)
    workers = _descendants(driver.pid)
    assert len(workers) >= 2
    driver.kill()
    driver.wait(timeout=60)
    _wait_for(lambda: not any(_alive(pid) for pid in workers), seconds=120)  # a step and a checkpoint, not an hour
    states = {run.name: RunDir(run).state for run in runs.iterdir() if RunDir(run).exists()}
    assert states and set(states.values()) <= {"interrupted", "finished"}, states
    stopped_at = {name: RunDir(runs / name).load_checkpoint()["step"] for name in states}
    again = _betavae(*argv)
    _, err = again.communicate(timeout=1800)
    assert again.returncode == 0, err
    for name, state in states.items():  # each interrupted run went on from its checkpoint, not from step 0
        assert RunDir(runs / name).state == "finished"
        sessions = json.loads((runs / name / "provenance.json").read_text())["sessions"]
        assert state == "finished" or sessions[-1]["from_step"] == stopped_at[name]
