"""Imaging weights: natural, uniform and Briggs.

Density weighting (uniform, Briggs) follows Briggs (1995, PhD thesis, §3) in
the form the CASA and WSClean documentation give: the natural weights are
summed into cells of the uv grid of the image (cell size ``1/(npix * cell)``
wavelengths, one half-plane, so a visibility and its conjugate share a cell),
giving a density ``W_k``; then::

    uniform: w_i / W_k
    briggs:  w_i / (1 + W_k f^2),  f^2 = (5 * 10^-R)^2 / (sum_k W_k^2 / sum_i w_i)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from meersim.errors import InputError
from meersim.grid import Grid
from meersim.types import Visibilities

SPEED_OF_LIGHT = 299792458.0  # m/s
WEIGHTING_SCHEMES = ("natural", "uniform", "briggs")


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


def uv_cells(vis: Visibilities, grid: Grid) -> tuple[np.ndarray, np.ndarray, int]:
    """Folded uv cell of every sample: ``(cells, usable, ncells)``, channel-major (nchan, nrow).

    Cell size is ``1 / (npix * cell_rad)`` wavelengths along each axis. A
    visibility and its Hermitian conjugate land in the same cell: samples with
    ``iu < 0`` (or ``iu == 0`` and ``iv < 0``) are mirrored. Cell
    ``k = iu * nv + (iv - iv_min)`` (int64), where ``[iv_min, iv_min + nv)`` is
    the v range the usable samples (unflagged, weight > 0) span, so none falls
    off the grid; unusable samples get cell 0 and ``usable`` False.
    """
    usable = ~vis.flag.T & (vis.weight.T > 0)
    if not usable.any():
        return np.zeros(usable.shape, dtype=np.int64), usable, 1
    per_wavelength = np.asarray(vis.freqs, dtype=np.float64) / SPEED_OF_LIGHT
    # One (nchan, nrow) pass per axis, in place (u and v scale with frequency):
    # fresh arrays of this size cost more in page faults than in arithmetic.
    iu = np.multiply.outer(per_wavelength * (grid.npix_x * grid.cell_rad), vis.uvw[:, 0])
    iv = np.multiply.outer(per_wavelength * (grid.npix_y * grid.cell_rad), vis.uvw[:, 1])
    np.rint(iu, out=iu)
    np.rint(iv, out=iv)
    # Mirror onto iu >= 0: iu and iv are whole numbers, so iu + sign(iv)/4 has the
    # sign of iu, or of iv where iu = 0 (and is +0 where both are 0).
    sign = np.sign(iv)
    sign *= 0.25
    sign += iu
    np.copysign(1.0, sign, out=sign)
    iu *= sign
    iv *= sign
    all_usable = bool(usable.all())
    used_iv = iv if all_usable else iv[usable]
    iv_min, iv_max = float(used_iv.min()), float(used_iv.max())
    nv = int(iv_max - iv_min) + 1
    iu *= nv
    iv -= iv_min
    iu += iv
    if not all_usable:
        iu[~usable] = 0.0
    cells = iu.astype(np.int64)
    return cells, usable, int(cells.max()) + 1


def weight_density(vis: Visibilities, grid: Grid) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gridded natural-weight density ``W_k`` (Jy^-2, float64 flat array) and :func:`uv_cells`'s
    ``cells`` and ``usable`` (channel-major), from which ``W`` at each sample is ``W[cells]``."""
    cells, usable, ncells = uv_cells(vis, grid)
    natural = np.ascontiguousarray(vis.weight.T, dtype=np.float64)  # zeroed where unusable
    if not usable.all():
        natural[~usable] = 0.0
    density = np.bincount(cells.ravel(), weights=natural.ravel(), minlength=ncells)
    return density, cells, usable


def imaging_weights(
    vis: Visibilities, grid: Grid, weighting: Weighting | None = None
) -> np.ndarray:
    """Imaging weights float32 (nrow, nchan) in Jy^-2 (natural x density correction).

    Flagged samples get weight 0. ``grid`` sets the uv cell size (its npix and
    cell), as in CASA/WSClean where the density grid is the image's uv grid.
    """
    weighting = Weighting() if weighting is None else Weighting.from_any(weighting)
    natural = np.where(vis.flag, np.float32(0.0), np.asarray(vis.weight, dtype=np.float32))
    if weighting.scheme == "natural":
        return natural
    density, cells, usable = weight_density(vis, grid)
    local = density[cells]  # channel-major (nchan, nrow)
    if weighting.scheme == "briggs":
        sum_w = float(natural.sum(dtype=np.float64))
        sum_density_sq = float(np.sum(density**2))
        if sum_w <= 0 or sum_density_sq <= 0:
            return natural
        f2 = (5.0 * 10.0 ** (-weighting.robust)) ** 2 / (sum_density_sq / sum_w)
        local *= f2
        local += 1.0
    with np.errstate(divide="ignore", invalid="ignore"):  # unusable samples may sit on W = 0
        out = np.divide(natural.T, local)
    if not usable.all():
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
