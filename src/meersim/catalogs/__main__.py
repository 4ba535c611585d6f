"""`python -m meersim.catalogs --regenerate-default` rewrites the shipped default catalog."""

from meersim.catalogs.synthetic import _main

_main()
