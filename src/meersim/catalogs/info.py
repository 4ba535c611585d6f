"""One-look summaries of a canonical catalog."""

from __future__ import annotations

import astropy.units as u
import numpy as np

from meersim.catalogs.schema import check_catalog


def catalog_area_deg2(table) -> float:
    """Sky area in deg^2: ``meta['AREA']`` when present, else the RA/Dec bounding box.

    The bounding box is measured on the sphere, with RA unwrapped around the
    largest gap (so fields across RA = 0 work).
    """
    for key in ("AREA", "area_deg2"):
        if key in table.meta:
            return float(table.meta[key])
    if len(table) < 2:
        return 0.0
    ra = np.sort(np.asarray(table["ra"].to_value(u.deg)) % 360.0)
    gaps = np.diff(np.concatenate([ra, [ra[0] + 360.0]]))
    width = 360.0 - gaps.max()
    dec = np.radians(np.asarray(table["dec"].to_value(u.deg)))
    band = abs(np.sin(dec.max()) - np.sin(dec.min()))
    return float(np.radians(width) * band / (np.pi / 180.0) ** 2)


def catalog_info(table) -> dict:
    """Summary of a catalog: counts, flux range (Jy), area (deg^2), classes, ref freq (Hz)."""
    check_catalog(table, "catalog")
    flux = np.asarray(table["flux"].to_value(u.Jy))
    source_id = np.asarray(table["source_id"])
    ids, first = np.unique(source_id, return_index=True)
    source_flux = np.bincount(np.searchsorted(ids, source_id), weights=flux, minlength=len(ids))
    classes, class_counts = np.unique(np.asarray(table["morph_class"])[first], return_counts=True)
    shapes, shape_counts = np.unique(np.asarray(table["shape"]), return_counts=True)
    freq = np.asarray(table["ref_freq"].to_value(u.Hz))
    area = catalog_area_deg2(table)
    return {
        "n_components": int(len(table)),
        "n_sources": int(len(ids)),
        "source_flux_min_jy": float(source_flux.min()) if len(ids) else float("nan"),
        "source_flux_max_jy": float(source_flux.max()) if len(ids) else float("nan"),
        "total_flux_jy": float(flux.sum()),
        "area_deg2": area,
        "source_density_per_deg2": float(len(ids) / area) if area > 0 else float("nan"),
        "classes": {str(k): int(v) for k, v in zip(classes, class_counts, strict=True)},
        "shapes": {str(k): int(v) for k, v in zip(shapes, shape_counts, strict=True)},
        "ref_freq_hz": sorted({float(f) for f in np.unique(freq)})[:5],
        "ra_range_deg": [float(np.min(table["ra"].value)), float(np.max(table["ra"].value))]
        if len(table)
        else [],
        "dec_range_deg": [float(np.min(table["dec"].value)), float(np.max(table["dec"].value))]
        if len(table)
        else [],
    }
