"""The files of a store directory, what a writer may replace, and one writer at a time.

Safety rules (docs/dataset.md "Safety"): a folder that is neither empty nor a store is
never deleted: writing into it is refused, and ``overwrite`` only adds the store's own
entries beside the files there (refused if a name clashes); replacing a store removes
only the store's own entries. One process at a time writes a store: it holds an
``fcntl`` lock on ``.meersim.lock``, which the kernel releases when the process ends,
so a crashed writer leaves no stale lock. Before a store is marked complete its crops
are checked against their truth (:func:`bad_crops`).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from astropy.table import Table

from meersim.errors import InputError
from meersim.io import make_dirs

FORMAT_NAME = "meersim-crops"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
CROPS_TABLE = "crops.ecsv"
SOURCES_TABLE = "sources.ecsv"
STAGING = "fields"
PSF = "psf"
IMAGE_PRODUCTS = ("sky", "dirty", "restored", "residual", "model", "enhanced")
LOCK_FILE = ".meersim.lock"
ZARR_META = "zarr.json"


def _store_entries(products) -> set[str]:
    """Names a store writes in its directory (nothing else is ever removed)."""
    return {ZARR_META, MANIFEST, CROPS_TABLE, SOURCES_TABLE, STAGING, PSF, LOCK_FILE,
            *IMAGE_PRODUCTS, *products}  # fmt: skip


def _old_products(root: Path) -> list[str]:
    try:
        return list(json.loads((root / MANIFEST).read_text()).get("products", []))
    except (OSError, ValueError, AttributeError):
        return []


def is_store(path) -> bool:
    """True when ``path`` holds a meersim store (complete or not), or the start of one."""
    root = Path(path)
    try:
        manifest = json.loads((root / MANIFEST).read_text())
        return isinstance(manifest, dict) and manifest.get("format") == FORMAT_NAME
    except (OSError, ValueError):
        # a build that died before its first manifest: only store entries, zarr.json first
        names = {e.name for e in root.iterdir()} if root.is_dir() else set()
        return ZARR_META in names and names <= _store_entries(())


def _foreign_entries(root: Path) -> list[str]:
    """Entries of ``root`` when it is a non-empty folder that holds no meersim store."""
    if not root.exists():
        return []
    if not root.is_dir():
        raise InputError(str(root), "output", "exists and is a file, not a directory.",
                         "Give a directory path.")  # fmt: skip
    names = sorted(e.name for e in root.iterdir() if e.name != LOCK_FILE)
    return [] if not names or is_store(root) else names


def check_output(path, overwrite: bool, *, store_exists_ok: bool = True) -> None:
    """Refuse to write a store into a non-empty folder that is not one, unless ``overwrite``.

    Even with ``overwrite`` nothing in such a folder is deleted: the store's entries
    are added beside the files there, and a name clash is refused. With
    ``store_exists_ok=False`` an existing store needs ``overwrite`` too.
    """
    root = Path(path)
    if not store_exists_ok and not overwrite and root.is_dir() and is_store(root):
        raise InputError(str(root), "output", "holds a meersim dataset already.",
                         "Pass --overwrite to replace it, or choose another directory.")  # fmt: skip
    foreign = _foreign_entries(root)
    if foreign and not overwrite:
        raise InputError(
            str(root), "output",
            f"is not empty ({len(foreign)} entries, e.g. {foreign[0]!r}) and holds no meersim "
            "dataset; meersim never deletes a folder it did not make.",
            "Choose a new or empty directory, or pass --overwrite to write the dataset beside "
            "those files (nothing is deleted).",
        )  # fmt: skip


def prepare_root(root: Path, products, overwrite: bool) -> None:
    """Make ``root`` ready for a new store; remove an old store's own entries only."""
    check_output(root, overwrite)
    foreign = _foreign_entries(root)
    if foreign:
        clashes = sorted(set(foreign) & _store_entries(products))
        if clashes:
            raise InputError(str(root), ", ".join(clashes),
                             "would be replaced by the dataset's own files.",
                             "Choose a new or empty directory.")  # fmt: skip
    elif root.is_dir() and is_store(root):
        check_output(root, overwrite, store_exists_ok=False)
        for name in _store_entries([*products, *_old_products(root)]) - {LOCK_FILE}:
            entry = root / name
            if entry.is_dir():
                shutil.rmtree(entry)
            elif entry.exists():
                entry.unlink()
    make_dirs(root)


@contextlib.contextmanager
def store_lock(path) -> Iterator[Path]:
    """Hold the advisory write lock of the store at ``path`` (created if needed).

    A second writer, in this process or another, gets an :class:`InputError` naming
    the holder. The kernel drops the lock when its process ends, so a crash leaves no
    stale lock behind.
    """
    root = make_dirs(path)
    handle = open(root / LOCK_FILE, "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise InputError(
            str(root), "lock", f"{holder} is writing this dataset now; two writers would "
            "corrupt it.", "Wait for that build to finish (or stop it), or use another directory.",
        ) from None  # fmt: skip
    try:
        handle.seek(0)
        handle.truncate()
        started = time.strftime("%Y-%m-%dT%H:%M:%S")
        handle.write(f"meersim pid {os.getpid()} on {socket.gethostname()} since {started}\n")
        handle.flush()
        yield root
    finally:
        handle.close()


def bad_crops(arrays: dict, nan_fraction, offset: int = 0) -> list[str]:
    """Crops with more non-finite pixels than their truth ``nan_fraction`` allows.

    ``arrays``: product -> [n, H, W]; ``nan_fraction`` [n] or None (no blanking
    recorded: nothing to check). Returns ``"product crop i"`` descriptions.
    """
    if nan_fraction is None:
        return []
    allowed = np.asarray(nan_fraction, dtype=np.float64)
    out = []
    for name, data in arrays.items():
        data = np.asarray(data)
        if len(data) != len(allowed):
            out.append(f"{name}: {len(data)} crops for {len(allowed)} truth rows")
            continue
        limit = np.rint(allowed * data.shape[1] * data.shape[2]) if data.size else allowed
        nonfinite = (~np.isfinite(data)).sum(axis=(1, 2)) if data.size else np.zeros(0)
        out += [f"{name} crop {offset + i}" for i in np.flatnonzero(nonfinite > limit)]
    return out


def nan_fraction_of(truth: Table):
    return np.asarray(truth["nan_fraction"], float) if "nan_fraction" in truth.colnames else None
