"""The model registry and the package's architecture: each model a spec (no torch) and a network file below the
registry, no import circle anywhere, no model name tested outside ``models/``, flags from each section, old configs
still load."""

import ast
import dataclasses
import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from betavae.cli import build_parser
from betavae.config import DataConfig, RunConfig, TrainConfig
from betavae.errors import BetaVAEError
from betavae.metrics.registry import METRICS
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
    for path in sorted((PACKAGE / "models").rglob("*.py")):
        if path.name == "registry.py":
            continue
        imports = imported_modules(path)
        assert not {"betavae.models.registry", "betavae.config", "betavae.models.registry.MODELS"} & imports, path.name
    assert not any(name.startswith("betavae.models") or name == "betavae.config"
                   for name in imported_modules(PACKAGE / "config_common.py"))


def package_modules() -> dict[str, Path]:
    """Every module of ``betavae/`` by its dotted name (a package by its own)."""
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def import_graph() -> dict[str, set[str]]:
    """Module → the package's modules it imports, at any depth of its file (function-level imports too)."""
    modules = package_modules()
    return {name: imported_modules(path) & modules.keys() for name, path in modules.items()}


def import_circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each circle of ``graph`` found by a depth-first walk, as the modules along it (the first one repeated)."""
    circles, done, path = [], set(), []

    def visit(module: str) -> None:
        path.append(module)
        for imported in sorted(graph[module]):
            if imported in path:
                circles.append(path[path.index(imported):] + [imported])
            elif imported not in done:
                visit(imported)
        path.pop()
        done.add(module)

    for module in sorted(graph):
        if module not in done:
            visit(module)
    return circles


def test_no_import_circle_anywhere_in_the_package():
    graph = import_graph()
    assert "betavae.experiments.runner" in graph["betavae.experiments.rows"]  # the graph sees the imports
    assert import_circles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]  # the walk finds one
    assert import_circles(graph) == []


def test_the_executors_sit_below_the_runner():
    """The runner hands runs to an executor named in a registry; no executor knows the runner."""
    graph = import_graph()
    executors = [name for name in graph if name.startswith("betavae.experiments.") and name.endswith("executor")]
    assert sorted(executors) == ["betavae.experiments.local_executor", "betavae.experiments.ray_executor"]
    for name in [*executors, "betavae.experiments.executors"]:
        assert "betavae.experiments.runner" not in graph[name], name


TORCH_FREE = """
import contextlib, io, sys
import betavae.cli
assert "torch" not in sys.modules, "import betavae.cli"
import betavae.config
assert "torch" not in sys.modules, "import betavae.config"
from betavae.cli import main
for argv in (["--help"], ["train", "--help"], ["train", "--print-config", "--model", "infogan"]):
    with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):
        main(argv)
    assert "torch" not in sys.modules, argv
print("no torch")
"""


def test_the_cli_and_config_loading_import_no_torch():
    """``betavae --help``, ``train --print-config`` and loading a config read the model specs, never a network."""
    done = subprocess.run([sys.executable, "-c", TORCH_FREE], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "no torch", done.stderr


def test_each_spec_names_its_training_task_lazily():
    for name, spec in MODELS.items():
        assert re.fullmatch(r"betavae\.models\.\w+:\w+Task", spec.task), name
        task = spec.task_class()
        assert callable(task.step) and callable(task.batch_indices), name


def test_what_is_special_about_a_model_is_a_hook_of_its_spec(tmp_path, tiny_config):
    """Sample sheets at each checkpoint, a budget's network width, one model under two names: asked of the spec."""
    from betavae.experiments.common import BUDGETS, beta_vae_config
    from betavae.experiments.metric_sensitivity import _same_model
    from betavae.experiments.runner import resolved

    assert [name for name, spec in MODELS.items() if spec.checkpoint_samples] == ["infogan"]  # drawn: test_baselines
    train(tiny_config(steps=2), tmp_path / "run", progress=False)
    assert not list((tmp_path / "run").glob("figures/samples_step*"))
    smoke = BUDGETS["smoke"]
    assert beta_vae_config(smoke, "dsprites", 0, model_type="infogan").section == InfoGANConfig(width=smoke.gan_width)
    assert beta_vae_config(smoke, "dsprites", 0, model_type="factor-vae").section is None  # its defaults, set later

    def config(model_type="beta-vae", beta=None):
        return resolved(beta_vae_config(smoke, "synthetic-squares", 0, beta=beta, model_type=model_type,
                                        device="cpu"))

    assert MODELS["vae"].identity == "beta-vae" and MODELS["dip-vae-2"].identity == "dip-vae-2"
    assert _same_model(config("vae"), config(beta=1.0)) and not _same_model(config("vae"), config(beta=4.0))


def model_name_comparisons(source: str) -> list[str]:
    """The comparisons in ``source`` that test a value against a registered model's name (``x == "infogan"``,
    ``x in ("vae", …)``, ``case "vae":``). ``beta-vae`` also names the paper's metric: it counts only where the
    other side speaks of a model (``model_type``)."""
    ambiguous = MODELS.keys() & METRICS.keys()

    def names(node: ast.AST) -> set[str]:
        items = node.elts if isinstance(node, (ast.Tuple, ast.List, ast.Set)) else [node]
        return {item.value for item in items if isinstance(item, ast.Constant) and item.value in MODELS}

    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            sides = [(operand, [other for other in [node.left, *node.comparators] if other is not operand])
                     for operand in [node.left, *node.comparators]]
        elif isinstance(node, ast.Match):
            sides = [(pattern.value, [node.subject]) for case in node.cases for pattern in ast.walk(case.pattern)
                     if isinstance(pattern, ast.MatchValue)]
        else:
            continue
        for operand, others in sides:
            named = names(operand)
            if named - ambiguous or (named and "model" in " ".join(ast.unparse(other) for other in others)):
                found.append(f"line {node.lineno}: {ast.unparse(node).splitlines()[0]}")
    return found


def test_no_model_name_is_compared_outside_models():
    """What is special about a model is its spec's (hooks); tables that name models (rows) are data, not tests."""
    assert model_name_comparisons('if config.model_type == "infogan": pass') == [
        "line 1: config.model_type == 'infogan'"]
    assert len(model_name_comparisons('k = "beta-vae" if values["model_type"] in ("vae",) else 0\n'
                                      'match kind:\n    case "dcign": pass')) == 2
    assert model_name_comparisons('later = [n for n in names if n not in ("beta-vae", "beta-vae-dlib")]\n'
                                  'Row("VAE", "vae", model_type="vae")') == []  # a metric's name; data
    found = {str(path.relative_to(PACKAGE)): model_name_comparisons(path.read_text())
             for path in sorted(PACKAGE.rglob("*.py")) if "models" not in path.relative_to(PACKAGE).parts}
    assert {path: lines for path, lines in found.items() if lines} == {}


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
