"""The embeddings directory: the contract between training (``meersim embed``) and evaluation.

Files of an embeddings directory::

    embeddings.npy   float32 [N, D]: one vector per crop
    crop_ids.npy     int64 [N]: the dataset row (``crops.ecsv`` crop_id) of each vector
    meta.json        dataset path, checkpoint, backbone, embed_dim, products, ...
    attention.npy    optional float16 [N, heads, h, w]: ViT CLS -> patch attention

Every row can be traced back to its truth through ``crop_ids`` and the dataset.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from meersim.errors import InputError
from meersim.io import read_json, save_npy, write_json

VECTORS_FILE = "embeddings.npy"
CROP_IDS_FILE = "crop_ids.npy"
META_FILE = "meta.json"
ATTENTION_FILE = "attention.npy"


@dataclass
class Embeddings:
    """An embeddings directory in memory (attention memory-mapped when present)."""

    vectors: np.ndarray  # float32 [N, D]
    crop_ids: np.ndarray  # int64 [N]
    meta: dict
    attention: np.ndarray | None = None  # float16 [N, heads, h, w]

    def __len__(self) -> int:
        return len(self.vectors)


def write_embeddings(
    out_dir, vectors: np.ndarray, crop_ids: np.ndarray, meta: dict, attention=None
) -> Path:
    """Write an embeddings directory (each file atomically; ``meta.json`` last)."""
    out = Path(out_dir)
    vectors = np.asarray(vectors, dtype=np.float32)
    crop_ids = np.asarray(crop_ids, dtype=np.int64)
    if vectors.ndim != 2 or crop_ids.shape != (vectors.shape[0],):
        raise InputError(str(out), "embeddings",
                         f"shape {vectors.shape} does not match crop ids {crop_ids.shape}.")  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
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
    vectors = np.load(root / VECTORS_FILE).astype(np.float32, copy=False)
    crop_ids = np.load(root / CROP_IDS_FILE).astype(np.int64, copy=False)
    if vectors.ndim != 2 or crop_ids.shape != (vectors.shape[0],):
        raise InputError(str(root), VECTORS_FILE,
                         f"shape {vectors.shape} does not match crop_ids {crop_ids.shape}.")  # fmt: skip
    meta = read_json(root / META_FILE, META_FILE)
    att = root / ATTENTION_FILE
    attention = np.load(att, mmap_mode="r") if att.exists() else None
    return Embeddings(vectors, crop_ids, meta, attention)
