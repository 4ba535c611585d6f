"""The canonical source table (DESIGN.md §2).

One row per source *component*; components of one physical source share
``source_id``. Units are fixed: positions and angles in deg, sizes (FWHM,
intrinsic/deconvolved) in arcsec, flux in Jy at ``ref_freq`` (Hz).
"""

from __future__ import annotations

import astropy.units as u

# name -> (unit, numpy dtype, description)
CANONICAL_COLUMNS: dict[str, tuple] = {
    "ra": (u.deg, "f8", "Right ascension (ICRS)"),
    "dec": (u.deg, "f8", "Declination (ICRS)"),
    "flux": (u.Jy, "f8", "Total flux density at ref_freq"),
    "ref_freq": (u.Hz, "f8", "Reference frequency of flux"),
    "spectral_index": (None, "f8", "alpha in S ~ nu^alpha"),
    "major": (u.arcsec, "f8", "Intrinsic FWHM major axis (0 for point)"),
    "minor": (u.arcsec, "f8", "Intrinsic FWHM minor axis (0 for point)"),
    "pa": (u.deg, "f8", "Position angle of major axis, east of north"),
    "shape": (None, "U12", "Drawing shape: point|gaussian|exponential|sersic"),
    "source_id": (None, "i8", "Physical source id shared by its components"),
    "morph_class": (None, "U12", "Morphology class of the physical source"),
}

# Optional truth columns that synthetic catalogs always carry.
OPTIONAL_COLUMNS: dict[str, tuple] = {
    "sersic_n": (None, "f8", "Sersic index (1 = exponential disc)"),
    "component": (None, "U12", "Component role: point|disc|core|jet|lobe|hotspot|gaussian"),
}

SHAPES = ("point", "gaussian", "exponential", "sersic")
MORPH_CLASSES = ("point", "sfg", "fr1", "fr2", "unknown")
