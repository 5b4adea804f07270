"""Lazy references: ``"package.module:name"`` strings naming code that is imported only when it is used."""

from __future__ import annotations

import importlib
from typing import Any


def resolve(reference: str) -> Any:
    """The object ``reference`` (``"package.module:name"``) names, importing its module now."""
    module, _, name = reference.partition(":")
    return getattr(importlib.import_module(module), name)
