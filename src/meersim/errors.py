"""Errors that meersim raises for bad input.

Every error names the file (or object), the field and the fix, so the CLI can
print it as one clear line instead of a traceback. Errors keep their constructor
arguments in ``args``, so they pickle: an error raised in a dask worker reaches
the client unchanged.
"""

from __future__ import annotations


class MeersimError(Exception):
    """Base class for all errors meersim raises on purpose."""


class InputError(MeersimError, ValueError):
    """Bad user input: a file, a column, a parameter.

    Parameters
    ----------
    source : str
        The file or object at fault (e.g. ``"cat.fits"`` or ``"observe setup"``).
    field : str
        The column, key or parameter at fault.
    problem : str
        What is wrong.
    fix : str, optional
        What the user should do.
    """

    def __init__(self, source: str, field: str, problem: str, fix: str | None = None):
        self.source = str(source)
        self.field = str(field)
        self.problem = problem
        self.fix = fix
        super().__init__(self.source, self.field, problem, fix)

    def __str__(self) -> str:
        message = f"{self.source}: {self.field}: {self.problem}"
        if self.fix:
            message += f" Fix: {self.fix}"
        return message


class DiskFullError(MeersimError, OSError):
    """The disk filled up while meersim wrote ``path``; the partial file was removed."""

    def __init__(self, path: str):
        self.path = str(path)
        super().__init__(self.path)

    def __str__(self) -> str:
        return (
            f"{self.path}: no space left on device while writing; the partial file was "
            "removed. Fix: free disk space or write to another disk, then run the command again."
        )
