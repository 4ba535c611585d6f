"""Options shared by the ``meersim`` commands, with defaults read from the library.

Defaults come from the config dataclasses (:func:`field_default`) or the library
function's signature (:func:`argument_default`), so the CLI never restates them.
"""

from __future__ import annotations

import dataclasses
import inspect
import re

import click

DEVICE_PATTERN = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


def field_default(cls, name: str):
    """The default of dataclass field ``name`` of ``cls``."""
    for f in dataclasses.fields(cls):
        if f.name == name:
            if f.default is not dataclasses.MISSING:
                return f.default
            if f.default_factory is not dataclasses.MISSING:
                return f.default_factory()
            break
    raise KeyError(f"{cls.__name__}.{name} has no default")


def argument_default(func, name: str):
    """The default of keyword ``name`` of ``func``."""
    default = inspect.signature(func).parameters[name].default
    if default is inspect.Parameter.empty:
        raise KeyError(f"{func.__name__}({name}) has no default")
    return default


class DeviceType(click.ParamType):
    """A torch device name: auto, cpu, cuda or cuda:N."""

    name = "device"

    def convert(self, value, param, ctx):
        text = str(value).strip().lower()
        if not DEVICE_PATTERN.match(text):
            self.fail(f"{value!r} is not auto, cpu, cuda or cuda:N.", param, ctx)
        return text


def output_option(kind: str = "dir", *, required: bool = True, default=None, help: str):
    """``-o/--output``: a directory (``kind="dir"``) or a file (``kind="file"``)."""
    path = click.Path(file_okay=kind == "file", dir_okay=kind == "dir")
    return click.option("-o", "--output", type=path, required=required and default is None,
                        default=default, show_default=default is not None, help=help)  # fmt: skip


def device_option(default: str | None = "auto"):
    """``--device``: auto (CUDA when present), cpu, cuda or cuda:N."""
    return click.option("--device", type=DeviceType(), default=default,
                        show_default=default is not None,
                        help="torch device: auto (CUDA when present), cpu, cuda or cuda:N.")  # fmt: skip


def progress_option(default: bool = True):
    """``--progress/--no-progress``: progress bars on stderr."""
    return click.option("--progress/--no-progress", default=default, show_default=True,
                        help="Show progress bars.")  # fmt: skip


def seed_option(default: int | None = 0, help: str = "Random seed."):
    """``--seed``: a non-negative integer."""
    return click.option("--seed", type=click.IntRange(min=0), default=default,
                        show_default=default is not None, help=help)  # fmt: skip


def config_option(help: str, *, required: bool = False):
    """``--config``: an existing YAML file."""
    return click.option("--config", "config_path", required=required, help=help,
                        type=click.Path(exists=True, dir_okay=False))  # fmt: skip


def stokes_option(default: str = "I"):
    """``--stokes``: the Stokes plane of FITS images, chosen by the STOKES axis's CRVAL."""
    return click.option("--stokes", default=default, show_default=True,
                        type=click.Choice(["I", "Q", "U", "V"], case_sensitive=False),
                        help="Stokes plane of FITS images (found by the STOKES axis value).")  # fmt: skip


def overwrite_option(help: str = "Replace what OUTPUT holds instead of refusing or resuming."):
    """``--overwrite``."""
    return click.option("--overwrite", is_flag=True, help=help)


def floats(text: str, option: str) -> tuple[float, ...]:
    """Comma-separated numbers, or a clean click error naming ``option``."""
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise click.BadParameter(
            f"expected comma-separated numbers, got {text!r}.", param_hint=option
        ) from None
    if not values:
        raise click.BadParameter("no values given.", param_hint=option)
    return values
