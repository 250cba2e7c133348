"""Declared settings: each field carries its default, its source, its type and its valid range.

Methods, datasets and the classifier recipe declare their settings as frozen dataclasses whose
fields are made with `hp(...)`. The metadata makes three things possible without extra code:
checked overrides from the CLI and config files (wrong type, out of range, unknown key all fail
with a message naming the value and what is allowed), provenance (`source` says which paper table
or which convention a default comes from), and cache keys (`part` says which part of the pipeline a
setting changes, so a classifier-only change reuses the generator and the synthetic data).

Every numeric setting has an upper bound (`high`): where a paper gives none it is a sanity
limit far above any value a benchmark uses (e.g. 10,000 epochs), there to turn a typo such as
`epochs=1e23` into an error before any work; a setting that must stay unbounded says why in
`unbounded=`. A list setting whose default is not empty must not be given empty.

A setting added after results were recorded, whose default is the behaviour before it, is
declared `keyless_default=True`: at its default it is left out of run ids and cache keys
(`keyed`), so the runs, generators and synthetic sets made before it keep their ids.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from bench.errors import ConfigError
from bench.io import clip
from bench.registry import did_you_mean

PARTS = ("generator", "synthesis", "classifier", "data")
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}
_NONE = {"none", "null", "~"}


@dataclass(frozen=True)
class Spec:
    """What is known about one setting."""

    name: str
    type: Any
    default: Any
    source: str
    help: str = ""
    # a tuple, or a registry (bench.registry.Registry): its names when checked, so a name
    # registered later (a plugin, a test) is accepted
    choices: Collection[Any] | None = None
    low: float | None = None
    high: float | None = None
    gt: float | None = None
    part: str | None = None
    unbounded: str | None = None  # why a numeric setting has no upper bound
    # (when, test): the setting only matters when test(stage settings, synthetic) holds ("when"
    # says so in words); set where it cannot matter it is refused (bench.runs.config)
    applies: tuple[str, Any] | None = None
    # left out of run ids and cache keys while at its default (see the module docstring)
    keyless_default: bool = False
    # names a file or folder: its content digest joins the run's identity (bench.runs.config)
    path: bool = False


def hp(
    default: Any,
    *,
    source: str,
    help: str = "",
    choices: Collection[Any] | None = None,
    low: float | None = None,
    high: float | None = None,
    gt: float | None = None,
    part: str | None = None,
    unbounded: str | None = None,
    applies: tuple[str, Any] | None = None,
    keyless_default: bool = False,
    path: bool = False,
) -> Any:
    """A dataclass field with a default, the paper or convention it comes from, and its range.

    `low`/`high` are inclusive bounds, `gt` an exclusive lower bound; `part` is one of
    generator / synthesis / classifier / data and decides which cached artefacts it invalidates;
    `applies` = (when, test(settings, synthetic) -> bool) for a setting that only matters in
    some configurations (a loss's own parameter), so setting it elsewhere can be refused;
    `keyless_default`: at its default the setting is no part of ids and keys (`keyed`);
    `path`: the setting names a file or folder, whose content (not only its name) is part of a
    run's identity when the setting is not at its default.
    """
    if part is not None and part not in PARTS:
        raise ValueError(f"part must be one of {PARTS}, got {part!r}")
    meta = dict(
        source=source,
        help=help,
        choices=choices,
        low=low,
        high=high,
        gt=gt,
        part=part,
        unbounded=unbounded,
        applies=applies,
        keyless_default=keyless_default,
        path=path,
    )
    return dataclasses.field(default=default, metadata={"bench": meta})


def specs(cls: type) -> dict[str, Spec]:
    """The Spec of every field of a settings dataclass, in declaration order."""
    hints = typing.get_type_hints(cls)
    out = {}
    for f in dataclasses.fields(cls):
        meta = f.metadata.get("bench")
        if meta is None:
            raise TypeError(f"{cls.__qualname__}.{f.name} must be declared with hp(...)")
        out[f.name] = Spec(name=f.name, type=hints[f.name], default=f.default, **meta)
    return out


def defaults(cls: type) -> dict[str, Any]:
    return {name: spec.default for name, spec in specs(cls).items()}


def keyed(cls: type, values: Mapping[str, Any]) -> dict[str, Any]:
    """`values` as ids and cache keys hold them: without the `keyless_default` settings of `cls`
    that are at their default (settings added later leave earlier ids as they were)."""
    known = specs(cls)
    return {
        k: v
        for k, v in values.items()
        if not (k in known and known[k].keyless_default and same(v, known[k].default))
    }


def same(value: Any, default: Any) -> bool:
    """Equal as settings are stored (a tuple default equals the list a JSON record holds)."""
    if isinstance(default, tuple) and isinstance(value, list | tuple):
        return list(value) == list(default)
    return value == default


def build(cls: type, values: Mapping[str, Any], where: str) -> Any:
    """Instantiate `cls` from (possibly string) values, checking keys, types and ranges."""
    known = specs(cls)
    for key in values:
        if key not in known:
            raise ConfigError(unknown_key_message(where, key, list(known)))
    checked = {key: check_value(known[key], value, where) for key, value in values.items()}
    try:
        return cls(**checked)  # __post_init__ checks settings that depend on each other
    except (ConfigError, TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def split_assignment(item: str) -> tuple[str, str] | None:
    """One `key=value` item as (key, value): the one `key=value` parser of the harness (--set,
    the SLURM profile's --set, `bench compare --a/--b`, published.csv's settings). The key is
    stripped, the value kept as typed; None when the item is not key=value (each caller says
    so in its own words: a --set, a file line, ...)."""
    key, sep, value = item.partition("=")
    return (key.strip(), value) if sep and key.strip() else None


def parse_assignments(items: Iterable[str], example: str = "key=value") -> list[tuple[str, str]]:
    """`key=value` items (from --set) as (key, value) pairs (values coerced against their field
    later)."""
    pairs = []
    for item in items:
        pair = split_assignment(item)
        if pair is None:
            raise ConfigError(f"--set {item!r}: expected key=value, e.g. --set {example}.")
        pairs.append(pair)
    return pairs


def unknown_key_message(where: str, key: str, valid: list[str]) -> str:
    hint = did_you_mean(key, valid)
    return f"{where}: unknown setting {key!r}.{hint} Valid settings: {', '.join(valid)}."


def check_value(spec: Spec, value: Any, where: str) -> Any:
    """Coerce `value` to the field's type and check it against choices and bounds."""
    try:
        value = coerce(spec.type, value)
    except (TypeError, ValueError):
        raise ConfigError(
            f"{where}: {spec.name} expects {type_name(spec.type)}, got {clip(repr(value))}."
        ) from None
    check_range(spec, value, where)
    return value


def check_range(spec: Spec, value: Any, where: str) -> None:
    if value is None:
        return
    if value == () and spec.default:
        raise ConfigError(
            f"{where}: {spec.name} needs at least one value (default: "
            f"{','.join(map(str, spec.default))})."
        )
    if spec.choices is not None and value not in spec.choices:
        hint = did_you_mean(str(value), [str(c) for c in spec.choices], n=1)
        allowed = ", ".join(str(c) for c in spec.choices)
        raise ConfigError(
            f"{where}: {spec.name}={value!r} is not allowed.{hint} Choose one of: {allowed}."
        )
    for item in value if isinstance(value, tuple) else (value,):
        if not isinstance(item, (int, float)) or isinstance(item, bool):
            continue
        if spec.low is not None and item < spec.low:
            raise ConfigError(f"{where}: {spec.name}={value!r} is below its minimum {spec.low}.")
        if spec.high is not None and item > spec.high:
            raise ConfigError(f"{where}: {spec.name}={value!r} is above its maximum {spec.high}.")
        if spec.gt is not None and item <= spec.gt:
            raise ConfigError(f"{where}: {spec.name}={value!r} must be greater than {spec.gt}.")


def coerce(tp: Any, value: Any) -> Any:
    """Convert a CLI string or a YAML/JSON scalar to type `tp`; raise ValueError if impossible."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return _coerce_union(typing.get_args(tp), value)
    if origin is tuple:
        return _coerce_tuple(typing.get_args(tp)[0], value)
    if tp is type(None):
        if value is None or (isinstance(value, str) and value.strip().lower() in _NONE):
            return None
        raise ValueError(value)
    return _SCALARS[tp](value)


def _coerce_union(members: tuple[Any, ...], value: Any) -> Any:
    if type(None) in members and (
        value is None or (isinstance(value, str) and value.strip().lower() in _NONE)
    ):
        return None
    for member in members:
        if member is type(None):
            continue
        try:
            return coerce(member, value)
        except (TypeError, ValueError):
            continue
    raise ValueError(value)


def _coerce_tuple(item_type: Any, value: Any) -> tuple[Any, ...]:
    if isinstance(value, str):
        parts = [p.strip() for p in value.strip().strip("[]()").split(",") if p.strip()]
        return tuple(coerce(item_type, p) for p in parts)
    if isinstance(value, (list, tuple)):
        return tuple(coerce(item_type, v) for v in value)
    raise ValueError(value)


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError(value)


def _to_int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            as_float = float(text)  # "1e3" is an integer written as a float
            if as_float.is_integer():
                return int(as_float)
    raise ValueError(value)


def _to_float(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, int | float | str):
        result = float(value)
        if not math.isfinite(result):
            raise ValueError(value)
        return result
    raise ValueError(value)


def _to_str(value: Any) -> str:
    if isinstance(value, str):
        return value
    raise ValueError(value)


_SCALARS = {bool: _to_bool, int: _to_int, float: _to_float, str: _to_str}


def type_name(tp: Any) -> str:
    """A readable name of a field type, for error messages and `bench run --dry-run`."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(type_name(m) for m in typing.get_args(tp))
    if origin is tuple:
        plural = {int: "integers", float: "numbers", str: "strings", bool: "true/false values"}
        return f"a comma-separated list of {plural.get(typing.get_args(tp)[0], 'values')}"
    names = {bool: "true/false", int: "an integer", float: "a number", str: "a string"}
    return names.get(tp, "none" if tp is type(None) else getattr(tp, "__name__", str(tp)))
