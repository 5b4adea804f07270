"""The model registry: one file per model below it, no import cycle, flags from each section, old configs still load."""

import ast
import dataclasses
import hashlib
import json
import re
from pathlib import Path

import pytest
import torch

from betavae.cli import build_parser
from betavae.config import DataConfig, RunConfig, TrainConfig
from betavae.errors import BetaVAEError
from betavae.models.infogan import InfoGANConfig
from betavae.models.registry import MODELS
from betavae.runs import RunDir, load_model, save_checkpoint
from betavae.train import train

PACKAGE = Path(__file__).resolve().parents[1] / "betavae"


def imported_modules(path: Path) -> set[str]:
    """Every betavae module ``path`` imports, at any depth of the file (function-level imports too)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("betavae"):
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names if alias.name.startswith("betavae"))
    return names


def test_no_model_file_imports_the_registry_or_the_run_config():
    """The registry imports every model file; a model file importing it (or config.py, which imports the registry)
    back would be the cycle issue 13 removed."""
    for path in sorted((PACKAGE / "models").glob("*.py")):
        if path.name == "registry.py":
            continue
        imports = imported_modules(path)
        assert not {"betavae.models.registry", "betavae.config", "betavae.models.registry.MODELS"} & imports, path.name
    assert not any(name.startswith("betavae.models") or name == "betavae.config"
                   for name in imported_modules(PACKAGE / "config_common.py"))


def test_every_model_is_one_registry_line_with_its_section_and_flags():
    registry = (PACKAGE / "models" / "registry.py").read_text()
    help_text = build_parser()._subparsers._group_actions[0].choices["train"].format_help()
    assert len(re.findall(r"^    \w+\.\w+,$", registry, re.MULTILINE)) == len(MODELS)  # module.SPEC, one line each
    for name, spec in MODELS.items():
        assert spec.name == name and name in help_text
        if spec.section is None:
            continue
        for item in dataclasses.fields(spec.section):
            flag = "--" + (item.metadata.get("flag") or item.name.replace("_", "-"))
            assert flag in help_text and item.metadata["help"], (name, item.name)


def test_an_unknown_or_foreign_section_is_refused_and_the_slot_name_is_not_a_key():
    with pytest.raises(BetaVAEError, match=r"unknown key\(s\) \['factor_vae'\]"):
        RunConfig.from_dict({"model_type": "beta-vae", "factor_vae": {"gamma": 10.0}})
    with pytest.raises(BetaVAEError, match="sit under the key 'infogan'"):
        RunConfig.from_dict({"model_type": "infogan", "section": {"codes": 3}})
    with pytest.raises(BetaVAEError, match=r"unknown key\(s\) \['widht'\] in infogan"):
        RunConfig.from_dict({"model_type": "infogan", "infogan": {"widht": 8}})
    with pytest.raises(BetaVAEError, match="infogan.width must be int, got '8'"):
        RunConfig.from_dict({"model_type": "infogan", "infogan": {"width": "8"}}).validate()
    with pytest.raises(BetaVAEError, match="infogan.width must be >= 1, got 0"):
        RunConfig.from_dict({"model_type": "infogan", "infogan": {"width": 0}}).validate()
    with pytest.raises(BetaVAEError, match="--model dcign takes its settings as DCIGNConfig, got InfoGANConfig"):
        RunConfig(model_type="dcign", section=InfoGANConfig()).validate()


def _legacy(values: dict) -> dict:
    """A config in the layout before the registry: every model's section in every config.json."""
    old = {key: value for key, value in values.items() if key not in ("infogan", "dcign")}
    old["infogan"] = values.get("infogan", {"codes": 5, "info_weight": 1.0, "instance_noise": 0.2,
                                            "lr_discriminator": 0.0002, "lr_generator": 0.001, "width": 8})
    old["dcign"] = values.get("dcign", {"invariance": 1.0, "units_per_factor": None})
    return old


@pytest.mark.parametrize("model_type", ["beta-vae", "infogan"])
def test_a_run_directory_of_the_old_layout_loads_and_resumes_bit_for_bit(tmp_path, model_type):
    def config():
        return RunConfig(model_type=model_type, data=DataConfig(dataset="synthetic-squares"),
                         train=TrainConfig(steps=6, batch_size=8, checkpoint_every=3, log_every=3, device="cpu"),
                         section=InfoGANConfig(width=8) if model_type == "infogan" else None)

    train(config(), tmp_path / "straight", progress=False)
    old = RunDir(tmp_path / "old")
    train(config(), old.path, progress=False, stop_after=3)
    saved = json.loads(old.config_path.read_text())
    assert ("infogan" in saved) == (model_type == "infogan") and "dcign" not in saved
    old.config_path.write_text(json.dumps(_legacy(saved)))
    state = old.load_checkpoint("cpu")
    state["config"] = _legacy(state["config"])
    save_checkpoint(old.checkpoint_path, state)

    assert json.loads(json.dumps(RunDir(old.path).config().to_dict())) == saved
    train(config(), old.path, resume=True, progress=False)
    hashes = []
    for run in (tmp_path / "straight", old.path):
        digest = hashlib.sha256()
        for name, value in load_model(run)[1].state_dict().items():
            digest.update(name.encode() + value.numpy().tobytes())
        hashes.append(digest.hexdigest())
    assert hashes[0] == hashes[1]
    assert torch.equal(torch.tensor(RunDir(old.path).log()[-1]["loss"]),
                       torch.tensor(RunDir(tmp_path / "straight").log()[-1]["loss"]))
