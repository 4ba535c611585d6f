"""Crops of real FITS images (MGCLS/MIGHTEE products, often 4-D and NaN-blanked).

The tiling and the truth columns are those of simulated datasets
(:mod:`meersim.datasets.crops`): image k is field k, stored as product
``restored``; an optional paired image (e.g. the primary-beam corrected
``enhanced`` product) is reprojected onto the same grid so crop i of both shows
the same sky; an optional catalog gives per-crop source counts and fluxes.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.table import Table, vstack
from scipy import ndimage
from tqdm.auto import tqdm

from meersim.catalogs.readers import read_catalog
from meersim.datasets.crops import (
    CropTruthInputs,
    _plain,
    component_peak,
    crop_grid,
    crop_table,
    crop_truth_tables,
    cut,
    nan_fractions,
)
from meersim.datasets.store import open_store, write_crops
from meersim.datasets.store_files import check_output
from meersim.errors import InputError
from meersim.io import read_image
from meersim.stats import robust_rms


def _same_grid(wcs_a, shape_a, wcs_b, shape_b, tol_pix: float = 1e-3) -> bool:
    if shape_a != shape_b:
        return False
    ny, nx = shape_a
    xs = np.array([0, nx - 1, 0, nx - 1, nx / 2])
    ys = np.array([0, 0, ny - 1, ny - 1, ny / 2])
    ra, dec = wcs_a.wcs_pix2world(xs, ys, 0)
    xb, yb = wcs_b.wcs_world2pix(ra, dec, 0)
    return bool(np.all(np.abs(xb - xs) < tol_pix) and np.all(np.abs(yb - ys) < tol_pix))


def reproject_to(data: np.ndarray, wcs_from, wcs_to, shape_to: tuple[int, int]) -> np.ndarray:
    """Resample ``data`` [ny, nx] (on ``wcs_from``) onto ``wcs_to`` of ``shape_to`` (ny, nx).

    Bilinear (``scipy.ndimage.map_coordinates`` order 1) and NaN-aware: an output
    pixel whose interpolation touches a NaN or falls off the input is NaN. Values are
    surface brightness (e.g. Jy/beam), so no flux rescaling is applied.
    """
    ny, nx = shape_to
    yy, xx = np.mgrid[0:ny, 0:nx]
    ra, dec = wcs_to.wcs_pix2world(xx.ravel().astype(float), yy.ravel().astype(float), 0)
    xs, ys = wcs_from.wcs_world2pix(ra, dec, 0)
    # snap round-off (identical grids give 38.9999999 for 39)
    xs = np.where(np.abs(xs - np.round(xs)) < 1e-6, np.round(xs), xs)
    ys = np.where(np.abs(ys - np.round(ys)) < 1e-6, np.round(ys), ys)
    coords = np.vstack([ys, xs])
    data = np.asarray(data, dtype=np.float64)
    bad = ~np.isfinite(data)
    filled = np.where(bad, 0.0, data)
    # "nearest" extends the edge pixels by half a pixel; farther out is marked NaN below
    values = ndimage.map_coordinates(filled, coords, order=1, mode="nearest")
    valid = ndimage.map_coordinates((~bad).astype(np.float64), coords, order=1, mode="nearest")
    out = np.where(valid > 1.0 - 1e-6, values, np.nan)
    off = (xs < -0.5) | (xs > data.shape[1] - 0.5) | (ys < -0.5) | (ys > data.shape[0] - 0.5)
    out[off | ~np.isfinite(xs) | ~np.isfinite(ys)] = np.nan
    return out.reshape(ny, nx).astype(np.float32)


def _image_plane(image, path, channel: int) -> np.ndarray:
    if not -image.data.shape[0] <= channel < image.data.shape[0]:
        raise InputError(
            str(path), "channel", f"{channel} not in 0..{image.data.shape[0] - 1}.", "Pick a plane."
        )
    return np.asarray(image.data[channel], dtype=np.float32)


def _catalog_inputs(catalog, wcs, beam) -> CropTruthInputs:
    ra = _plain(catalog["ra"]).astype(float)
    dec = _plain(catalog["dec"]).astype(float)
    x, y = wcs.wcs_world2pix(ra, dec, 0)
    flux = _plain(catalog["flux"]).astype(float)
    if hasattr(catalog["flux"], "unit") and catalog["flux"].unit is not None:
        flux = catalog["flux"].to_value("Jy")
    peak = None
    if beam is not None and "major" in catalog.colnames:
        peak = component_peak(flux, _plain(catalog["major"]), _plain(catalog["minor"]), beam)
    return CropTruthInputs(Table(catalog), x, y, flux, peak)


def crop_real_images(
    images,
    output,
    *,
    pairs=None,
    catalogs=None,
    size: int = 256,
    stride: int = 200,
    max_nan: float = 0.3,
    channel: int = 0,
    overwrite: bool = False,
    progress: bool = True,
    stokes: str = "I",
):
    """Cut real FITS images (MGCLS/MIGHTEE products) into a crop store.

    Parameters
    ----------
    images : list of paths
        Basic (apparent) images, stored as product ``restored``; image k is field k.
    output : path of the store directory.
    pairs : list of paths, optional
        Paired images (e.g. the primary-beam corrected ``enhanced`` products), one per
        image, stored as product ``enhanced``; reprojected onto the basic image's grid
        (bilinear, NaN-aware) when the grids differ, so crop k of both shows the same sky.
    catalogs : list of paths, optional
        Source catalogs (read with :func:`meersim.catalogs.read_catalog`), one per
        image, for per-crop source counts and fluxes (catalog flux, Jy).
    size, stride : crop size and stride in pixels.
    max_nan : crops with a larger NaN fraction (in any product) are dropped.
    channel : image plane used for cubes (0 = the first, the MFS plane of MeerKAT products).
    stokes : Stokes plane (I, Q, U, V, ...), chosen by the STOKES axis's CRVAL.

    Returns
    -------
    CropStore of the written dataset.
    """
    images = [Path(p) for p in images]
    pairs = None if not pairs else [Path(p) for p in pairs]
    catalogs = None if not catalogs else [Path(p) for p in catalogs]
    _check_inputs(images, pairs, catalogs, max_nan, Path(output), overwrite)
    fields = []
    for k, path in enumerate(tqdm(images, desc="crop images", unit="image", disable=not progress)):
        planes, image = _read_planes(path, pairs[k] if pairs else None, channel, stokes)
        catalog = read_catalog(catalogs[k]) if catalogs else None
        cropped = _crop_image(k, path, planes, image, catalog, size, stride, max_nan)
        if cropped is not None:
            fields.append(cropped)
    if not fields:
        raise InputError("crops", "images", "gave no crops.", "Lower --size or raise --max-nan.")
    arrays, truth, sources = _stack_fields(fields)
    manifest = {
        "kind": "real",
        "images": [str(p) for p in images],
        "pairs": [str(p) for p in pairs] if pairs else None,
        "catalogs": [str(p) for p in catalogs] if catalogs else None,
        "crop_size": [size, size],
        "stride": stride,
        "max_nan": max_nan,
        "channel": channel,
        "stokes": stokes,
        "n_fields": len(images),
    }
    write_crops(output, arrays, truth, sources=sources, manifest=manifest, overwrite=overwrite)
    return open_store(output)


@dataclass
class _CroppedImage:
    crops: dict  # product -> float32 [n, size, size]
    truth: Table
    sources: Table | None


def _check_inputs(images, pairs, catalogs, max_nan, output: Path, overwrite: bool) -> None:
    for name, extra in (("--pair", pairs), ("--catalog", catalogs)):
        if extra is not None and len(extra) != len(images):
            raise InputError(
                "crops",
                name,
                f"{len(extra)} given for {len(images)} images.",
                "Give one per image.",
            )
    if not 0.0 <= max_nan <= 1.0:
        raise InputError("crops", "max_nan", f"must lie in [0, 1], got {max_nan}.")
    check_output(output, overwrite, store_exists_ok=False)  # never empties a foreign folder


def _read_planes(path: Path, pair: Path | None, channel: int, stokes: str = "I"):
    """The image plane (product ``restored``) and, if given, the reprojected paired plane."""
    image = read_image(path, stokes)
    plane = _image_plane(image, path, channel)
    planes = {"restored": plane}
    if pair is not None:
        other = read_image(pair, stokes)
        pair_plane = _image_plane(other, pair, channel)
        if not _same_grid(image.wcs, plane.shape, other.wcs, pair_plane.shape):
            pair_plane = reproject_to(pair_plane, other.wcs, image.wcs, plane.shape)
        planes["enhanced"] = pair_plane
    return planes, image


def _crop_image(k, path, planes, image, catalog, size, stride, max_nan) -> _CroppedImage | None:
    """Crops and truth of image ``k``; None (with a warning) if it is smaller than one crop."""
    plane = planes["restored"]
    origins = crop_grid(plane.shape, size, stride)
    if len(origins) == 0:
        warnings.warn(f"{path}: smaller than one {size}-pixel crop; skipped.", stacklevel=3)
        return None
    blank = np.zeros(plane.shape, bool)
    for p in planes.values():
        blank |= ~np.isfinite(p)
    nanfrac = nan_fractions(blank, origins, size)
    inputs = None if catalog is None else _catalog_inputs(catalog, image.wcs, image.beam)
    field_rms = robust_rms(plane, dtype=np.float64)
    keep = nanfrac <= max_nan
    kept = origins[keep]
    stats, sources = crop_truth_tables(inputs, kept, size, field_rms, blank=blank)
    crops = {p: cut(data, kept, size) for p, data in planes.items()}
    cx, cy = kept[:, 0] + (size - 1) / 2.0, kept[:, 1] + (size - 1) / 2.0
    ra, dec = image.wcs.wcs_pix2world(cx.astype(float), cy.astype(float), 0)
    truth = crop_table(k, kept, size, ra, dec, nanfrac[keep], stats, field_rms,
                       crops["restored"], image.beam)  # fmt: skip
    truth["image"] = np.full(len(kept), path.name)
    if sources is not None:
        sources["field_id"] = np.full(len(sources), k, dtype=np.int64)
    return _CroppedImage(crops, truth, sources)


def _stack_fields(fields: list[_CroppedImage]):
    """Concatenate the images' crops; source crop ids become global row indices."""
    products = list(fields[0].crops)
    arrays = {p: np.concatenate([f.crops[p] for f in fields]) for p in products}
    truth = vstack([f.truth for f in fields], metadata_conflicts="silent")
    sources, offset = [], 0
    for f in fields:
        if f.sources is not None:
            cid = np.asarray(f.sources["crop_id"])
            f.sources["crop_id"] = np.where(cid >= 0, cid + offset, -1)
            sources.append(f.sources)
        offset += len(f.truth)
    src = vstack(sources, metadata_conflicts="silent") if sources else None
    return arrays, truth, src
