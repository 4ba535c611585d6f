"""The crop dataset store (docs/architecture.md §2 "Dataset").

Layout of a dataset directory ``ds/`` (a Zarr v3 group)::

    ds/
      zarr.json             group metadata
      <product>/            float32 [N, H, W], one chunk (1, H, W) per crop; NaN = blanked
                            (sky, dirty, restored, residual, model; enhanced for real pairs)
      psf/                  float32 [n_fields, P, P], each field's PSF centre-cropped to P
      crops.ecsv            per-crop truth; crop_id = row index into the arrays
      sources.ecsv          source truth: one row per (component, crop it falls in);
                            crop_id = -1 for components in no crop
      manifest.json         config, seeds, versions, products, crop size/stride, fields finished
      fields/               staging area of the incremental writer (gone once finalized)
      .meersim.lock         advisory lock held by the one process writing the store

What a writer may replace, the write lock and the crop/truth check live in
:mod:`meersim.datasets.store_files` (docs/dataset.md "Safety").

Fields are written one at a time by the resumable writer of
:mod:`meersim.datasets.field_writer`; this module writes a store in one go and reads
stores, complete or (``allow_partial``) still being built.
"""

from __future__ import annotations

import importlib.metadata
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import zarr
from astropy.table import Table, vstack

from meersim.config import to_dict
from meersim.datasets.store_files import (
    CROPS_TABLE,
    FORMAT_NAME,
    FORMAT_VERSION,
    MANIFEST,
    PSF,
    SOURCES_TABLE,
    STAGING,
    bad_crops,
    check_output,
    nan_fraction_of,
    prepare_root,
    store_lock,
)
from meersim.errors import InputError
from meersim.io import (
    disk_full_guard,
    read_ecsv,
    read_json,
    write_ecsv,
    write_text,
)


# ----------------------------------------------------------------------------------
# small helpers
# ----------------------------------------------------------------------------------
def package_versions() -> dict[str, str | None]:
    """Installed versions of the packages that determine the data (None if absent)."""
    out: dict[str, str | None] = {}
    for name in (
        "meersim",
        "numpy",
        "scipy",
        "astropy",
        "ducc0",
        "galsim",
        "katbeam",
        "zarr",
        "torch",
    ):
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def write_manifest(root: Path, manifest: dict) -> None:
    write_text(root / MANIFEST, json.dumps(to_dict(manifest), indent=1))


def _read_manifest(root: Path) -> dict:
    path = root / MANIFEST
    if not path.exists():
        raise InputError(
            str(root),
            MANIFEST,
            "missing: not a meersim dataset.",
            "Build it with `meersim dataset`.",
        )
    manifest = read_json(path, MANIFEST)
    if not isinstance(manifest, dict):
        raise InputError(str(path), MANIFEST, "is not a JSON object: not a meersim dataset.")
    return manifest


def check_arrays(arrays: dict[str, np.ndarray], source: str) -> tuple[int, int, int]:
    if not arrays:
        raise InputError(source, "arrays", "no product arrays given.")
    shapes = {name: np.shape(a) for name, a in arrays.items()}
    first = next(iter(shapes.values()))
    if len(first) != 3 or any(s != first for s in shapes.values()):
        raise InputError(source, "arrays", f"need equal [N, H, W] shapes, got {shapes}.")
    for name in arrays:
        if name == PSF or not name.isidentifier():
            raise InputError(source, name, "is not a valid product name.")
    return first


def zarr_group(root: Path, mode: str):
    return zarr.open_group(str(root), mode=mode, zarr_format=3)


def create_float_array(group, name: str, shape, chunks, shards=None):
    """A float32 store array (NaN fill, Zarr's default codec), replacing one of that name."""
    return group.create_array(name, shape=shape, chunks=chunks, shards=shards, dtype="float32",
                              fill_value=np.nan, overwrite=True)  # fmt: skip


def create_product(group, name: str, n: int, h: int, w: int):
    return create_float_array(group, name, (n, h, w), (1, h, w))


def sources_to_global(sources: Table, offset: int) -> Table:
    sources = Table(sources, copy=True)
    if "crop_id" not in sources.colnames:
        raise InputError("sources table", "crop_id", "column missing.")
    cid = np.asarray(sources["crop_id"], dtype=np.int64)
    sources["crop_id"] = np.where(cid >= 0, cid + offset, -1)
    return sources


# ----------------------------------------------------------------------------------
# one-shot writer
# ----------------------------------------------------------------------------------
def write_crops(
    path,
    arrays: dict[str, np.ndarray],
    truth: Table,
    psfs: np.ndarray | None = None,
    sources: Table | None = None,
    manifest: dict | None = None,
    overwrite: bool = False,
) -> Path:
    """Write a complete store in one go.

    An existing store at ``path`` is replaced only with ``overwrite`` (its own entries
    are removed, nothing else); a non-empty folder that is not a store is refused
    (with ``overwrite`` the store is written beside its files). Crops with more NaN
    than their ``nan_fraction`` truth says are refused.

    Parameters
    ----------
    arrays : dict of name -> float32 [N, H, W]
        Product crops (Jy/beam for images, Jy/pixel for ``model``); NaN marks blanks.
    truth : Table
        N rows, one per crop. ``crop_id`` (= row index) is added or checked.
    psfs : float32 [n_fields, P, P], optional
        Each field's PSF (peak 1).
    sources : Table, optional
        Source truth with a ``crop_id`` column (-1 = in no crop).
    manifest : dict, optional
        Extra manifest entries (config, seeds, ...), merged into the written manifest.
    overwrite : bool
        Replace a store at ``path`` (see above).
    """
    root = Path(path)
    n, h, w = check_arrays(arrays, str(root))
    truth = Table(truth, copy=True)
    if len(truth) != n:
        raise InputError(str(root), "truth", f"has {len(truth)} rows for {n} crops.")
    if "crop_id" in truth.colnames:
        if not np.array_equal(np.asarray(truth["crop_id"]), np.arange(n)):
            raise InputError(str(root), "truth.crop_id", "must equal the row index 0..N-1.")
    else:
        truth.add_column(np.arange(n, dtype=np.int64), name="crop_id", index=0)
    bad = bad_crops(arrays, nan_fraction_of(truth))
    if bad:
        raise InputError(str(root), "crops", f"{len(bad)} hold NaN/inf where their truth "
                         f"nan_fraction says they are not blanked (e.g. {bad[0]}).",
                         "Blank the truth's nan_fraction consistently or fix the images.")  # fmt: skip
    check_output(root, overwrite)
    with store_lock(root), disk_full_guard(root):
        prepare_root(root, list(arrays), overwrite)
        _write_one_shot(root, arrays, truth, psfs, sources, manifest, (n, h, w))
    return root


def _write_one_shot(root: Path, arrays, truth, psfs, sources, manifest, shape) -> None:
    n, h, w = shape
    group = zarr_group(root, "a")  # "w" would empty the whole folder
    for name, data in arrays.items():
        arr = create_product(group, name, n, h, w)
        if n:
            arr[:] = np.asarray(data, dtype=np.float32)
    n_fields = 0
    if psfs is not None:
        psfs = np.asarray(psfs, dtype=np.float32)
        if psfs.ndim != 3 or psfs.shape[1] != psfs.shape[2]:
            raise InputError(str(root), "psfs", f"need [n_fields, P, P], got {psfs.shape}.")
        p = psfs.shape[1]
        parr = create_float_array(group, PSF, psfs.shape, (1, p, p))
        parr[:] = psfs
        n_fields = psfs.shape[0]
    write_ecsv(truth, root / CROPS_TABLE)
    if sources is not None:
        write_ecsv(sources, root / SOURCES_TABLE)
    if "field_id" in truth.colnames and n:
        n_fields = max(n_fields, int(np.max(truth["field_id"])) + 1)
    info = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "products": list(arrays),
        "crop_size": [h, w],
        "psf_size": None if psfs is None else int(psfs.shape[1]),
        "n_crops": n,
        "n_fields": n_fields,
        "complete": True,
        "versions": package_versions(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    info.update(manifest or {})
    info["n_crops"] = n
    info["complete"] = True
    write_manifest(root, info)


def read_staged_table(directory: Path, stem: str, missing_ok: bool = False) -> Table | None:
    """What :func:`meersim.datasets.field_writer._stage_table` wrote (``.ecsv`` also from builds staged by older versions)."""
    arrays_path = directory / f"{stem}.npz"
    if arrays_path.exists():
        with np.load(arrays_path, allow_pickle=False) as saved:
            layout = json.loads(str(saved["layout"]))
            table = Table()
            for i, (name, unit) in enumerate(layout):
                table[name] = saved[f"column_{i}"]
                table[name].unit = unit
        return table
    ecsv_path = directory / f"{stem}.ecsv"
    if ecsv_path.exists() or not missing_ok:
        return read_ecsv(ecsv_path)
    return None


def field_dir_name(field_id: int) -> str:
    """The staging folder of field ``field_id`` (under ``STAGING``)."""
    return f"field_{int(field_id):05d}"


def staged_truth(root: Path, manifest: dict) -> tuple[Table, Table | None]:
    """The crop truth and source truth of the fields appended so far, from the staging area,
    with crop ids of the whole store."""
    truths, sources = [], []
    for fid in manifest["fields_finished"]:
        start, n = manifest["field_offsets"][str(fid)]
        fdir = root / STAGING / field_dir_name(fid)
        t = read_staged_table(fdir, "crops")
        t.add_column(np.arange(start, start + n, dtype=np.int64), name="crop_id", index=0)
        truths.append(t)
        staged_sources = read_staged_table(fdir, "sources", missing_ok=True)
        if staged_sources is not None:
            sources.append(sources_to_global(staged_sources, start))
    truth = vstack(truths, metadata_conflicts="silent") if truths else Table()
    src = vstack(sources, metadata_conflicts="silent") if sources else None
    return truth, src


# ----------------------------------------------------------------------------------
# reading
# ----------------------------------------------------------------------------------
class CropStore:
    """Read access to a dataset store. Use :func:`open_store`.

    Attributes
    ----------
    path : Path
    manifest : dict
    products : tuple of str
        The image products (``psf`` excluded).
    truth : Table
        Per-crop truth, row i = crop i.
    """

    def __init__(self, path: Path, manifest: dict, truth: Table, group):
        self.path = path
        self.manifest = manifest
        self.truth = truth
        self._group = group
        self.products = tuple(manifest["products"])
        self._sources = None

    @property
    def n_crops(self) -> int:
        return int(self.manifest["n_crops"])

    def __len__(self) -> int:
        return self.n_crops

    @property
    def crop_size(self) -> tuple[int, int]:
        return tuple(self.manifest["crop_size"])

    @property
    def field_ids(self) -> np.ndarray:
        """Field id of each crop (int64 [N]); zeros if the truth has no ``field_id``."""
        if "field_id" in self.truth.colnames:
            return np.asarray(self.truth["field_id"], dtype=np.int64)
        return np.zeros(self.n_crops, dtype=np.int64)

    @property
    def sources(self) -> Table | None:
        """The source truth catalog (``crop_id`` = -1 for sources in no crop), or None."""
        if self._sources is None and (self.path / SOURCES_TABLE).exists():
            self._sources = read_ecsv(self.path / SOURCES_TABLE)
        return self._sources

    def array(self, product: str):
        """The lazy Zarr array [N, H, W] of ``product`` (slice it to read)."""
        if product not in self.products and product != PSF:
            raise InputError(
                str(self.path),
                product,
                "no such product.",
                f"Available: {', '.join(self.products)}.",
            )
        return self._group[product]

    def psfs(self) -> np.ndarray | None:
        """All PSFs, float32 [n_fields, P, P] (peak 1), or None when none were stored."""
        if PSF not in self._group:
            return None
        return np.asarray(self._group[PSF][:])

    def crop(self, index: int, products=None) -> dict[str, np.ndarray]:
        """Crop ``index`` of each product (float32 [H, W]; NaN = blanked)."""
        index = int(index)
        if not 0 <= index < self.n_crops:
            raise IndexError(f"crop {index} outside 0..{self.n_crops - 1}")
        products = self.products if products is None else tuple(products)
        return {p: np.asarray(self.array(p)[index]) for p in products}

    def __repr__(self) -> str:
        return (
            f"CropStore({str(self.path)!r}, n_crops={self.n_crops}, products={self.products}, "
            f"crop_size={self.crop_size})"
        )


def open_store(path, allow_partial: bool = False) -> CropStore:
    """Open a dataset store for reading.

    A store still being built (or interrupted) raises :class:`InputError` unless
    ``allow_partial``, in which case the crops of the fields appended so far are served.
    """
    root = Path(path)
    if not root.is_dir():
        raise InputError(str(root), "path", "is not a directory.", "Give a dataset directory.")
    manifest = _read_manifest(root)
    if not manifest.get("complete", False):
        if not allow_partial:
            raise InputError(
                str(root),
                "manifest",
                f"dataset incomplete ({len(manifest.get('fields_finished', []))}/"
                f"{manifest.get('n_fields')} fields).",
                "Re-run `meersim dataset` with the same config and output to resume it.",
            )
        truth, _ = staged_truth(root, manifest)
    else:
        truth = read_ecsv(root / CROPS_TABLE)
    group = zarr_group(root, "r")
    return CropStore(root, manifest, truth, group)


def read_manifest(path) -> dict[str, Any]:
    """The ``manifest.json`` of a store, as a dict."""
    return _read_manifest(Path(path))
