"""Cutting images into crops, per-crop truth, and crops of real FITS images.

Tiling rule (as the seed study, Lastufka et al. 2024, A&A 690, A310: 256-pixel
crops every 200 pixels): crops of ``size`` pixels start at 0, stride, 2 stride, ...
along each axis while ``start + size <= n``; crops are ordered row by row
(y outer, x inner). A crop whose NaN (blanked) fraction exceeds ``max_nan`` is dropped.

Source membership: a *physical source* (all components sharing ``source_id``) lies
in a crop when its flux-weighted mean pixel position (x, y) satisfies
``x0 - 0.5 <= x < x0 + size - 0.5`` (and the same for y), i.e. falls on one of the
crop's pixels. With stride < size a source can lie in several crops.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from astropy.table import Table

from meersim.errors import InputError
from meersim.stats import robust_rms
from meersim.types import Beam

SOURCE_CLASSES = ("point", "sfg", "fr1", "fr2")
DETECTION_SIGMA = 5.0


# ----------------------------------------------------------------------------------
# tiling
# ----------------------------------------------------------------------------------
def crop_starts(n: int, size: int, stride: int) -> np.ndarray:
    """Start pixels 0, stride, 2 stride, ... with ``start + size <= n`` (int64)."""
    if size < 1 or stride < 1:
        raise InputError("crops", "size/stride", f"must be >= 1, got {size}/{stride}.")
    if size > n:
        return np.zeros(0, dtype=np.int64)
    return np.arange(0, n - size + 1, stride, dtype=np.int64)


def crop_grid(shape: tuple[int, int], size: int, stride: int) -> np.ndarray:
    """All crop origins (x0, y0) of an image of ``shape`` = (ny, nx), row by row: int64 [n, 2]."""
    ny, nx = shape
    ys, xs = crop_starts(ny, size, stride), crop_starts(nx, size, stride)
    yy, xx = np.meshgrid(ys, xs, indexing="ij")
    return np.stack([xx.ravel(), yy.ravel()], axis=1)


def nan_fractions(mask: np.ndarray, origins: np.ndarray, size: int) -> np.ndarray:
    """NaN fraction of each crop, from a boolean ``mask`` [ny, nx] (True = blanked)."""
    # summed-area table: O(1) per crop
    sat = np.zeros((mask.shape[0] + 1, mask.shape[1] + 1), dtype=np.int64)
    sat[1:, 1:] = np.cumsum(np.cumsum(mask, axis=0), axis=1)
    x0, y0 = origins[:, 0], origins[:, 1]
    x1, y1 = x0 + size, y0 + size
    count = sat[y1, x1] - sat[y0, x1] - sat[y1, x0] + sat[y0, x0]
    return count / float(size * size)


def cut(image: np.ndarray, origins: np.ndarray, size: int) -> np.ndarray:
    """Crops float32 [n, size, size] of ``image`` [ny, nx] at ``origins`` (x0, y0)."""
    out = np.empty((len(origins), size, size), dtype=np.float32)
    for k, (x0, y0) in enumerate(origins):
        out[k] = image[y0 : y0 + size, x0 : x0 + size]
    return out


def centre_crop(image: np.ndarray, size: int, centre: tuple[int, int] | None = None) -> np.ndarray:
    """A ``size`` x ``size`` cut of ``image`` [ny, nx] with ``centre`` (y, x) at (size//2, size//2).

    Default centre: (ny//2, nx//2), where meersim puts the PSF peak. Zero-padded if
    the image is smaller.
    """
    ny, nx = image.shape
    cy, cx = (ny // 2, nx // 2) if centre is None else centre
    out = np.zeros((size, size), dtype=np.float32)
    y0, x0 = cy - size // 2, cx - size // 2
    ys, xs = max(y0, 0), max(x0, 0)
    ye, xe = min(y0 + size, ny), min(x0 + size, nx)
    out[ys - y0 : ye - y0, xs - x0 : xe - x0] = image[ys:ye, xs:xe]
    return out


# ----------------------------------------------------------------------------------
# sources and crops
# ----------------------------------------------------------------------------------
def _plain(column) -> np.ndarray:
    return np.asarray(getattr(column, "value", column))


def physical_sources(components: Table, x: np.ndarray, y: np.ndarray, apparent_flux: np.ndarray):
    """Group components by ``source_id``: flux-weighted pixel position and source totals.

    Parameters
    ----------
    components : table with ``source_id`` and optionally ``morph_class``.
    x, y : component pixel positions (0-based, field grid).
    apparent_flux : component flux (Jy) used as the weight.

    Returns
    -------
    dict with ``index`` (source index of each component) and per-source arrays
    ``source_id``, ``x``, ``y``, ``flux`` (Jy, sum), ``morph_class``.
    """
    if "source_id" in components.colnames:
        ids = np.asarray(components["source_id"])
    else:
        ids = np.arange(len(components))
    unique, index = np.unique(ids, return_inverse=True)
    w = np.asarray(apparent_flux, dtype=np.float64)
    total = np.bincount(index, weights=w, minlength=len(unique))
    # zero-flux sources (rare): fall back to the plain mean position
    weight = np.where(total[index] > 0, w, 1.0)
    norm = np.bincount(index, weights=weight, minlength=len(unique))
    sx = np.bincount(index, weights=weight * x, minlength=len(unique)) / norm
    sy = np.bincount(index, weights=weight * y, minlength=len(unique)) / norm
    if "morph_class" in components.colnames:
        classes = np.asarray(components["morph_class"]).astype(str)
        first = np.zeros(len(unique), dtype=np.int64)
        first[index[::-1]] = np.arange(len(index))[::-1]
        morph = classes[first]
    else:
        morph = np.full(len(unique), "unknown")
    return {
        "index": index,
        "source_id": unique,
        "x": sx,
        "y": sy,
        "flux": total,
        "morph_class": morph,
    }


def sources_in_crops(sx: np.ndarray, sy: np.ndarray, origins: np.ndarray, size: int):
    """Pairs (source index, crop index) with the source on one of the crop's pixels."""
    sx, sy = np.asarray(sx, float), np.asarray(sy, float)
    src, crop = [], []
    for k, (x0, y0) in enumerate(origins):
        inside = (
            (sx >= x0 - 0.5) & (sx < x0 + size - 0.5) & (sy >= y0 - 0.5) & (sy < y0 + size - 0.5)
        )
        idx = np.flatnonzero(inside)
        src.append(idx)
        crop.append(np.full(idx.size, k, dtype=np.int64))
    if not src:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(src).astype(np.int64), np.concatenate(crop)


def component_peak(flux_jy, major_arcsec, minor_arcsec, beam) -> np.ndarray:
    """Peak brightness (Jy/beam) of a component after convolution with the clean beam.

    A Gaussian of FWHM (maj, min) convolved with a beam (bmaj, bmin) peaks at
    S bmaj bmin / sqrt((bmaj^2 + maj^2)(bmin^2 + min^2)) (axes taken as aligned;
    exponential/Sersic components are treated as Gaussians of the same FWHM).
    """
    maj = np.nan_to_num(np.asarray(major_arcsec, float))
    mnr = np.nan_to_num(np.asarray(minor_arcsec, float))
    b1, b2 = beam.bmaj_arcsec, beam.bmin_arcsec
    return np.asarray(flux_jy, float) * b1 * b2 / np.sqrt((b1**2 + maj**2) * (b2**2 + mnr**2))


def _on_blank(blank: np.ndarray | None, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """True for positions on a blanked pixel of ``blank`` (positions off the image: False)."""
    out = np.zeros(len(x), dtype=bool)
    if blank is None or not len(x):
        return out
    ny, nx = blank.shape
    ix = np.rint(np.nan_to_num(np.asarray(x, float), nan=-1.0)).astype(np.int64)
    iy = np.rint(np.nan_to_num(np.asarray(y, float), nan=-1.0)).astype(np.int64)
    on = (ix >= 0) & (ix < nx) & (iy >= 0) & (iy < ny)
    out[on] = np.asarray(blank, bool)[iy[on], ix[on]]
    return out


@dataclass
class CropTruthInputs:
    """Per-component quantities the truth tables are built from (field pixel frame)."""

    components: Table  # the catalog rows (any columns; copied into sources.ecsv)
    x: np.ndarray  # component pixel x (0-based, field grid)
    y: np.ndarray
    apparent_flux: np.ndarray  # Jy at the image frequency, x primary beam
    peak: np.ndarray | None  # Jy/beam after the clean beam (None: unknown)


def crop_truth_tables(
    inputs: CropTruthInputs | None,
    origins: np.ndarray,
    size: int,
    noise_rms: float | None,
    blank: np.ndarray | None = None,
) -> tuple[Table, Table | None]:
    """Per-crop source statistics and the source table with local crop ids.

    ``blank`` (bool [ny, nx] of the field, True = blanked/NaN): a source whose position
    falls on a blanked pixel is in no crop (it cannot be seen there), so it counts in
    neither n_sources nor n_detectable; its ``sources`` rows say ``blanked``.

    Returns ``(stats, sources)``: ``stats`` has one row per origin with n_sources,
    n_detectable, total_flux, max_flux (Jy, apparent), n_<class>, dominant_class;
    ``sources`` one row per (component, crop its source lies in), crop_id = -1 for
    components whose source lies in no crop.
    """
    n = len(origins)
    stats = Table()
    if inputs is None:
        return stats, None
    comps = inputs.components
    phys = physical_sources(comps, inputs.x, inputs.y, inputs.apparent_flux)
    nsrc = len(phys["source_id"])
    if inputs.peak is not None and nsrc:
        peak_src = np.zeros(nsrc)
        np.maximum.at(peak_src, phys["index"], np.asarray(inputs.peak, float))
    else:
        peak_src = np.full(nsrc, np.nan)
    detectable = (
        peak_src > DETECTION_SIGMA * noise_rms
        if noise_rms is not None and np.isfinite(noise_rms)
        else np.zeros(nsrc, bool)
    )
    s_idx, c_idx = sources_in_crops(phys["x"], phys["y"], origins, size)
    blanked = _on_blank(blank, phys["x"], phys["y"])
    s_idx, c_idx = s_idx[~blanked[s_idx]], c_idx[~blanked[s_idx]]
    stats["n_sources"] = np.bincount(c_idx, minlength=n).astype(np.int64)
    stats["n_detectable"] = np.bincount(c_idx, weights=detectable[s_idx], minlength=n).astype(
        np.int64
    )
    flux = phys["flux"]
    stats["total_flux"] = np.bincount(c_idx, weights=flux[s_idx], minlength=n)
    max_flux = np.zeros(n)
    np.maximum.at(max_flux, c_idx, flux[s_idx])
    stats["max_flux"] = max_flux
    stats["total_flux"].unit = stats["max_flux"].unit = "Jy"
    for cls in SOURCE_CLASSES:
        hit = phys["morph_class"][s_idx] == cls
        stats[f"n_{cls}"] = np.bincount(c_idx[hit], minlength=n).astype(np.int64)
    dominant = np.full(n, "none", dtype="U8")
    best = np.full(n, -1.0)
    for s, c in zip(s_idx, c_idx, strict=True):
        if flux[s] > best[c]:
            best[c], dominant[c] = flux[s], phys["morph_class"][s]
    stats["dominant_class"] = dominant

    # source truth: one row per component and crop its source lies in
    by_source = [[] for _ in range(nsrc)]
    for s, c in zip(s_idx, c_idx, strict=True):
        by_source[s].append(c)
    comp_rows, comp_crops = [], []
    for i, s in enumerate(phys["index"]):
        crops = by_source[s] or [-1]
        comp_rows += [i] * len(crops)
        comp_crops += crops
    comp_rows = np.asarray(comp_rows, dtype=np.int64)
    sources = Table()
    for name in comps.colnames:
        col = comps[name]
        values = np.asarray(getattr(col, "value", col))
        if values.ndim != 1:
            continue
        sources[name] = values[comp_rows]
        unit = getattr(col, "unit", None)
        if unit is not None:
            sources[name].unit = unit
    crop_ids = np.asarray(comp_crops, dtype=np.int64)
    sources["crop_id"] = crop_ids
    sources["x"] = np.asarray(inputs.x, float)[comp_rows]
    sources["y"] = np.asarray(inputs.y, float)[comp_rows]
    sources["apparent_flux"] = np.asarray(inputs.apparent_flux, float)[comp_rows]
    sources["apparent_flux"].unit = "Jy"
    src_of = phys["index"][comp_rows]
    sources["source_x"] = phys["x"][src_of]
    sources["source_y"] = phys["y"][src_of]
    sources["source_flux"] = flux[src_of]
    sources["source_flux"].unit = "Jy"
    sources["source_peak"] = peak_src[src_of]
    sources["source_peak"].unit = "Jy/beam"
    sources["detectable"] = detectable[src_of]
    sources["blanked"] = blanked[src_of]
    safe = np.clip(crop_ids, 0, None)
    if n:
        sources["crop_x"] = np.where(crop_ids >= 0, sources["source_x"] - origins[safe, 0], np.nan)
        sources["crop_y"] = np.where(crop_ids >= 0, sources["source_y"] - origins[safe, 1], np.nan)
    else:
        sources["crop_x"] = np.full(len(sources), np.nan)
        sources["crop_y"] = np.full(len(sources), np.nan)
    return stats, sources


def crop_table(
    field_id: int,
    origins: np.ndarray,
    size: int,
    ra_deg: np.ndarray,
    dec_deg: np.ndarray,
    nan_fraction: np.ndarray,
    stats: Table,
    noise_rms: float,
    crops: np.ndarray,
    beam: Beam | None,
) -> Table:
    """The per-crop truth rows of one field (the contract of ``crops.ecsv``).

    ``origins`` (x0, y0) in pixels, ``ra_deg``/``dec_deg`` the crop centres (deg),
    ``stats`` the source statistics of :func:`crop_truth_tables`, ``noise_rms`` the
    field's rms (Jy/beam), ``crops`` [n, size, size] the crops whose own robust rms
    goes into ``crop_rms`` (Jy/beam), ``beam`` the clean beam (None: unknown).
    """
    n = len(origins)
    truth = Table()
    truth["field_id"] = np.full(n, field_id, dtype=np.int64)
    truth["x0"] = origins[:, 0]
    truth["y0"] = origins[:, 1]
    truth["ra"] = np.asarray(ra_deg) % 360.0
    truth["dec"] = np.asarray(dec_deg)
    truth["ra"].unit = truth["dec"].unit = "deg"
    truth["nan_fraction"] = nan_fraction
    for name in stats.colnames:
        truth[name] = stats[name]
    truth["noise_rms"] = np.full(n, noise_rms)
    truth["crop_rms"] = np.array([robust_rms(c, dtype=np.float64) for c in crops], np.float64)
    truth["noise_rms"].unit = truth["crop_rms"].unit = "Jy/beam"
    truth["bmaj"] = np.full(n, np.nan if beam is None else beam.bmaj_arcsec)
    truth["bmin"] = np.full(n, np.nan if beam is None else beam.bmin_arcsec)
    truth["bpa"] = np.full(n, np.nan if beam is None else beam.bpa_deg)
    truth["bmaj"].unit = truth["bmin"].unit = "arcsec"
    truth["bpa"].unit = "deg"
    return truth
