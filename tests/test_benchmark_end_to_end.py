"""Every benchmark dataset end to end through the CLI: `betavae train --dataset NAME`, `betavae evaluate RUN --metrics
all` (smoke-sized through the metrics' own flags) and `betavae traverse`, on caches prepared from small files in
the official layout (tests/official_files.py) through the test hook; the dSprites variants on the generated
dSprites. Then every `reproduce` experiment on SmallNORB (the dataset with a nuisance factor), and `betavae data
smallnorb` on files of the official size, with no hook at all."""

import json

import numpy as np
import pytest
from official_files import cars3d_folder, mpi3d_file, norb_value, shapes3d_file, smallnorb_files
from PIL import Image

from betavae.cli import main
from betavae.data.registry import PREPARED
from betavae.experiments.registry import MODULES as EXPERIMENTS
from betavae.experiments.reproduce import reproduce

SMALL_METRICS = ["--pairs", "4", "--train-points", "60", "--test-points", "30", "--table2-train", "40",
                 "--table2-test", "20", "--classifier-seeds", "1", "--factor-vae-num-train", "40",
                 "--factor-vae-num-eval", "20", "--factor-vae-num-variance-estimate", "100", "--mig-num-points", "200",
                 "--dci-num-train", "100", "--dci-num-test", "50", "--dci-stages", "5", "--sap-num-train", "100",
                 "--sap-num-test", "50", "--modularity-num-train", "100", "--modularity-num-test", "50",
                 "--unsupervised-num-points", "200", "--quiet"]
TITLES = ("β-VAE metric", "dlib beta_vae_sklearn", "Table 2", "FactorVAE score", "MIG", "DCI disentanglement", "SAP",
          "Modularity", "Gaussian total correlation")
SMALL_GRIDS = {"shapes3d": (2, 2, 1, 2, 4, 3), "mpi3d-toy": (2, 2, 1, 2, 1, 3, 4), "smallnorb": (2, 10, 2, 3, 2),
               "cars3d": (4, 24, 3)}


def small_cache(name: str, tmp_path) -> list[str]:
    """``--data`` arguments of a small prepared cache of ``name`` (none for color/noisy: generated dSprites)."""
    sizes = SMALL_GRIDS.get(name.replace("realistic", "toy").replace("real", "toy"))
    out = tmp_path / f"cache-{name}"
    if name == "shapes3d":
        source = shapes3d_file(tmp_path / "3dshapes.h5", sizes)
    elif name.startswith("mpi3d"):
        source = mpi3d_file(tmp_path / f"{name.replace('-', '_')}.npz", sizes)
    elif name == "smallnorb":
        source = smallnorb_files(tmp_path / "norb", sizes)
    elif name == "cars3d":
        source = cars3d_folder(tmp_path / "nips2015-analogy-data", ["car_002_mesh", "car_001_mesh", "car_003_mesh"])
    elif name == "scream-dsprites":
        painting = np.random.default_rng(0).integers(0, 256, (300, 400, 3), dtype=np.uint8)
        Image.fromarray(painting).save(tmp_path / "scream.png")
        assert main(["data", name, "--from", str(tmp_path / "scream.png"), "--out", str(out), "--quiet"]) == 0
        return ["--data", str(out)]
    else:
        return []
    PREPARED[name].prepare(source, out, sizes=sizes, progress=False)
    return ["--data", str(out)]


def train_score_traverse(name: str, data: list[str], tmp_path, capsys) -> None:
    run = tmp_path / f"run-{name}"
    assert main(["train", "--dataset", name, *data, "--steps", "2", "--batch-size", "8", "--device", "cpu", "--quiet",
                 "--out", str(run)]) == 0
    config = json.loads((run / "config.json").read_text())
    assert (config["model"]["arch"], config["model"]["likelihood"], config["model"]["latents"],
            config["objective"]["beta"]) == ("conv", "bernoulli", 10, 4.0)  # the dataset's row of the defaults table
    capsys.readouterr()
    assert main(["evaluate", str(run), "--metrics", "all", *SMALL_METRICS]) == 0
    out = capsys.readouterr().out
    assert all(title in out for title in TITLES), out
    assert len(json.loads((run / "eval.json").read_text())["metrics"]) == len(TITLES)
    assert main(["traverse", str(run), "--seed-images", "1"]) == 0
    assert (run / "figures" / "traversal_0.png").exists()


def test_smallnorb_trains_scores_with_every_metric_and_traverses(tmp_path, capsys):
    train_score_traverse("smallnorb", small_cache("smallnorb", tmp_path), tmp_path, capsys)
    entries = json.loads((tmp_path / "run-smallnorb" / "eval.json").read_text())["metrics"].values()
    mig = next(entry for entry in entries if entry["metric"] == "mig")
    assert sorted(mig["result"]["per_factor"]) == ["azimuth", "category", "elevation", "lighting"]  # no instance


@pytest.mark.slow  # ~15 s a dataset (the dSprites variants load the generated dSprites): CI runs it with -m slow
@pytest.mark.parametrize("name", [name for name in PREPARED if name != "smallnorb"])
def test_every_benchmark_dataset_trains_scores_with_every_metric_and_traverses(name, tmp_path, capsys):
    train_score_traverse(name, small_cache(name, tmp_path), tmp_path, capsys)


EXPERIMENT_OPTIONS = {"fig6-table": {"rows": "ground-truth,pca,vae"}, "table2": {"rows": "pca,vae"},
                      "metric-sensitivity": {"rows": "ground-truth,pca"}}


@pytest.mark.slow  # minutes: each experiment's smoke plan trains its runs; CI runs it with -m slow
@pytest.mark.parametrize("experiment", list(EXPERIMENTS))
def test_every_experiment_takes_a_benchmark_dataset(experiment, tmp_path):
    data = small_cache("smallnorb", tmp_path)[1]
    report = reproduce(experiment, budget="smoke", out_dir=tmp_path / experiment, dataset="smallnorb", data_path=data,
                       device="cpu", progress=False, **EXPERIMENT_OPTIONS.get(experiment, {}))
    assert "smallnorb" in report.read_text()
    settings = json.loads((tmp_path / experiment / "settings.json").read_text())["settings"]
    assert settings["dataset"] == "smallnorb" and settings["data_path"] == data
    if experiment == "continuity":  # SmallNORB strides its own transform factors, not dSprites' positions
        results = json.loads((tmp_path / experiment / "results.json").read_text())
        assert results["strided_factors"] == list(PREPARED["smallnorb"].continuity_factors)


@pytest.mark.slow  # ~1 min: 48,600 stereo pairs (2 × 448 MB) written, gunzipped and resized
def test_smallnorb_data_command_at_the_official_size(tmp_path, capsys):
    folder = smallnorb_files(tmp_path / "norb", PREPARED["smallnorb"].factor_sizes)
    assert main(["data", "smallnorb", "--from", str(folder), "--out", str(tmp_path / "cache"), "--quiet"]) == 0
    assert "smallnorb ready" in capsys.readouterr().out
    data = PREPARED["smallnorb"].load(tmp_path / "cache")
    indices = data.index(data.sample_factors(100, np.random.default_rng(0)))
    assert data.num_images == 48_600 and (data.images(indices)[:, 0, 32, 32] == norb_value(indices)).all()
    assert data.describe()["official_grid"] is True
    assert main(["train", "--dataset", "smallnorb", "--data", str(tmp_path / "cache"), "--steps", "2",
                 "--batch-size", "8", "--device", "cpu", "--quiet", "--out", str(tmp_path / "run")]) == 0
