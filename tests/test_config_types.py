"""Config values are checked against their dataclass field types (meersim.config.from_dict)."""

from dataclasses import dataclass, field

import pytest

from meersim.clean.config import CleanConfig
from meersim.config import from_dict
from meersim.errors import InputError


@dataclass
class _Example:
    flag: bool = False
    count: int = 1
    scale: float = 1.0
    name: str = "x"
    limit: float | None = None
    pair: tuple[float, float] = (0.0, 1.0)
    sizes: tuple[float, ...] = (1.0,)
    names: list[str] = field(default_factory=list)
    extra: dict = field(default_factory=dict)


def test_quoted_boolean_is_refused_not_read_as_true():
    with pytest.raises(
        InputError, match=r"multiscale: must be true or false, got 'false'.*without quotes"
    ):
        from_dict(CleanConfig, {"multiscale": "false"}, "clean.yaml")
    assert from_dict(CleanConfig, {"multiscale": False}, "clean.yaml").multiscale is False


@pytest.mark.parametrize(
    "key, value, match",
    [
        ("flag", 1, "flag: must be true or false, got 1"),
        ("count", "big", "count: must be an integer, got 'big'"),
        ("count", 2.5, "count: must be an integer, got 2.5"),
        ("count", True, "count: must be an integer, got True"),
        ("scale", "three", "scale: must be a number, got 'three'"),
        ("scale", [1], r"scale: must be a number, got \[1\]"),
        ("name", 3, "name: must be text, got 3"),
        ("limit", "none", "limit: must be a number or null, got 'none'"),
        ("pair", [1.0], r"pair: needs 2 values, got \[1.0\]"),
        ("pair", 1.0, "pair: must be a list"),
        ("sizes", [1.0, "x"], "sizes: must be a number, got 'x'"),
        ("names", [1], "names: must be text, got 1"),
        ("extra", [1], "extra: must be a mapping"),
    ],
)
def test_wrong_types_name_the_key(key, value, match):
    with pytest.raises(InputError, match=match):
        from_dict(_Example, {key: value}, "ex.yaml")


def test_right_types_are_converted_where_yaml_is_ambiguous():
    ex = from_dict(_Example, {"count": 3.0, "scale": "5e-4", "limit": None, "pair": [0, 2],
                              "sizes": (1, 2, 3), "names": ["a"], "extra": {"k": 1}}, "ex.yaml")  # fmt: skip
    assert ex.count == 3 and isinstance(ex.count, int)
    assert ex.scale == 5e-4  # YAML 1.1 reads 5e-4 (no dot) as text
    assert ex.pair == [0.0, 2.0] and ex.sizes == (1.0, 2.0, 3.0)


def test_non_string_keys_are_refused():
    with pytest.raises(InputError, match="keys of _Example must be names"):
        from_dict(_Example, {1: 2}, "ex.yaml")
