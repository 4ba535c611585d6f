"""Config values that are either fixed or drawn from a distribution.

A parameter in a dataset config is a plain value (``8.0``, ``"mgcls"``, ``null``)
or a one-key mapping naming a distribution::

    {uniform: [a, b]}          uniform on [a, b)
    {loguniform: [a, b]}       log-uniform on [a, b), 0 < a < b
    {normal: [mu, sigma]}      Gaussian; [mu, sigma, lo, hi] clips to [lo, hi]
    {randint: [a, b]}          integer uniform on a..b (both included)
    {choice: [v1, v2, ...]}    one of the values, equally likely
"""

from __future__ import annotations

from typing import Any

import numpy as np

from meersim.errors import InputError

KINDS = ("uniform", "loguniform", "normal", "randint", "choice")


def is_distribution(value: Any) -> bool:
    """True if ``value`` is a one-key mapping naming a known distribution."""
    return isinstance(value, dict) and len(value) == 1 and next(iter(value)) in KINDS


def check(value: Any, source: str, name: str) -> None:
    """Raise :class:`InputError` unless ``value`` is a fixed value or a valid distribution."""
    if not isinstance(value, dict):
        return
    if not is_distribution(value):
        raise InputError(
            source,
            name,
            f"{value!r} is not a distribution.",
            f"Use a plain value or one of {{{': [...]}, {'.join(KINDS)}: [...]}}.",
        )
    kind, args = next(iter(value.items()))
    if not isinstance(args, list) or not args:
        raise InputError(source, name, f"{kind} needs a list of arguments, got {args!r}.")
    if kind == "choice":
        return
    try:
        nums = [float(a) for a in args]
    except (TypeError, ValueError):
        raise InputError(source, name, f"{kind} arguments must be numbers, got {args!r}.") from None
    if kind == "normal":
        if len(nums) not in (2, 4) or nums[1] < 0:
            raise InputError(
                source, name, "normal takes [mu, sigma] or [mu, sigma, lo, hi], sigma >= 0."
            )
        if len(nums) == 4 and nums[2] > nums[3]:
            raise InputError(source, name, "normal clip range needs lo <= hi.")
        return
    if len(nums) != 2 or nums[0] > nums[1]:
        raise InputError(source, name, f"{kind} takes [a, b] with a <= b, got {args!r}.")
    if kind == "loguniform" and nums[0] <= 0:
        raise InputError(source, name, "loguniform needs 0 < a.")


def draw(value: Any, rng: np.random.Generator) -> Any:
    """A fixed value as is, or one draw of a distribution (Python scalar)."""
    if not is_distribution(value):
        return value
    kind, args = next(iter(value.items()))
    if kind == "uniform":
        return float(rng.uniform(args[0], args[1]))
    if kind == "loguniform":
        return float(np.exp(rng.uniform(np.log(args[0]), np.log(args[1]))))
    if kind == "normal":
        x = float(rng.normal(args[0], args[1]))
        if len(args) == 4:
            x = float(np.clip(x, args[2], args[3]))
        return x
    if kind == "randint":
        return int(rng.integers(int(args[0]), int(args[1]) + 1))
    return args[int(rng.integers(len(args)))]
