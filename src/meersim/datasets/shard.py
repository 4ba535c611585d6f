"""A finished store rewritten with Zarr v3 shards: one file per ``crops_per_shard`` crops.

A store keeps one chunk, and so one file, per crop and product, which suits appending
fields one at a time and reading single crops. At 10^6 crops that is 5 x 10^6 files,
more than many cluster file systems allow a user. :func:`shard_store` copies a finished
store into a new directory whose product arrays keep the (1, H, W) chunks inside shard
files of ``crops_per_shard`` crops (the Zarr v3 sharding codec), so
:class:`~meersim.datasets.loader.CropDataset` and :func:`~meersim.datasets.store.open_store`
read it unchanged. Method and numbers: docs/dataset.md ("Sharded copies").

Each shard is written once, whole, then read back and compared with the source; the
manifest records the shards done (replaced atomically), so an interrupted copy resumes
at the first shard not done. The source is only read.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from meersim.config import to_dict
from meersim.datasets.store import (
    CropStore,
    create_float_array,
    open_store,
    read_manifest,
    write_manifest,
    zarr_group,
)
from meersim.datasets.store_files import (
    MANIFEST,
    PSF,
    ZARR_META,
    check_output,
    is_store,
    prepare_root,
    store_lock,
)
from meersim.errors import InputError
from meersim.io import atomic_write, disk_full_guard

#: Default crops per shard file: 64 MiB per product at 256 x 256 float32 crops.
DEFAULT_CROPS_PER_SHARD = 256
SHARDED = "sharded"


def _side_files(root: Path) -> list[Path]:
    """The store's tables and reports beside its arrays (top-level ``.ecsv`` and ``.json``)."""
    return sorted(
        p
        for p in root.iterdir()
        if p.is_file() and p.suffix in (".ecsv", ".json") and p.name not in (MANIFEST, ZARR_META)
    )


def _check_paths(source: Path, output: Path) -> None:
    src, out = source.resolve(), output.resolve()
    if src == out or src in out.parents or out in src.parents:
        raise InputError(str(output), "output", f"is {source} or lies inside it (or around it); "
                         "the sharded copy needs a directory of its own.",
                         "Give an output directory outside the source dataset.")  # fmt: skip


def _resumable(output: Path, record: dict, n_crops: int) -> dict | None:
    """The manifest of an earlier copy of the same source with the same shard size, else None."""
    if not (output / MANIFEST).exists():
        return None
    manifest = read_manifest(output)
    old = manifest.get(SHARDED)
    if (
        isinstance(old, dict)
        and old.get("source") == record["source"]
        and old.get("source_created") == record["source_created"]
        and old.get("crops_per_shard") == record["crops_per_shard"]
        and manifest.get("n_crops") == n_crops
    ):
        return manifest
    return None


def _check_new_output(source: CropStore, output: Path, overwrite: bool) -> None:
    """Refuse an output a new copy may not write into (before any lock file goes there)."""
    check_output(output, overwrite, store_exists_ok=overwrite)
    clashes = [p.name for p in _side_files(source.path) if (output / p.name).exists()]
    if clashes and not is_store(output):  # with overwrite, an old store's own files may go
        raise InputError(str(output), ", ".join(clashes), "exist(s) and would be replaced; "
                         "meersim never overwrites files it did not make.",
                         "Choose a new or empty directory.")  # fmt: skip


def _start(source: CropStore, output: Path, record: dict, overwrite: bool) -> dict:
    """Create the empty sharded arrays and the manifest of a new copy; returns the manifest."""
    prepare_root(output, [*source.products, PSF], overwrite=overwrite)
    group = zarr_group(output, "a")
    n, (h, w) = source.n_crops, source.crop_size
    for product in source.products:
        create_float_array(group, product, (n, h, w), (1, h, w),
                           shards=(record["crops_per_shard"], h, w))  # fmt: skip
    psfs = source.psfs()
    if psfs is not None:
        create_float_array(group, PSF, psfs.shape, (1, *psfs.shape[1:]))[:] = psfs
    manifest = json.loads(json.dumps(to_dict(source.manifest)))
    manifest["complete"] = False
    manifest[SHARDED] = record
    write_manifest(output, manifest)
    return manifest


def shard_store(
    source,
    output,
    crops_per_shard: int = DEFAULT_CROPS_PER_SHARD,
    *,
    overwrite: bool = False,
    progress: bool = True,
) -> CropStore:
    """Copy the finished store ``source`` to ``output`` with ``crops_per_shard`` crops per file.

    Resumes an interrupted copy of the same source at the same shard size. An existing
    store at ``output`` is replaced only with ``overwrite`` (its own entries only); a
    folder that is not a store is refused unless ``overwrite`` (then the copy goes
    beside its files, and a name clash is refused). Returns the copy, opened.
    """
    if isinstance(crops_per_shard, bool) or not isinstance(crops_per_shard, (int, np.integer)) \
            or crops_per_shard < 1:  # fmt: skip
        raise InputError("shard", "crops_per_shard", f"must be an integer >= 1, got "
                         f"{crops_per_shard!r}.", f"Use e.g. {DEFAULT_CROPS_PER_SHARD}.")  # fmt: skip
    source_path, output = Path(source), Path(output)
    store = open_store(source_path)  # refuses an unfinished store
    if store.n_crops == 0:
        raise InputError(str(source_path), "n_crops", "the dataset holds no crops.",
                         "Nothing to shard.")  # fmt: skip
    _check_paths(source_path, output)
    n = store.n_crops
    per = int(min(crops_per_shard, n))
    record = {"source": str(source_path.resolve()), "source_created": store.manifest.get("created"),
              "crops_per_shard": per, "shards_done": 0, "n_shards": -(-n // per)}  # fmt: skip
    if overwrite or _resumable(output, record, n) is None:
        _check_new_output(store, output, overwrite)
    with store_lock(output), disk_full_guard(output):
        manifest = None if overwrite else _resumable(output, record, n)
        if manifest is None:
            _check_new_output(store, output, overwrite)  # again, now that the lock is held
            manifest = _start(store, output, record, overwrite)
        if manifest.get("complete"):
            return open_store(output)
        group = zarr_group(output, "r+")
        done = int(manifest[SHARDED]["shards_done"])
        for shard in tqdm(range(done, record["n_shards"]), desc="shard", unit="shard",
                          disable=not progress, initial=done, total=record["n_shards"]):  # fmt: skip
            lo, hi = shard * per, min((shard + 1) * per, n)
            for product in store.products:
                block = np.asarray(store.array(product)[lo:hi])
                group[product][lo:hi] = block
                if not np.array_equal(np.asarray(group[product][lo:hi]), block, equal_nan=True):
                    raise InputError(str(output), f"{product}[{lo}:{hi}]",
                                     "reads back different from what was written (disk fault?).",
                                     "Check the disk, then run the same command again.")  # fmt: skip
            manifest[SHARDED]["shards_done"] = shard + 1
            write_manifest(output, manifest)
        for path in _side_files(store.path):
            with atomic_write(output / path.name) as dst, open(path, "rb") as src:
                shutil.copyfileobj(src, dst)
        manifest["complete"] = True
        write_manifest(output, manifest)
    return open_store(output)
