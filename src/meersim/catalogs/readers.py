"""Read survey catalogs into the canonical table.

Supported inputs (auto-detected from the column names, FITS or CSV/ASCII):

* ``pybdsf``: PyBDSF source (srl) and Gaussian (gaul) lists. Maj/Min/PA are FWHM in
  deg; DC_* are the deconvolved sizes (0 = unresolved).
* ``mightee``: MIGHTEE Early Science (NAME, RA, DEC, S_INT, NU_EFF, IM_MAJ, ...).
* ``mgcls``: MGCLS compact-source catalogue (Source_name, Field, RA_deg, Dec_deg,
  Stot_mJy, optional size columns).
* ``meersim``: what :func:`meersim.catalogs.writers.write_catalog` writes (PyBDSF
  columns plus truth columns), or a table that already has the canonical column names.

See docs/catalogs.md for the full column mapping.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.io import ascii as astropy_ascii
from astropy.io import fits
from astropy.table import QTable, Table

from meersim.catalogs.plausibility import (
    FREQ_RANGE_HZ,
    check_values,
    frequency_warning,
    source_spread_warning,
    unitless_flux_warning,
)
from meersim.catalogs.schema import (
    CANONICAL_COLUMNS,
    DEFAULT_REF_FREQ_HZ,
    DEFAULT_SPECTRAL_INDEX,
    FITS_STRUCTURAL_KEYS,
    FORMATS,
    OPTIONAL_COLUMNS,
    SHAPES,
)
from meersim.catalogs.units import parse_unit, to_canonical
from meersim.errors import InputError, MeersimError

_EXPECTED = {
    "pybdsf": "RA, DEC, Total_flux and Source_id (srl) or Gaus_id (gaul)",
    "mightee": "NAME, RA, DEC, S_INT (MIGHTEE Early Science)",
    "mgcls": "Source_name, RA_deg, Dec_deg, Stot_mJy (MGCLS compact catalogue)",
    "meersim": "ra, dec, flux, ... (canonical) or a file written by meersim write_catalog",
}


# ----------------------------------------------------------------------------- loading
class _Raw:
    """A survey table as read from disk: plain columns, unit strings, header cards."""

    def __init__(self, table: Table, units: dict, header: dict, source: str):
        self.table = table
        self.units = units
        self.header = header
        self.source = source
        self.lower = {name.lower(): name for name in table.colnames}

    def has(self, *names) -> bool:
        return all(n.lower() in self.lower for n in names)

    def name(self, name: str) -> str | None:
        return self.lower.get(name.lower())

    def column(self, name: str):
        real = self.name(name)
        if real is None:
            raise InputError(self.source, name, "required column is missing.", self.fix_hint())
        return np.asarray(self.table[real])

    def unit(self, name: str):
        return parse_unit(self.units.get(self.name(name) or name))

    def fix_hint(self) -> str:
        return "rename the column or pass format= explicitly (see docs/catalogs.md)."


def _load_fits(path: Path) -> _Raw:
    try:
        hdul = fits.open(path, memmap=False)
    except OSError as exc:
        raise InputError(str(path), "file", f"cannot be read as FITS ({exc}).") from None
    with hdul:
        table_hdus = [h for h in hdul if isinstance(h, (fits.BinTableHDU, fits.TableHDU))]
        if not table_hdus:
            raise InputError(
                str(path), "HDU", "no table extension found.", "pass a FITS table catalog."
            )
        hdu = table_hdus[0]
        header = {}
        for card_header in (hdul[0].header, hdu.header):
            for key, value in card_header.items():
                if key and not FITS_STRUCTURAL_KEYS.match(key):
                    header[key] = value
        table = Table()
        units = {}
        for col in hdu.columns:
            data = np.asarray(hdu.data[col.name]) if hdu.data is not None else np.array([])
            if data.dtype.kind == "S":
                data = np.char.strip(np.char.decode(data, "ascii", errors="replace"))
            elif data.dtype.kind == "U":
                data = np.char.strip(data)
            if data.dtype.byteorder not in ("=", "|"):
                data = data.astype(data.dtype.newbyteorder("="))
            table[col.name] = data
            units[col.name] = col.unit
    return _Raw(table, units, header, str(path))


_MEERSIM_LINE = re.compile(r"^MEERSIM\s+(\d+)\b")
_FREQ_LINE = re.compile(r"frequency[^:=]*[:=]\s*([0-9.+\-eE]+)\s*(hz|mhz|ghz)?", re.IGNORECASE)


def _split(line: str) -> list[str]:
    return [t.strip() for t in (line.split(",") if "," in line else line.split())]


def _load_ascii(path: Path) -> _Raw:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError as exc:
        raise InputError(str(path), "file", f"cannot be read ({exc}).") from None
    comments = [ln.lstrip()[1:].strip() for ln in lines if ln.lstrip().startswith("#")]
    data_lines = [ln for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
    header = {}
    for text in comments:
        written = _MEERSIM_LINE.match(text)  # a CSV written by write_catalog
        if written:
            header["MEERSIM"] = int(written.group(1))
        match = _FREQ_LINE.search(text)
        if match and "FREQ0" not in header:
            scale = {"mhz": 1e6, "ghz": 1e9}.get((match.group(2) or "hz").lower(), 1.0)
            header["FREQ0"] = float(match.group(1)) * scale
    # PyBDSF csv/ascii: the column-name row is the last '#' line naming RA.
    names = None
    for text in comments:
        tokens = _split(text)
        if len(tokens) >= 3 and any(t.lower() in ("ra", "ra_deg") for t in tokens):
            names = tokens
    if names is None:
        if not data_lines:
            raise InputError(str(path), "file", "is empty.", "pass a catalog with rows.")
        names = _split(data_lines[0])
        data_lines = data_lines[1:]
    if any(_is_number(n) for n in names):
        raise InputError(
            str(path),
            "header",
            "no column-name row found.",
            "add a header row (PyBDSF writes it as the last '#' line).",
        )
    delimiter = "," if data_lines and "," in data_lines[0] else None
    try:
        table = astropy_ascii.read(
            data_lines,
            names=names,
            format="no_header",
            delimiter=delimiter or " ",
            guess=False,
            fast_reader=False,
        )
    except Exception as exc:  # astropy raises many types for malformed text
        raise InputError(
            str(path), "rows", f"cannot be parsed as a table ({exc}).", "check the delimiter."
        ) from None
    table = Table(table, masked=False)
    for name in table.colnames:
        if hasattr(table[name], "filled"):
            col = table[name]
            table[name] = col.filled(np.nan) if col.dtype.kind == "f" else col.filled()
    return _Raw(table, {}, header, str(path))


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _load_ecsv(path: Path) -> _Raw:
    try:
        table = Table.read(path, format="ascii.ecsv")
    except Exception as exc:  # noqa: BLE001 - astropy raises many types for malformed ECSV
        raise InputError(str(path), "file", f"cannot be read as ECSV ({exc}).") from None
    units = {name: table[name].unit for name in table.colnames}
    header = {str(k).upper(): v for k, v in table.meta.items() if not isinstance(v, (dict, list))}
    plain = Table({name: np.asarray(table[name]) for name in table.colnames})
    return _Raw(plain, units, header, str(path))


def _load(path: Path) -> _Raw:
    if path.is_dir():
        raise InputError(str(path), "path", "is a directory, not a catalog file.")
    with open(path, "rb") as handle:
        magic = handle.read(8)
    if magic.startswith(b"SIMPLE") or path.suffix.lower() in (".fits", ".fit", ".fts"):
        return _load_fits(path)
    if magic.startswith(b"# %ECSV"):
        return _load_ecsv(path)
    return _load_ascii(path)


# ----------------------------------------------------------------------------- detection
def _detect(raw: _Raw) -> str:
    if "MEERSIM" in raw.header or raw.has("ra", "dec", "flux", "shape"):
        if raw.has("shape", "morph_class"):
            return "meersim"
    if raw.has("RA", "DEC", "Total_flux") and (raw.has("Source_id") or raw.has("Gaus_id")):
        return "pybdsf"
    if raw.has("RA", "DEC", "S_INT"):
        return "mightee"
    if raw.has("RA_deg", "Dec_deg", "Stot_mJy"):
        return "mgcls"
    expected = "; ".join(f"{k}: {v}" for k, v in _EXPECTED.items())
    raise InputError(
        raw.source,
        "columns",
        f"unknown catalog format (columns: {', '.join(raw.table.colnames[:12])}"
        f"{' ...' if len(raw.table.colnames) > 12 else ''}). Expected one of: {expected}.",
        "rename the columns to one of these layouts or convert the file first.",
    )


# ----------------------------------------------------------------------------- helpers
def _angle(raw: _Raw, name: str, expected, default_unit) -> np.ndarray:
    return to_canonical(
        raw.column(name), raw.unit(name), expected, raw.source, name, default=default_unit
    )


# A header frequency outside FREQ_RANGE_HZ (10 MHz - 100 GHz) is a unit slip or a
# placeholder (PyBDSF's own test outputs carry FREQ0 = 23.5 Hz): it is ignored, never
# used to extrapolate fluxes by decades.


def _ref_freq(raw: _Raw, n: int, meta: dict) -> np.ndarray:
    for key in ("FREQ0", "NU_EFF", "RESTFRQ", "RESTFREQ", "FREQ"):
        if key in raw.header:
            try:
                value = float(raw.header[key])
            except (TypeError, ValueError):
                continue
            lo, hi = FREQ_RANGE_HZ
            if np.isfinite(value) and value > 0 and not lo <= value <= hi:
                meta.setdefault("warnings", []).append(
                    f"header {key} = {value:g} Hz is not a radio frequency (10 MHz - 100 GHz); "
                    "ignored (was it written in MHz or GHz? fix the header, or set ref_freq "
                    "after reading)"
                )
                continue
            if np.isfinite(value) and value > 0:
                meta["ref_freq_origin"] = f"header {key}"
                return np.full(n, value)
    meta["ref_freq_origin"] = f"default {DEFAULT_REF_FREQ_HZ:g} Hz"
    return np.full(n, DEFAULT_REF_FREQ_HZ)


def _spectral_index(raw: _Raw, n: int, meta: dict) -> np.ndarray:
    for name in ("spectral_index", "Spec_Indx", "SPEC_INDX", "alpha", "Spectral_index"):
        if raw.name(name):
            values = np.asarray(raw.column(name), dtype=float)
            missing = ~np.isfinite(values)
            meta["spectral_index_origin"] = f"column {raw.name(name)}"
            return np.where(missing, DEFAULT_SPECTRAL_INDEX, values)
    meta["spectral_index_origin"] = f"default {DEFAULT_SPECTRAL_INDEX}"
    return np.full(n, DEFAULT_SPECTRAL_INDEX)


def _bool_column(values) -> np.ndarray:
    values = np.asarray(values)
    if values.dtype.kind == "b":
        return values
    if values.dtype.kind in "iuf":
        return np.nan_to_num(values.astype(float)) != 0
    text = np.char.upper(np.char.strip(values.astype(str)))
    return np.isin(text, ("T", "TRUE", "Y", "YES", "1", "R", "RESOLVED"))


def deconvolve_gaussian(major, minor, pa_deg, beam_major, beam_minor, beam_pa_deg):
    """Deconvolve elliptical Gaussians (FWHM, any one angular unit) by a Gaussian beam.

    Works on the second-moment matrices (FWHM^2), which add under convolution.
    Returns (major, minor, pa_deg) in the input unit; an axis that the beam fully
    explains comes back as 0 (unresolved along it).
    """

    def moments(a, b, theta):
        c, s = np.cos(theta), np.sin(theta)
        return a**2 * c**2 + b**2 * s**2, a**2 * s**2 + b**2 * c**2, (a**2 - b**2) * s * c

    xx, yy, xy = moments(
        np.asarray(major, float), np.asarray(minor, float), np.radians(np.asarray(pa_deg, float))
    )
    bxx, byy, bxy = moments(beam_major, beam_minor, np.radians(beam_pa_deg))
    dxx, dyy, dxy = xx - bxx, yy - byy, xy - bxy
    half_trace = 0.5 * (dxx + dyy)
    radius = np.hypot(0.5 * (dxx - dyy), dxy)
    lam1, lam2 = half_trace + radius, half_trace - radius
    out_major = np.sqrt(np.clip(lam1, 0, None))
    out_minor = np.sqrt(np.clip(lam2, 0, None))
    out_pa = np.degrees(0.5 * np.arctan2(2 * dxy, dxx - dyy)) % 180.0
    return out_major, out_minor, np.where(out_major > 0, out_pa, 0.0)


def _sizes_from(raw, names, unit_default, meta, label):
    """major, minor (arcsec), pa (deg) from three size column names; NaN -> 0."""
    major = _angle(raw, names[0], u.arcsec, unit_default)
    minor = _angle(raw, names[1], u.arcsec, unit_default)
    pa = _angle(raw, names[2], u.deg, u.deg) if raw.name(names[2]) else np.zeros_like(major)
    meta["size_origin"] = label
    return major, minor, pa


def _guess_size_unit(raw: _Raw, name: str, meta: dict):
    """TUNIT if set; else deg when all finite values are < 0.2 (PyBDSF style), arcsec otherwise."""
    unit = raw.unit(name)
    if unit is not None:
        return unit
    values = np.asarray(raw.column(name), dtype=float)
    finite = values[np.isfinite(values)]
    guess = u.deg if finite.size and np.nanmax(np.abs(finite)) < 0.2 else u.arcsec
    meta.setdefault("warnings", []).append(f"{name} has no unit; assumed {guess}")
    return guess


# ----------------------------------------------------------------------------- mappers
def _map_pybdsf(raw: _Raw, meta: dict) -> dict:
    n = len(raw.table)
    is_gaul = raw.has("Gaus_id")
    meta["catalog_type"] = "gaul" if is_gaul else "srl"
    out = {
        "ra": _angle(raw, "RA", u.deg, u.deg),
        "dec": _angle(raw, "DEC", u.deg, u.deg),
        "flux": to_canonical(
            raw.column("Total_flux"), raw.unit("Total_flux"), u.Jy, raw.source, "Total_flux", u.Jy
        ),
    }
    if raw.has("DC_Maj", "DC_Min"):
        major, minor, pa = _sizes_from(raw, ("DC_Maj", "DC_Min", "DC_PA"), u.deg, meta, "DC_*")
    elif raw.has("Maj", "Min"):
        major, minor, pa = _sizes_from(raw, ("Maj", "Min", "PA"), u.deg, meta, "Maj/Min")
        meta.setdefault("warnings", []).append(
            "no DC_Maj/DC_Min columns: sizes are not deconvolved from the beam"
        )
    else:
        major = minor = pa = np.zeros(n)
        meta["size_origin"] = "none (all point)"
    if raw.has("Source_id"):
        source_id = np.asarray(raw.column("Source_id"), dtype=np.int64)
    else:
        source_id = np.asarray(raw.column("Gaus_id"), dtype=np.int64)
    out.update(major=major, minor=minor, pa=pa, source_id=source_id)
    out["morph_class"] = np.full(n, "unknown")
    return out


def _map_mightee(raw: _Raw, meta: dict, beam_arcsec) -> dict:
    n = len(raw.table)
    out = {
        "ra": _angle(raw, "RA", u.deg, u.deg),
        "dec": _angle(raw, "DEC", u.deg, u.deg),
        "flux": to_canonical(
            raw.column("S_INT"), raw.unit("S_INT"), u.Jy, raw.source, "S_INT", u.Jy
        ),
    }
    if raw.has("DC_MAJ", "DC_MIN"):
        units = _guess_size_unit(raw, "DC_MAJ", meta)
        major, minor, pa = _sizes_from(raw, ("DC_MAJ", "DC_MIN", "DC_PA"), units, meta, "DC_*")
    elif raw.has("IM_MAJ", "IM_MIN"):
        units = _guess_size_unit(raw, "IM_MAJ", meta)
        major, minor, pa = _sizes_from(raw, ("IM_MAJ", "IM_MIN", "IM_PA"), units, meta, "IM_*")
        beam = beam_arcsec
        if beam is None and "BMAJ" in raw.header and "BMIN" in raw.header:
            beam = (
                float(raw.header["BMAJ"]) * 3600.0,
                float(raw.header["BMIN"]) * 3600.0,
                float(raw.header.get("BPA", 0.0)),
            )
        if beam is not None:
            major, minor, pa = deconvolve_gaussian(major, minor, pa, *beam)
            meta["size_origin"] = f"IM_* deconvolved by beam {tuple(round(b, 3) for b in beam)}"
        else:
            meta.setdefault("warnings", []).append(
                "IM_* sizes include the restoring beam (no DC_* columns, no BMAJ in the header, "
                "no beam_arcsec given)"
            )
    else:
        major = minor = pa = np.zeros(n)
        meta["size_origin"] = "none (all point)"
    if raw.name("RESOLVED"):
        resolved = _bool_column(raw.column("RESOLVED"))
        major, minor, pa = (np.where(resolved, x, 0.0) for x in (major, minor, pa))
    if raw.name("NU_EFF"):
        freq = to_canonical(
            raw.column("NU_EFF"), raw.unit("NU_EFF"), u.Hz, raw.source, "NU_EFF", u.Hz
        )
        out["ref_freq"] = freq
        meta["ref_freq_origin"] = "column NU_EFF"
    out.update(major=major, minor=minor, pa=pa, source_id=np.arange(n, dtype=np.int64))
    out["morph_class"] = np.full(n, "unknown")
    return out


_MGCLS_SIZE = re.compile(r"^(dc_?)?(maj|min|pa)(_(arcsec|asec|deg|arcmin))?$", re.IGNORECASE)


def _map_mgcls(raw: _Raw, meta: dict) -> dict:
    n = len(raw.table)
    out = {
        "ra": _angle(raw, "RA_deg", u.deg, u.deg),
        "dec": _angle(raw, "Dec_deg", u.deg, u.deg),
        "flux": to_canonical(
            raw.column("Stot_mJy"), raw.unit("Stot_mJy"), u.Jy, raw.source, "Stot_mJy", u.mJy
        ),
    }
    # size columns: prefer deconvolved (DC_) ones; unit from TUNIT, else the name suffix
    found: dict[tuple[bool, str], str] = {}
    for name in raw.table.colnames:
        match = _MGCLS_SIZE.match(name)
        if match:
            found[(bool(match.group(1)), match.group(2).lower())] = name
    for deconvolved in (True, False):
        if (deconvolved, "maj") in found and (deconvolved, "min") in found:
            names = [found[(deconvolved, k)] for k in ("maj", "min")]
            pa_name = found.get((deconvolved, "pa"), found.get((not deconvolved, "pa"), "PA"))
            suffix = _MGCLS_SIZE.match(names[0]).group(4)
            unit = raw.unit(names[0]) or (parse_unit(suffix) if suffix else None)
            if unit is None:
                unit = _guess_size_unit(raw, names[0], meta)
            major, minor, pa = _sizes_from(raw, (*names, pa_name), unit, meta, ", ".join(names))
            if not deconvolved:
                meta.setdefault("warnings", []).append("sizes are not deconvolved from the beam")
            break
    else:
        major = minor = pa = np.zeros(n)
        meta["size_origin"] = "none (all point)"
    out.update(major=major, minor=minor, pa=pa, source_id=np.arange(n, dtype=np.int64))
    out["morph_class"] = np.full(n, "unknown")
    return out


def _map_meersim(raw: _Raw, meta: dict) -> dict:
    out = {}
    # a file meersim wrote has fixed units even where CSV cannot record them
    written = "MEERSIM" in raw.header
    jy, arcsec, deg = (u.Jy, u.arcsec, u.deg) if written else (None, None, None)
    canonical_names = raw.has("ra", "dec", "flux") and raw.name("ra") == "ra"
    if canonical_names:
        out["ra"] = _angle(raw, "ra", u.deg, u.deg)
        out["dec"] = _angle(raw, "dec", u.deg, u.deg)
        out["flux"] = to_canonical(
            raw.column("flux"), raw.unit("flux"), u.Jy, raw.source, "flux", jy
        )
        out["pa"] = _angle(raw, "pa", u.deg, u.deg)
        out["source_id"] = np.asarray(raw.column("source_id"), dtype=np.int64)
    else:
        out["ra"] = _angle(raw, "RA", u.deg, u.deg)
        out["dec"] = _angle(raw, "DEC", u.deg, u.deg)
        out["flux"] = to_canonical(
            raw.column("Total_flux"), raw.unit("Total_flux"), u.Jy, raw.source, "Total_flux", jy
        )
        out["pa"] = _angle(raw, "DC_PA", u.deg, u.deg)
        out["source_id"] = np.asarray(raw.column("Source_id"), dtype=np.int64)
    for axis, pybdsf in (("major", "DC_Maj"), ("minor", "DC_Min")):
        name = axis if raw.name(axis) == axis else pybdsf
        out[axis] = _angle(raw, name, u.arcsec, arcsec if name == axis else deg)
    out["ref_freq"] = to_canonical(
        raw.column("ref_freq"), raw.unit("ref_freq"), u.Hz, raw.source, "ref_freq", u.Hz
    )
    out["spectral_index"] = np.asarray(raw.column("spectral_index"), dtype=float)
    out["shape"] = np.asarray(raw.column("shape")).astype(str)
    out["morph_class"] = np.asarray(raw.column("morph_class")).astype(str)
    for name in OPTIONAL_COLUMNS:
        if raw.name(name) == name:
            out[name] = np.asarray(raw.column(name))
    meta["ref_freq_origin"] = "column ref_freq"
    meta["spectral_index_origin"] = "column spectral_index"
    return out


# ----------------------------------------------------------------------------- public
def read_catalog(path, format: str | None = None, beam_arcsec=None) -> QTable:
    """Read a PyBDSF / MIGHTEE / MGCLS / meersim catalog into the canonical QTable.

    Parameters
    ----------
    path : str or Path
        FITS table or CSV/ASCII (PyBDSF '#' header lines supported).
    format : {'pybdsf', 'mightee', 'mgcls', 'meersim'}, optional
        Skip auto-detection.
    beam_arcsec : (bmaj, bmin, bpa), optional
        Restoring beam (FWHM arcsec, PA deg) used to deconvolve image-plane sizes
        (MIGHTEE IM_*) when the file has no deconvolved columns and no BMAJ header.

    Returns
    -------
    QTable with the canonical columns (deg, Jy, Hz, arcsec; see schema.py), then
    ``sersic_n`` and ``component``, then the file's own columns. Rows with NaN or
    negative flux (or NaN position) are dropped with a warning; the count is in
    ``meta['n_dropped']``.
    """
    path = Path(path)
    try:
        return _read_catalog(path, format, beam_arcsec)
    except MeersimError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, ArithmeticError) as exc:
        # malformed cells reach numpy and astropy in many places; one clear line instead
        raise InputError(
            str(path), "contents", f"cannot be read as a catalog ({type(exc).__name__}: {exc}).",
            "Check that the columns hold numbers with units (docs/catalogs.md).",
        ) from None  # fmt: skip


def _read_catalog(path: Path, format: str | None, beam_arcsec) -> QTable:
    if not path.exists():
        raise InputError(str(path), "path", "file does not exist.", "check the path.")
    if format is not None and format not in FORMATS:
        raise InputError(
            str(path), "format", f"unknown format '{format}'.", f"use one of {FORMATS}."
        )
    raw = _load(path)
    fmt = format or _detect(raw)
    meta: dict = {"source_file": str(path), "format": fmt}
    n = len(raw.table)
    if fmt == "pybdsf":
        out = _map_pybdsf(raw, meta)
    elif fmt == "mightee":
        out = _map_mightee(raw, meta, beam_arcsec)
    elif fmt == "mgcls":
        out = _map_mgcls(raw, meta)
    else:
        out = _map_meersim(raw, meta)
    if "ref_freq" not in out:
        out["ref_freq"] = _ref_freq(raw, n, meta)
    if "spectral_index" not in out:
        out["spectral_index"] = _spectral_index(raw, n, meta)

    for axis in ("major", "minor", "pa"):
        out[axis] = np.nan_to_num(np.asarray(out[axis], dtype=float), nan=0.0)
    if "shape" not in out:
        resolved = out["major"] > 0
        out["shape"] = np.where(resolved, "gaussian", "point")
        out["pa"] = np.where(resolved, out["pa"] % 180.0, 0.0)
        out["minor"] = np.where(resolved, np.minimum(out["minor"], out["major"]), 0.0)
    if "sersic_n" not in out:
        out["sersic_n"] = np.select(
            [out["shape"] == "gaussian", out["shape"] == "exponential"], [0.5, 1.0], 0.0
        )
    if "component" not in out:
        out["component"] = np.where(out["shape"] == "point", "point", "gaussian")

    table = QTable()
    for name, (unit, dtype, description) in {**CANONICAL_COLUMNS, **OPTIONAL_COLUMNS}.items():
        values = np.asarray(out[name]).astype(dtype)
        table[name] = values * unit if unit is not None else values
        table[name].info.description = description
    taken = {c.lower() for c in table.colnames}
    for name in raw.table.colnames:
        if name.lower() in taken and name in table.colnames:
            continue
        if name in table.colnames:
            continue
        column = raw.table[name]
        unit = parse_unit(raw.units.get(name))
        table[name] = np.asarray(column) * unit if unit is not None else np.asarray(column)

    bad_shapes = set(np.unique(table["shape"])) - set(SHAPES) if len(table) else set()
    if bad_shapes:
        raise InputError(
            str(path), "shape", f"unknown shape(s) {sorted(bad_shapes)}.", f"use one of {SHAPES}."
        )
    table = _drop_bad_rows(table, str(path), meta)
    check_values(table, str(path))
    meta.setdefault("warnings", []).extend(_plausibility(raw, fmt, table, meta))
    if fmt == "meersim":
        meta.update({k: v for k, v in raw.header.items() if k not in ("MEERSIM",)})
    table.meta.update(meta)
    for message in meta.get("warnings", []):
        warnings.warn(f"{path}: {message}", stacklevel=2)
    return table


# the flux column of each format, and whether its name fixes the unit
_FLUX_COLUMNS = {"pybdsf": "Total_flux", "mightee": "S_INT", "mgcls": None}


def _plausibility(raw: _Raw, fmt: str, table: QTable, meta: dict) -> list[str]:
    """Warnings for likely mistakes: unitless mJy, ids spread over the field, odd frequencies."""
    found = []
    flux_column = _FLUX_COLUMNS.get(fmt, "flux" if raw.name("flux") == "flux" else "Total_flux")
    if flux_column and raw.unit(flux_column) is None and "MEERSIM" not in raw.header:
        found.append(unitless_flux_warning(table["flux"].to_value(u.Jy), flux_column))
    found.append(frequency_warning(table["ref_freq"].to_value(u.Hz),
                                   meta.get("ref_freq_origin", "?")))  # fmt: skip
    ids_from_file = fmt == "pybdsf" or (fmt == "meersim" and "MEERSIM" not in raw.header)
    if ids_from_file:
        found.append(source_spread_warning(table))
    return [w for w in found if w]


def _drop_bad_rows(table: QTable, source: str, meta: dict) -> QTable:
    flux = table["flux"].to_value(u.Jy)
    finite_pos = np.isfinite(table["ra"].value) & np.isfinite(table["dec"].value)
    bad_flux = ~np.isfinite(flux) | (flux < 0)
    bad = bad_flux | ~finite_pos
    meta["n_dropped"] = int(bad.sum())
    if bad.any():
        reason = (
            f"dropped {int(bad.sum())} of {len(table)} rows: {int(bad_flux.sum())} with NaN or "
            f"negative flux, {int((~finite_pos & ~bad_flux).sum())} with NaN position"
        )
        meta["dropped_reason"] = reason
        warnings.warn(f"{source}: {reason}", stacklevel=3)
        table = table[~bad]
    if len(table) == 0:
        raise InputError(source, "rows", "no usable rows.", "check the flux and position columns.")
    return table
