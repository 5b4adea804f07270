"""Issue 10's machinery: kept checkpoints, the classifier's fixed-update reading, the training curve's answer,
the metric-sensitivity readings, and the sweep's refusal to start runs after a Ctrl-C."""

import json

import numpy as np
import pytest
import torch

from betavae.cli import main
from betavae.data.synthetic import SyntheticSquares
from betavae.errors import BetaVAEError, StoppedByUser
from betavae.evaluate import evaluate_representation, evaluate_run, metric_result
from betavae.experiments import runner
from betavae.experiments.common import paper_settings
from betavae.experiments.metric_sensitivity import PLANS as SENSITIVITY_PLANS
from betavae.experiments.metric_sensitivity import Reading, readings, score_row, summarise
from betavae.experiments.rows import FIG6_ROWS
from betavae.experiments.training_curve import CurvePlan, gap_answer, log_spaced
from betavae.metrics.linear import ClassifierSettings, fit_linear_softmax
from betavae.representations import GroundTruthRepresentation
from betavae.runs import RunDir, load_model
from betavae.train import train


def _same_weights(first, second):
    return all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), second.state_dict().values()))


def test_kept_checkpoints_hold_the_weights_of_their_step(tmp_path, tiny_config):
    long_run = tiny_config(steps=20, checkpoint_every=20)
    long_run.train.keep_steps = (5, 10)
    train(long_run, tmp_path / "long", progress=False)
    assert RunDir(tmp_path / "long").kept_steps() == [5, 10]
    train(tiny_config(steps=10, checkpoint_every=20), tmp_path / "short", progress=False)
    _, kept = load_model(tmp_path / "long", step=10)
    _, short = load_model(tmp_path / "short")
    _, final = load_model(tmp_path / "long")
    assert _same_weights(kept, short) and not _same_weights(kept, final)
    # keeping weights changes no number: the 20-step run ends as one that kept nothing
    train(tiny_config(steps=20, checkpoint_every=20), tmp_path / "plain", progress=False)
    assert _same_weights(final, load_model(tmp_path / "plain")[1])


def test_evaluate_a_kept_step_is_cached_apart_from_the_latest(tmp_path, tiny_config):
    config = tiny_config(steps=10)
    config.train.keep_steps = (5,)
    train(config, tmp_path / "run", progress=False)
    settings = paper_settings(L=4, num_train=60, num_test=30, metrics=("beta-vae",), classifier_seeds=(0,))
    at_5 = evaluate_run(tmp_path / "run", settings, device="cpu", progress=False, step=5)
    latest = evaluate_run(tmp_path / "run", settings, device="cpu", progress=False)
    assert at_5["subject"] == {"step": 5} and latest["subject"] == {"step": 10}
    assert len(json.loads((tmp_path / "run" / "eval.json").read_text())["metrics"]) == 2  # one entry per step
    with pytest.raises(BetaVAEError, match=r"kept no weights of step 7 \(kept: \[5\]\)"):
        evaluate_run(tmp_path / "run", settings, device="cpu", progress=False, step=7)


def test_cli_keep_steps_and_evaluate_step(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--dataset", "synthetic-squares", "--arch", "burgess", "--steps", "6", "--batch-size", "8",
                 "--keep-steps", "2,4", "--device", "cpu", "--quiet", "--out", str(out)]) == 0
    assert RunDir(out).kept_steps() == [2, 4]
    assert main(["evaluate", str(out), "--step", "4", "--pairs", "2", "--train-points", "40", "--test-points", "20",
                 "--classifier-seeds", "1", "--no-dlib", "--no-table2", "--device", "cpu", "--quiet"]) == 0
    with pytest.raises(SystemExit):  # argparse: one usage line naming the flag
        main(["train", "--keep-steps", "2,x", "--out", str(tmp_path / "x")])
    assert "--keep-steps" in capsys.readouterr().err


def test_fixed_updates_are_exactly_that_many_adagrad_steps():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3))
    y = (x[:, 0] > 0).astype(int)
    batches_per_epoch = 4  # 200 points in minibatches of 64
    one_epoch = fit_linear_softmax(x, y, 2, 0, ClassifierSettings(max_epochs=1))
    fixed = fit_linear_softmax(x, y, 2, 0, ClassifierSettings(updates=batches_per_epoch))
    one_more = fit_linear_softmax(x, y, 2, 0, ClassifierSettings(updates=batches_per_epoch + 1))
    assert np.array_equal(fixed.weight, one_epoch.weight) and fixed.epochs == 1 and not fixed.converged
    assert not np.array_equal(one_more.weight, fixed.weight) and one_more.epochs == 2
    with pytest.raises(BetaVAEError, match="updates must be >= 1"):
        ClassifierSettings(updates=0)


def test_log_spaced_steps():
    assert log_spaced(6000, 375) == (375, 750, 1500, 3000, 6000)
    assert log_spaced(40, 10) == (10, 20, 40)


def _summary(vae, beta, std=0.01):
    return {key: {str(step): {"metric_mean": value, "metric_std": std} for step, value in values.items()}
            for key, values in (("beta1", vae), ("beta4", beta))}


def test_gap_answer_names_where_the_gap_opens_and_whether_it_grows():
    plan = CurvePlan(steps=8, keep_steps=(1, 2, 4, 8), seeds=2, control_seeds=0)
    opened = gap_answer(_summary({1: .6, 2: .6, 4: .6, 8: .6}, {1: .55, 2: .7, 4: .8, 8: .95}), plan)
    assert "opens at step 2 (+10.0 points)" in opened and "still growing" in opened
    never = gap_answer(_summary({1: .9, 2: .88, 4: .85, 8: .8}, {1: .9, 2: .75, 4: .7, 8: .72}), plan)
    assert never.startswith("The gap does not open within 8 steps") and "gap -8.0 points" in never
    # ahead once, behind again at the end: not "open"; a gap inside the seeds' spread is not clear either
    assert "clearly ahead only at step(s) 2" in gap_answer(
        _summary({1: .6, 2: .6, 4: .6, 8: .6}, {1: .6, 2: .7, 4: .5, 8: .55}), plan)
    noisy = gap_answer(_summary({1: .6, 2: .6, 4: .6, 8: .6}, {1: .6, 2: .6, 4: .6, 8: .62}, std=0.05), plan)
    assert noisy.startswith("The gap does not open")


def test_readings_cross_the_classifier_choices_and_vary_L_and_points():
    plan = SENSITIVITY_PLANS["cpu"]
    labels = [reading.label for reading in readings(plan)]
    assert len(labels) == len(set(labels)) == 2 * 2 * 4 + 3 * 2
    assert labels[0] == Reading().label == "std b64 conv"
    assert {"raw full 1e5", "std b64 conv L=1", "raw b64 conv n=1,000"} <= set(labels)


class SparsePixels:
    """Every 97th pixel: an imperfect representation, so the scores are not all 100%."""

    name = "sparse-pixels"

    def encode(self, images):
        return images.reshape(len(images), -1)[:, ::97].astype(np.float32)


def test_sensitivity_default_reading_scores_what_evaluate_scores():
    # the experiment's default reading draws the same points and fits the same classifiers as `betavae evaluate`
    data = SyntheticSquares()
    plan = SENSITIVITY_PLANS["smoke"]
    for subject in (GroundTruthRepresentation(data, one_hot=False), SparsePixels()):
        scores = score_row(subject, data, plan, readings(plan))
        settings = paper_settings(L=64, num_train=plan.num_train, num_test=plan.num_test, metrics=("beta-vae",),
                                  classifier_seeds=tuple(range(plan.classifier_seeds)))
        evaluation = evaluate_representation(subject, data, settings, progress=False)
        assert scores[Reading().label] == metric_result(evaluation, "beta-vae")["scores"]


def test_sensitivity_summary_counts_rows_inside_the_paper_and_its_order():
    rows = [row for row in FIG6_ROWS if row.key in ("ground-truth", "pca", "vae")]  # paper: 100, 84.9 ± 0.4, 61.58
    scores = {"ground-truth": {"std b64 conv": [1.0]}, "pca": {"std b64 conv": [0.85]},
              "vae": {"std b64 conv": [0.9]}}
    summary = summarise(scores, rows, [Reading()])
    fit = summary["readings"]["std b64 conv"]
    assert fit["inside_std"] == 2 and fit["within_5"] == 2 and not fit["paper_order"]
    assert fit["kendall_tau"] == pytest.approx(1 / 3)  # one of three pairs swapped
    assert "No reading puts every row inside" in summary["finding"]


def test_a_stopped_sweep_worker_starts_no_further_run(tmp_path, tiny_config):
    runner._worker_stopped.set()
    try:
        with pytest.raises(StoppedByUser, match="not started"):
            runner.run_one(runner.RunSpec("queued", tiny_config()), tmp_path / "queued")
    finally:
        runner._worker_stopped.clear()
    assert not (tmp_path / "queued").exists()


class FiveFactorShapes:
    """dSprites' factor names and sizes, no images: what App. A.5's sentences are read against."""

    factor_names = ("shape", "scale", "orientation", "pos_x", "pos_y")
    factor_sizes = (3, 6, 40, 32, 32)


def _table2_row(key, shape, scale, orientation, pos_x, pos_y):
    return {"key": key, "label": key, "mean": {"shape": shape, "scale": scale, "orientation": orientation,
                                               "pos_x": pos_x, "pos_y": pos_y}}


def test_table2_claims_are_checked_against_our_numbers():
    from betavae.experiments.table2 import paper_claims

    summary = [_table2_row("ground-truth", 1, 1, 1, 1, 1), _table2_row("beta-vae-b4", .6, .5, .1, .4, .4),
               _table2_row("dcign", .5, .5, .1, .35, .35), _table2_row("pca", .4, .3, .05, .5, .5),
               _table2_row("ica", .9, .2, .03, .1, .1)]
    verdicts = {claim["claim"]: claim["verdict"] for claim in paper_claims(summary, FiveFactorShapes())}
    assert verdicts == {"β-VAE is best on average over the five factors": "agrees", "DC-IGN is second": "agrees",
                        "ICA does well only on shape": "agrees", "PCA does well on position": "agrees"}
    summary[1] = _table2_row("beta-vae-b4", .3, .3, .05, .1, .1)  # now last on average, behind PCA on position
    summary[4] = _table2_row("ica", .9, .8, .03, .1, .1)  # and ICA also reads scale well
    verdicts = {claim["claim"]: claim["verdict"] for claim in paper_claims(summary, FiveFactorShapes())}
    assert verdicts["β-VAE is best on average over the five factors"] == "disagrees"
    assert verdicts["ICA does well only on shape"] == "disagrees"
    missing = paper_claims([row for row in summary if row["key"] != "dcign"], FiveFactorShapes())
    assert {"claim": "DC-IGN is second", "verdict": "not scored", "because": "no dcign row in this run (--rows)"} \
        in missing


def test_paper_values_apply_only_to_dsprites():
    from betavae.experiments.common import paper_values_apply

    assert not paper_values_apply(SyntheticSquares())
    assert paper_values_apply(type("D", (), {"name": "dsprites (generated)"})())
    assert paper_values_apply(type("D", (), {"name": "dsprites (official)"})())


@pytest.mark.slow  # ~2 min each on 2 cores: whole experiments at the smoke budget; CI runs them with -m slow
def test_training_curve_end_to_end(tmp_path):
    from betavae.experiments.reproduce import reproduce

    report = reproduce("training-curve", budget="smoke", out_dir=tmp_path / "curve", dataset="synthetic-squares",
                       device="cpu", progress=False).read_text()
    results = json.loads((tmp_path / "curve" / "results.json").read_text())
    assert {(p["curve"], p["seed"], p["step"]) for p in results["points"]} == {
        (curve, seed, step) for curve, seeds in (("beta1", 2), ("beta4", 2), ("beta4-adam", 1))
        for seed in range(seeds) for step in (10, 20, 40)}
    assert results["answer"] in report and "the paper reports" not in results["answer"]  # no dSprites values here
    assert "paper (Fig. 6)" not in report and (tmp_path / "curve" / "training_curve.png").stat().st_size > 10_000
    eval_file = tmp_path / "curve" / "runs" / "beta4-seed0" / "eval.json"
    first = json.loads(eval_file.read_text())["metrics"]
    # --metrics: the later metrics join the same kept checkpoints; the paper metric's entries stay as they were
    report = reproduce("training-curve", budget="smoke", out_dir=tmp_path / "curve", dataset="synthetic-squares",
                       device="cpu", progress=False, metrics="mig").read_text()
    grown = json.loads(eval_file.read_text())["metrics"]
    assert all(grown[key] == entry for key, entry in first.items()) and len(grown) == len(first) + 3  # 3 kept steps
    points = json.loads((tmp_path / "curve" / "results.json").read_text())["points"]
    assert all(0 <= point["later"]["MIG"] <= 1 for point in points) and "Later metrics at each kept step" in report
    before = eval_file.stat().st_mtime_ns
    reproduce("training-curve", budget="smoke", out_dir=tmp_path / "curve", dataset="synthetic-squares",
              device="cpu", progress=False, metrics="mig")  # a rerun recomputes nothing
    assert eval_file.stat().st_mtime_ns == before


@pytest.mark.slow
def test_metric_sensitivity_end_to_end(tmp_path):
    from betavae.experiments.reproduce import reproduce

    report = reproduce("metric-sensitivity", budget="smoke", out_dir=tmp_path / "sens", dataset="synthetic-squares",
                       device="cpu", progress=False).read_text()
    results = json.loads((tmp_path / "sens" / "results.json").read_text())
    assert set(results["scores"]) == {"ground-truth", "raw-pixels", "pca", "ica", "untrained-vae", "vae",
                                      "beta-vae-b4"}
    labels = [reading["label"] for reading in results["readings"]]
    assert all(len(results["scores"]["pca"][label]) == 2 for label in labels)  # smoke: 2 classifier seeds
    assert results["scores"]["ground-truth"]["std b64 conv"] == [1.0, 1.0]
    assert "nothing to compare against" in report and "inside ± std" not in report  # not dSprites


def test_sensitivity_skips_full_batch_budgets_above_the_plans_cap_and_reports_them():
    import dataclasses

    data = SyntheticSquares(image_size=16)
    plan = dataclasses.replace(SENSITIVITY_PLANS["smoke"], max_full_batch_work=1.0)  # every fixed full batch too dear
    seconds: dict[str, float] = {}
    scores = score_row(SparsePixels(), data, plan, readings(plan), seconds=seconds)
    skipped = {reading.label for reading in readings(plan) if reading.batch_size is None and reading.updates}
    assert skipped and not skipped & set(scores) and not skipped & set(seconds)
    assert set(scores) == {reading.label for reading in readings(plan)} - skipped == set(seconds)
    summary = summarise({"pca": scores}, [row for row in FIG6_ROWS if row.key == "pca"], readings(plan))
    assert not skipped & set(summary["readings"]) and Reading().label in summary["readings"]


def test_sensitivity_scores_are_read_back_not_recomputed(tmp_path):
    from betavae.store import ResultStore

    identity = {"plan": {"updates": (1_000, 10_000)}, "row": "pca"}  # tuples come back from JSON as lists
    calls = []

    def compute():
        calls.append(1)
        return {"scores": {"std b64 conv": [0.9]}, "seconds": {"std b64 conv": 1.0}}

    first = ResultStore(tmp_path / "scores.json").get_or_compute(identity, compute)
    again = ResultStore(tmp_path / "scores.json").get_or_compute(identity, compute)  # a new process reads it back
    assert len(calls) == 1 and again["scores"] == first["scores"] == {"std b64 conv": [0.9]}
    ResultStore(tmp_path / "scores.json").get_or_compute({**identity, "row": "ica"}, compute)  # another row
    assert len(calls) == 2


def test_fig6_gap_note_quotes_the_sensitivitys_default_reading_whatever_its_order(tmp_path):
    from betavae.experiments.fig6_table import _by_reading
    from betavae.experiments.metric_sensitivity import SensitivityResult

    row = next(row for row in FIG6_ROWS if row.key == "pca")  # paper 84.9
    scores = {"pca": {"raw b64 1e3": [0.862], "std b64 conv": [0.922]}}  # sorted, as in JSON
    note = _by_reading(row, (tmp_path / "metric-sensitivity-cpu", SensitivityResult(scores=scores)))
    assert "default reading 'std b64 conv' scores 92.2 %" in note
    assert "closest to the paper 'raw b64 1e3' 86.2 %" in note
    assert "accounts for +6.0 of the +7.3 points" in note


def test_fig6_gap_note_gives_each_models_score_and_whether_the_paper_lies_among_them():
    from betavae.experiments.fig6_table import _by_seed_spread
    from betavae.experiments.rows import RowResult

    row = next(row for row in FIG6_ROWS if row.key == "infogan")  # paper 73.5
    evaluations = [{"metrics": {"beta-vae": {"result": {"scores": scores}}}}
                   for scores in ([0.85, 0.83, 0.86], [0.70, 0.71, 0.72], [0.73, 0.75, 0.72])]
    note = _by_seed_spread(RowResult(row, num_classifier_seeds=3, evaluations=evaluations + [None], diverged=1))
    assert "its 3 models score 71.0, 73.3, 84.7 %" in note and "13.7 points apart" in note
    assert "the paper's 73.5 % lies inside that range" in note
    one_model = RowResult(row, num_classifier_seeds=3, evaluations=evaluations[:1])
    assert _by_seed_spread(one_model) == ""  # one model has no spread to speak of


def test_progress_lines_say_where_each_unfinished_run_stands(tmp_path, tiny_config):
    from betavae.experiments.runner import RunSpec
    from betavae.experiments.training_curve import Curve, progress_lines

    config = tiny_config(steps=40, checkpoint_every=10)
    config.train.keep_steps = (10, 40)
    train(config, tmp_path / "beta1-seed0", progress=False, stop_after=20)
    specs = {("beta1", 0): RunSpec("beta1-seed0", config), ("beta4", 0): RunSpec("beta4-seed0", config)}
    curve_list = [Curve("beta1", "VAE", "β = 1", 1.0, None, 1), Curve("beta4", "β-VAE", "β = 4", 4.0, None, 1)]
    points = [{"curve": "beta1", "seed": 0, "step": 10}]
    lines, diverged = progress_lines(specs, tmp_path, curve_list, points)
    assert lines == ["β = 1, seed 0: at step 20 of 40; kept 10", "β = 4, seed 0: not started"] and diverged == []
    lines, _ = progress_lines(specs, tmp_path, curve_list, [])
    assert lines[0] == "β = 1, seed 0: at step 20 of 40; kept 10 (scoring pending at 10)"


def test_the_long_budget_belongs_to_the_training_curve_alone(tmp_path):
    from betavae.experiments.common import get_budget
    from betavae.experiments.reproduce import reproduce
    from betavae.experiments.training_curve import PLANS

    assert get_budget("long").threads == 1
    assert PLANS["long"].keep_steps == (6_000, 12_000, 25_000, 50_000, 100_000, 200_000, 300_000)
    with pytest.raises(BetaVAEError, match=r"budget 'long' is for training-curve only; fig6-table takes smoke \| cpu"):
        reproduce("fig6-table", budget="long", out_dir=tmp_path, dataset="synthetic-squares")


@pytest.mark.slow  # ~2 min on 2 cores
def test_long_budget_scores_kept_steps_while_training_and_a_rerun_recomputes_nothing(tmp_path, monkeypatch):
    """The long budget's code path (two worker processes of one thread each, every metric, seed 0 of each β first,
    each kept checkpoint scored while the runs train on) at smoke sizes."""
    import dataclasses

    from betavae.experiments import common, training_curve
    from betavae.experiments.reproduce import reproduce

    monkeypatch.setitem(common.BUDGETS, "long", dataclasses.replace(
        common.BUDGETS["long"], metric_train=200, metric_test=100, pairs=8, table2_train=200, table2_test=100,
        published_sizes=False, classifier_seeds=1))
    monkeypatch.setitem(training_curve.PLANS, "long", training_curve.CurvePlan(
        steps=300, keep_steps=(60, 150, 300), seeds=2, control_seeds=0, metrics="all"))
    monkeypatch.setattr(training_curve, "POLL_S", 0.5)
    out = tmp_path / "long"
    reproduce("training-curve", budget="long", out_dir=out, dataset="synthetic-squares", device="cpu", progress=False)
    results = json.loads((out / "results.json").read_text())
    assert {(p["curve"], p["seed"], p["step"]) for p in results["points"]} == {
        (curve, seed, step) for curve in ("beta1", "beta4") for seed in (0, 1) for step in (60, 150, 300)}
    assert results["in_progress"] == [] and set(results["points"][0]["later"]) >= {"MIG", "DCI D", "FactorVAE"}
    runs = out / "runs"
    assert json.loads((runs / "beta1-seed0" / "config.json").read_text())["train"]["threads"] == 1
    # scored while training went on: some kept step was scored before its run had logged its last step
    overlapped = []
    for run in runs.iterdir():
        finished_at = RunDir(run).log()[-1]["time"]
        entries = json.loads((run / "eval.json").read_text())["metrics"].values()
        overlapped += [entry["subject"]["step"] for entry in entries if entry["provenance"]["time"] < finished_at]
    assert overlapped
    # seed 0 of each β trained first: their provenance starts no later than seed 1's
    started = {run.name: json.loads((run / "provenance.json").read_text())["sessions"][0]["time"]
               for run in runs.iterdir()}
    assert max(started["beta1-seed0"], started["beta4-seed0"]) <= min(started["beta1-seed1"], started["beta4-seed1"])
    assert (out / "fig7_traversals.png").stat().st_size > 10_000 and "(Fig. 7)" in (out / "report.md").read_text()
    watched = [path for run in runs.iterdir() for path in (run / "eval.json", run / "probes.json",
                                                            run / "log.jsonl", run / "checkpoint.pt")]
    before = {path: path.stat().st_mtime_ns for path in watched}
    reproduce("training-curve", budget="long", out_dir=out, dataset="synthetic-squares", device="cpu", progress=False)
    assert {path: path.stat().st_mtime_ns for path in watched} == before  # nothing trained, scored or probed again
    assert json.loads((out / "results.json").read_text())["points"] == results["points"]
