"""The ``meersim`` command line: parse, call one library function, print.

One module per command group; each is imported only when one of its commands
runs, so ``meersim catalog ...`` never imports torch. Every
:class:`~meersim.errors.MeersimError` becomes one ``Error: ...`` line here, in one
place, instead of a traceback; so does a file-system error (disk full, permission
denied, a path under a file) that a library raised before meersim could name it.
"""

from __future__ import annotations

import errno
import importlib
import warnings

import click

from meersim import __version__
from meersim.errors import MeersimError

# file-system errors that are the user's environment, not a bug: shown as one line too
FILE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR,
               errno.EISDIR, errno.EEXIST, errno.ENOENT, errno.ENAMETOOLONG}  # fmt: skip

# command name -> (module, function) under meersim.cli
COMMANDS = {
    "catalog": ("catalog", "catalog"),
    "sky": ("simulate", "sky"),
    "observe": ("simulate", "observe"),
    "clean": ("simulate", "clean"),
    "dataset": ("data", "dataset"),
    "crops": ("data", "crops"),
    "shard": ("data", "shard"),
    "ingest": ("ingest", "ingest_group"),
    "train": ("learn", "train"),
    "embed": ("learn", "embed"),
    "eval": ("evaluate", "eval_cmd"),
    "search": ("evaluate", "search"),
    "anomaly": ("evaluate", "anomaly"),
    "explore": ("explore", "explore"),
    "sweep": ("pipelines", "sweep"),
    "demo": ("pipelines", "demo"),
}


class MeersimGroup(click.Group):
    """Loads each command's module on first use; turns MeersimError into one line."""

    def list_commands(self, ctx):
        return list(COMMANDS)

    def get_command(self, ctx, name):
        if name not in COMMANDS:
            return None
        module, attr = COMMANDS[name]
        return getattr(importlib.import_module(f"meersim.cli.{module}"), attr)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except MeersimError as exc:
            raise click.ClickException(str(exc)) from None
        except OSError as exc:
            if exc.errno not in FILE_ERRNOS:
                raise
            where = exc.filename or "output"
            raise click.ClickException(f"{where}: {exc.strerror}.") from None


def _format_warning(message, category, filename, lineno, line=None) -> str:
    return f"warning: {message}\n"


@click.group(cls=MeersimGroup)
@click.version_option(__version__, prog_name="meersim")
def main():
    """meersim: simulated MeerKAT images with known truth, for self-supervised learning."""
    # Warnings reach a command-line user as one line, without Python's source echo.
    warnings.formatwarning = _format_warning


__all__ = ["main"]
