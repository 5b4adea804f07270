"""One way to declare a setting: a dataclass field made with :func:`field`, carrying its default, help text, bounds
or choices, CLI flag, and whether a resumed run may change it.

Everything else is derived from those declarations: validation with messages that name the setting
(:func:`validate`), dotted overrides such as ``classifier.lr`` (:func:`with_values`), the round trip through JSON
(:func:`from_dict`, :func:`to_dict`), the settings a resume may change (:func:`resumable_paths`), and the
``argparse`` flags with their help and defaults (:func:`add_flags`, :func:`flags_given`). Training configs
(``config_common.py``), a model's own section (``models/*.py``) and a metric's settings (``metrics/*.py``) all
declare their fields this way, so a new setting is one field.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import numbers
import types
import typing
from dataclasses import MISSING, dataclass
from typing import Any, Literal

from betavae.errors import BetaVAEError

INT_RANGE = (-(2 ** 63), 2 ** 63 - 1)  # what torch and numpy take as a seed or a size


def field(default: Any = MISSING, help: str = "", *, default_factory: Any = MISSING, minimum: float | None = None,
          above: float | None = None, maximum: int | None = None, choices: tuple[str, ...] | None = None,
          flag: str | None = None, resume: bool = False, wording: str | None = None, hint: str = "",
          cli: bool = True) -> Any:
    """A setting: its default, help (``--help`` and docs), bounds (``minimum``: value >= it, ``above``: value > it;
    ``maximum``, for an integer, also checked as its flag is read) or ``choices``, its flag when not
    ``--field-name``, whether ``--resume`` may change it (it changes no number), how its bound reads in an error
    (``wording``, e.g. "a positive integer") plus a ``hint``, and whether it has a flag at all (``cli``)."""
    metadata = {"help": help, "minimum": minimum, "above": above, "maximum": maximum, "choices": choices,
                "flag": flag, "resume": resume, "wording": wording, "hint": hint, "cli": cli}
    return dataclasses.field(default=default, default_factory=default_factory, metadata=metadata)


class SettingError(BetaVAEError):
    """A setting out of its bounds or of the wrong type; ``path`` names it (``classifier.lr`` inside a nested one)."""

    def __init__(self, path: str, message: str):
        super().__init__(message)
        self.path = path


@dataclass(frozen=True)
class Leaf:
    """One setting of a (possibly nested) settings dataclass."""

    path: str  # "num_bins", or "classifier.lr" inside a nested settings dataclass
    type: Any  # the resolved annotation, e.g. int | None
    default: Any
    help: str
    flag: str | None
    choices: tuple[str, ...] | None
    resume: bool
    cli: bool
    range: tuple[int, int] = INT_RANGE  # an integer flag's allowed values, checked as it is read


def leaves(cls: type, prefix: str = "") -> list[Leaf]:
    """Every setting of ``cls``, nested settings dataclasses flattened with dotted paths."""
    hints = typing.get_type_hints(cls)
    found = []
    for item in dataclasses.fields(cls):
        kind = hints[item.name]
        default = item.default if item.default is not MISSING else (
            item.default_factory() if item.default_factory is not MISSING else None)  # type: ignore[misc]
        if dataclasses.is_dataclass(kind) or dataclasses.is_dataclass(default):
            found += leaves(kind if dataclasses.is_dataclass(kind) else type(default), f"{prefix}{item.name}.")
            continue
        meta = item.metadata
        bounded = meta.get("maximum") is not None
        span = (int(meta.get("minimum") or 0), meta["maximum"]) if bounded else INT_RANGE
        found.append(Leaf(prefix + item.name, kind, default, meta.get("help", ""), meta.get("flag"),
                          meta.get("choices"), bool(meta.get("resume")), meta.get("cli", True), span))
    return found


def resumable_paths(cls: type, prefix: str = "") -> tuple[str, ...]:
    """The dotted paths of the settings declared ``resume=True``."""
    return tuple(leaf.path for leaf in leaves(cls, prefix) if leaf.resume)


# --- validation ---------------------------------------------------------------------------------------------------

def validate(settings: Any, where: str = "") -> None:
    """Each field's type, finiteness, bounds and choices (nested settings too), then the object's own ``check()``.
    Errors name the setting as ``WHERE.field`` (``where`` e.g. "train")."""
    prefix = f"{where}." if where else ""
    hints = typing.get_type_hints(type(settings))
    for item in dataclasses.fields(settings):
        value, path = getattr(settings, item.name), prefix + item.name
        if dataclasses.is_dataclass(value):
            try:
                validate(value, path)
            except SettingError as error:
                raise SettingError(f"{item.name}.{error.path}", str(error)) from None
            continue
        _check_value(item, value, hints[item.name], path)
    check = getattr(settings, "check", None)
    if check is not None:
        check()


def _check_value(item: dataclasses.Field, value: Any, hint: Any, path: str) -> None:
    if not _matches(value, hint):
        expected = hint.__name__ if isinstance(hint, type) else str(hint).replace("typing.", "")
        raise SettingError(item.name, f"{path} must be {expected}, got {_show(value)}")
    for number in _numbers(value):
        if not isinstance(number, numbers.Integral) and not math.isfinite(number):
            raise SettingError(item.name, f"{path} must be a finite number, got {value!r}")
        if isinstance(number, numbers.Integral) and not INT_RANGE[0] <= number <= INT_RANGE[1]:
            raise SettingError(item.name, f"{path} holds {short_repr(number)}, beyond 64 bits: "
                                          f"integers in settings lie from {INT_RANGE[0]} to {INT_RANGE[1]}")
    if value is None:
        return
    meta = item.metadata
    if meta.get("choices") is not None and value not in meta["choices"]:
        name = meta["flag"] or path  # the flag the user typed where it names one, else the setting's path
        raise SettingError(item.name, f"unknown {name} {value!r}; choose one of: {', '.join(meta['choices'])}")
    minimum, above, maximum = meta.get("minimum"), meta.get("above"), meta.get("maximum")
    for number in _numbers(value):
        if (minimum is not None and not number >= minimum or above is not None and not number > above
                or maximum is not None and not number <= maximum):
            bound = meta.get("wording") or (f"from {minimum:g} to {maximum}" if maximum is not None else
                                            f">= {minimum:g}" if minimum is not None else f"> {above:g}")
            hint = f"; {meta['hint']}" if meta.get("hint") else ""
            raise SettingError(item.name, f"{path} must be {bound}, got {value!r}{hint}")


def short_repr(value: Any) -> str:
    """``repr(value)``; an integer of many digits by its length (Python refuses to print over 4,300 of them)."""
    if isinstance(value, numbers.Integral) and abs(value) >= 10**40:
        return f"a number of about {int(abs(value).bit_length() * math.log10(2)) + 1} digits"
    return repr(value)


def _numbers(value: Any) -> list:
    items = value if isinstance(value, (tuple, list)) else [value]
    return [item for item in items if isinstance(item, numbers.Real) and not isinstance(item, bool)]


def _show(value: Any) -> str:
    return repr(tuple(value)) if isinstance(value, list) else repr(value)


def _matches(value: Any, hint: Any) -> bool:
    origin, arguments = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, argument) for argument in arguments)
    if origin is Literal:
        return value in arguments
    if origin is tuple and len(arguments) == 2 and arguments[1] is Ellipsis:
        return isinstance(value, (tuple, list)) and all(_matches(item, arguments[0]) for item in value)
    if origin is tuple:
        return (isinstance(value, (tuple, list)) and len(value) == len(arguments)
                and all(_matches(item, argument) for item, argument in zip(value, arguments)))
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:  # numpy's integers too (they register as numbers.Integral)
        return isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, numbers.Real) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    return True


# --- dicts and dotted overrides -------------------------------------------------------------------------------------

def from_dict(cls: type, values: Any, where: str, strict: bool = True) -> Any:
    """``cls`` from a JSON object: unknown keys refused by name (``strict=False``: ignored, e.g. settings stored by
    an older version), nested settings built, lists made tuples. Types and bounds are left to :func:`validate`."""
    if not isinstance(values, dict):
        raise BetaVAEError(f"{where} must be a JSON object, got {type(values).__name__}")
    known = {item.name: item for item in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown and strict:
        raise BetaVAEError(f"unknown key(s) {unknown} in {where}; known keys: {sorted(known)}")
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for name, value in values.items():
        if name not in known:
            continue
        kind = hints[name]
        if dataclasses.is_dataclass(kind):  # a nested section: a JSON object itself
            kwargs[name] = from_dict(kind, value, f"{where}.{name}", strict)
        else:
            kwargs[name] = tuple(value) if isinstance(value, list) and _is_tuple(kind) else value
    return cls(**kwargs)


def _is_tuple(hint: Any) -> bool:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return any(_is_tuple(argument) for argument in typing.get_args(hint))
    return typing.get_origin(hint) is tuple


def to_dict(settings: Any) -> dict[str, Any]:
    return dataclasses.asdict(settings)


def with_values(settings: Any, values: dict[str, Any]) -> Any:
    """``settings`` with the fields at ``values``' dotted paths replaced, validated again (a frozen dataclass with a
    ``__post_init__`` validates itself on replace)."""
    if not values:
        return settings
    direct = {path: value for path, value in values.items() if "." not in path}
    nested: dict[str, dict[str, Any]] = {}
    for path, value in values.items():
        if "." in path:
            head, rest = path.split(".", 1)
            nested.setdefault(head, {})[rest] = value
    names = {item.name for item in dataclasses.fields(settings)}
    unknown = [path for path in [*direct, *nested] if path not in names]
    if unknown:
        raise BetaVAEError(f"{type(settings).__name__} has no setting {unknown[0]!r}")
    changed = {}
    for head, rest in nested.items():
        try:
            changed[head] = with_values(getattr(settings, head), rest)
        except SettingError as error:
            raise SettingError(f"{head}.{error.path}", str(error)) from None
    return dataclasses.replace(settings, **direct, **changed)


# --- argparse flags -------------------------------------------------------------------------------------------------

def flag_name(prefix: str, path: str) -> str:
    """``("mig", "num_bins")`` → ``--mig-num-bins``; no prefix: ``--num-bins`` (dots and underscores as dashes)."""
    return "--" + "-".join(filter(None, [prefix, path.replace(".", "-").replace("_", "-").lower()]))


def flag_of(leaf: Leaf, prefix: str = "", by_name: bool = False) -> str:
    """The flag of a setting: its own (``flag=``), else :func:`flag_name` of its path (``by_name``: of its last
    part, ``train.steps`` → ``--steps``)."""
    return f"--{leaf.flag}" if leaf.flag else flag_name(prefix, leaf.path.rpartition(".")[2] if by_name else leaf.path)


def add_flags(parser: argparse.ArgumentParser | argparse._ArgumentGroup, cls: type, dest: str,
              flag_prefix: str = "", show_defaults: bool = True, by_name: bool = False,
              more_help: dict[str, str] | None = None) -> None:
    """One flag per setting of ``cls`` (``cli=False`` ones excepted), stored as ``DEST:path``; flags not given stay
    out of the namespace (see :func:`flags_given`). Help: the setting's own, plus its default, plus ``more_help``'s
    text for its path (what only a caller knows, e.g. a registry's names). ``by_name``: a nested setting's flag is
    its own name (``train.steps`` → ``--steps``), not its path."""
    for leaf in leaves(cls):
        if not leaf.cli:
            continue
        shown = f" (default {_shown_default(leaf.default)})" if show_defaults and leaf.default is not None else ""
        extra = f"; {more_help[leaf.path]}" if more_help and leaf.path in more_help else ""
        text = f"{leaf.help}{shown}{extra}".replace("%", "%%")
        flag, name = flag_of(leaf, flag_prefix, by_name), f"{dest}:{leaf.path}"
        if leaf.type is bool:
            parser.add_argument(flag, dest=name, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS,
                                help=text)
        else:
            parser.add_argument(flag, dest=name, type=value_parser(leaf.type, leaf.range), default=argparse.SUPPRESS,
                                metavar=(leaf.flag or leaf.path.rpartition(".")[2]).replace("-", "_").upper(),
                                help=text)


def _shown_default(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple):
        return ",".join(str(item) for item in value) or "none"
    return str(value)


def flags_given(args: argparse.Namespace, dest: str) -> dict[str, Any]:
    """``{path: value}`` of every flag of :func:`add_flags` (``dest``) the user gave."""
    start = f"{dest}:"
    return {name[len(start):]: value for name, value in vars(args).items() if name.startswith(start)}


def value_parser(kind: Any, span: tuple[int, int] = INT_RANGE):
    """A function text → value for a setting's annotation (int, float, str, bool, tuples of them as "a,b";
    ``X | None``: "none"); integers outside ``span`` (by default 64 bits, what torch and numpy hold) are refused
    as the flag is read."""
    arguments = typing.get_args(kind)
    optional = typing.get_origin(kind) in (typing.Union, types.UnionType)
    base = next(argument for argument in arguments if argument is not type(None)) if optional else kind
    if typing.get_origin(base) is tuple:
        item = typing.get_args(base)[0]

        def convert(text: str) -> tuple:
            return tuple(item(part.strip()) for part in text.split(",") if part.strip())
    elif base is bool:
        def convert(text: str) -> bool:
            if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(text)
            return text.lower() in ("true", "1", "yes")
    elif base is int:
        def convert(text: str) -> int:
            value = int(text)
            if not span[0] <= value <= span[1]:
                shown = f"{text[:20]}{'…' if len(text) > 20 else ''}"
                raise argparse.ArgumentTypeError(f"{shown} is outside the allowed range {span[0]} to {span[1]}")
            return value
    else:
        convert = base

    def parse(text: str) -> Any:
        if optional and text.lower() == "none":
            return None
        try:
            return convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a valid {getattr(base, '__name__', base)}"
                                             ) from None

    parse.__name__ = getattr(base, "__name__", "value")
    return parse
