"""Errors that meersim raises for bad input.

Every error names the file (or object), the field and the fix, so the CLI can
print it as one clear line instead of a traceback.
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
        message = f"{self.source}: {self.field}: {problem}"
        if fix:
            message += f" Fix: {fix}"
        super().__init__(message)
