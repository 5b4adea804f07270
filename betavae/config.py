"""Typed run configuration: plain dataclasses, validated on load, saved beside every result.

A run's config is the parts every model shares (``config_common.py``: data, network, objective, optimiser,
loop; β and its loss scaling are stated there) plus the chosen model's own section, a dataclass in the model's
spec under ``models/specs/``, saved in ``config.json`` under the section's key (e.g. ``"infogan"``). Loading a
config imports no torch.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from betavae.config_common import (  # noqa: F401  (re-exported: the classes a config is made of)
    ARCHITECTURES,
    COMMON_SECTIONS,
    DEFAULT_THREADS,
    LIKELIHOODS,
    OBJECTIVES,
    OPTIMIZERS,
    PAPER_DEFAULTS,
    PAPER_OPTIMIZER,
    CommonConfig,
    DataConfig,
    DatasetDefaults,
    ModelConfig,
    ObjectiveConfig,
    OptimConfig,
    TrainConfig,
    dataset_defaults,
    validate_section,
)
from betavae.errors import BetaVAEError
from betavae.io import read_json
from betavae.models.registry import MODELS, model_spec
from betavae.models.specs.base import ModelSpec
from betavae.models.specs.dcign import DCIGNConfig  # noqa: F401  (re-exported for scripts written before the registry)
from betavae.models.specs.infogan import InfoGANConfig  # noqa: F401
from betavae.settings import from_dict

# Before the model registry every config.json held every model's section; a run's own one is read, the others
# (never used by that run) are dropped.
LEGACY_SECTIONS = ("infogan", "dcign")


@dataclass
class RunConfig(CommonConfig):
    """Everything that defines one training run; saved as ``config.json`` in the run directory."""

    @property
    def spec(self) -> ModelSpec:
        return model_spec(self.model_type)

    def validate(self) -> RunConfig:
        """The common parts, then the model's section: its defaults when unset, else of the model's type."""
        super().validate()
        spec = self.spec
        if spec.section is None:
            if self.section is not None:
                raise BetaVAEError(f"--model {spec.name} has no settings of its own, got {self.section!r}")
            return self
        if self.section is None:
            self.section = spec.section()
        elif not isinstance(self.section, spec.section):
            raise BetaVAEError(f"--model {spec.name} takes its settings as {spec.section.__name__}, got "
                               f"{type(self.section).__name__}")
        validate_section(self.section, spec.section_key)
        return self

    def to_dict(self) -> dict[str, Any]:
        values: dict[str, Any] = {"model_type": self.model_type}
        values.update({name: dataclasses.asdict(getattr(self, name)) for name in COMMON_SECTIONS})
        spec = MODELS.get(self.model_type)
        if spec is not None and spec.section is not None:
            values[spec.section_key] = dataclasses.asdict(self.section or spec.section())
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> RunConfig:
        if not isinstance(values, dict):
            raise BetaVAEError(f"config must be a JSON object, got {type(values).__name__}")
        values = dict(values)
        spec = MODELS.get(values.get("model_type", "beta-vae"))  # an unknown model is named by validate()
        section = None
        if spec is not None and spec.section_key is not None and spec.section_key in values:
            section = from_dict(spec.section, values.pop(spec.section_key), spec.section_key)
        for key in LEGACY_SECTIONS:
            values.pop(key, None)
        if "section" in values:  # the slot is internal: in config.json a model's section sits under its own key
            model = values.get("model_type", "beta-vae")
            where = (f"sit under the key {spec.section_key!r}" if spec and spec.section_key else
                     "are the common sections (model, objective, optim, train); it has no section of its own")
            raise BetaVAEError(f"unknown key 'section' in config; remove it: the settings of --model {model} {where}")
        common = from_dict(CommonConfig, values, "config")
        common.section = section
        return cls(**{field.name: getattr(common, field.name) for field in dataclasses.fields(CommonConfig)})

    @classmethod
    def load(cls, path: str | Path) -> RunConfig:
        values = read_json(path, "config file", "fix it or start from `betavae train --print-config`")
        return cls.from_dict(values).validate()
