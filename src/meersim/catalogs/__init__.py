"""meersim.catalogs: the canonical source table, survey readers/writers, synthetic catalogs.

Public API::

    read_catalog(path, format=None, beam_arcsec=None) -> QTable
    write_catalog(table, path) -> Path
    synthesize(area_deg2, survey="mightee", seed=0, ...) -> QTable
    default_catalog() -> QTable
    catalog_info(table) -> dict

Column conventions: :mod:`meersim.catalogs.schema`. Docs: docs/catalogs.md.
"""

from meersim.catalogs.info import catalog_info
from meersim.catalogs.readers import read_catalog
from meersim.catalogs.synthetic import (
    MorphologyModel,
    default_catalog,
    synthesize,
    synthesize_to_file,
)
from meersim.catalogs.writers import convert_catalog, write_catalog

__all__ = [
    "MorphologyModel",
    "catalog_info",
    "convert_catalog",
    "default_catalog",
    "read_catalog",
    "synthesize",
    "synthesize_to_file",
    "write_catalog",
]
