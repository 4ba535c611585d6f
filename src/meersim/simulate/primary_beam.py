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
    l, m = np.broadcast_arrays(np.asarray(l, dtype=np.float64), np.asarray(m, dtype=np.float64))
    x_deg = np.degrees(np.arcsin(np.clip(l, -1.0, 1.0)))
    y_deg = np.degrees(np.arcsin(np.clip(m, -1.0, 1.0)))
    return np.asarray(_jimbeam().I(x_deg, y_deg, clamp_freq_mhz(freq_hz)), dtype=np.float64)


def primary_beam_image(grid, freq_hz: float) -> np.ndarray:
    """Primary-beam gain on ``grid`` (float32 [ny, nx]) at ``freq_hz`` (Hz), centred on its phase centre."""
    l, m = grid.pixel_lm()
    return primary_beam_gain(l, m, freq_hz).astype(np.float32)


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
