"""Strict loading of dataclass configs from YAML or dicts.

Every config in meersim is a dataclass. A YAML file names only the keys it
changes; an unknown key is an error that names the file and the key.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from pathlib import Path, PurePath
from typing import Any, TypeVar

import numpy as np
import yaml

from meersim.errors import InputError

T = TypeVar("T")


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping from ``path`` with ``yaml.safe_load``."""
    path = Path(path)
    if not path.exists():
        raise InputError(str(path), "file", "does not exist.", "Check the path.")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise InputError(
            str(path), "YAML", f"cannot be parsed ({exc}).", "Fix the syntax."
        ) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InputError(
            str(path), "top level", f"is a {type(data).__name__}, not a mapping.", "Use key: value"
        )
    return data


def from_dict(cls: type[T], data: dict[str, Any] | None, source: str = "config") -> T:
    """Build dataclass ``cls`` from ``data``, recursing into nested dataclass fields.

    Unknown keys raise :class:`InputError` naming ``source`` and the key.
    """
    if data is None:
        data = {}
    if isinstance(data, cls):
        return data
    if not isinstance(data, dict):
        raise InputError(source, cls.__name__, f"expected a mapping, got {data!r}.")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise InputError(
            source,
            ", ".join(unknown),
            f"unknown key(s) for {cls.__name__}.",
            f"Valid keys: {', '.join(sorted(fields))}.",
        )
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for name, value in data.items():
        hint = hints.get(name)
        if dataclasses.is_dataclass(hint) and isinstance(value, dict):
            value = from_dict(hint, value, f"{source}.{name}")
        kwargs[name] = value
    try:
        return cls(**kwargs)
    except InputError:
        raise
    except (TypeError, ValueError) as exc:
        raise InputError(source, cls.__name__, str(exc)) from None


def to_dict(obj: Any, *, finite_only: bool = False) -> Any:
    """Turn a (nested) dataclass into plain YAML/JSON-serialisable Python objects.

    numpy arrays become lists, numpy scalars Python scalars, paths strings. With
    ``finite_only``, NaN and infinite floats become None (strict JSON).
    """
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {
            f.name: to_dict(getattr(obj, f.name), finite_only=finite_only)
            for f in dataclasses.fields(obj)
        }
    if isinstance(obj, (list, tuple)):
        return [to_dict(v, finite_only=finite_only) for v in obj]
    if isinstance(obj, dict):
        return {str(k): to_dict(v, finite_only=finite_only) for k, v in obj.items()}
    if isinstance(obj, np.ndarray):
        return to_dict(obj.tolist(), finite_only=finite_only)
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, PurePath):
        return str(obj)
    if finite_only and isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj
