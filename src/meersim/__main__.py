"""``python -m meersim``: the ``meersim`` command (an entry point, CLI layer)."""

from meersim.cli import main

if __name__ == "__main__":
    main()
