"""Figures for the reports, drawn with matplotlib's object API (no pyplot, no global backend).

A :class:`matplotlib.figure.Figure` made directly renders through the Agg canvas,
so library code never calls ``matplotlib.use`` or touches pyplot's global state.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

from meersim.io import atomic_write


def new_figure(figsize: tuple[float, float], nrows: int = 1, ncols: int = 1, *,
               dpi: float | None = None, squeeze: bool = False, **kwargs):  # fmt: skip
    """A figure of ``figsize`` inches and its axes (2-D array unless ``squeeze``)."""
    fig = Figure(figsize=figsize, dpi=dpi)
    axes = fig.subplots(nrows, ncols, squeeze=squeeze, **kwargs)
    return fig, axes


def save_figure(fig: Figure, path, dpi: float | None = None) -> Path:
    """Write ``fig`` as PNG to ``path`` (creating its folder), return the path."""
    path = Path(path)
    with atomic_write(path) as fh:
        fig.savefig(fh, format="png", dpi=dpi if dpi is not None else "figure")
    return path


def colour(name: str, index: int):
    """Colour ``index`` of the qualitative colormap ``name`` (e.g. tab10), cycling."""
    cmap = colormaps[name]
    return cmap(index % cmap.N)


def display_stretch(image: np.ndarray, lo: float = 1.0, hi: float = 99.5) -> np.ndarray:
    """Percentile clip to [0, 1] followed by an asinh stretch, for display only (NaN -> 0)."""
    img = np.nan_to_num(np.asarray(image, dtype=np.float64))
    a, b = np.percentile(img, [lo, hi])
    if b <= a:
        return np.zeros_like(img)
    x = np.clip((img - a) / (b - a), 0, 1)
    return np.arcsinh(10 * x) / np.arcsinh(10)
