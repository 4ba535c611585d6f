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

The incremental :class:`FieldWriter` makes generation resumable: a field computed
anywhere is first *staged* (``fields/field_00012/`` written under a temporary name,
then renamed, so a staged field is always complete), then appended to the Zarr
arrays strictly in field order. ``manifest.json`` (replaced atomically) records
which fields are appended and their crop offsets; after a crash the arrays are
truncated back to what the manifest vouches for and the staged fields re-appended.
"""

from __future__ import annotations

import importlib.metadata
import json
import shutil
import time
from dataclasses import dataclass
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
    atomic_directory,
    disk_full_guard,
    plain_columns,
    read_ecsv,
    read_json,
    save_npz,
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


def _write_manifest(root: Path, manifest: dict) -> None:
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


def _check_arrays(arrays: dict[str, np.ndarray], source: str) -> tuple[int, int, int]:
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


def _zarr_group(root: Path, mode: str):
    return zarr.open_group(str(root), mode=mode, zarr_format=3)


def create_float_array(group, name: str, shape, chunks, shards=None):
    """A float32 store array (NaN fill, Zarr's default codec), replacing one of that name."""
    return group.create_array(name, shape=shape, chunks=chunks, shards=shards, dtype="float32",
                              fill_value=np.nan, overwrite=True)  # fmt: skip


def _create_product(group, name: str, n: int, h: int, w: int):
    return create_float_array(group, name, (n, h, w), (1, h, w))


def _sources_to_global(sources: Table, offset: int) -> Table:
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
    n, h, w = _check_arrays(arrays, str(root))
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
    group = _zarr_group(root, "a")  # "w" would empty the whole folder
    for name, data in arrays.items():
        arr = _create_product(group, name, n, h, w)
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
    _write_manifest(root, info)


# ----------------------------------------------------------------------------------
# incremental, resumable writer
# ----------------------------------------------------------------------------------
def _plain_table(table: Table) -> bool:
    """True when ``table`` has plain columns (:func:`meersim.io.plain_columns`), no meta and
    no descriptions: what :func:`_stage_table` stores as arrays."""
    return (
        not table.meta
        and plain_columns(table)
        and not any(col.info.description for col in table.itercols())
    )


def _stage_table(table: Table, directory: Path, stem: str) -> None:
    """A staged field's table: its columns as ``stem.npz`` (units beside them) when the
    table is plain, else ``stem.ecsv``. Only the writer reads these files; arrays are
    exact and 10x faster to write and read than ECSV or FITS through astropy."""
    table = Table(table)
    if not _plain_table(table):
        write_ecsv(table, directory / f"{stem}.ecsv")
        return
    columns = {f"column_{i}": np.asarray(table[name]) for i, name in enumerate(table.colnames)}
    layout = [[name, None if table[name].unit is None else table[name].unit.to_string()]
              for name in table.colnames]  # fmt: skip
    save_npz(directory / f"{stem}.npz", layout=np.array(json.dumps(layout)), **columns)


def _read_staged_table(directory: Path, stem: str, missing_ok: bool = False) -> Table | None:
    """What :func:`_stage_table` wrote (``.ecsv`` also from builds staged by older versions)."""
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


@dataclass
class FieldResult:
    """All crops of one field, as a worker hands them to the writer.

    Attributes
    ----------
    field_id : int
    arrays : dict name -> float32 [n, H, W]
    truth : Table, n rows (crop_id local 0..n-1 or absent)
    psf : float32 [P, P] or None
    sources : Table with local crop_id (-1 = in no crop), or None
    params : dict of the values drawn for this field
    timings : dict stage -> seconds
    tables : further per-field tables with local crop_id (e.g. ``pybdsf``), stored as
        ``NAME.ecsv`` beside ``sources.ecsv``
    """

    field_id: int
    arrays: dict[str, np.ndarray]
    truth: Table
    psf: np.ndarray | None = None
    sources: Table | None = None
    params: dict | None = None
    timings: dict | None = None
    tables: dict | None = None


class FieldWriter:
    """Resumable writer: stage fields in any order, append them to the store in field order.

    Use :func:`open_field_writer`; then ``stage(result)`` for each computed field,
    ``flush()`` to append the staged fields that are next in order, and
    ``finalize()`` once every field is in.
    """

    def __init__(self, root: Path, manifest: dict):
        self.root = root
        self.manifest = manifest
        self.staging = root / STAGING
        self.staging.mkdir(exist_ok=True)

    # -- state -------------------------------------------------------------------
    @property
    def n_fields(self) -> int:
        return int(self.manifest["n_fields"])

    @property
    def appended(self) -> list[int]:
        """Field ids appended to the arrays, in order (0..k-1)."""
        return list(self.manifest["fields_finished"])

    def staged(self) -> set[int]:
        """Field ids staged on disk and not yet appended."""
        out = set()
        for entry in self.staging.glob("field_*"):
            if entry.is_dir() and entry.name[6:].isdigit():
                out.add(int(entry.name[6:]))
        return out - set(self.appended)

    def done(self) -> set[int]:
        """Fields that need no more computing (appended or staged)."""
        return set(self.appended) | self.staged()

    def todo(self) -> list[int]:
        """Fields still to compute, in order."""
        done = self.done()
        return [i for i in range(self.n_fields) if i not in done]

    # -- staging -------------------------------------------------------------------
    def _field_dir(self, field_id: int) -> Path:
        return self.staging / f"field_{field_id:05d}"

    def stage(self, result: FieldResult) -> None:
        """Write one field's results to ``fields/field_NNNNN/`` atomically (tmp dir + rename)."""
        fid = int(result.field_id)
        if not 0 <= fid < self.n_fields:
            raise InputError(str(self.root), "field_id", f"{fid} outside 0..{self.n_fields - 1}.")
        products = self.manifest["products"]
        missing = [p for p in products if p not in result.arrays]
        if missing:
            raise InputError(str(self.root), f"field {fid}", f"lacks products {missing}.")
        arrays = {p: np.asarray(result.arrays[p], dtype=np.float32) for p in products}
        n, h, w = _check_arrays(arrays, f"field {fid}") if arrays else (0, 0, 0)
        if n and [h, w] != list(self.manifest["crop_size"]):
            raise InputError(str(self.root), f"field {fid}", f"crop size {h}x{w} differs.")
        if len(result.truth) != n:
            raise InputError(str(self.root), f"field {fid}", "truth rows != crops.")
        final = self._field_dir(fid)
        if final.exists():
            return
        with atomic_directory(final) as tmp:
            save = {f"product_{p}": a for p, a in arrays.items()}
            if result.psf is not None:
                save["psf"] = np.asarray(result.psf, dtype=np.float32)
            save_npz(tmp / "arrays.npz", **save)
            truth = Table(result.truth, copy=True)
            if "crop_id" in truth.colnames:
                truth.remove_column("crop_id")
            _stage_table(truth, tmp, "crops")
            if result.sources is not None:
                _stage_table(result.sources, tmp, "sources")
            for name, table in (result.tables or {}).items():
                _stage_table(table, tmp, name)
            meta = {
                "tables": sorted(result.tables or {}),
                "field_id": fid,
                "n_crops": n,
                "params": result.params or {},
            }
            meta["timings"] = result.timings or {}
            write_text(tmp / "field.json", json.dumps(to_dict(meta)))

    # -- appending -------------------------------------------------------------------
    def flush(self) -> list[int]:
        """Append staged fields that come next in field order; returns the fields appended."""
        with disk_full_guard(self.root):
            return self._append_staged()

    def _append_staged(self) -> list[int]:
        group = _zarr_group(self.root, "r+")
        added = []
        while True:
            fid = len(self.manifest["fields_finished"])
            fdir = self._field_dir(fid)
            if fid >= self.n_fields or not fdir.is_dir():
                break
            meta = json.loads((fdir / "field.json").read_text())
            start = int(self.manifest["n_crops"])
            n = int(meta["n_crops"])
            with np.load(fdir / "arrays.npz") as npz:
                for p in self.manifest["products"]:
                    arr = group[p]
                    if arr.shape[0] != start + n:
                        arr.resize((start + n, *arr.shape[1:]))
                    if n:
                        arr[start : start + n] = npz[f"product_{p}"]
                if "psf" in npz.files:
                    psf = npz["psf"]
                    if PSF not in group:
                        p = psf.shape[0]
                        create_float_array(group, PSF, (self.n_fields, p, p), (1, p, p))
                    group[PSF][fid] = psf
                    self.manifest["psf_size"] = int(psf.shape[0])
            self.manifest["fields_finished"].append(fid)
            self.manifest["field_offsets"][str(fid)] = [start, n]
            self.manifest["field_params"][str(fid)] = meta.get("params", {})
            self.manifest["n_crops"] = start + n
            _write_manifest(self.root, self.manifest)
            # the big arrays are now in the store; keep the small truth files until finalize
            (fdir / "arrays.npz").unlink()
            added.append(fid)
        return added

    def _field_tables(self) -> tuple[Table, Table | None]:
        truths, sources = [], []
        for fid in self.manifest["fields_finished"]:
            start, n = self.manifest["field_offsets"][str(fid)]
            fdir = self._field_dir(fid)
            t = _read_staged_table(fdir, "crops")
            t.add_column(np.arange(start, start + n, dtype=np.int64), name="crop_id", index=0)
            truths.append(t)
            staged_sources = _read_staged_table(fdir, "sources", missing_ok=True)
            if staged_sources is not None:
                sources.append(_sources_to_global(staged_sources, start))
        truth = vstack(truths, metadata_conflicts="silent") if truths else Table()
        src = vstack(sources, metadata_conflicts="silent") if sources else None
        return truth, src

    def bad_fields(self) -> dict[int, list[str]]:
        """Appended fields whose crops do not match their truth: {field id: problems}."""
        group = _zarr_group(self.root, "r")
        out = {}
        for p in self.manifest["products"]:
            if group[p].shape[0] != self.manifest["n_crops"]:
                out[-1] = [f"{p} holds {group[p].shape[0]} crops, not {self.manifest['n_crops']}"]
        for fid in self.manifest["fields_finished"]:
            start, n = self.manifest["field_offsets"][str(fid)]
            truth = _read_staged_table(self._field_dir(fid), "crops")
            arrays = {p: group[p][start : start + n] for p in self.manifest["products"]}
            bad = bad_crops(arrays, nan_fraction_of(truth), start)
            if bad:
                out[fid] = bad
        return out

    def _verify(self) -> None:
        """Refuse to mark the store complete when appended crops contradict their truth;
        roll the store back to the first bad field so a re-run recomputes from there."""
        bad = self.bad_fields()
        if not bad:
            return
        first = min(bad)
        self._roll_back(max(first, 0))
        example = next(iter(bad.values()))[0]
        raise InputError(
            str(self.root), f"field(s) {sorted(bad)}",
            f"crops hold NaN/inf where their truth says nan_fraction is lower (e.g. {example}): "
            "the store was changed while it was built (another writer?). Rolled back to "
            f"{max(first, 0)} finished field(s).",
            "Run the same command again to recompute the rest.",
        )  # fmt: skip

    def _roll_back(self, first_bad: int) -> None:
        keep = [f for f in self.manifest["fields_finished"] if f < first_bad]
        drop = [f for f in self.manifest["fields_finished"] if f >= first_bad]
        n_crops = sum(self.manifest["field_offsets"][str(f)][1] for f in keep)
        for fid in drop:
            self.manifest["field_offsets"].pop(str(fid), None)
            self.manifest["field_params"].pop(str(fid), None)
            shutil.rmtree(self._field_dir(fid), ignore_errors=True)
        self.manifest["fields_finished"] = keep
        self.manifest["n_crops"] = n_crops
        group = _zarr_group(self.root, "r+")
        for p in self.manifest["products"]:
            group[p].resize((n_crops, *group[p].shape[1:]))
        _write_manifest(self.root, self.manifest)

    def _write_extra_tables(self) -> None:
        """Concatenate each field's extra tables (``FieldResult.tables``) into ``NAME.ecsv``."""
        parts: dict[str, list] = {}
        for fid in self.manifest["fields_finished"]:
            start = self.manifest["field_offsets"][str(fid)][0]
            meta = json.loads((self._field_dir(fid) / "field.json").read_text())
            for name in meta.get("tables", []):
                table = _read_staged_table(self._field_dir(fid), name)
                parts.setdefault(name, []).append(_sources_to_global(table, start))
        for name, tables in parts.items():
            write_ecsv(vstack(tables, metadata_conflicts="silent"), self.root / f"{name}.ecsv")

    def finalize(self, keep_staging: bool = False) -> Path:
        """Write ``crops.ecsv``/``sources.ecsv`` in field order and mark the store complete.

        On a store that is already complete this changes nothing (the per-field truth
        files it was made from are gone); it only removes staging left by a crash
        between marking the store complete and deleting the staging area.
        """
        if self.manifest.get("complete"):
            if not keep_staging:
                shutil.rmtree(self.staging, ignore_errors=True)
            return self.root
        self.flush()
        if len(self.manifest["fields_finished"]) != self.n_fields:
            missing = sorted(set(range(self.n_fields)) - set(self.manifest["fields_finished"]))
            raise InputError(
                str(self.root),
                "fields",
                f"{len(missing)} not finished ({missing[:5]}...).",
                "Re-run the build to compute them.",
            )
        self._verify()
        truth, sources = self._field_tables()
        write_ecsv(truth, self.root / CROPS_TABLE)
        if sources is not None:
            write_ecsv(sources, self.root / SOURCES_TABLE)
        self._write_extra_tables()
        self.manifest["complete"] = True
        _write_manifest(self.root, self.manifest)
        if not keep_staging:
            shutil.rmtree(self.staging, ignore_errors=True)
        return self.root


def open_field_writer(
    path,
    products: list[str],
    crop_size: tuple[int, int],
    n_fields: int,
    manifest: dict | None = None,
    resume: bool = True,
) -> FieldWriter:
    """Create (or reopen, to resume) a store for ``n_fields`` fields.

    The caller holds :func:`store_lock`. With ``resume=False`` an old store at ``path``
    is replaced (its own entries only); a non-empty folder that is not a store is
    refused unless ``resume=False`` (then the store goes beside its files).
    When reopening, ``products``, ``crop_size``, ``n_fields`` and the manifest's
    ``config``/``seed`` must match what the store was started with; arrays longer
    than the manifest's ``n_crops`` (a crash mid-append) are truncated back.
    """
    root = Path(path)
    products = list(products)
    crop_size = [int(crop_size[0]), int(crop_size[1])]
    extra = dict(manifest or {})
    if resume and (root / MANIFEST).exists():
        old = _read_manifest(root)
        if old.get("format") != FORMAT_NAME:
            raise InputError(str(root), MANIFEST, "is not a meersim crop store.")
        mismatch = [
            key
            for key, new in (
                ("products", products),
                ("crop_size", crop_size),
                ("n_fields", n_fields),
                ("config", extra.get("config")),
                ("seed", extra.get("seed")),
            )
            if key in old and json.loads(json.dumps(to_dict(new))) != old[key]
        ]
        if mismatch:
            raise InputError(
                str(root),
                ", ".join(mismatch),
                "differ(s) from the dataset already in this directory.",
                "Use another output directory, or --overwrite to start again.",
            )
        if "fields_finished" not in old:
            raise InputError(
                str(root),
                MANIFEST,
                "holds a dataset written in one go, not field by field.",
                "Use another output directory, or --overwrite to replace it.",
            )
        if old.get("complete"):
            writer = FieldWriter.__new__(FieldWriter)
            writer.root, writer.manifest, writer.staging = root, old, root / STAGING
            return writer
        group = _zarr_group(root, "r+")
        for p in products:
            if group[p].shape[0] != old["n_crops"]:
                group[p].resize((old["n_crops"], *group[p].shape[1:]))
        return FieldWriter(root, old)
    prepare_root(root, products, overwrite=not resume)
    group = _zarr_group(root, "a")  # "w" would empty the whole folder
    for p in products:
        _create_product(group, p, 0, *crop_size)
    info = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "products": products,
        "crop_size": crop_size,
        "psf_size": None,
        "n_fields": int(n_fields),
        "n_crops": 0,
        "fields_finished": [],
        "field_offsets": {},
        "field_params": {},
        "complete": False,
        "versions": package_versions(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    for key, value in extra.items():
        info.setdefault(key, value)
    info = json.loads(json.dumps(to_dict(info)))
    _write_manifest(root, info)
    return FieldWriter(root, info)


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
        writer = FieldWriter.__new__(FieldWriter)
        writer.root, writer.manifest, writer.staging = root, manifest, root / STAGING
        truth, _ = writer._field_tables()
    else:
        truth = read_ecsv(root / CROPS_TABLE)
    group = _zarr_group(root, "r")
    return CropStore(root, manifest, truth, group)


def read_manifest(path) -> dict[str, Any]:
    """The ``manifest.json`` of a store, as a dict."""
    return _read_manifest(Path(path))
