"""Imaging weights: natural, uniform and Briggs.

Density weighting (uniform, Briggs) follows Briggs (1995, PhD thesis, §3) in
the form WSClean computes it, so that meersim's weights equal WSClean's for
the same Measurement Set, image size and pixel scale (learned from WSClean's
wsclean/gridding/imageweights.{h,cpp}, imageweightcache.h and
wsclean/main/settings.{h,cpp}; tests/simulate/test_wsclean_crosscheck.py
compares the per-visibility weights with WSClean 3.1's): the natural weights
are summed into the cells of the uv grid of the *padded* image (WSClean's
default padding 1.2, the size rounded up to a multiple of 4; cell size
``1/(n_padded * cell)`` wavelengths), on one half-plane (a row with v < 0 is
mirrored to (-u, -v), so each visibility counts once and shares its cell with
its conjugate), with cell edges, not centres, on multiples of the cell size,
and over all channels together (MFS). The density ``W_k`` gives a correction::

    uniform: 1 / W_k
    briggs:  1 / (1 + W_k f^2),  f^2 = (5 * 10^-R)^2 / (sum_k W_k^2 / sum_k W_k)

then WSClean's rank filter (level 3, 16 x 16 cells) caps each cell's
correction at 3 x the mean of the nonzero corrections around it, and the
imaging weight is ``w_i`` times the correction of its cell. Samples off the
density grid (|u| or |v| > 1/(2 cell)) get weight 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from meersim.errors import InputError
from meersim.grid import Grid
from meersim.types import Visibilities

SPEED_OF_LIGHT = 299792458.0  # m/s
WEIGHTING_SCHEMES = ("natural", "uniform", "briggs")
# WSClean's defaults for the density grid (wsclean/main/settings.h): the image is
# padded by 1.2, and the weighting rank filter has level 3 and a 16-cell window.
DENSITY_PADDING = 1.2
RANK_FILTER_LEVEL = 3.0
RANK_FILTER_SIZE = 16


@dataclass(frozen=True)
class Weighting:
    """How visibilities are weighted when imaging.

    Parameters
    ----------
    scheme : str
        ``"natural"``, ``"uniform"`` or ``"briggs"``.
    robust : float
        Briggs robustness R in [-2, 2] (only for ``"briggs"``); -0.5 is the
        MeerKAT pipelines' usual choice (SARAO sensitivity figures quote it).
    """

    scheme: str = "briggs"
    robust: float = -0.5

    def __post_init__(self):
        scheme = str(self.scheme).lower()
        object.__setattr__(self, "scheme", scheme)
        if scheme not in WEIGHTING_SCHEMES:
            raise InputError(
                "weighting",
                "scheme",
                f"{self.scheme!r} is unknown.",
                "Use natural, uniform or briggs.",
            )
        robust = float(self.robust)
        if not np.isfinite(robust) or not -2.0 <= robust <= 2.0:
            raise InputError(
                "weighting", "robust", f"must lie in [-2, 2], got {self.robust}.", "e.g. -0.5."
            )
        object.__setattr__(self, "robust", robust)

    def as_dict(self) -> dict:
        """``{"scheme": ..., "robust": ...}`` (robust kept for every scheme)."""
        return {"scheme": self.scheme, "robust": self.robust}

    def describe(self) -> str:
        """Short label, e.g. ``briggs -0.5``."""
        return f"briggs {self.robust:+g}" if self.scheme == "briggs" else self.scheme

    @classmethod
    def from_any(cls, value) -> Weighting:
        """Accept a :class:`Weighting`, a dict like ``Observation.weighting``, or a scheme name."""
        if isinstance(value, Weighting):
            return value
        if isinstance(value, str):
            return cls(scheme=value)
        if isinstance(value, dict):
            return cls(scheme=value.get("scheme", "briggs"), robust=value.get("robust", -0.5))
        raise InputError("weighting", "value", f"cannot interpret {value!r} as a weighting.")


def density_grid_size(npix: int, padding: float = DENSITY_PADDING) -> int:
    """Cells along one axis of the density grid for an image axis of ``npix`` pixels.

    WSClean's rule (``Settings::Propagate`` and ``RecalculateDerivedDimensions``
    in wsclean/main/settings.cpp): an odd image size is first made even, then
    padded to ``ceil(npix * padding)`` and rounded up to a multiple of 4; the
    weights are gridded on the uv grid of that padded image.
    """
    npix = int(npix) + int(npix) % 2
    padded = int(np.ceil(npix * float(padding)))
    return padded + (-padded) % 4


def uv_cells(
    vis: Visibilities, grid: Grid, *, padding: float = DENSITY_PADDING
) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """Density-grid cell of every sample: ``(cells, usable, shape)``, channel-major (nchan, nrow).

    The density grid is the half (v >= 0) of the uv grid of the padded image
    (:func:`density_grid_size` cells ``nu`` along u and ``nv`` along v, cell
    size ``1 / (n * cell_rad)`` wavelengths), as WSClean's ``ImageWeights``
    (wsclean/gridding/imageweights.h, ``uvToXY``/``isWithinLimits``) lays it
    out: a row with ``v < 0`` is mirrored to ``(-u, -v)`` (each visibility is
    counted once, and shares its cell with its conjugate), and a sample falls
    in column ``floor(u nu cell + nu/2)`` and row ``floor(v nv cell)``, so
    cells have their edges, not their centres, on whole multiples of the cell
    size. ``shape`` is ``(nv // 2, nu)``; cell ``k = row * nu + column``
    (int64). Samples off the grid (``|u|`` or ``|v|`` beyond half the sampling
    rate of the image, ``1 / (2 cell_rad)``), flagged ones and ones of weight
    0 get cell 0 and ``usable`` False.
    """
    nu = density_grid_size(grid.npix_x, padding)
    nv = density_grid_size(grid.npix_y, padding)
    shape = (nv // 2, nu)
    usable = ~vis.flag.T & (vis.weight.T > 0)
    # Mirror whole rows (the sign of v does not depend on the channel).
    u_m = np.array(vis.uvw[:, 0], dtype=np.float64)
    v_m = np.array(vis.uvw[:, 1], dtype=np.float64)
    mirrored = v_m < 0
    np.negative(u_m, out=u_m, where=mirrored)
    np.negative(v_m, out=v_m, where=mirrored)
    wavelength = SPEED_OF_LIGHT / np.asarray(vis.freqs, dtype=np.float64)
    # One (nchan, nrow) array per axis, scaled in place (u / lambda * n * cell).
    iu = u_m[None, :] / wavelength[:, None]
    iu *= nu
    iu *= grid.cell_rad
    iu += nu // 2
    np.floor(iu, out=iu)
    iv = v_m[None, :] / wavelength[:, None]
    iv *= nv
    iv *= grid.cell_rad
    np.floor(iv, out=iv)
    usable &= (iu >= 0) & (iu < nu) & (iv < nv // 2)
    iv *= nu
    iv += iu
    cells = iv.astype(np.int64)
    cells[~usable] = 0
    return cells, usable, shape


def weight_density(
    vis: Visibilities, grid: Grid, *, padding: float = DENSITY_PADDING
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gridded natural-weight density ``W_k`` (Jy^-2, float64 array of :func:`uv_cells`'s shape)
    and its ``cells`` and ``usable`` (channel-major), from which ``W`` at each sample is
    ``W.flat[cells]``."""
    cells, usable, shape = uv_cells(vis, grid, padding=padding)
    natural = np.ascontiguousarray(vis.weight.T, dtype=np.float64)
    natural[~usable] = 0.0
    density = np.bincount(cells.ravel(), weights=natural.ravel(), minlength=shape[0] * shape[1])
    return density.reshape(shape), cells, usable


def rank_filter(
    values: np.ndarray,
    level: float = RANK_FILTER_LEVEL,
    size: int = RANK_FILTER_SIZE,
    *,
    only: np.ndarray | None = None,
) -> np.ndarray:
    """WSClean's weighting rank filter on a density-grid correction (a copy).

    Every nonzero cell greater than ``level`` times the mean of the nonzero
    cells in its window is set to that: the window spans ``[x - size//2,
    x + size//2)`` by ``[y - size//2, y + size//2)`` cells, cut at the edges of
    the half-plane grid (``ImageWeights::RankFilter`` and ``windowMean`` in
    wsclean/gridding/imageweights.cpp; WSClean applies it by default with
    level 3 and size 16, ``-weighting-rank-filter``). Window sums come from
    summed-area tables, so the cost does not depend on ``size``. ``only``
    (bool, the grid's shape) limits the clipping to those cells, e.g. the
    occupied ones, which are all that per-sample weights read; the window
    means still use every cell.
    """
    values = np.asarray(values, dtype=np.float64)
    out = values.copy()
    if level < 1.0:
        return out
    half = int(size) // 2
    rows, cols = np.nonzero(values if only is None else (values != 0) & only)
    if rows.size == 0:
        return out
    ny, nx = values.shape
    y1, y2 = np.maximum(rows - half, 0), np.minimum(rows + half, ny)
    x1, x2 = np.maximum(cols - half, 0), np.minimum(cols + half, nx)

    def window_sums(a):
        table = np.zeros((ny + 1, nx + 1))  # table[y, x] = sum of a[:y, :x]
        table[1:, 1:] = a
        for y in range(2, ny + 1):  # row by row: faster than numpy's cumsum along axis 0
            np.add(table[y], table[y - 1], out=table[y])
        np.cumsum(table, axis=1, out=table)
        return table[y2, x2] - table[y1, x2] - table[y2, x1] + table[y1, x1]

    nonzero = values != 0
    if nonzero.all():  # Briggs: every cell counts, the count is the window's area
        count = ((y2 - y1) * (x2 - x1)).astype(np.float64)
    else:
        count = window_sums(nonzero.astype(np.float64))
    with np.errstate(divide="ignore", invalid="ignore"):  # size < 2: empty windows
        limit = window_sums(values) / count
    limit *= float(level)
    clip = values[rows, cols] > limit
    out[rows[clip], cols[clip]] = limit[clip]
    return out


def imaging_weights(
    vis: Visibilities,
    grid: Grid,
    weighting: Weighting | None = None,
    *,
    padding: float = DENSITY_PADDING,
    rank_filter_level: float = RANK_FILTER_LEVEL,
    rank_filter_size: int = RANK_FILTER_SIZE,
) -> np.ndarray:
    """Imaging weights float32 (nrow, nchan) in Jy^-2 (natural x density correction).

    Flagged samples get weight 0. ``grid`` (its npix and cell) and ``padding``
    set the density grid (:func:`uv_cells`); the defaults are WSClean's
    (``-padding 1.2``, ``-weighting-rank-filter 3``, size 16), so that the
    weights equal those WSClean computes for the same Measurement Set and
    image size and scale. For uniform and Briggs weighting, samples beyond the
    density grid (``|u|`` or ``|v|`` > 1 / (2 cell_rad)) get weight 0, as in
    WSClean. ``rank_filter_level`` < 1 turns the rank filter off.
    """
    weighting = Weighting() if weighting is None else Weighting.from_any(weighting)
    natural = np.where(vis.flag, np.float32(0.0), np.asarray(vis.weight, dtype=np.float32))
    if weighting.scheme == "natural":
        return natural
    density, cells, usable = weight_density(vis, grid, padding=padding)
    occupied_rows = np.flatnonzero(density.any(axis=1))
    if occupied_rows.size == 0:  # nothing usable on the grid
        return np.zeros_like(natural)
    # Work on the occupied part of the grid, widened by the rank filter's half
    # window: every window of an occupied cell lies inside it, and no other cell
    # is read back, so the result is that of the whole grid at a fraction of the cost.
    half = int(rank_filter_size) // 2 if rank_filter_level >= 1.0 else 0
    r0 = max(int(occupied_rows[0]) - half, 0)
    r1 = min(int(occupied_rows[-1]) + 1 + half, density.shape[0])
    occupied_cols = np.flatnonzero(density[r0:r1].any(axis=0))
    c0 = max(int(occupied_cols[0]) - half, 0)
    c1 = min(int(occupied_cols[-1]) + 1 + half, density.shape[1])
    box = density[r0:r1, c0:c1]
    occupied = box > 0
    if weighting.scheme == "briggs":
        sum_w = float(box.sum())  # the natural weights on the grid (WSClean's totalSum)
        f2 = (5.0 * 10.0 ** (-weighting.robust)) ** 2 / (float(np.sum(box**2)) / sum_w)
        correction = box * f2
        correction += 1.0
        np.divide(1.0, correction, out=correction)  # every cell, 1 where empty (as WSClean)
    else:
        correction = np.zeros_like(box)
        np.divide(1.0, box, out=correction, where=occupied)
    density[r0:r1, c0:c1] = rank_filter(
        correction, rank_filter_level, rank_filter_size, only=occupied
    )
    out = density.ravel()[cells]  # the correction per sample, channel-major (nchan, nrow)
    out *= vis.weight.T
    out[~usable] = 0.0
    return np.ascontiguousarray(out.T, dtype=np.float32)


def unflagged_weights(vis: Visibilities, imaging_weight: np.ndarray) -> np.ndarray:
    """``imaging_weight`` as float32 (nrow, nchan), checked against ``vis``, 0 where flagged."""
    imaging_weight = np.asarray(imaging_weight, dtype=np.float32)
    if imaging_weight.shape != vis.vis.shape:
        raise InputError(
            "imaging",
            "imaging_weight",
            f"shape {imaging_weight.shape} does not match visibilities {vis.vis.shape}.",
            "Compute weights with imaging_weights(vis, grid, weighting).",
        )
    if not vis.flag.any():
        return imaging_weight
    return np.where(vis.flag, np.float32(0.0), imaging_weight)


def weight_norm(vis: Visibilities, imaging_weight: np.ndarray) -> float:
    """Sum of imaging weights of unflagged samples: the raw PSF peak (Jy^-2)."""
    w = unflagged_weights(vis, imaging_weight)
    norm = float(w.sum(dtype=np.float64))
    if not norm > 0:
        raise InputError(
            "imaging",
            "weights",
            "every visibility is flagged or has zero weight.",
            "Lower the elevation limit or the RFI fraction, or observe longer.",
        )
    return norm
