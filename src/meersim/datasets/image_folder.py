"""A folder of PNG / JPEG / FITS images with a labels CSV, as ingested crops.

The CSV has one row per image: a file column (``file``, ``filename``, ``image`` or
``path``, relative to the folder) and any label columns (text or numbers, kept as
they are); a ``split`` column (train / valid / test) is the official split. Images
the CSV does not list are left out (counted in the manifest).

Pixel scale: a FITS image with celestial axes has its own (from its WCS); any other
image needs ``pixel_scale_arcsec``. FITS images keep their unit (e.g. Jy/beam) and
Stokes plane ``stokes``; PNG/JPEG keep their grey levels (colour is converted to
luminance, ITU-R 601-2, as Pillow's ``convert("L")``).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS
from astropy.wcs.utils import proj_plane_pixel_scales
from tqdm.auto import tqdm

from meersim.datasets.labelled import Ingested, base_truth
from meersim.errors import InputError
from meersim.io import read_image

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".fits", ".fit", ".fits.gz")
FILE_COLUMNS = ("file", "filename", "image", "path")


def _suffix(path: Path) -> str:
    name = path.name.lower()
    return ".fits.gz" if name.endswith(".fits.gz") else path.suffix.lower()


def read_labels(path) -> tuple[Table, str]:
    """The labels CSV and the name of its file column."""
    path = Path(path)
    if not path.is_file():
        raise InputError(str(path), "labels CSV", "does not exist.",
                         "Give --labels FILE (one row per image, a 'file' column).")  # fmt: skip
    try:
        table = Table.read(path, format="ascii.csv")
    except Exception as exc:  # noqa: BLE001 - astropy raises many types on bad CSV
        raise InputError(str(path), "CSV", f"cannot be parsed ({type(exc).__name__}).") from None
    lower = {c.lower(): c for c in table.colnames}
    column = next((lower[c] for c in FILE_COLUMNS if c in lower), None)
    if column is None:
        raise InputError(str(path), "file column", f"none of {FILE_COLUMNS} in {table.colnames}.",
                         "Name the image column 'file'.")  # fmt: skip
    if len(table) == 0:
        raise InputError(str(path), "rows", "no images listed.")
    names = [str(v) for v in table[column]]
    if len(set(names)) != len(names):
        raise InputError(str(path), column, "lists an image twice.")
    return table, column


def read_plane(path: Path, stokes: str = "I") -> tuple[np.ndarray, float | None]:
    """One 2-D image (float32) and its pixel scale (arcsec; None without a celestial WCS)."""
    suffix = _suffix(path)
    if suffix in (".png", ".jpg", ".jpeg"):
        return _read_picture(path), None
    if suffix not in (".fits", ".fit", ".fits.gz"):
        raise InputError(str(path), "suffix", f"{suffix!r} is not PNG, JPEG or FITS.")
    try:
        header = fits.getheader(path)
    except OSError as exc:
        raise InputError(str(path), "file", f"is not a readable FITS file ({exc}).") from None
    ctypes = [str(header.get(f"CTYPE{i}", "")).upper() for i in (1, 2)]
    if ctypes[0].startswith("RA") and ctypes[1].startswith("DEC"):
        image = read_image(path, stokes)
        scale = float(np.mean(proj_plane_pixel_scales(WCS(header, naxis=2)))) * 3600.0
        return np.asarray(image.data[0], dtype=np.float32), scale
    data = np.squeeze(np.asarray(fits.getdata(path), dtype=np.float32))
    if data.ndim != 2:
        raise InputError(str(path), "NAXIS", f"{data.shape}: without RA/DEC axes only 2-D "
                         "images can be read.", "Cut the plane you want into a 2-D file.")  # fmt: skip
    return data, None


def _read_picture(path: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            if img.mode not in ("L", "I", "I;16", "F"):
                if img.mode not in ("LA", "P", "1"):
                    warnings.warn(f"{path}: {img.mode} image converted to grey (luminance).",
                                  stacklevel=4)  # fmt: skip
                img = img.convert("L")
            return np.asarray(img, dtype=np.float32)
    except (UnidentifiedImageError, OSError) as exc:
        raise InputError(str(path), "image", f"cannot be decoded ({exc}).") from None


def fit_size(image: np.ndarray, size: int) -> np.ndarray:
    """Centre crop, or pad with NaN (blank), to ``size`` x ``size``."""
    out = np.full((size, size), np.nan, dtype=np.float32)
    h, w = image.shape
    sy, sx = max(0, (h - size) // 2), max(0, (w - size) // 2)
    part = image[sy : sy + size, sx : sx + size]
    oy, ox = (size - part.shape[0]) // 2, (size - part.shape[1]) // 2
    out[oy : oy + part.shape[0], ox : ox + part.shape[1]] = part
    return out


def read_image_folder(folder, labels=None, *, pixel_scale_arcsec: float | None = None,
                      size: int | None = None, stokes: str = "I",
                      progress: bool = True) -> Ingested:  # fmt: skip
    """Images of ``folder`` listed in ``labels`` (default ``folder/labels.csv``).

    pixel_scale_arcsec : pixel scale of images without a celestial WCS (arcsec/pixel);
        required when there are such images.
    size : centre crop / NaN-pad every image to this side (pixels); None = all images
        must have one shape already.
    stokes : Stokes plane of FITS cubes.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(str(folder), "folder", "is not a directory.")
    labels = Path(labels) if labels is not None else folder / "labels.csv"
    table, column = read_labels(labels)
    planes, scales = [], []
    for name in tqdm([str(v) for v in table[column]], desc="images", disable=not progress):
        path = folder / name
        if not path.is_file():
            raise InputError(str(labels), column, f"lists {name!r}, which is not in {folder}.")
        plane, scale = read_plane(path, stokes)
        if scale is None and pixel_scale_arcsec is None:
            raise InputError(str(path), "pixel scale", "the image has no celestial WCS.",
                             "Give --pixel-scale ARCSEC (e.g. 1.8 for FIRST).")  # fmt: skip
        planes.append(plane if size is None else fit_size(plane, int(size)))
        scales.append(scale if scale is not None else float(pixel_scale_arcsec))
    shapes = sorted({p.shape for p in planes})
    if len(shapes) > 1:
        raise InputError(str(folder), "image shapes", f"differ ({shapes[0]}, {shapes[-1]}, ...).",
                         "Give --size N to centre-crop or pad every image to N x N.")  # fmt: skip
    split = table["split"] if "split" in table.colnames else None
    truth = base_truth(len(planes), 0.0, split)
    truth["cell_arcsec"] = np.asarray(scales, dtype=float)
    for name in table.colnames:
        if name not in ("split", column) and name not in truth.colnames:
            truth[name] = table[name]
    truth["file"] = np.array([str(v) for v in table[column]])
    listed = {folder / str(v) for v in table[column]}
    unlisted = [p for p in folder.iterdir() if _suffix(p) in IMAGE_SUFFIXES and p not in listed]
    manifest = {"format_read": "folder", "labels": str(labels), "n_unlisted": len(unlisted),
                "size": size, "stokes": stokes}  # fmt: skip
    return Ingested(np.stack(planes), truth, manifest)
