"""meersim.clean: Cotton-Schwab major cycles around Högbom or multiscale minor cycles."""

from meersim.clean.config import CleanConfig, parse_threshold
from meersim.clean.major import CleanLimitWarning, CleanResult, clean, limit_message
from meersim.clean.products import clean_directory, write_clean_products

__all__ = [
    "CleanConfig",
    "CleanLimitWarning",
    "CleanResult",
    "clean",
    "clean_directory",
    "limit_message",
    "parse_threshold",
    "write_clean_products",
]
