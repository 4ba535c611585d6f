"""One builder for meersim's static HTML pages (evaluation report, sweep report, demo index).

Pages are self-contained: one inline style sheet, figures referenced by relative path.
Cells and bodies passed in are HTML already; :func:`esc` escapes text.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from meersim.io import write_text

STYLE = """body { font-family: sans-serif; margin: 2em auto; max-width: %dpx; padding: 0 1em; }
table { border-collapse: collapse; margin: 1em 0; }
td, th { border-bottom: 1px solid #ddd; padding: 3px 8px; font-size: 13px; text-align: right; }
td:first-child, th:first-child { text-align: left; }
figure { display: inline-block; margin: 6px; vertical-align: top; }
img { max-width: 100%%; }
figcaption { font-size: 12px; color: #555; }"""


def esc(text) -> str:
    """HTML-escaped text."""
    return html.escape(str(text))


def fmt(value) -> str:
    """A number for a table cell (4 significant digits; a dash for missing or non-finite)."""
    if value is None or (isinstance(value, (float, np.floating)) and not math.isfinite(value)):
        return "&ndash;"
    if isinstance(value, (bool, np.bool_)):
        return esc(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.4g}"
    return esc(value)


def fmt_pm(value, spread) -> str:
    """``value ± spread`` (e.g. ``0.62 ± 0.05``), both to the spread's second significant
    digit; plain :func:`fmt` when the spread is missing or not finite."""
    ok = isinstance(value, (float, np.floating, int, np.integer)) and math.isfinite(value)
    if spread is None or not ok or not math.isfinite(spread):
        return fmt(value)
    decimals = 4 if spread <= 0 else min(6, max(0, 1 - math.floor(math.log10(spread))))
    return f"{float(value):.{decimals}f} &plusmn; {float(spread):.{decimals}f}"


def table(header: Iterable[str], rows: Iterable[Iterable[str]]) -> str:
    """A table; ``header`` is plain text, ``rows`` hold HTML cells."""
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def figures(items: Iterable[tuple[str, str]], width: int | None = None) -> str:
    """``(caption, relative path)`` pairs as linked figures (``width`` in CSS px)."""
    size = f' width="{int(width)}"' if width else ""
    return "".join(
        f'<figure><a href="{esc(src)}"><img src="{esc(src)}" alt="{esc(cap)}"{size}></a>'
        f"<figcaption>{esc(cap)}</figcaption></figure>"
        for cap, src in items
    )


def bullet_list(items: Iterable[str]) -> str:
    """A list of plain-text items (empty string when there are none)."""
    items = list(items)
    return "<ul>" + "".join(f"<li>{esc(i)}</li>" for i in items) + "</ul>" if items else ""


def page(title: str, body: str, max_width_px: int = 1100) -> str:
    """A complete page with ``title`` as its heading."""
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>'
        f"<style>{STYLE % max_width_px}</style></head><body>\n<h1>{esc(title)}</h1>\n"
        f"{body}\n</body></html>\n"
    )


def write_page(path, title: str, body: str, max_width_px: int = 1100) -> Path:
    """Write :func:`page` to ``path`` atomically."""
    return write_text(Path(path), page(title, body, max_width_px))
