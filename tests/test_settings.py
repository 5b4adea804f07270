"""A new training option is one field: its flag, help, default, bounds, JSON round trip and whether a resume may
change it all follow from the declaration (settings.py)."""

import argparse
import dataclasses
import json
from dataclasses import dataclass

import pytest

from betavae.cli import CONFIG, Parser, build_parser, main
from betavae.config_common import CommonConfig, TrainConfig
from betavae.errors import BetaVAEError
from betavae.runs import RESUME_SETTINGS
from betavae.settings import add_flags, flags_given, from_dict, leaves, resumable_paths, validate
from betavae.settings import field as setting


@dataclass
class TrainWithWarmup(TrainConfig):
    warmup: int = setting(0, "steps of linear learning-rate warm-up", minimum=0)
    ema_every: int = setting(10, "steps between updates of a weight average kept for figures", minimum=1,
                             resume=True)


@dataclass
class ConfigWithWarmup(CommonConfig):
    train: TrainWithWarmup = setting(default_factory=TrainWithWarmup)


def _parser() -> argparse.ArgumentParser:
    parser = Parser(prog="betavae train")
    add_flags(parser, ConfigWithWarmup, CONFIG, by_name=True)
    return parser


def test_a_new_training_option_is_one_field():
    parser = _parser()
    given = flags_given(parser.parse_args(["--warmup", "500", "--steps", "3000"]), CONFIG)
    assert given == {"train.warmup": 500, "train.steps": 3000}
    assert "steps of linear learning-rate warm-up (default 0)" in parser.format_help()
    config = ConfigWithWarmup()
    config.train.warmup = -1
    with pytest.raises(BetaVAEError, match=r"train\.warmup must be >= 0, got -1"):
        validate(config.train, "train")
    config.train.warmup = 500
    back = from_dict(ConfigWithWarmup, dataclasses.asdict(config), "config")
    assert back.train.warmup == 500 and back == config
    assert "train.ema_every" in resumable_paths(ConfigWithWarmup) and "train.warmup" not in resumable_paths(
        ConfigWithWarmup)


def test_the_train_command_s_flags_are_the_configs_declared_settings(capsys):
    help_text = build_parser()._subparsers._group_actions[0].choices["train"].format_help()
    for flag in ("--steps", "--batch-size", "--seed", "--beta", "--beta-norm", "--objective", "--optimizer",
                 "--model", "--dataset", "--data", "--keep-steps", "--threads", "--gaussian-std"):
        assert flag in help_text
    assert next(leaf.help for leaf in leaves(TrainConfig) if leaf.path == "batch_size") in help_text
    assert RESUME_SETTINGS == resumable_paths(CommonConfig) == (
        "train.device", "train.checkpoint_every", "train.log_every", "train.tensorboard", "train.keep_steps")
    code = main(["train", "--print-config", "--dataset", "synthetic-squares", "--steps", "7", "--keep-steps", "3,5"])
    printed = json.loads(capsys.readouterr().out)
    assert code == 0 and printed["train"]["steps"] == 7 and printed["train"]["keep_steps"] == [3, 5]
