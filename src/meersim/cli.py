"""The ``meersim`` command line: parse, call the library, print. Nothing else lives here."""

from __future__ import annotations

import functools

import click

from meersim import __version__
from meersim.errors import MeersimError


def friendly_errors(func):
    """Turn :class:`MeersimError` into a one-line click error (no traceback)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except MeersimError as exc:
            raise click.ClickException(str(exc)) from None

    return wrapper


@click.group()
@click.version_option(__version__, prog_name="meersim")
def main():
    """meersim: simulated MeerKAT images with known truth, for self-supervised learning."""


# ---- catalogs -------------------------------------------------------------------
# (catalog commands: catalog synth / info / convert)

# ---- sky ------------------------------------------------------------------------
# (sky command)

# ---- observe --------------------------------------------------------------------
# (observe command)

# ---- clean ----------------------------------------------------------------------
# (clean command)

# ---- dataset / crops ------------------------------------------------------------
# (dataset and crops commands)

# ---- ssl ------------------------------------------------------------------------
# (train and embed commands)

# ---- eval -----------------------------------------------------------------------
# (eval, search, sweep and demo commands)


if __name__ == "__main__":
    main()
