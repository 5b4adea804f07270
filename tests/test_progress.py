"""Progress output: live bars on a terminal, plain lines when stderr is a file or pipe, none with TQDM_DISABLE."""

import os
import subprocess
import sys

from betavae.cli import main

TRAIN = [sys.executable, "-m", "betavae", "train", "--dataset", "synthetic-squares", "--steps", "20",
         "--log-every", "5", "--batch-size", "8", "--device", "cpu"]


def _train(tmp_path, **env):
    return subprocess.run(TRAIN + ["--out", str(tmp_path / "run")], capture_output=True, text=True, timeout=300,
                          env={**os.environ, **env})


def test_training_into_a_pipe_writes_one_plain_line_per_log_every(tmp_path):
    result = _train(tmp_path)
    assert result.returncode == 0, result.stderr
    assert "\r" not in result.stderr
    lines = result.stderr.splitlines()
    expected = [f"train: {step}/20 step ({5 * step}%)" for step in (5, 10, 15, 20)]
    assert [line.split(",")[0] for line in lines] == expected
    assert all("loss=" in line and "kl=" in line for line in lines)


def test_tqdm_disable_silences_progress(tmp_path):
    result = _train(tmp_path, TQDM_DISABLE="1")
    assert result.returncode == 0 and result.stderr == ""


def test_evaluate_into_a_file_stays_short(tmp_path, capsys):
    """Every progress display in an evaluation (encoding, the metric) writes whole lines, a few of them."""
    assert main(["train", "--dataset", "synthetic-squares", "--steps", "2", "--out", str(tmp_path / "run"),
                 "--quiet"]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(tmp_path / "run"), "--train-points", "100", "--test-points", "50", "--pairs", "4",
                 "--table2-train", "50", "--table2-test", "20", "--classifier-seeds", "1"]) == 0
    err = capsys.readouterr().err
    assert "\r" not in err and len(err.splitlines()) <= 5, err


def test_plain_progress_writes_a_last_line_and_not_one_per_item(capsys):
    from betavae.progress import progress_bar

    assert sum(progress_bar(range(1000), desc="counting", unit="thing")) == sum(range(1000))
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("counting: 1000/1000 thing (100%), 00:00 elapsed")


def test_dci_progress_goes_through_the_progress_helper(capsys):
    """DCI's bar into a file: whole lines from the progress helper, no carriage-return frames."""
    from betavae.data.synthetic import SyntheticSquares
    from betavae.evaluate import EvalSettings, evaluate_representation
    from betavae.representations import GroundTruthRepresentation

    data = SyntheticSquares()
    settings = EvalSettings.of("dci", changes={"dci": {"num_train": 100, "num_test": 50, "stages": 2}})
    evaluate_representation(GroundTruthRepresentation(data), data, settings, progress=True)
    err = capsys.readouterr().err
    assert "\r" not in err
    assert err.splitlines()[-1].startswith("DCI: gradient-boosted trees per factor (slow): 3/3 factor (100%)"), err
