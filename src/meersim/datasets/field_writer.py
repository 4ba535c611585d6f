"""The resumable, field-by-field writer of a crop store (docs/architecture.md §2 "Dataset").

A field computed anywhere is first *staged* (``fields/field_00012/`` written under a
temporary name, then renamed, so a staged field is always complete), then appended to
the Zarr arrays strictly in field order. ``manifest.json`` (replaced atomically)
records which fields are appended and their crop offsets; after a crash the arrays are
truncated back to what the manifest vouches for and the staged fields re-appended.
The layout is :mod:`meersim.datasets.store`'s.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.table import Table, vstack

from meersim.config import to_dict
from meersim.datasets.store import (
    check_arrays,
    create_float_array,
    create_product,
    field_dir_name,
    package_versions,
    read_manifest,
    read_staged_table,
    sources_to_global,
    staged_truth,
    write_manifest,
    zarr_group,
)
from meersim.datasets.store_files import (
    CROPS_TABLE,
    FORMAT_NAME,
    FORMAT_VERSION,
    MANIFEST,
    PSF,
    SOURCES_TABLE,
    STAGING,
    bad_crops,
    nan_fraction_of,
    prepare_root,
)
from meersim.errors import InputError
from meersim.io import (
    atomic_directory,
    disk_full_guard,
    plain_columns,
    save_npz,
    write_ecsv,
    write_text,
)


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
        return self.staging / field_dir_name(field_id)

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
        n, h, w = check_arrays(arrays, f"field {fid}") if arrays else (0, 0, 0)
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
        group = zarr_group(self.root, "r+")
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
            write_manifest(self.root, self.manifest)
            # the big arrays are now in the store; keep the small truth files until finalize
            (fdir / "arrays.npz").unlink()
            added.append(fid)
        return added

    def bad_fields(self) -> dict[int, list[str]]:
        """Appended fields whose crops do not match their truth: {field id: problems}."""
        group = zarr_group(self.root, "r")
        out = {}
        for p in self.manifest["products"]:
            if group[p].shape[0] != self.manifest["n_crops"]:
                out[-1] = [f"{p} holds {group[p].shape[0]} crops, not {self.manifest['n_crops']}"]
        for fid in self.manifest["fields_finished"]:
            start, n = self.manifest["field_offsets"][str(fid)]
            truth = read_staged_table(self._field_dir(fid), "crops")
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
        group = zarr_group(self.root, "r+")
        for p in self.manifest["products"]:
            group[p].resize((n_crops, *group[p].shape[1:]))
        write_manifest(self.root, self.manifest)

    def _write_extra_tables(self) -> None:
        """Concatenate each field's extra tables (``FieldResult.tables``) into ``NAME.ecsv``."""
        parts: dict[str, list] = {}
        for fid in self.manifest["fields_finished"]:
            start = self.manifest["field_offsets"][str(fid)][0]
            meta = json.loads((self._field_dir(fid) / "field.json").read_text())
            for name in meta.get("tables", []):
                table = read_staged_table(self._field_dir(fid), name)
                parts.setdefault(name, []).append(sources_to_global(table, start))
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
        truth, sources = staged_truth(self.root, self.manifest)
        write_ecsv(truth, self.root / CROPS_TABLE)
        if sources is not None:
            write_ecsv(sources, self.root / SOURCES_TABLE)
        self._write_extra_tables()
        self.manifest["complete"] = True
        write_manifest(self.root, self.manifest)
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
        old = read_manifest(root)
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
        group = zarr_group(root, "r+")
        for p in products:
            if group[p].shape[0] != old["n_crops"]:
                group[p].resize((old["n_crops"], *group[p].shape[1:]))
        return FieldWriter(root, old)
    prepare_root(root, products, overwrite=not resume)
    group = zarr_group(root, "a")  # "w" would empty the whole folder
    for p in products:
        create_product(group, p, 0, *crop_size)
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
    write_manifest(root, info)
    return FieldWriter(root, info)
