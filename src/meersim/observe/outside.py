"""Sources beyond the image: their visibilities by direct Fourier sum, their dirty image.

A bright source outside the imaged field still enters every visibility; its PSF
sidelobes spread over the field and CLEAN, whose model lives on the image grid,
cannot remove them. :func:`outside_visibilities` predicts such sources exactly,
with the measurement equation of :mod:`meersim.imaging.gridder` (Thompson, Moran &
Swenson 2017, eq. 3.7)::

    V(u, v, w) = sum_s S_s(nu) g(l_s, m_s, nu) exp(-2 pi i [u l_s + v m_s + w (n_s - 1)])

with uvw in wavelengths, S_s the source's flux at the channel frequency and g the
katbeam primary-beam gain at its direction cosines. Components are treated as points.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from meersim.errors import InputError
from meersim.grid import Grid
from meersim.imaging.images import make_dirty
from meersim.imaging.weighting import SPEED_OF_LIGHT
from meersim.observe.primary_beam import primary_beam_gain
from meersim.types import Visibilities


def _column(catalog, name: str, unit: str) -> np.ndarray:
    if name not in catalog.colnames:
        raise InputError("outside sources", name, "column missing.",
                         "Pass a canonical catalog (meersim.catalogs).")  # fmt: skip
    col = catalog[name]
    return np.asarray(col.to_value(unit) if hasattr(col, "to_value") else col, dtype=np.float64)


def outside_visibilities(vis: Visibilities, grid: Grid, catalog) -> np.ndarray:
    """Noise-free visibilities (Jy) complex64 (nrow, nchan) of the catalog's components.

    ``grid`` gives the phase centre; ``catalog`` is canonical (ra/dec deg, flux Jy at
    ref_freq Hz, spectral_index); every component counts as a point at its position.
    """
    ra, dec = _column(catalog, "ra", "deg"), _column(catalog, "dec", "deg")
    flux = _column(catalog, "flux", "Jy")
    ref = _column(catalog, "ref_freq", "Hz")
    alpha = np.asarray(catalog["spectral_index"], dtype=np.float64)
    l, m = grid.radec_to_lm(ra, dec)
    n_minus_1 = np.sqrt(np.maximum(0.0, 1.0 - l**2 - m**2)) - 1.0
    out = np.zeros(vis.vis.shape, dtype=np.complex64)
    uvw = np.asarray(vis.uvw, dtype=np.float64)
    # phase per metre of baseline for each source: [nsrc] dotted with uvw [nrow, 3]
    delay = uvw @ np.stack([l, m, n_minus_1])  # metres, [nrow, nsrc]
    for c, f in enumerate(np.asarray(vis.freqs, dtype=np.float64)):
        gain = primary_beam_gain(l, m, f)
        s = flux * (f / ref) ** alpha * gain  # apparent Jy at f
        phase = (-2.0 * np.pi * f / SPEED_OF_LIGHT) * delay
        out[:, c] = (np.exp(1j * phase) @ s).astype(np.complex64)
    return out


def outside_dirty(vis: Visibilities, grid: Grid, imaging_weight: np.ndarray, norm: float,
                  outside_vis: np.ndarray, nthreads: int | None = None) -> np.ndarray:  # fmt: skip
    """Dirty image float32 [ny, nx] (Jy/beam, PSF peak 1) of ``outside_vis`` alone."""
    alone = dataclasses.replace(vis, vis=outside_vis)
    return make_dirty(alone, grid, imaging_weight, norm=norm, nthreads=nthreads)[0]
