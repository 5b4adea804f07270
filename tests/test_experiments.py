"""Each paper experiment runs end to end at the smoke budget (on the synthetic squares: seconds, no files)."""

import json

import pytest

from betavae.errors import BetaVAEError
from betavae.experiments.reproduce import reproduce


def _run(name, tmp_path, **options):
    report = reproduce(name, budget="smoke", out_dir=tmp_path / name, dataset="synthetic-squares",
                       device="cpu", progress=False, **options)
    text = report.read_text()
    settings = json.loads((tmp_path / name / "settings.json").read_text())
    assert settings["settings"]["budget"]["name"] == "smoke"
    assert "git_commit" in settings["provenance"] and "torch" in settings["provenance"]["versions"]
    assert (tmp_path / name / "report.html").read_text().count("data:image/png;base64,") >= 1
    return text


def test_samples(tmp_path):
    text = _run("samples", tmp_path)
    assert "samples_beta4.png" in text and "samples_beta1.png" in text
    assert "| beta4-seed0 | beta-vae | mlp | 10 | bernoulli | 4 | adagrad 0.01 |" in text  # the runs table


def test_traversals(tmp_path):
    text = _run("traversals", tmp_path)
    for name in ("traversal_0.png", "traversal_0.gif", "latent_factor_map.png", "kl_per_latent.png"):
        assert (tmp_path / "traversals" / name).exists(), name
    assert "| z" in text  # the KL table lists latents


def test_beta_epsilon_orders_kl_by_beta(tmp_path):
    _run("beta-epsilon", tmp_path)
    points = json.loads((tmp_path / "beta-epsilon" / "results.json").read_text())["points"]
    kls = [point["kl"] for point in points]
    # a larger β must buy a smaller KL (measured at smoke: 14.6, 4.9, 1.6 nats for β = 0.5, 4, 16)
    assert kls == sorted(kls, reverse=True)


def test_rerun_reuses_finished_runs(tmp_path):
    _run("samples", tmp_path)
    checkpoint = tmp_path / "samples" / "runs" / "beta4-seed0" / "checkpoint.pt"
    before = checkpoint.stat().st_mtime_ns
    _run("samples", tmp_path)
    assert checkpoint.stat().st_mtime_ns == before


def test_unknown_experiment_and_budget(tmp_path):
    with pytest.raises(BetaVAEError, match="unknown experiment"):
        reproduce("fig9", out_dir=tmp_path)
    with pytest.raises(BetaVAEError, match="unknown budget"):
        reproduce("samples", budget="huge", out_dir=tmp_path)


def test_fig6_table_adds_a_table_of_later_metrics_for_the_same_rows(tmp_path):
    out = tmp_path / "fig6"
    report = reproduce("fig6-table", budget="smoke", out_dir=out, dataset="synthetic-squares", device="cpu",
                       progress=False, rows="ground-truth,pca", metrics="mig,modularity")
    later = json.loads((out / "results.json").read_text())["later_metrics"]
    assert [row["key"] for row in later] == ["ground-truth", "pca"]
    assert later[0]["metrics"]["MIG"]["mean"] > 0.95  # the factors, one class index each (measured 0.99)
    assert set(later[1]["metrics"]) == {"MIG", "Modularity", "Explicitness"}
    assert "Later disentanglement metrics" in report.read_text() and "Chen et al. 2018" in report.read_text()
    assert "Later disentanglement metrics" in (out / "report.html").read_text()
    with pytest.raises(BetaVAEError, match="fig6-table and training-curve only"):
        reproduce("samples", out_dir=tmp_path / "s", metrics="mig")


@pytest.mark.slow  # ~50 s: all nine rows incl. InfoGAN and DC-IGN; CI runs it with -m slow
def test_fig6_table_and_table2_on_synthetic_data(tmp_path):
    text = _run("fig6-table", tmp_path)
    rows = json.loads((tmp_path / "fig6-table" / "results.json").read_text())["rows"]
    assert len(rows) == 9 and rows[0]["protocol"]["mean"] == 1.0
    for row in rows:  # the full list is reported beside the filtered figure
        assert row["protocol"]["num_total"] == len(row["protocol"]["scores"]) >= 2
    assert "paper (%)" not in text and "nothing to compare with" in text and "Table 2" in text  # not dSprites
    assert "ICA (one fit: the data has no 'shape' factor" in text  # synthetic squares have no shapes to pair
    # table2 into the same directory re-uses every trained run and evaluation
    report = reproduce("table2", budget="smoke", out_dir=tmp_path / "fig6-table", dataset="synthetic-squares",
                       device="cpu", progress=False)
    assert "pos_x" in report.read_text()


TOY_EXPERIMENT = '''
"""A toy experiment: one short run, its last logged loss."""
from dataclasses import dataclass

from betavae.experiments.base import Experiment, Result, at_every_budget
from betavae.experiments.common import beta_vae_config
from betavae.experiments.runner import RunSpec
from betavae.runs import RunDir
from betavae.viz.report import Report


@dataclass(frozen=True)
class ToyPlan:
    beta: float = 2.0


@dataclass
class ToyResult(Result):
    loss: float = 0.0


class Toy(Experiment):
    name = "toy"
    source = "nowhere"
    summary = "the last loss of one run"
    result_type = ToyResult
    plans = at_every_budget(ToyPlan())

    def runs(self, ctx):
        return [RunSpec("toy-seed0", beta_vae_config(ctx.budget, ctx.dataset, seed=0, beta=ctx.plan.beta,
                                                     device="cpu"))]

    def analyse(self, ctx, outcomes):
        return ToyResult(RunDir(outcomes["toy-seed0"].run_dir).log()[-1]["loss"])

    def report(self, ctx, result):
        report = Report("Toy")
        report.paragraph(f"last loss {result.loss:.3f}")
        return report


EXPERIMENT = Toy()
'''


def test_a_new_experiment_is_one_file_and_one_registry_line(tmp_path, monkeypatch, capsys):
    from betavae.cli import main
    from betavae.experiments import registry

    (tmp_path / "toy_experiment.py").write_text(TOY_EXPERIMENT)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(registry.MODULES, "toy", "toy_experiment")  # the one registry line
    out = tmp_path / "out"
    argv = ["reproduce", "toy", "--dataset", "synthetic-squares", "--out", str(out), "--quiet"]
    assert main(argv) == 0
    loss = json.loads((out / "results.json").read_text())["loss"]
    settings = json.loads((out / "settings.json").read_text())["settings"]
    assert loss > 0 and settings["plan"] == {"beta": 2.0} and settings["budget"]["name"] == "smoke"
    assert f"last loss {loss:.3f}" in (out / "report.md").read_text()
    checkpoint = out / "runs" / "toy-seed0" / "checkpoint.pt"
    before = checkpoint.stat().st_mtime_ns
    assert main(argv) == 0 and checkpoint.stat().st_mtime_ns == before  # the harness reuses the finished run
    assert main([*argv[:2], "--budget", "long", *argv[2:]]) == 2  # no plan for that budget
    assert "budget 'long' is for training-curve only; toy takes smoke | cpu | paper" in capsys.readouterr().err
