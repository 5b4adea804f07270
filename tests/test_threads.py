"""The torch thread count decides a run's numbers (float sums split across threads round differently): it is
recorded with the run and its evaluations, kept by every resume and executor, and runs that never recorded it are
not mixed with those that do."""

import json

import pytest
import torch

from betavae.data.synthetic import SyntheticSquares
from betavae.errors import BetaVAEError
from betavae.evaluate import EvalSettings, metric_key
from betavae.experiments.common import get_budget
from betavae.experiments.runner import RunSpec, run_sweep
from betavae.runs import RunDir
from betavae.threads import available_cores, side_by_side
from betavae.train import train


def _losses(run_dir):
    return [record["loss"] for record in RunDir(run_dir).log()]


def test_a_run_trains_with_the_threads_its_config_records_and_gives_the_process_its_own_back(tmp_path, tiny_config):
    before = torch.get_num_threads()
    train(tiny_config(steps=10, threads=1), tmp_path / "one", progress=False)
    assert torch.get_num_threads() == before
    assert json.loads((tmp_path / "one" / "config.json").read_text())["train"]["threads"] == 1
    [session] = json.loads((tmp_path / "one" / "provenance.json").read_text())["sessions"]
    assert session["threads"] == 1
    # the same config in a process set to another count gives the same numbers: the config decides, not the caller
    torch.set_num_threads(2 if before != 2 else 1)
    try:
        train(tiny_config(steps=10, threads=1), tmp_path / "again", progress=False)
    finally:
        torch.set_num_threads(before)
    assert _losses(tmp_path / "again") == _losses(tmp_path / "one")


def test_a_resume_keeps_the_thread_count_and_refuses_a_machine_with_fewer_cores_unless_asked(tmp_path, tiny_config,
                                                                                              capsys):
    many = available_cores() + 1
    train(tiny_config(steps=20, threads=many), tmp_path / "run", progress=False, stop_after=10)
    assert f"training with {many} torch threads on {available_cores()} core(s)" in capsys.readouterr().err
    with pytest.raises(BetaVAEError, match=rf"trains with {many} torch threads .* pass --allow-fewer-cores"):
        train(tiny_config(steps=20, threads=many), tmp_path / "run", resume=True, progress=False)
    with pytest.raises(BetaVAEError, match=rf"its train.threads is {many}, not 1"):
        train(tiny_config(steps=20, threads=1), tmp_path / "run", resume=True, progress=False)
    result = train(tiny_config(steps=20, threads=many), tmp_path / "run", resume=True, progress=False,
                   allow_fewer_cores=True)
    assert result.state == "finished"
    sessions = json.loads((tmp_path / "run" / "provenance.json").read_text())["sessions"]
    assert [session["threads"] for session in sessions] == [many, many]


def _forget_threads(run_dir):
    """What betavae wrote before threads were recorded: config.json without train.threads."""
    path = run_dir / "config.json"
    saved = json.loads(path.read_text())
    del saved["train"]["threads"]
    path.write_text(json.dumps(saved))


def test_resuming_a_run_that_never_recorded_its_threads_says_so_and_records_them(tmp_path, tiny_config, capsys):
    train(tiny_config(steps=20), tmp_path / "old", progress=False, stop_after=10)
    _forget_threads(tmp_path / "old")
    assert not RunDir(tmp_path / "old").threads_recorded()
    train(tiny_config(steps=20), tmp_path / "old", resume=True, progress=False)
    assert "records no torch thread count (an older betavae wrote it); resuming with 2" in capsys.readouterr().err
    assert json.loads((tmp_path / "old" / "config.json").read_text())["train"]["threads"] == 2


def test_a_sweep_sets_aside_a_run_that_never_recorded_its_threads_and_trains_it_again(tmp_path, tiny_config, capsys):
    spec = RunSpec("seed0", tiny_config(steps=10))
    run_sweep([spec], tmp_path, progress=False)
    first = _losses(tmp_path / "seed0")
    _forget_threads(tmp_path / "seed0")
    [outcome] = run_sweep([spec], tmp_path, progress=False)
    assert outcome.state == "finished" and RunDir(tmp_path / "seed0").threads_recorded()
    assert (tmp_path / "seed0.before-threads" / "checkpoint.pt").exists()  # kept, not deleted
    assert "it is trained again, so that no result mixes thread counts; set aside as seed0.before-threads" in (
        capsys.readouterr().err)
    assert _losses(tmp_path / "seed0") == first  # the default count here is the one it had (2)


def test_threads_are_part_of_an_evaluations_identity():
    data = SyntheticSquares()
    one, two = (EvalSettings.of("beta-vae", smoke=True, threads=threads) for threads in (1, 2))
    assert metric_key("beta-vae", one, data) != metric_key("beta-vae", two, data)
    assert two.to_dict()["threads"] == 2
    with pytest.raises(BetaVAEError, match="threads must be an integer >= 1"):
        EvalSettings.of("beta-vae", threads=0)


def test_the_budgets_threads_and_workers_follow_from_the_cores():
    cores = available_cores()
    assert get_budget("cpu").threads == 2 and get_budget("cpu").workers == max(1, cores // 2)
    assert get_budget("cpu", threads=1).workers == cores and get_budget("cpu", workers=3).workers == 3
    with pytest.raises(BetaVAEError, match="--threads must be >= 1"):
        get_budget("cpu", threads=0)


def test_side_by_side_returns_results_in_order_and_starts_no_queued_call_after_an_error():
    import time
    from functools import partial

    finished = []
    assert side_by_side([partial(pow, n, 2) for n in range(5)], 2, finished.append) == [0, 1, 4, 9, 16]
    assert sorted(finished) == list(range(5))
    started = []

    def call(n):
        started.append(n)
        if n == 0:
            raise ValueError("the first call fails")
        time.sleep(0.2)

    with pytest.raises(ValueError, match="first call"):
        side_by_side([partial(call, n) for n in range(10)], 2)
    assert len(started) < 10  # the queued calls were cancelled


def test_side_by_side_raises_ctrl_c_at_once_without_waiting_for_the_running_calls():
    import threading
    import time

    release = threading.Event()

    def interrupted() -> None:
        raise KeyboardInterrupt

    def long_fit() -> int:  # stands for a minute-long fit; released when the test is done
        release.wait(30)
        return 1

    start = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        side_by_side([long_fit, interrupted, long_fit], 2)
    assert time.perf_counter() - start < 5  # the running fit was not waited for
    release.set()
