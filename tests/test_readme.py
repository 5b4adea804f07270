"""Every `betavae ...` command the README shows runs as printed, at a small size (a few flags appended)."""

import os
import re
import shlex
from pathlib import Path

import numpy as np
import pytest

from betavae.cli import build_parser, main, train_config

README = Path(__file__).resolve().parents[1] / "README.md"

# Appended to each command (argparse: a later flag wins), so that it runs in seconds on the synthetic squares.
SMALL = {
    "train": ["--steps", "3", "--batch-size", "8", "--dataset", "synthetic-squares", "--device", "cpu", "--quiet"],
    "evaluate": ["--train-points", "60", "--test-points", "30", "--pairs", "4", "--table2-train", "40",
                 "--table2-test", "20", "--classifier-seeds", "1", "--dataset", "synthetic-squares", "--quiet"],
    "traverse": ["--seed-images", "1"],
    "reproduce": ["--budget", "smoke", "--dataset", "synthetic-squares", "--rows", "pca", "--device", "cpu",
                  "--quiet"],
    "data": ["--quiet"],
    "udr": ["--num-points", "200", "--device", "cpu", "--quiet"],
}
NOT_HERE = {  # each with the reason it is not run in the fast suite
    "betavae data dsprites": "renders all 737,280 images (~25 s, 19 MB): the slow suite runs it (test_end_to_end)",
    "betavae data shapes3d --from ~/datasets/3dshapes.h5":
        "needs DeepMind's 3dshapes.h5 (480,000 images), which cannot be downloaded here; test_benchmark_datasets.py "
        "converts official-layout files of each dataset, test_benchmark_end_to_end.py runs `betavae data smallnorb` "
        "on files of the official size",
    "betavae reproduce fig6-table --budget paper --executor ray --address HEAD:6379 --gpus-per-run 0.25 --out "
    "/shared/fig6-paper": "needs a Ray cluster and a shared folder; tests/test_ray.py runs the Ray executor against "
                          "a real local Ray instance, through this command's flags",
}


def readme_commands() -> list[str]:
    """The `betavae` lines of the README's bash blocks, comments removed (a `cmd && betavae ...` line counts)."""
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(), re.DOTALL)
    lines = [line.split("  #")[0].split(" # ")[0].strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if line.startswith("betavae ")]


def _run(command: str, capsys) -> None:
    """Run one README line in-process: `a && b` in order, `> file` redirecting stdout, `~` expanded."""
    for part in command.split("&&"):
        words = [os.path.expanduser(word) for word in shlex.split(part)]
        target = words[words.index(">") + 1] if ">" in words else None
        argv = words[1:words.index(">")] if target else words[1:]
        small = SMALL[argv[0]]
        if argv[0] == "train":  # small networks: the conv net's 2 MB checkpoints, not the MLP's 170 MB
            small = small + (["--gan-width", "8"] if "infogan" in argv else ["--arch", "burgess"])
        if "--keep-steps" in argv or "--step" in argv:  # kept steps inside the 3 steps a small run trains
            small = small + (["--keep-steps", "1,2"] if argv[0] == "train" else ["--step", "1"])
        code = main(argv + small)
        out = capsys.readouterr().out
        assert code == 0, f"{command!r} exited {code}"
        if target:
            Path(target).write_text(out)


def test_the_readme_shows_the_commands_this_test_runs():
    commands = readme_commands()
    assert len(commands) >= 12 and all(command.split()[1] in SMALL for command in commands)
    assert any("--objective capacity" in command for command in commands)


def test_every_readme_command_runs_as_printed_at_small_size(tmp_path, monkeypatch, capsys):
    from PIL import Image

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("BETAVAE_DATA_DIR", str(tmp_path / "data"))
    celeba = tmp_path / "home" / "datasets" / "celeba"  # `betavae data celeba --from ~/datasets/celeba`
    celeba.mkdir(parents=True)
    for number in range(4):
        Image.fromarray(np.full((80, 70, 3), 60 * number, np.uint8)).save(celeba / f"{number:06d}.jpg")
    ran = []
    for command in readme_commands():
        if command in NOT_HERE:
            continue
        _run(command, capsys)
        ran.append(command)
    assert len(ran) == len(readme_commands()) - len(NOT_HERE)
    assert (tmp_path / "runs" / "cap" / "status.json").exists() and (tmp_path / "my.json").exists()


def test_readme_capacity_example_trains_on_dsprites_images(tmp_path):
    """The capacity example on real dSprites images (rendered, 2,048 of them): it diverged at step 2 with the
    2D-shapes optimiser (Adagrad, lr 1e-2) under γ = 1000; Burgess et al.'s Adam 5e-4 trains."""
    from betavae.data.dsprites import DSprites
    from betavae.data.ground_truth import SubsetData
    from betavae.models.registry import prepare_config
    from betavae.train import train

    (command,) = [c for c in readme_commands() if "--objective capacity" in c]
    argv = shlex.split(command)[1:] + ["--steps", "12", "--device", "cpu", "--quiet"]
    config = train_config(build_parser().parse_args(argv))  # exactly what `betavae train` builds from the flags
    dsprites = DSprites.rendered()
    data = SubsetData(dsprites, np.random.default_rng(0).choice(dsprites.num_images, 2048, replace=False))
    result = train(config, tmp_path / "cap", data=data, progress=False)
    assert result.state == "finished" and result.step == 12
    resolved = prepare_config(train_config(build_parser().parse_args(argv)), DSprites.image_shape)
    assert (resolved.optim.name, resolved.optim.lr, resolved.objective.gamma) == ("adam", 5e-4, 1000.0)


def test_divergence_hint_of_the_capacity_objective_names_lr_and_gamma(tmp_path):
    from betavae.config import RunConfig
    from betavae.models.registry import divergence_hint, prepare_config

    config = RunConfig()
    config.objective.kind = "capacity"
    hint = divergence_hint(prepare_config(config, (1, 64, 64)))
    assert hint == "lower the lr (now 0.0005) or γ (now 1000)" and "β" not in hint


@pytest.mark.slow
def test_readme_data_and_capacity_commands_on_dsprites(tmp_path, monkeypatch, capsys):
    """The README's capacity example on the full generated dSprites, as printed plus --steps."""
    monkeypatch.chdir(tmp_path)
    assert main(["data", "dsprites", "--quiet"]) == 0
    (command,) = [c for c in readme_commands() if "--objective capacity" in c]
    assert main(shlex.split(command)[1:] + ["--steps", "30", "--quiet"]) == 0
