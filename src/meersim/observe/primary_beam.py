"""MeerKAT L-band primary beam from katbeam (``JimBeam('MKAT-AA-L-JIM-2020')``).

katbeam models each co-polarised *voltage* pattern (HH, VV) as a cosine-tapered
aperture with measured frequency-dependent squint and FWHM (holography at 60°
elevation); ``JimBeam.I(x, y, f)`` = ½(|HH|² + |VV|²) is the Stokes I *power*
beam, ≈ 1 at the pointing centre (0.9999: the squints are < 1′). x and y are
offsets in degrees; meersim passes x = l (east) and y = m (north), in degrees
of direction cosine. The beam of an alt-az dish rotates on the sky with
parallactic angle during a track; meersim ignores this (the x/y FWHM differ by
only ~3 %, e.g. 64.3′ × 66.6′ at 1300 MHz).

The model's table covers 900–1650 MHz; outside it katbeam holds the end
values (``np.interp``), so the beam stops shrinking/growing. meersim clamps the
frequency to that range explicitly so this is visible in one place.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from functools import lru_cache

import numpy as np

KATBEAM_MODEL = "MKAT-AA-L-JIM-2020"
KATBEAM_FREQ_RANGE_MHZ = (900.0, 1650.0)


@lru_cache(maxsize=1)
def _jimbeam():
    from katbeam import JimBeam

    return JimBeam(KATBEAM_MODEL)


def clamp_freq_mhz(freq_hz: float) -> float:
    """Frequency in MHz clamped to the katbeam L-band table (900–1650 MHz)."""
    lo, hi = KATBEAM_FREQ_RANGE_MHZ
    return float(np.clip(float(freq_hz) / 1e6, lo, hi))


def primary_beam_gain(l, m, freq_hz: float) -> np.ndarray:
    """Primary-beam power gain (≈1 on axis) at direction cosines ``l`` (east), ``m`` (north).

    ``l``, ``m`` are dimensionless direction cosines (arrays broadcast together);
    ``freq_hz`` in Hz (clamped to 900–1650 MHz). Returns float64.
    """
    l, m = np.asarray(l, dtype=np.float64), np.asarray(m, dtype=np.float64)
    shape = np.broadcast_shapes(l.shape, m.shape)
    # Convert before broadcasting: a row of l and a column of m cost O(nx + ny).
    x_deg = np.degrees(np.arcsin(np.clip(l, -1.0, 1.0)))
    y_deg = np.degrees(np.arcsin(np.clip(m, -1.0, 1.0)))
    gain = np.asarray(_jimbeam().I(x_deg, y_deg, clamp_freq_mhz(freq_hz)), dtype=np.float64)
    return np.broadcast_to(gain, shape)


# Recently computed beam images, keyed by (celestial grid, frequency): one
# observation needs each channel's beam twice (prediction, band-averaged beam)
# and a dataset reuses one grid for many fields. Bounded by bytes, not entries,
# so large grids cannot pile up.
_CACHE_MAX_BYTES = 256 * 2**20
_cache: OrderedDict = OrderedDict()
_cache_lock = threading.Lock()


# Spline node spacing (arcsec) for large grids. The katbeam pattern varies on
# scales of >~ 17' (cos taper period ~1.7 FWHM / 2 pi, FWHM ~ 64'), so a cubic
# spline through exact values every 30" errs by ~(0.5'/17')^4 ~ 1e-9, below
# float32 rounding (measured: max |difference| 6e-8 = 1 ulp against direct
# evaluation on 1024^2 and 4096^2 grids of 1.5", 900-1670 MHz).
SPLINE_NODE_ARCSEC = 30.0
_MIN_NODE_STEP_PX = 4


def _beam_on_grid(grid, freq_hz: float) -> np.ndarray:
    """Beam gain float32 [ny, nx]: exact katbeam values, or a cubic spline through them."""
    # On the SIN grid l depends on the column only and m on the row only.
    cx, cy = grid.centre_pixel
    step = int(SPLINE_NODE_ARCSEC // grid.cell_arcsec)
    if step < _MIN_NODE_STEP_PX or min(grid.npix_x, grid.npix_y) < 4 * step:
        x = np.arange(grid.npix_x, dtype=np.float64)
        y = np.arange(grid.npix_y, dtype=np.float64)
        gain = primary_beam_gain(
            -(x - cx)[None, :] * grid.cell_rad, (y - cy)[:, None] * grid.cell_rad, freq_hz
        )
        return np.ascontiguousarray(gain, dtype=np.float32)
    # Exact values on nodes every ``step`` pixels (covering the grid), then a
    # separable cubic spline: image = Wy @ nodes @ Wx^T.
    xn = np.arange(0, grid.npix_x - 1 + step, step, dtype=np.float64)
    yn = np.arange(0, grid.npix_y - 1 + step, step, dtype=np.float64)
    nodes = primary_beam_gain(
        -(xn - cx)[None, :] * grid.cell_rad, (yn - cy)[:, None] * grid.cell_rad, freq_hz
    )
    wx = _spline_weights(grid.npix_x, step)
    wy = _spline_weights(grid.npix_y, step)
    # One BLAS thread: after a threaded product OpenBLAS's idle threads spin for a
    # while and take the cores from the ducc0 gridder call that follows (on 2 cores
    # a dirty2vis right after a 2-thread product takes 1.25-1.5x as long; the check
    # is in bench/observe.py). The product is ~3 ms on one thread either way.
    with _blas_controller().limit(limits=1, user_api="blas"):
        return (wy @ nodes @ wx.T).astype(np.float32)


@lru_cache(maxsize=1)
def _blas_controller():
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


@lru_cache(maxsize=8)
def _spline_weights(npix: int, step: int) -> np.ndarray:
    """Matrix [npix, nodes] taking values on nodes 0, step, 2 step, ... to a cubic spline on pixels.

    Depends on the grid size alone, so every channel (and field) of one grid shares it.
    """
    from scipy.interpolate import CubicSpline

    nodes = np.arange(0, npix - 1 + step, step, dtype=np.float64)
    weights = CubicSpline(nodes, np.eye(nodes.size), axis=0)(np.arange(npix, dtype=np.float64))
    weights.flags.writeable = False
    return weights


def clear_primary_beam_cache() -> None:
    """Forget the cached beam images (benchmarks use it to time cold runs)."""
    with _cache_lock:
        _cache.clear()


def primary_beam_image(grid, freq_hz: float) -> np.ndarray:
    """Primary-beam gain on ``grid`` (float32 [ny, nx]) at ``freq_hz`` (Hz), centred on its phase centre.

    The result is cached (read-only array; copy it before writing to it).
    """
    key = (grid.npix_x, grid.npix_y, grid.cell_arcsec, grid.ra_deg, grid.dec_deg, float(freq_hz))
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    image = _beam_on_grid(grid, freq_hz)
    image.flags.writeable = False
    with _cache_lock:
        _cache[key] = image
        while sum(a.nbytes for a in _cache.values()) > _CACHE_MAX_BYTES and len(_cache) > 1:
            _cache.popitem(last=False)
    return image


def beam_fwhm_arcmin(freq_hz: float) -> tuple[float, float]:
    """FWHM (arcmin) of the power beam along l and m at ``freq_hz`` (measured on a fine cut)."""
    offsets = np.linspace(0.0, np.radians(2.0), 200001)
    out = []
    for axis in range(2):
        l, m = (offsets, 0 * offsets) if axis == 0 else (0 * offsets, offsets)
        gain = primary_beam_gain(l, m, freq_hz)
        half = np.argmax(gain < 0.5 * gain[0])
        out.append(2.0 * np.degrees(offsets[half]) * 60.0)
    return out[0], out[1]
