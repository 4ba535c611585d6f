"""The embeddings directory: the contract between training (``meersim embed``) and evaluation.

Files of an embeddings directory::

    embeddings.npy   float32 [N, D]: one vector per crop
    crop_ids.npy     int64 [N]: the dataset row (``crops.ecsv`` crop_id) of each vector
    meta.json        dataset path, checkpoint, backbone, embed_dim, products,
                     dataset_fingerprint, ...
    attention.npy    optional float16 [N, heads, h, w]: ViT CLS -> patch attention

Every row can be traced back to its truth through ``crop_ids`` and the dataset.
``dataset_fingerprint`` (crop count, a hash of the crop ids and a hash of the truth
table) lets :func:`check_pairing` refuse to pair embeddings with the truth of
another dataset, or with crop ids that were reordered or duplicated since.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from meersim.errors import InputError
from meersim.io import make_dirs, read_json, save_npy, write_json

VECTORS_FILE = "embeddings.npy"
CROP_IDS_FILE = "crop_ids.npy"
META_FILE = "meta.json"
ATTENTION_FILE = "attention.npy"
FINGERPRINT = "dataset_fingerprint"


@dataclass
class Embeddings:
    """An embeddings directory in memory (attention memory-mapped when present)."""

    vectors: np.ndarray  # float32 [N, D]
    crop_ids: np.ndarray  # int64 [N]
    meta: dict
    attention: np.ndarray | None = None  # float16 [N, heads, h, w]

    def __len__(self) -> int:
        return len(self.vectors)


def truth_digest(truth) -> str:
    """SHA-256 of a truth table's column names, dtypes, units and values."""
    digest = hashlib.sha256()
    for name in truth.colnames:
        column = truth[name]
        values = np.asarray(column.filled() if hasattr(column, "filled") else column)
        digest.update(f"{name}|{values.dtype.kind}|{getattr(column, 'unit', None)}|".encode())
        if values.dtype.kind in "USO":
            digest.update("\x1f".join(str(v) for v in values.tolist()).encode())
        else:
            digest.update(np.ascontiguousarray(values).tobytes())
    return digest.hexdigest()


def ids_digest(crop_ids) -> str:
    """SHA-256 of crop ids as int64 in their order."""
    return hashlib.sha256(np.ascontiguousarray(crop_ids, dtype=np.int64).tobytes()).hexdigest()


def dataset_fingerprint(store, crop_ids) -> dict:
    """What :func:`check_pairing` compares: crop count, crop-id hash, truth hash."""
    return {"n_crops": int(store.n_crops), "crop_ids_sha256": ids_digest(crop_ids),
            "truth_sha256": truth_digest(store.truth)}  # fmt: skip


def write_embeddings(
    out_dir, vectors: np.ndarray, crop_ids: np.ndarray, meta: dict, attention=None, dataset=None
) -> Path:
    """Write an embeddings directory (each file atomically; ``meta.json`` last).

    ``dataset``: the :class:`~meersim.datasets.store.CropStore` embedded; its
    fingerprint goes into ``meta.json`` so evaluation can check the pairing.
    """
    out = Path(out_dir)
    vectors = np.asarray(vectors, dtype=np.float32)
    crop_ids = np.asarray(crop_ids, dtype=np.int64)
    if vectors.ndim != 2 or crop_ids.shape != (vectors.shape[0],):
        raise InputError(str(out), "embeddings",
                         f"shape {vectors.shape} does not match crop ids {crop_ids.shape}.")  # fmt: skip
    if dataset is not None:
        meta = dict(meta, **{FINGERPRINT: dataset_fingerprint(dataset, crop_ids)})
    make_dirs(out)
    save_npy(out / VECTORS_FILE, vectors)
    save_npy(out / CROP_IDS_FILE, crop_ids)
    if attention is not None:
        save_npy(out / ATTENTION_FILE, np.asarray(attention))
    write_json(out / META_FILE, dict(meta, n=int(len(vectors))))
    return out


def load_embeddings(path) -> Embeddings:
    """Read an embeddings directory written by :func:`write_embeddings`."""
    root = Path(path)
    for name in (VECTORS_FILE, CROP_IDS_FILE, META_FILE):
        if not (root / name).is_file():
            raise InputError(str(root), name, "missing: not an embeddings directory.",
                             "Make one with `meersim embed`.")  # fmt: skip
    vectors = _load_npy(root / VECTORS_FILE).astype(np.float32, copy=False)
    crop_ids = _load_npy(root / CROP_IDS_FILE)
    if crop_ids.dtype.kind not in "iu":
        raise InputError(str(root / CROP_IDS_FILE), "dtype", f"{crop_ids.dtype} is not integer.",
                         "Re-run `meersim embed`.")  # fmt: skip
    crop_ids = crop_ids.astype(np.int64, copy=False)
    if vectors.ndim != 2 or crop_ids.shape != (vectors.shape[0],):
        raise InputError(str(root), VECTORS_FILE,
                         f"shape {vectors.shape} does not match crop_ids {crop_ids.shape}.")  # fmt: skip
    meta = read_json(root / META_FILE, META_FILE)
    if not isinstance(meta, dict):
        raise InputError(str(root / META_FILE), META_FILE, "is not a JSON object.")
    att = root / ATTENTION_FILE
    attention = _load_npy(att, mmap_mode="r") if att.exists() else None
    return Embeddings(vectors, crop_ids, meta, attention)


def _load_npy(path: Path, mmap_mode=None) -> np.ndarray:
    """``np.load`` of a plain .npy; a truncated or foreign file is an InputError."""
    try:
        array = np.load(path, mmap_mode=mmap_mode, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise InputError(str(path), path.name, f"is truncated or not a .npy array ({exc}).",
                         "Re-run `meersim embed` to write it again.") from None  # fmt: skip
    if not isinstance(array, np.ndarray):
        raise InputError(str(path), path.name, "is not a single .npy array.")
    return array


def check_pairing(emb: Embeddings, store, source: str = "embeddings") -> None:
    """Refuse to pair ``emb`` with ``store``'s truth unless its crop ids belong to it.

    Crop ids must be unique and lie in 0..N-1; the fingerprint in ``meta.json`` must
    match the store's crop count and truth, and the crop ids as written. Embeddings
    without a fingerprint (older meersim) get a warning, not an error.
    """
    ids = np.asarray(emb.crop_ids, dtype=np.int64)
    fix = "Embed this dataset with `meersim embed`, or pass the dataset they were made from."
    if ids.size and (ids.min() < 0 or ids.max() >= store.n_crops):
        raise InputError(source, CROP_IDS_FILE, f"ids {ids.min()}..{ids.max()} fall outside the "
                         f"{store.n_crops} crops of {store.path}.", fix)  # fmt: skip
    unique, counts = np.unique(ids, return_counts=True)
    if np.any(counts > 1):
        raise InputError(source, CROP_IDS_FILE, f"{int(np.sum(counts > 1))} crop ids appear more "
                         f"than once (e.g. {int(unique[counts > 1][0])}).", fix)  # fmt: skip
    fingerprint = (emb.meta or {}).get(FINGERPRINT)
    if not isinstance(fingerprint, dict):
        warnings.warn(f"{source}: meta.json has no dataset fingerprint (older meersim), so its "
                      f"pairing with {store.path} cannot be checked; re-embed to add one.",
                      stacklevel=2)  # fmt: skip
        return
    problems = []
    if fingerprint.get("n_crops") != store.n_crops:
        problems.append(f"made from {fingerprint.get('n_crops')} crops, the dataset has "
                        f"{store.n_crops}")  # fmt: skip
    elif fingerprint.get("truth_sha256") != truth_digest(store.truth):
        problems.append("the dataset's truth table differs from the one embedded")
    if fingerprint.get("crop_ids_sha256") != ids_digest(ids):
        problems.append("crop_ids.npy changed since it was written (reordered or replaced)")
    if problems:
        raise InputError(source, FINGERPRINT, f"does not match {store.path}: "
                         + "; ".join(problems) + ".", fix)  # fmt: skip
