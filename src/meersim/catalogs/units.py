"""Lenient unit parsing for survey catalogs (upper-case FITS TUNITs such as ``DEG``, ``JY``)."""

from __future__ import annotations

import astropy.units as u

from meersim.errors import InputError

# Lower-case spellings seen in survey catalogs -> astropy unit. Matching is
# case-insensitive, so 'MJY' reads as milli-jansky (mega-jansky never occurs
# in radio source catalogs).
_ALIASES = {
    "jy": u.Jy,
    "jansky": u.Jy,
    "mjy": u.mJy,
    "millijansky": u.mJy,
    "ujy": u.uJy,
    "µjy": u.uJy,
    "μjy": u.uJy,
    "microjy": u.uJy,
    "deg": u.deg,
    "degree": u.deg,
    "degrees": u.deg,
    "arcsec": u.arcsec,
    "arcsecond": u.arcsec,
    "arcseconds": u.arcsec,
    "asec": u.arcsec,
    '"': u.arcsec,
    "arcmin": u.arcmin,
    "arcminute": u.arcmin,
    "amin": u.arcmin,
    "rad": u.rad,
    "radian": u.rad,
    "hz": u.Hz,
    "khz": u.kHz,
    "mhz": u.MHz,
    "ghz": u.GHz,
}
_PER_BEAM = ("/beam", "/bm", " beam-1", " beam^-1", "/bmaj", " per beam")


def parse_unit(text) -> u.UnitBase | None:
    """Map a catalog unit string to an astropy unit; None when empty or unknown.

    Per-beam units (``Jy/beam``, ``JY/BEAM``) come back as ``unit / u.beam``.
    """
    if text is None:
        return None
    if isinstance(text, u.UnitBase):
        return text
    raw = str(text).strip()
    if not raw:
        return None
    key = raw.lower()
    for suffix in _PER_BEAM:
        if key.endswith(suffix):
            base = parse_unit(raw[: len(raw) - len(suffix)])
            return None if base is None else base / u.beam
    if key in _ALIASES:
        return _ALIASES[key]
    parsed = u.Unit(raw, parse_strict="silent")
    if isinstance(parsed, u.UnrecognizedUnit):
        return None
    return parsed


def to_canonical(values, unit, expected, source: str, column: str, default=None):
    """Convert ``values`` in ``unit`` (or ``default`` when None) to the ``expected`` unit.

    Raises InputError when the unit cannot describe that quantity (e.g. a flux
    column in degrees). Per-beam flux units are accepted for total flux and read
    as Jy (several catalogs label integrated flux columns ``Jy/beam``).
    Returns a float ndarray in ``expected`` units.
    """
    import numpy as np

    unit = unit if unit is not None else default
    if unit is None:
        raise InputError(
            source, column, "has no unit.", f"set TUNIT for this column (expected {expected})."
        )
    if expected.is_equivalent(u.Jy) and unit.is_equivalent(u.Jy / u.beam):
        unit = unit * u.beam
    if not unit.is_equivalent(expected):
        raise InputError(
            source,
            column,
            f"unit '{unit}' is impossible for this column (needs something convertible to "
            f"'{expected}').",
            "fix the column's TUNIT or pick the right column.",
        )
    factor = unit.to(expected)
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise InputError(source, column, "holds values that are not numbers.",
                         "Fix the column (empty cells read as text).") from None  # fmt: skip
    return array if factor == 1.0 else array * factor
