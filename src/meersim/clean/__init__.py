"""meersim.clean: Cotton-Schwab major cycles around Högbom or multiscale minor cycles."""

from meersim.clean.config import CleanConfig, parse_threshold
from meersim.clean.major import CleanResult, clean
from meersim.clean.products import clean_directory, write_clean_products

__all__ = [
    "CleanConfig",
    "CleanResult",
    "clean",
    "clean_directory",
    "parse_threshold",
    "write_clean_products",
]
