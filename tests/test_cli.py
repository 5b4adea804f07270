"""Bad input gets one clear line on stderr and exit status 2, never a traceback."""

import json
from pathlib import Path

import numpy as np
import pytest

from betavae.cli import main


def _run(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("argv,message", [
    (["--beta", "-1"], "beta must be >= 0"),
    (["--arch", "transformer"], "unknown arch 'transformer'; choose one of: mlp, conv, burgess"),
    (["--dataset", "mnist"], "unknown dataset 'mnist'; choose one of"),
    (["--latents", "0"], "latents must be a positive integer"),
    (["--steps", "0"], "steps must be a positive integer"),
    (["--steps", "-5"], "steps must be a positive integer"),
    (["--likelihood", "poisson"], "unknown likelihood 'poisson'"),
    (["--device", "tpu"], "unknown device 'tpu'"),
    (["--model", "gan"], "unknown model 'gan'"),
    (["--beta", "2", "--beta-norm", "0.1"], "not both"),
    (["--dataset", "celeba", "--data", "/nonexistent/cache"], "/nonexistent/cache"),
    (["--beta", "inf"], "objective.beta must be a finite number"),
    (["--gaussian-std", "nan"], "model.gaussian_std must be a finite number"),
])
def test_bad_train_options_give_one_line(tmp_path, capsys, argv, message):
    code, _, err = _run(capsys, "train", "--out", str(tmp_path / "run"), "--quiet", *argv)
    assert code == 2
    assert err.startswith("error: ") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_unwritable_out_dir(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    code, _, err = _run(capsys, "train", "--dataset", "synthetic-squares", "--out", str(tmp_path / "file" / "run"))
    assert code == 2 and "cannot write to output directory" in err


def test_bad_config_files(tmp_path, capsys):
    (tmp_path / "broken.json").write_text("{not json")
    (tmp_path / "unknown.json").write_text(json.dumps({"train": {"stepz": 3}}))
    (tmp_path / "string.json").write_text(json.dumps({"objective": {"beta": "4"}}))
    (tmp_path / "null.json").write_text(json.dumps({"objective": {"gamma": None}}))
    (tmp_path / "bool.json").write_text(json.dumps({"train": {"steps": True}}))
    (tmp_path / "shape.json").write_text(json.dumps({"model": {"image_shape": [1, 64]}}))
    for name, message in [("broken.json", "is not valid JSON"), ("unknown.json", "unknown key(s) ['stepz']"),
                          ("missing.json", "does not exist"),
                          ("string.json", "objective.beta must be float | None, got '4'"),
                          ("null.json", "objective.gamma must be float, got None"),
                          ("bool.json", "train.steps must be int, got True"),
                          ("shape.json", "model.image_shape must be tuple[int, int, int] | None, got (1, 64)")]:
        code, _, err = _run(capsys, "train", "--config", str(tmp_path / name), "--out", str(tmp_path / "r"))
        assert code == 2 and message in err, err


def test_config_file_round_trip_with_flag_override(tmp_path, capsys):
    code, out, _ = _run(capsys, "train", "--dataset", "synthetic-squares", "--beta-norm", "0.01", "--print-config")
    assert code == 0
    (tmp_path / "config.json").write_text(out)
    code, out, _ = _run(capsys, "train", "--config", str(tmp_path / "config.json"), "--beta", "8", "--print-config")
    resolved = json.loads(out)
    assert code == 0 and resolved["objective"]["beta"] == 8.0
    assert resolved["objective"]["beta_norm"] == pytest.approx(8 * 10 / 4096)
    assert resolved["data"]["dataset"] == "synthetic-squares"


def test_train_then_run_again_is_not_recomputed(tmp_path, capsys):
    argv = ["train", "--dataset", "synthetic-squares", "--steps", "4", "--batch-size", "8", "--out",
            str(tmp_path / "run"), "--quiet", "--device", "cpu"]
    code, out, _ = _run(capsys, *argv)
    assert code == 0 and "finished at step 4" in out
    code, out, _ = _run(capsys, *argv)
    assert code == 0 and "already finished" in out


def test_dsprites_source_errors(tmp_path, capsys):
    import numpy as np

    (tmp_path / "corrupt.npz").write_bytes(b"\x00garbage" * 100)
    np.savez(tmp_path / "small.npz", imgs=np.zeros((10, 64, 64), np.uint8), latents_classes=np.zeros((10, 6)))
    cases = [("missing.npz", "does not exist"), ("corrupt.npz", "corrupt.npz"), ("small.npz", "(737280, 64, 64)")]
    for name, message in cases:
        code, _, err = _run(capsys, "data", "dsprites", "--source", str(tmp_path / name), "--quiet")
        assert code == 2 and message in err and err.count("\n") == 1, err


def test_evaluate_a_representation_and_a_run(tmp_path, capsys):
    small = ["--dataset", "synthetic-squares", "--train-points", "200", "--test-points", "100", "--pairs", "8",
             "--table2-train", "100", "--table2-test", "50", "--classifier-seeds", "2", "--quiet"]
    code, out, _ = _run(capsys, "evaluate", "--representation", "ground-truth", *small, "--json",
                        str(tmp_path / "gt.json"))
    assert code == 0 and "β-VAE metric (eq. 5)              100.00%" in out
    entries = {entry["metric"]: entry for entry in json.loads((tmp_path / "gt.json").read_text())["metrics"].values()}
    assert entries["beta-vae"]["result"]["scores"] == [1.0, 1.0]
    code, out, _ = _run(capsys, "evaluate", "--representation", "pca", *small, "--no-standardize", "--sample-seed",
                        "3", "--json", str(tmp_path / "pca.json"))
    entries = {entry["metric"]: entry for entry in json.loads((tmp_path / "pca.json").read_text())["metrics"].values()}
    for name in ("beta-vae", "table2"):
        assert entries[name]["settings"]["metric"]["classifier"]["standardize"] is False
    assert code == 0 and entries["beta-vae"]["settings"]["sample_seed"] == 3
    run = tmp_path / "run"
    assert _run(capsys, "train", "--dataset", "synthetic-squares", "--steps", "5", "--out", str(run), "--quiet")[0] == 0
    code, out, _ = _run(capsys, "evaluate", str(run), *small[2:])
    stored = json.loads((run / "eval.json").read_text())["metrics"]
    assert code == 0 and "β-VAE metric" in out and len(stored) == 3  # one entry per metric
    before = (run / "eval.json").stat().st_mtime_ns
    _run(capsys, "evaluate", str(run), *small[2:])  # same settings: served from eval.json, not recomputed
    assert (run / "eval.json").stat().st_mtime_ns == before
    code, _, err = _run(capsys, "evaluate", "--representation", "wavelets", *small)
    assert code == 2 and "unknown representation 'wavelets'" in err


def test_evaluate_any_metrics_with_derived_flags_and_json_on_stdout(tmp_path, capsys):
    small = ["--dataset", "synthetic-squares", "--classifier-seeds", "1", "--quiet", "--representation", "ground-truth"]
    code, out, err = _run(capsys, "evaluate", *small, "--metrics", "mig,dci", "--mig-num-bins", "10",
                          "--dci-num-train", "300", "--dci-num-test", "100", "--dci-stages", "5", "--json", "-")
    document = json.loads(out)  # stdout holds the evaluation file only; the table went to stderr
    assert code == 0 and "MIG" in err and "DCI completeness" in err
    entries = {entry["metric"]: entry for entry in document["metrics"].values()}
    assert document["version"] == 3 and set(entries) == {"mig", "dci"}
    assert entries["mig"]["settings"]["metric"]["num_bins"] == 10 and entries["mig"]["result"]["mig"] > 0.95
    assert entries["dci"]["settings"]["metric"] == {"num_train": 300, "num_test": 100, "stages": 5, "max_depth": 3,
                                                  "trees": "exact"}
    assert not (Path.cwd() / "-").exists()
    run = tmp_path / "run"
    assert _run(capsys, "train", "--dataset", "synthetic-squares", "--steps", "5", "--out", str(run), "--quiet")[0] == 0
    code, _, _ = _run(capsys, "evaluate", str(run), "--metrics", "mig", "--quiet", "--json", str(tmp_path / "m.json"))
    stored = json.loads((run / "eval.json").read_text())
    assert code == 0 and json.loads((tmp_path / "m.json").read_text()) == stored  # one layout, the same entries
    # another metric later: computed and added beside, the stored MIG entry untouched
    _run(capsys, "evaluate", str(run), "--metrics", "mig,sap", "--sap-num-train", "200", "--sap-num-test", "100",
         "--quiet")
    grown = json.loads((run / "eval.json").read_text())["metrics"]
    assert len(grown) == 2 and all(grown[key] == entry for key, entry in stored["metrics"].items())


def test_evaluate_bad_metric_settings_end_in_one_error_line_naming_the_flag(capsys):
    small = ["--representation", "ground-truth", "--dataset", "synthetic-squares", "--quiet"]
    cases = [(["--metrics", "mig", "--mig-num-bins", "0"], "--mig-num-bins"),
             (["--metrics", "all", "--table2-num-train", "150", "--table2-num-test", "100"], "--table2-num-train"),
             (["--metrics", "mig", "--dci-stages", "3"], "--dci-stages"),
             (["--metrics", "dci", "--dci-trees", "forest"], "--dci-trees"),
             (["--metrics", "wavelets"], "unknown metric 'wavelets'"),
             (["--beta-vae-classifier-lr", "0"], "--beta-vae-classifier-lr")]
    for flags, message in cases:
        code, _, err = _run(capsys, "evaluate", *small, *flags)
        assert code == 2 and message in err and err.startswith("error:") and err.count("\n") == 1, err


def test_evaluate_help_lists_the_registered_metrics_and_their_flags(capsys):
    from betavae.metrics.registry import METRICS

    with pytest.raises(SystemExit):
        main(["evaluate", "--help"])
    out = capsys.readouterr().out
    for name, metric in METRICS.items():
        assert name in out and metric.title.split(" (")[0] in out
    assert "--mig-num-bins" in out and "--beta-vae-classifier-updates" in out and "--sap-continuous" in out


def test_traverse_writes_figures(tmp_path, capsys):
    run = tmp_path / "run"
    _run(capsys, "train", "--dataset", "synthetic-squares", "--steps", "5", "--out", str(run), "--quiet")
    code, out, _ = _run(capsys, "traverse", str(run), "--seed-images", "2")
    assert code == 0
    assert {p.name for p in (run / "figures").iterdir()} == {"reconstructions.png", "samples.png",
                                                            "traversal_0.png", "traversal_1.png"}
    code, _, err = _run(capsys, "traverse", str(tmp_path / "nothing"))
    assert code == 2 and "not a run directory" in err


@pytest.mark.parametrize("kind,channels", [("celeba", 3), ("chairs", 1), ("folder", 3)])
def test_image_folder_end_to_end(tmp_path, capsys, kind, channels):
    """`betavae data KIND` + `train` (Table 1 conv net, the paper's β and decoder) + `traverse` on own images."""
    from PIL import Image

    rng = np.random.default_rng(0)
    source = tmp_path / "images" / ("img_align_celeba" if kind == "celeba" else "set")
    source.mkdir(parents=True)
    for number in range(10):
        pixels = rng.integers(0, 255, size=(90, 70, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(source / f"{number:06d}.png")
    (source / "broken.png").write_bytes(b"not a png")
    cache = tmp_path / "cache"
    code, out, err = _run(capsys, "data", kind, "--from", str(tmp_path / "images"), "--out", str(cache), "--quiet")
    assert code == 0 and "ready" in out and "broken.png" in err  # the corrupt file is reported, not fatal
    run = tmp_path / "run"
    code, out, _ = _run(capsys, "train", "--dataset", kind, "--data", str(cache), "--steps", "3", "--batch-size",
                        "4", "--out", str(run), "--quiet", "--device", "cpu")
    assert code == 0, out
    config = json.loads((run / "config.json").read_text())
    assert config["model"]["arch"] == "conv" and config["model"]["image_shape"] == [channels, 64, 64]
    expected = {"celeba": (250.0, "gaussian"), "chairs": (5.0, "bernoulli"), "folder": (4.0, "gaussian")}[kind]
    assert (config["objective"]["beta"], config["model"]["likelihood"]) == expected
    assert config["model"]["latents"] == 32  # Table 1: 32 latent units for CelebA, chairs and faces
    assert _run(capsys, "traverse", str(run))[0] == 0 and (run / "figures" / "traversal_0.png").exists()
    other = "chairs" if kind != "chairs" else "celeba"  # a cache prepared for one kind is refused for another
    code, _, err = _run(capsys, "train", "--dataset", other, "--data", str(cache), "--out", str(tmp_path / "x"))
    assert code == 2 and f"holds a prepared {kind} cache, not {other}" in err


def test_image_folder_cache_defaults_to_the_data_dir(tmp_path, capsys, monkeypatch):
    from PIL import Image

    monkeypatch.setenv("BETAVAE_DATA_DIR", str(tmp_path / "data"))
    source = tmp_path / "chairs"
    source.mkdir()
    for number in range(6):
        Image.fromarray(np.full((80, 80, 3), 40 * number, dtype=np.uint8)).save(source / f"{number}.png")
    code, out, _ = _run(capsys, "data", "chairs", "--from", str(source), "--quiet")
    assert code == 0 and str(tmp_path / "data" / "chairs") in out
    code, out, _ = _run(capsys, "train", "--dataset", "chairs", "--steps", "2", "--batch-size", "2", "--quiet",
                        "--device", "cpu", "--out", str(tmp_path / "run"))
    assert code == 0, out
    assert json.loads((tmp_path / "run" / "provenance.json").read_text())["data"]["cache"] == str(
        tmp_path / "data" / "chairs")


def test_image_folder_errors(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    for argv, message in [(["--from", str(tmp_path / "missing")], "missing"),
                          (["--from", str(tmp_path / "empty")], "is empty"), ([], "needs --from")]:
        code, _, err = _run(capsys, "data", "folder", "--out", str(tmp_path / "out"), "--quiet", *argv)
        assert code == 2 and message in err, err


def test_a_clean_stop_exits_like_ctrl_c_not_like_bad_input(tmp_path, capsys, monkeypatch):
    import betavae.train
    from betavae.errors import StoppedByUser

    def stopped(*args, **kwargs):
        raise StoppedByUser("interrupted at step 7; checkpoint saved — continue with --resume")

    monkeypatch.setattr(betavae.train, "train", stopped)
    code, _, err = _run(capsys, "train", "--dataset", "synthetic-squares", "--out", str(tmp_path / "run"), "--quiet")
    assert code == 130 and err == "stopped: interrupted at step 7; checkpoint saved — continue with --resume\n"


def test_evaluate_help_names_every_representation(capsys):
    from betavae.baselines.registry import REPRESENTATION_NAMES

    with pytest.raises(SystemExit):
        main(["evaluate", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert all(name in help_text for name in REPRESENTATION_NAMES)
