"""Plausibility checks of a canonical catalog: impossible values are errors, likely
mistakes (a unit dropped, ids shared across the field) are warnings.

Errors (:func:`check_values`): Dec outside [-90, 90] deg, negative sizes.
Warnings (:func:`warnings_for`):

- a flux column without a unit whose median exceeds 1 Jy: radio source catalogs at
  GHz frequencies have median fluxes of micro- to millijanskys (Hopkins et al. 2003
  counts, docs/architecture.md §3), so such values are most likely mJy read as Jy;
- components sharing one source id that lie more than :data:`SOURCE_SPREAD_ARCMIN`
  from the mean of their source: PyBDSF groups the Gaussians of one island, which at
  MeerKAT resolution spans seconds to a few arcminutes;
- reference frequencies outside 10 MHz - 100 GHz (a frequency in MHz or GHz written
  as Hz).
"""

from __future__ import annotations

import astropy.units as u
import numpy as np

from meersim.errors import InputError

FREQ_RANGE_HZ = (1e7, 1e11)
UNITLESS_FLUX_MEDIAN_JY = 1.0
SOURCE_SPREAD_ARCMIN = 5.0


def _values(table, name, unit) -> np.ndarray:
    column = table[name]
    if getattr(column, "unit", None) is not None:
        return np.asarray(column.to_value(unit), dtype=float)
    return np.asarray(column, dtype=float)


def check_values(table, source: str) -> None:
    """Raise :class:`InputError` for a Dec outside [-90, 90] deg or a negative size."""
    dec = _values(table, "dec", u.deg)
    outside = np.isfinite(dec) & (np.abs(dec) > 90.0)
    if outside.any():
        raise InputError(
            source, "dec",
            f"{int(outside.sum())} row(s) outside [-90, 90] deg (e.g. {dec[outside][0]:g}).",
            "Check the Dec column and its unit (radians? RA and Dec swapped?).",
        )  # fmt: skip
    for name in ("major", "minor"):
        size = _values(table, name, u.arcsec)
        negative = size < 0
        if negative.any():
            raise InputError(
                source, name,
                f"{int(negative.sum())} row(s) have a negative size (e.g. {size[negative][0]:g}).",
                "Sizes are FWHM >= 0; check the column (an error column picked by mistake?).",
            )  # fmt: skip


def unitless_flux_warning(flux_jy: np.ndarray, column: str) -> str | None:
    """A warning when ``column`` had no unit and its median (read as Jy) exceeds 1 Jy."""
    finite = np.asarray(flux_jy, float)
    finite = finite[np.isfinite(finite)]
    if finite.size and np.median(finite) > UNITLESS_FLUX_MEDIAN_JY:
        return (
            f"{column} has no unit and was read as Jy, but its median is "
            f"{np.median(finite):.3g} Jy, far above radio source counts; if the values are "
            "mJy, set the column's unit (TUNIT) to mJy"
        )
    return None


def frequency_warning(freq_hz: np.ndarray, origin: str) -> str | None:
    """A warning when reference frequencies fall outside 10 MHz - 100 GHz."""
    freq = np.asarray(freq_hz, float)
    lo, hi = FREQ_RANGE_HZ
    bad = np.isfinite(freq) & ((freq < lo) | (freq > hi))
    if bad.any():
        return (
            f"reference frequency {freq[bad][0]:.6g} Hz ({origin}) lies outside 10 MHz - 100 GHz; "
            "was it written in MHz or GHz instead of Hz?"
        )
    return None


def source_spread_warning(table) -> str | None:
    """A warning when components sharing a ``source_id`` spread over more than a few arcmin."""
    if len(table) < 2:
        return None
    ids = np.asarray(table["source_id"])
    unique, index, counts = np.unique(ids, return_inverse=True, return_counts=True)
    if not np.any(counts > 1):
        return None
    ra = np.radians(_values(table, "ra", u.deg))
    dec = np.radians(_values(table, "dec", u.deg))
    xyz = np.stack([np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)])
    mean = np.stack([np.bincount(index, weights=c, minlength=len(unique)) for c in xyz])
    mean /= np.maximum(np.linalg.norm(mean, axis=0), 1e-300)
    cosine = np.clip(np.sum(xyz * mean[:, index], axis=0), -1.0, 1.0)
    distance = np.degrees(np.arccos(cosine)) * 60.0  # arcmin
    spread = np.zeros(len(unique))
    np.maximum.at(spread, index, distance)
    wide = spread > SOURCE_SPREAD_ARCMIN
    if not wide.any():
        return None
    worst = int(np.argmax(spread))
    return (
        f"{int(wide.sum())} source id(s) group components lying more than "
        f"{SOURCE_SPREAD_ARCMIN:g} arcmin from their mean (e.g. id {unique[worst]}: "
        f"{int(counts[worst])} components over {spread[worst]:.1f} arcmin); they count as one "
        "source each. Check the Source_id column."
    )
