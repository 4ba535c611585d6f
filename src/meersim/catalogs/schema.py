"""The canonical source table (docs/architecture.md §2).

One row per source *component*; components of one physical source share
``source_id``. Units are fixed: positions and angles in deg, sizes (FWHM,
intrinsic/deconvolved) in arcsec, flux in Jy at ``ref_freq`` (Hz).

Shape conventions (what a renderer must draw for each row):

* ``point``: a delta function carrying ``flux``; ``major``/``minor``/``pa`` are 0
  and ignored.
* ``gaussian``: elliptical Gaussian; ``major``/``minor`` are the FWHM (arcsec)
  along the major/minor axes.
* ``exponential`` and ``sersic``: I(r) ∝ exp[-(r/r0)^(1/n)] with ``n = sersic_n``
  (1 for ``exponential``). ``major``/``minor`` are the **FWHM of the profile**
  along each axis (not the half-light radius), so every shape shares one size
  meaning. Scale radius along the major axis: r0 = major / (2 (ln 2)^n);
  see :func:`sersic_scale_radius`. GalSim ``Sersic(n, scale_radius=r0)`` and
  ``Exponential(scale_radius=r0)`` use this r0. Half-light radius:
  ``galsim.Sersic(n, scale_radius=r0).half_light_radius``.
* Ellipticity: axis ratio q = minor/major. ``minor`` may be 0 while ``major`` > 0
  (PyBDSF sources resolved along one axis only); renderers should floor q at a
  small value (e.g. 0.05) rather than fail.
* ``pa``: degrees east of north (north = +Dec, east = +RA, i.e. counter-clockwise
  on the sky as seen with east to the left), position angle of the major axis.

``flux`` is always the *total* (integrated) flux of the component, and the fluxes
of a source's components sum to the source's flux.
"""

from __future__ import annotations

import re

import astropy.units as u
import numpy as np
from astropy.table import QTable

from meersim.catalogs.plausibility import check_values
from meersim.errors import InputError

FORMATS = ("meersim", "pybdsf", "mightee", "mgcls")
DEFAULT_REF_FREQ_HZ = 1.284e9  # MeerKAT L-band centre (docs/architecture.md §3)
DEFAULT_SPECTRAL_INDEX = -0.7
MEERSIM_FORMAT_VERSION = 1
FITS_STRUCTURAL_KEYS = re.compile(
    r"^(SIMPLE|BITPIX|NAXIS\d*|EXTEND|XTENSION|PCOUNT|GCOUNT|TFIELDS|EXTNAME|"
    r"T(TYPE|FORM|UNIT|DISP|NULL|SCAL|ZERO|DIM)\d+|COMMENT|HISTORY|)$"
)

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
    "sersic_n": (None, "f8", "Sersic index: 1 exponential, 0.5 gaussian, 0 point"),
    "component": (None, "U12", "Component role: point|disc|core|jet|lobe|hotspot|gaussian"),
}

# Columns a component of each shape needs beyond position/flux.
SHAPE_NEEDS = {
    "point": (),
    "gaussian": ("major", "minor", "pa"),
    "exponential": ("major", "minor", "pa"),
    "sersic": ("major", "minor", "pa", "sersic_n"),
}

SHAPES = ("point", "gaussian", "exponential", "sersic")
MORPH_CLASSES = ("point", "sfg", "fr1", "fr2", "unknown")


def sersic_scale_radius(fwhm, n):
    """Scale radius r0 of I ∝ exp[-(r/r0)^(1/n)] whose FWHM is ``fwhm`` (same unit as fwhm).

    At r = FWHM/2 the profile is half its peak: (r/r0)^(1/n) = ln 2, so
    r0 = FWHM / (2 (ln 2)^n).
    """
    return fwhm / (2.0 * np.log(2.0) ** n)


def empty_catalog(n: int = 0, optional: bool = True) -> QTable:
    """A canonical catalog with ``n`` zero-filled rows (and the optional columns if asked)."""
    table = QTable()
    columns = dict(CANONICAL_COLUMNS)
    if optional:
        columns.update(OPTIONAL_COLUMNS)
    for name, (unit, dtype, description) in columns.items():
        data = np.zeros(n, dtype=dtype)
        table[name] = data * unit if unit is not None else data
        table[name].info.description = description
    return table


def check_catalog(table, source: str = "catalog") -> None:
    """Raise :class:`~meersim.errors.InputError` unless ``table`` is a canonical catalog.

    Checks that every canonical column exists with a unit convertible to the
    canonical one, that shapes are known, fluxes finite and >= 0, Dec within
    [-90, 90] deg and sizes >= 0.
    """
    for name, (unit, _dtype, _description) in CANONICAL_COLUMNS.items():
        if name not in table.colnames:
            raise InputError(
                source,
                name,
                "canonical column missing.",
                "build catalogs with meersim.catalogs.read_catalog or synthesize.",
            )
        if unit is not None:
            col_unit = getattr(table[name], "unit", None)
            if col_unit is None or not col_unit.is_equivalent(unit):
                raise InputError(source, name, f"unit {col_unit} is not convertible to {unit}.")
    shapes = set(np.unique(np.asarray(table["shape"]).astype(str))) if len(table) else set()
    unknown = shapes - set(SHAPES)
    if unknown:
        raise InputError(
            source, "shape", f"unknown shape(s) {sorted(unknown)}.", f"use one of {SHAPES}."
        )
    flux = np.asarray(table["flux"].to_value(u.Jy))
    if not np.all(np.isfinite(flux)) or np.any(flux < 0):
        raise InputError(source, "flux", "NaN or negative flux.", "drop those rows.")
    check_values(table, source)
