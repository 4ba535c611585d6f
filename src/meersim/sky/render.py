"""Render a canonical catalog onto the SIN-projected image grid (Jy/pixel).

Conventions (see ``docs/sky.md``):

* Output is a :class:`~meersim.types.Sky`: float32 ``[nchan, ny, nx]`` in
  Jy/pixel. Each channel holds ``flux * (nu / ref_freq) ** spectral_index``; the
  shape of a component is the same in every channel.
* Point sources are deposited with cloud-in-cell (bilinear) weights on the four
  pixels around their exact sub-pixel position: the total flux and the flux
  centroid are exact (when all four pixels lie on the grid).
* Extended components (gaussian, exponential, sersic) are drawn by galsim,
  convolved with the square pixel (flux integrated over each pixel), on a
  postage stamp that is added into the full image. Gaussians (minor FWHM >=
  ``FAST_GAUSSIAN_MIN_MINOR_PIX``) and small exponentials take a faster route: the
  same pixel integral by Gauss-Legendre quadrature (error < 2e-5 of the peak).
  galsim's FFT route smooths the exponential's cusp: it reads ~0.75% of the peak
  off the exact pixel integral (galsim's own real-space draw) for discs of 5 px.
* Size convention (``meersim.catalogs.schema``): ``major``/``minor`` are the FWHM
  of the profile along each axis for every shape. Exponential and Sersic rows use
  I ∝ exp[-(r/r0)^(1/n)] with r0 = FWHM / (2 (ln 2)^n). Sersic profiles are
  truncated at SERSIC_TRUNCATION_FWHM x FWHM (galsim ``trunc``) and normalised to
  the catalog flux inside it; for n >~ 2 the FWHM only measures the cusp (see
  ``docs/sky.md``).
* Orientation: ``pa`` is east of north. In the image, north is +y and east is
  -x (CDELT1 < 0); galsim angles run counter-clockwise from +x, so the major axis
  is at galsim angle ``PA + 90 deg`` (plus the small rotation of local north in
  the SIN projection away from the phase centre, which is computed per source).
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.table import QTable, Table
from tqdm.auto import tqdm

from meersim.catalogs.readers import read_catalog
from meersim.catalogs.schema import SHAPES
from meersim.catalogs.synthetic import default_catalog
from meersim.errors import InputError
from meersim.grid import L_BAND_CENTRE_HZ, Grid
from meersim.io import read_image, write_image
from meersim.sky.fast import render_profiles
from meersim.sky.stamps import (
    MAX_STAMP_HALF_WIDTH,
    MIN_AXIS_RATIO,
    SERSIC_TRUNCATION_FWHM,
    STAMP_MARGIN_PIX,
    add_stamp,
    deposit_points,
    draw_component_stamp,
    enclosed_radius_factor,
    stamp_half_width,
)
from meersim.types import Sky

#: galsim's supported Sersic index range.
SERSIC_N_RANGE = (0.3, 6.2)
#: Components with a major-axis FWHM below this many pixels are deposited as points.
MIN_DRAWN_FWHM_PIX = 0.1
#: ``render_sky(renderer=...)``: "fast" draws exponential and Sersic components with
#: the compiled renderer (meersim.sky.fast); "galsim" draws them as before it existed.
RENDERERS = ("fast", "galsim")

_REQUIRED = {
    "ra": u.deg,
    "dec": u.deg,
    "flux": u.Jy,
    "ref_freq": u.Hz,
    "spectral_index": None,
    "major": u.arcsec,
    "minor": u.arcsec,
    "pa": u.deg,
    "shape": None,
}


# -- catalog access ---------------------------------------------------------------------
def _column(catalog, name: str, unit, source: str) -> np.ndarray:
    """Column ``name`` as a float array in ``unit`` (plain columns are taken as that unit)."""
    col = catalog[name]
    try:
        if isinstance(col, u.Quantity) or getattr(col, "unit", None) is not None:
            values = u.Quantity(col).to_value(
                unit if unit is not None else u.dimensionless_unscaled
            )
        else:
            values = np.asarray(col, dtype=np.float64)
    except (u.UnitConversionError, TypeError, ValueError) as exc:
        raise InputError(
            source,
            name,
            f"cannot be read as {unit or 'a number'} ({exc}).",
            "Use the canonical units of meersim.catalogs.schema.",
        ) from None
    values = np.asarray(values, dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        rows = np.flatnonzero(bad)[:5].tolist()
        raise InputError(
            source,
            name,
            f"{bad.sum()} non-finite value(s) (rows {rows}...).",
            "Fill or drop those rows.",
        )
    return values


def _catalog_arrays(catalog, source: str = "catalog") -> dict[str, np.ndarray]:
    """Validated canonical columns as plain arrays (deg, Jy, Hz, arcsec)."""
    if not isinstance(catalog, (QTable, Table)):
        raise InputError(
            source, "type", f"expected an astropy QTable, got {type(catalog).__name__}."
        )
    missing = [c for c in _REQUIRED if c not in catalog.colnames]
    if missing:
        raise InputError(
            source,
            ", ".join(missing),
            "required column(s) missing.",
            "Read catalogs with meersim.catalogs.read_catalog, which maps survey columns.",
        )
    out = {
        name: _column(catalog, name, unit, source)
        for name, unit in _REQUIRED.items()
        if name != "shape"
    }
    shape = np.char.lower(np.char.strip(np.asarray(catalog["shape"], dtype=str)))
    unknown = sorted(set(shape.tolist()) - set(SHAPES))
    if unknown:
        raise InputError(
            source, "shape", f"unknown shape(s) {unknown}.", f"Use one of {list(SHAPES)}."
        )
    out["shape"] = shape
    if (out["ref_freq"] <= 0).any():
        raise InputError(source, "ref_freq", "must be > 0 Hz.")
    if (out["major"] < 0).any() or (out["minor"] < 0).any():
        raise InputError(source, "major/minor", "sizes must be >= 0 arcsec.")
    is_sersic = shape == "sersic"
    if is_sersic.any():
        if "sersic_n" not in catalog.colnames:
            raise InputError(source, "sersic_n", "needed for shape 'sersic' but missing.")
        n = _column(catalog, "sersic_n", None, source)
        lo, hi = SERSIC_N_RANGE
        bad = is_sersic & ((n < lo) | (n > hi))
        if bad.any():
            raise InputError(
                source,
                "sersic_n",
                f"{bad.sum()} value(s) outside galsim's range [{lo}, {hi}].",
            )
        out["sersic_n"] = n
    else:
        out["sersic_n"] = np.full(len(shape), np.nan)
    return out


# -- geometry -------------------------------------------------------------------------------
def _on_near_hemisphere(grid: Grid, ra_deg, dec_deg) -> np.ndarray:
    """True where a position lies less than 90 deg from the phase centre (SIN is defined)."""
    ra, dec = np.radians(ra_deg), np.radians(dec_deg)
    ra0, dec0 = np.radians(grid.ra_deg), np.radians(grid.dec_deg)
    cos_dist = np.sin(dec) * np.sin(dec0) + np.cos(dec) * np.cos(dec0) * np.cos(ra - ra0)
    return cos_dist > 1e-6


def _pixel_positions(grid: Grid, ra_deg, dec_deg):
    """0-based pixel (x, y) and the galsim angle (rad, CCW from +x) of local north."""
    valid = _on_near_hemisphere(grid, ra_deg, dec_deg)
    x = np.full(len(ra_deg), np.nan)
    y = np.full(len(ra_deg), np.nan)
    north = np.full(len(ra_deg), np.pi / 2)
    if valid.any():
        x[valid], y[valid] = grid.world_to_pixel(ra_deg[valid], dec_deg[valid])
        # Local north: step 1 arcsec toward the pole (away from it at the +90 pole).
        step = np.where(dec_deg[valid] > 89.99, -1.0, 1.0) / 3600.0
        xn, yn = grid.world_to_pixel(ra_deg[valid], dec_deg[valid] + step)
        north[valid] = np.arctan2((yn - y[valid]) * np.sign(step), (xn - x[valid]) * np.sign(step))
    return x, y, north


def _ordered_axes(major, minor, pa):
    """FWHM axes (arcsec) with major >= minor; PA rotated by 90 deg where they were swapped."""
    swap = minor > major
    return np.where(swap, minor, major), np.where(swap, major, minor), np.where(swap, pa + 90, pa)


# -- public API ----------------------------------------------------------------------------
def render_sky(
    catalog: QTable, grid: Grid, *, progress: bool = False, renderer: str = "fast"
) -> Sky:
    """Draw every catalog component onto ``grid`` in Jy/pixel.

    Parameters
    ----------
    catalog : QTable
        Canonical catalog (ra/dec deg, flux Jy at ref_freq Hz, spectral_index,
        major/minor arcsec = full axes of the half-light ellipse, pa deg east of
        north, shape, sersic_n for Sersic rows).
    grid : Grid
        Target grid; channel c holds ``flux * (freqs_hz[c] / ref_freq) ** spectral_index``.
    progress : bool
        Show a tqdm bar over the extended components.
    renderer : {"fast", "galsim"}
        "fast": exponential and Sersic components through the compiled pixel
        integrator (:mod:`meersim.sky.fast`); "galsim": through galsim (and
        meersim's quadrature for small exponentials), as in meersim <= 0.1.
        Gaussians and points are drawn the same way by both.

    Returns
    -------
    Sky
        float32 [nchan, ny, nx] cube in Jy/pixel. Components whose light misses the
        grid are skipped with a warning that counts them; components straddling the
        edge contribute their on-grid part.
    """
    if renderer not in RENDERERS:
        raise InputError("render_sky", "renderer", f"unknown {renderer!r}.",
                         f"Use one of {list(RENDERERS)}.")  # fmt: skip
    cols = _catalog_arrays(catalog)
    ncomp = len(cols["ra"])
    cube = np.zeros(grid.shape, dtype=np.float32)
    if ncomp == 0:
        return Sky(cube, grid)
    freqs = grid.freqs
    channel_flux = (
        cols["flux"][:, None]
        * (freqs[None, :] / cols["ref_freq"][:, None]) ** cols["spectral_index"][:, None]
    )
    x, y, north = _pixel_positions(grid, cols["ra"], cols["dec"])
    valid = np.isfinite(x) & np.isfinite(y)
    major, minor, pa = _ordered_axes(cols["major"], cols["minor"], cols["pa"])
    is_point = (cols["shape"] == "point") | (major < MIN_DRAWN_FWHM_PIX * grid.cell_arcsec)

    on_grid = np.zeros(ncomp, bool)
    partial = np.zeros(ncomp, bool)
    points = np.flatnonzero(is_point & valid)
    if points.size:
        any_on, all_on = deposit_points(cube, x[points], y[points], channel_flux[points])
        on_grid[points] = any_on
        partial[points] = any_on & ~all_on

    extended = np.flatnonzero(~is_point & valid)
    nx, ny = grid.npix_x, grid.npix_y
    if renderer == "fast":
        shape = cols["shape"][extended]
        compiled = (shape == "exponential") | (shape == "gaussian") | (shape == "sersic")
        fast = extended[compiled]
        extended = extended[~compiled]
        _render_fast(cube, grid, fast, cols, x, y, north, major, minor, pa, channel_flux,
                     on_grid, partial)  # fmt: skip
    # Cheap pre-cut: skip components whose stamp cannot reach the grid.
    for i in tqdm(extended, desc="render sky", unit="comp", disable=not progress):
        shape = str(cols["shape"][i])
        major_pix, minor_pix = major[i] / grid.cell_arcsec, minor[i] / grid.cell_arcsec
        reach = stamp_half_width(shape, major_pix, cols["sersic_n"][i]) + 0.5
        if (
            x[i] + reach < -0.5
            or x[i] - reach > nx - 0.5
            or y[i] + reach < -0.5
            or y[i] - reach > ny - 0.5
        ):
            continue
        beta = north[i] + np.radians(pa[i])
        stamp, x0, y0 = draw_component_stamp(
            shape, x[i], y[i], major_pix, minor_pix, beta, cols["sersic_n"][i]
        )
        on_grid[i] = add_stamp(cube, stamp, x0, y0, channel_flux[i])
        sy, sx = stamp.shape
        partial[i] = on_grid[i] and (x0 < 0 or y0 < 0 or x0 + sx > nx or y0 + sy > ny)

    n_off = int(ncomp - on_grid.sum())
    if n_off:
        warnings.warn(
            f"render_sky: {n_off} of {ncomp} components lie entirely off the "
            f"{grid.npix_x}x{grid.npix_y} grid and were not drawn; "
            f"{int(partial.sum())} more straddle the edge and were drawn in part.",
            stacklevel=2,
        )
    check_sky_values(cube, "render_sky: catalog fluxes")
    return Sky(cube, grid)


def _render_fast(cube, grid, index, cols, x, y, north, major, minor, pa, channel_flux, on_grid,
                 partial) -> None:  # fmt: skip
    """Exponential/Sersic rows ``index`` through :func:`meersim.sky.fast.render_profiles`.

    Same stamps (centre pixel, half-width), axes (major floored at 1e-6 px, axis
    ratio at MIN_AXIS_RATIO) and angle as :func:`draw_component_stamp`; sets
    ``on_grid`` / ``partial`` for them.
    """
    if index.size == 0:
        return
    ny, nx = grid.npix_y, grid.npix_x
    shape = cols["shape"][index]
    # a Gaussian is the Sersic profile with n = 1/2: exp(-(r / r0)^2)
    gaussian = (shape == "gaussian") | ((shape == "sersic") & (cols["sersic_n"][index] == 0.5))
    n = np.where(shape == "exponential", 1.0, np.where(gaussian, 0.5, cols["sersic_n"][index]))
    major_pix = np.maximum(major[index] / grid.cell_arcsec, 1e-6)
    minor_pix = np.minimum(np.maximum(minor[index] / grid.cell_arcsec,
                                      MIN_AXIS_RATIO * major_pix), major_pix)  # fmt: skip
    factor = np.select([shape == "exponential", gaussian],
                       [enclosed_radius_factor("exponential", 1.0),
                        enclosed_radius_factor("gaussian", 0.5)], SERSIC_TRUNCATION_FWHM)  # fmt: skip
    half = np.minimum(np.ceil(factor * major_pix).astype(np.int64) + STAMP_MARGIN_PIX,
                      MAX_STAMP_HALF_WIDTH)  # fmt: skip
    ix, iy = np.round(x[index]).astype(np.int64), np.round(y[index]).astype(np.int64)
    x0, y0, side = ix - half, iy - half, 2 * half + 1
    hits = (x0 < nx) & (x0 + side > 0) & (y0 < ny) & (y0 + side > 0)
    on_grid[index] = hits
    partial[index] = hits & ((x0 < 0) | (y0 < 0) | (x0 + side > nx) | (y0 + side > ny))
    keep = np.flatnonzero(hits)
    sel = index[keep]
    truncate = np.where((shape[keep] == "sersic") & ~gaussian[keep], SERSIC_TRUNCATION_FWHM, np.inf)
    render_profiles(cube, x[sel], y[sel], half[keep], major_pix[keep], minor_pix[keep],
                    north[sel] + np.radians(pa[sel]), n[keep], truncate,
                    channel_flux[sel])  # fmt: skip


def check_sky_values(data: np.ndarray, source: str) -> None:
    """Refuse a sky cube (Jy/pixel) with NaN or infinite pixels.

    One such pixel would spread through the gridder or the PSF convolution into every
    pixel of the dirty image (ducc0 then returns zeros), so it is an error, not a blank.
    """
    bad = ~np.isfinite(np.asarray(data))
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise InputError(
            source, "pixels",
            f"{int(bad.sum())} are NaN or infinite (first at [chan, y, x] = {list(first)}); a "
            "sky model must be finite everywhere.",
            "Fix or re-render the sky (meersim sky); set blank sky to 0, not NaN.",
        )  # fmt: skip


def mean_position(ra_deg, dec_deg) -> tuple[float, float]:
    """Mean direction of positions on the sphere (deg): the normalised mean unit vector."""
    ra, dec = np.radians(ra_deg), np.radians(dec_deg)
    v = np.array([np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)]).mean(axis=1)
    norm = np.linalg.norm(v)
    if norm < 1e-9:
        raise InputError(
            "catalog",
            "ra/dec",
            "positions spread over the whole sky have no mean direction.",
            "Give the phase centre (ra_deg, dec_deg).",
        )
    v /= norm
    return float(np.degrees(np.arctan2(v[1], v[0])) % 360.0), float(np.degrees(np.arcsin(v[2])))


#: Largest default grid side (pixels) before the user must choose npix or cell.
MAX_DEFAULT_NPIX = 32768
MIN_DEFAULT_NPIX = 32


def default_grid(
    catalog: QTable,
    cell_arcsec: float = 1.5,
    npix: int | None = None,
    ra_deg: float | None = None,
    dec_deg: float | None = None,
    freqs_hz=None,
) -> Grid:
    """A square grid that covers ``catalog``.

    Centre: the mean catalog position on the sphere unless ``ra_deg``/``dec_deg``
    (deg) are given. Size: ``npix`` if given (components off it are cut by
    :func:`render_sky` with a warning), else the smallest even number of
    ``cell_arcsec`` pixels covering every component out to the radius holding 99.9%
    of its flux.
    ``freqs_hz`` defaults to the L-band centre, 1.284 GHz.
    """
    if (ra_deg is None) != (dec_deg is None):
        raise InputError(
            "grid", "ra/dec", "give both the RA and the Dec of the centre, or neither."
        )
    freqs = (L_BAND_CENTRE_HZ,) if freqs_hz is None else tuple(np.atleast_1d(freqs_hz))
    cols = _catalog_arrays(catalog) if len(catalog) else None
    if ra_deg is None:
        if cols is None:
            raise InputError("grid", "ra/dec", "the catalog is empty.", "Give the grid centre.")
        ra_deg, dec_deg = mean_position(cols["ra"], cols["dec"])
    if npix is None:
        if cols is None:
            raise InputError("grid", "npix", "the catalog is empty.", "Give npix.")
        probe = Grid(2, 2, cell_arcsec, ra_deg, dec_deg, freqs)
        if not _on_near_hemisphere(probe, cols["ra"], cols["dec"]).all():
            raise InputError(
                "catalog",
                "ra/dec",
                "spans more than a hemisphere around the grid centre.",
                "Split the catalog or give npix to cut it.",
            )
        x, y = probe.world_to_pixel(cols["ra"], cols["dec"])
        cx, cy = probe.centre_pixel
        size = np.maximum(cols["major"], cols["minor"]) / cell_arcsec
        factor = np.array(
            [
                0.0 if s == "point" else enclosed_radius_factor(s, n)
                for s, n in zip(cols["shape"], cols["sersic_n"], strict=True)
            ]
        )
        reach = factor * size + STAMP_MARGIN_PIX
        half = max(np.max(np.abs(x - cx) + reach), np.max(np.abs(y - cy) + reach))
        npix = max(2 * math.ceil(half) + 2, MIN_DEFAULT_NPIX)
        if npix > MAX_DEFAULT_NPIX:
            raise InputError(
                "catalog",
                "extent",
                f"covering it at {cell_arcsec} arcsec cells needs {npix} pixels a side.",
                "Give npix (to cut it) or a larger cell.",
            )
    npix = int(npix)
    return Grid(npix, npix, cell_arcsec, ra_deg, dec_deg, freqs)


def band_channels(nchan: int, fmin_hz: float, fmax_hz: float) -> tuple[float, ...]:
    """Centres (Hz) of ``nchan`` equal channels filling the band ``fmin_hz``..``fmax_hz``."""
    if int(nchan) < 1:
        raise InputError("grid", "nchan", f"must be >= 1, got {nchan}.")
    if not 0 < fmin_hz < fmax_hz:
        raise InputError("grid", "band", f"need 0 < low < high Hz, got {fmin_hz}, {fmax_hz}.")
    width = (fmax_hz - fmin_hz) / int(nchan)
    return tuple(float(fmin_hz + (i + 0.5) * width) for i in range(int(nchan)))


def render_to_fits(
    catalog_path,
    output,
    *,
    cell_arcsec: float = 1.5,
    npix: int | None = None,
    ra_deg: float | None = None,
    dec_deg: float | None = None,
    freqs_hz=None,
    progress: bool = False,
    renderer: str = "fast",
) -> tuple[Path, Sky, int]:
    """Render a catalog file (any supported format; None = the shipped default catalog)
    onto :func:`default_grid` and write a JY/PIXEL FITS cube to ``output``.

    ``cell_arcsec`` in arcsec, ``ra_deg``/``dec_deg`` in deg, ``freqs_hz`` in Hz.
    ``renderer`` as in :func:`render_sky`. Returns the written path, the sky and the
    number of catalog components.
    """
    table = read_catalog(catalog_path) if catalog_path else default_catalog()
    grid = default_grid(table, cell_arcsec=cell_arcsec, npix=npix, ra_deg=ra_deg,
                        dec_deg=dec_deg, freqs_hz=freqs_hz)  # fmt: skip
    sky = render_sky(table, grid, progress=progress, renderer=renderer)
    return write_image(output, sky.data, grid, bunit="JY/PIXEL"), sky, len(table)


def read_sky(path) -> Sky:
    """Read a sky model written by :func:`render_to_fits`: a centred SIN grid in JY/PIXEL."""
    image = read_image(path)
    if image.grid is None:
        raise InputError(str(path), "WCS", "is not a centred SIN grid with CDELT1 < 0.",
                         "Render the sky with `meersim sky`.")  # fmt: skip
    if image.bunit != "JY/PIXEL":
        raise InputError(str(path), "BUNIT", f"is {image.bunit!r}; a sky model must be JY/PIXEL.",
                         "Render the sky with `meersim sky`.")  # fmt: skip
    check_sky_values(image.data, str(path))
    return Sky(image.data, image.grid)
