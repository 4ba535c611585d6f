"""``python -m meersim.ssl.train`` / ``torchrun -m meersim.ssl.train``: the ``meersim train`` command.

An entry point, not a library module: it belongs to the CLI layer
(docs/architecture.md, "Layers").
"""

import sys

from meersim.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
