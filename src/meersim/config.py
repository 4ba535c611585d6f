"""Strict loading of dataclass configs from YAML or dicts.

Every config in meersim is a dataclass. A YAML file names only the keys it
changes; an unknown key is an error that names the file and the key.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import types
import typing
from pathlib import Path, PurePath
from typing import Any, TypeVar

import numpy as np
import yaml

from meersim.errors import InputError

T = TypeVar("T")


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping from ``path`` with ``yaml.safe_load``.

    A missing file, a file that is not UTF-8 text (e.g. a PNG), a syntax error or a
    top level that is not a mapping is an :class:`InputError` naming the file.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(str(path), "file", "does not exist.", "Check the path.")
    if not path.is_file():
        raise InputError(str(path), "file", "is not a file.", "Give a YAML file.")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(
            str(path), "file", "is not a UTF-8 text file, so not YAML.", "Give a YAML config file."
        ) from None
    except OSError as exc:
        raise InputError(str(path), "file", f"cannot be read ({exc.strerror}).") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        problem = " ".join(str(exc).split())
        raise InputError(
            str(path), "YAML", f"cannot be parsed ({problem}).", "Fix the syntax."
        ) from None
    except RecursionError:
        raise InputError(str(path), "YAML", "is nested too deeply.", "Fix the syntax.") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InputError(
            str(path), "top level", f"is a {type(data).__name__}, not a mapping.", "Use key: value"
        )
    return data


def from_dict(cls: type[T], data: dict[str, Any] | None, source: str = "config") -> T:
    """Build dataclass ``cls`` from ``data``, recursing into nested dataclass fields.

    Unknown keys raise :class:`InputError` naming ``source`` and the key, and so does
    a value that does not fit its field's type (:func:`check_type`): a quoted
    ``"false"`` is not a bool, ``"big"`` not an int.
    """
    if data is None:
        data = {}
    if isinstance(data, cls):
        return data
    if not isinstance(data, dict):
        raise InputError(source, cls.__name__, f"expected a mapping, got {data!r}.")
    bad_keys = [k for k in data if not isinstance(k, str)]
    if bad_keys:
        raise InputError(source, repr(bad_keys[0]), f"keys of {cls.__name__} must be names.")
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
    kwargs = {name: check_type(value, hints.get(name, Any), source, name)
              for name, value in data.items()}  # fmt: skip
    try:
        return cls(**kwargs)
    except InputError:
        raise
    except (TypeError, ValueError, OverflowError) as exc:
        raise InputError(source, cls.__name__, str(exc)) from None


def _describe(hint) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in args)
    names = {bool: "true or false", int: "an integer", float: "a number", str: "text",
             dict: "a mapping", list: "a list", tuple: "a list", type(None): "null"}  # fmt: skip
    if hint in names or origin in names:
        return names.get(hint) or names[origin]
    return getattr(hint, "__name__", str(hint))


def _type_error(value, hint, source: str, name: str) -> InputError:
    fix = None
    if isinstance(value, str) and hint is bool:
        fix = "Write true or false without quotes."
    elif isinstance(value, str) and hint in (int, float):
        fix = "Write a number (without quotes)."
    return InputError(source, name, f"must be {_describe(hint)}, got {value!r}.", fix)


def _number(value, hint, source: str, name: str):
    if isinstance(value, (bool, np.bool_)):
        raise _type_error(value, hint, source, name)
    if isinstance(value, str):
        # YAML 1.1 reads exponents without a dot (5e-4) as text; accept numeric text
        try:
            value = float(value.strip())
        except ValueError:
            raise _type_error(value, hint, source, name) from None
    if not isinstance(value, numbers.Real):
        raise _type_error(value, hint, source, name)
    if hint is float:
        return float(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if not math.isfinite(value) or not float(value).is_integer():
        raise _type_error(value, hint, source, name)
    return int(value)


def _sequence(value, hint, source: str, name: str):
    origin, args = typing.get_origin(hint) or hint, typing.get_args(hint)
    items = args[0] if len(args) == 2 and args[1] is Ellipsis else None
    if isinstance(value, str) and items is str:
        return value  # one name for a tuple of names; the dataclass wraps it
    if not isinstance(value, (list, tuple)):
        raise _type_error(value, hint, source, name)
    if origin is tuple and args and items is None:
        if len(value) != len(args):
            raise InputError(source, name, f"needs {len(args)} values, got {list(value)!r}.")
        checked = [check_type(v, a, source, name) for v, a in zip(value, args, strict=True)]
    elif args:
        checked = [check_type(v, items if items is not None else args[0], source, name)
                   for v in value]  # fmt: skip
    else:
        return value
    return type(value)(checked)


def check_type(value, hint, source: str = "config", name: str = "value"):
    """``value`` checked against the type ``hint`` of a dataclass field; returns it converted.

    Understands bool, int, float, str, Optional and unions, lists and tuples of those,
    dicts and nested dataclasses; any other hint (``Any``, ``object``) accepts anything.
    Numbers written as text (``5e-4``) are converted; ``"false"`` is not a bool.
    """
    origin = typing.get_origin(hint)
    if hint is Any or hint is object:
        return value
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        for option in options:
            if option is type(None):
                continue
            try:
                return check_type(value, option, source, name)
            except InputError:
                continue
        raise _type_error(value, hint, source, name)
    if dataclasses.is_dataclass(hint):
        if isinstance(value, dict):
            return from_dict(hint, value, f"{source}.{name}")
        if isinstance(value, hint):
            return value
        raise InputError(source, name, f"must be a mapping of {hint.__name__} keys, got {value!r}.")
    if hint is bool:
        if isinstance(value, (bool, np.bool_)):
            return bool(value)
        raise _type_error(value, hint, source, name)
    if hint in (int, float):
        return _number(value, hint, source, name)
    if hint is str:
        if isinstance(value, PurePath):
            return str(value)
        if isinstance(value, str):
            return value
        raise _type_error(value, hint, source, name)
    if hint is dict or origin is dict:
        if isinstance(value, dict):
            return value
        raise _type_error(value, hint, source, name)
    if hint in (list, tuple) or origin in (list, tuple):
        return _sequence(value, hint, source, name)
    return value


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
