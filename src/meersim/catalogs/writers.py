"""Write the canonical catalog in PyBDSF source-list form: FITS, ECSV or CSV by extension."""

from __future__ import annotations

import io
import re
from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.io import fits
from astropy.table import Table

from meersim.catalogs.readers import read_catalog
from meersim.catalogs.schema import (
    CANONICAL_COLUMNS,
    DEFAULT_REF_FREQ_HZ,
    FITS_STRUCTURAL_KEYS,
    MEERSIM_FORMAT_VERSION,
    check_catalog,
)
from meersim.errors import InputError
from meersim.io import atomic_write, write_text

WRITE_FORMATS = {".fits": "fits", ".fit": "fits", ".fts": "fits", ".ecsv": "ecsv", ".csv": "csv"}
# fixed units of the written columns; CSV cannot carry them, so the reader assumes these
CSV_UNITS_NOTE = "angles deg (major/minor arcsec), Total_flux Jy, ref_freq Hz"


def catalog_write_format(path) -> str:
    """``fits``, ``ecsv`` or ``csv`` from the extension of ``path``; others are refused."""
    suffix = Path(path).suffix.lower()
    if suffix not in WRITE_FORMATS:
        raise InputError(str(path), "extension", f"{suffix or 'none'!r} is not a catalog format "
                         "meersim writes.", "Name the file .fits, .ecsv or .csv.")  # fmt: skip
    return WRITE_FORMATS[suffix]


def write_catalog(table, path, overwrite: bool = True) -> Path:
    """Write a canonical catalog as a PyBDSF-style source list; returns the path.

    The format follows the extension: ``.fits`` (FITS table, units in TUNIT),
    ``.ecsv`` (units and header in the ECSV header) or ``.csv`` (comment lines
    ``# MEERSIM`` and the reference frequency, then a header row; units fixed as
    :data:`CSV_UNITS_NOTE`). Any other extension is refused.

    Columns: Source_id, Isl_id, Gaus_id, RA, DEC (deg), Total_flux (Jy), Maj, Min, PA,
    DC_Maj, DC_Min, DC_PA (deg; intrinsic sizes), Maj, Min, PA (deg; the measured sizes
    when ``table`` came from a source finder, else = DC_* since truth has no beam),
    S_Code (S single-component, M multi), then truth columns major/minor (arcsec, kept
    so that a round trip is bit-exact), shape, morph_class, spectral_index, ref_freq (Hz),
    sersic_n, component, then any extra columns of ``table`` that do not clash.
    Header: FREQ0 (Hz, median ref_freq), MEERSIM (format version), and short scalar meta.
    Written atomically (temporary file, then rename).
    """
    path = Path(path)
    source = str(path)
    kind = catalog_write_format(path)
    check_catalog(table, "table to write")
    if path.exists() and not overwrite:
        raise InputError(source, "path", "file exists.", "pass overwrite=True or a new name.")
    n = len(table)
    source_id = np.asarray(table["source_id"], dtype=np.int64)
    ids, counts = np.unique(source_id, return_counts=True)
    multi = dict(zip(ids.tolist(), (counts > 1).tolist(), strict=False))
    major_deg = table["major"].to(u.deg)
    minor_deg = table["minor"].to(u.deg)
    pa = table["pa"].to(u.deg)
    shape = np.asarray(table["shape"]).astype(str)

    out = Table()
    out["Source_id"] = source_id
    out["Isl_id"] = source_id
    out["Gaus_id"] = np.arange(n, dtype=np.int64)
    out["RA"] = table["ra"].to(u.deg)
    out["DEC"] = table["dec"].to(u.deg)
    out["Total_flux"] = table["flux"].to(u.Jy)
    # Maj/Min/PA are measured (beam-convolved) sizes in PyBDSF; keep a source catalog's own
    # and fall back to the intrinsic ones only for truth, which has no beam
    measured = _measured_sizes(table)
    out["Maj"] = measured.get("Maj", major_deg)
    out["Min"] = measured.get("Min", minor_deg)
    out["PA"] = measured.get("PA", pa)
    out["DC_Maj"] = major_deg
    out["DC_Min"] = minor_deg
    out["DC_PA"] = pa
    out["S_Code"] = np.array(["M" if multi[s] else "S" for s in source_id.tolist()], dtype="U1")
    out["major"] = table["major"].to(u.arcsec)
    out["minor"] = table["minor"].to(u.arcsec)
    out["shape"] = shape
    out["morph_class"] = np.asarray(table["morph_class"]).astype(str)
    out["spectral_index"] = np.asarray(table["spectral_index"], dtype=float)
    out["ref_freq"] = table["ref_freq"].to(u.Hz)
    if "sersic_n" in table.colnames:
        out["sersic_n"] = np.asarray(table["sersic_n"], dtype=float)
    else:
        out["sersic_n"] = np.select([shape == "gaussian", shape == "exponential"], [0.5, 1.0], 0.0)
    if "component" in table.colnames:
        out["component"] = np.asarray(table["component"]).astype(str)
    else:
        out["component"] = shape
    taken = {c.lower() for c in out.colnames} | {c.lower() for c in CANONICAL_COLUMNS}
    for name in table.colnames:
        column = table[name]
        if name.lower() in taken or getattr(column, "ndim", 1) != 1:
            continue
        if np.asarray(column).dtype.kind not in "biufUSO":
            continue
        out[name] = column
        taken.add(name.lower())

    header = fits.Header()
    header["MEERSIM"] = (MEERSIM_FORMAT_VERSION, "meersim catalog format version")
    freq = table["ref_freq"].to_value(u.Hz)
    header["FREQ0"] = (float(np.median(freq)) if n else DEFAULT_REF_FREQ_HZ, "[Hz] ref freq")
    for key, value in table.meta.items():
        key_upper = str(key).upper()
        if (
            len(key_upper) <= 8
            and re.fullmatch(r"[A-Z0-9_\-]+", key_upper)
            and key_upper not in header
            and not FITS_STRUCTURAL_KEYS.match(key_upper)
            and isinstance(value, (str, int, float, bool, np.integer, np.floating))
        ):
            header[key_upper] = value
    if kind == "fits":
        hdu = fits.table_to_hdu(out)
        hdu.header.update(header)
        hdu.name = "SOURCES"
        with atomic_write(path) as fh:
            fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(fh)
    elif kind == "ecsv":
        out.meta = {key: header[key] for key in header}
        text = io.StringIO()
        out.write(text, format="ascii.ecsv")
        write_text(path, text.getvalue())
    else:
        text = io.StringIO()
        text.write(f"# MEERSIM {MEERSIM_FORMAT_VERSION} (meersim catalog; {CSV_UNITS_NOTE})\n")
        text.write(f"# Reference frequency: {header['FREQ0']!r} Hz\n")
        out.write(text, format="ascii.csv")
        write_text(path, text.getvalue())
    return path


def _measured_sizes(table) -> dict:
    """A read catalog's own measured ``Maj``/``Min``/``PA`` columns (deg), when it has them."""
    out = {}
    for name in ("Maj", "Min", "PA"):
        if name in table.colnames and getattr(table[name], "unit", None) is not None:
            try:
                out[name] = table[name].to(u.deg)
            except u.UnitConversionError:
                continue
        elif name in table.colnames and table.meta.get("format") == "pybdsf":
            out[name] = np.asarray(table[name], dtype=float) * u.deg  # PyBDSF's unit (ASCII)
    return out


def convert_catalog(input_path, output_path, format: str | None = None) -> tuple[Path, Table]:
    """Read any supported catalog (``format`` None = auto-detect) and write it in
    meersim's canonical form; returns the written path and the canonical table."""
    catalog_write_format(output_path)  # refuse an unknown extension before reading
    table = read_catalog(input_path, format=format)
    return write_catalog(table, output_path), table
