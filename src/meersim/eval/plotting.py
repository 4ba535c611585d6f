"""Shared figure output for the evaluation reports."""

from __future__ import annotations

from pathlib import Path


def save_figure(fig, path, dpi: float | None = None) -> Path:
    """Write ``fig`` as PNG to ``path`` (creating its folder), close it, return the path."""
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi if dpi is not None else "figure")
    plt.close(fig)
    return path
