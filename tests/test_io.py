"""Atomic writes: files get the mode the user's umask gives any other new file (not mkstemp's 0600)."""

import os
import stat

import pytest

from betavae.io import atomic_write_json


@pytest.fixture
def umask():
    previous = os.umask(0o022)
    os.umask(previous)

    def set_umask(value: int) -> None:
        os.umask(value)

    yield set_umask
    os.umask(previous)


@pytest.mark.parametrize("mask,file_mode,dir_mode", [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700),
                                                     (0o002, 0o664, 0o775)])
def test_files_of_a_training_run_follow_the_umask(tmp_path, tiny_config, umask, mask, file_mode, dir_mode):
    from betavae.train import train

    umask(mask)
    run = tmp_path / "run"
    train(tiny_config(steps=2, checkpoint_every=1, log_every=1), run, progress=False)
    atomic_write_json(run / "nested" / "extra.json", {"a": 1})
    files = [path for path in run.rglob("*") if path.is_file()]
    assert {"config.json", "checkpoint.pt", "status.json", "provenance.json", "extra.json"} <= {p.name for p in files}
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == file_mode, path
    for path in [run, run / "nested"]:
        assert stat.S_IMODE(path.stat().st_mode) == dir_mode, path
    assert not [path for path in run.rglob(".*.tmp")]  # no temporary file left behind
