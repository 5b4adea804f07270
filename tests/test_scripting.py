"""Script-friendly behaviour: --version, distinct exit statuses, settings.json records the sizes used."""

import json
import re

import pytest

import betavae
from betavae.cli import main


def test_version(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0 and capsys.readouterr().out == f"betavae {betavae.__version__}\n"


def test_help_lists_the_exit_statuses(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    for status in ("0", "2", "3", "130"):
        assert re.search(rf"^  {status} +\S", text, re.MULTILINE), status


def test_a_diverged_run_exits_3_not_like_bad_input(tmp_path, capsys):
    argv = ["train", "--dataset", "synthetic-squares", "--arch", "burgess", "--optimizer", "adagrad", "--lr", "1e6",
            "--steps", "40", "--batch-size", "16", "--checkpoint-every", "5", "--device", "cpu", "--quiet",
            "--out", str(tmp_path / "run")]
    assert main(argv) == 3
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "diverged" in err and "lower the lr (now 1e+06) or β (now 4)" in err
    assert json.loads((tmp_path / "run" / "status.json").read_text())["state"] == "diverged"
    assert main(["train", "--steps", "0", "--out", str(tmp_path / "other")]) == 2  # bad input stays 2


def test_settings_json_records_the_table2_sizes_used_and_why(tmp_path):
    from betavae.experiments.reproduce import reproduce

    report = reproduce("table2", budget="smoke", out_dir=tmp_path / "t2", dataset="synthetic-squares", device="cpu",
                       progress=False, rows="ground-truth")
    record = json.loads((tmp_path / "t2" / "settings.json").read_text())["settings"]
    assert record["budget"]["table2_train"] == 400 and record["eval_settings"]["metrics"]["table2"]["num_train"] == 128
    assert record["size_notes"] == [
        "Table 2 training images: 128, not the budget's 400: synthetic-squares has 192 images and training and "
        "test images are kept distinct",
        "Table 2 test images: 64, not the budget's 200: synthetic-squares has 192 images and training and test "
        "images are kept distinct"]
    assert "Table 2 training images: 128, not the budget's 400" in report.read_text()
