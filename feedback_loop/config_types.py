"""Typed loading of config sections: a YAML mapping checked against a dataclass's type hints.

Unknown keys and wrong types are ``ConfigError``s that name the key path and what was expected, so a
typo never silently falls back to a default. ``config.py`` declares the sections; ``preflight`` checks
policy and refiner options with the same ``coerce_value``.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any


class ConfigError(ValueError):
    """A configuration problem; the message names the key path and what was expected."""


def _type_name(tp: Any) -> str:
    if tp is type(None):
        return "null"
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(arg) for arg in typing.get_args(tp))
    if origin is not None:
        return origin.__name__
    return getattr(tp, "__name__", str(tp))


def coerce_value(value: Any, tp: Any, path: str) -> Any:
    """``value`` checked against type ``tp``; ints are accepted where floats are expected.

    Raises ``ConfigError`` naming ``path``, e.g. ``policy.seed: expected int, got str 'abc'``; shared by
    the config itself and by ``preflight`` (policy and refiner options checked against their type hints).
    """
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            try:
                return coerce_value(value, arg, path)
            except ConfigError:
                continue
        raise ConfigError(f"{path}: expected {_type_name(tp)}, got {type(value).__name__} {value!r}")
    if tp is type(None):
        if value is None:
            return None
    elif dataclasses.is_dataclass(tp):
        if isinstance(value, dict):
            return _from_dict(tp, value, path)
    elif origin is dict:
        if isinstance(value, dict):
            return dict(value)
    elif origin is list:
        if isinstance(value, list):
            return list(value)
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is str:
        if isinstance(value, str):
            return value
    elif tp is Any:
        return value
    raise ConfigError(f"{path}: expected {_type_name(tp)}, got {type(value).__name__} {value!r}")


_coerce = coerce_value  # the old private name


def _from_dict(cls: type, data: dict[str, Any], prefix: str = "") -> Any:
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(data) - set(names))
    if unknown:
        where = f"{prefix}." if prefix else ""
        raise ConfigError(
            f"unknown key {where}{unknown[0]}; allowed keys{' in ' + prefix if prefix else ''}: {', '.join(names)}"
        )
    kwargs = {name: _coerce(value, hints[name], f"{prefix}.{name}" if prefix else name) for name, value in data.items()}
    return cls(**kwargs)
