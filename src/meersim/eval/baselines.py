"""Baselines every model is compared with, on the same crops and folds.

- ``random_init``: the same backbone with random weights (``embed(..., random_init=True)``)
  -- what the architecture and the input scaling give without any training;
- ``raw_pca``: PCA of the raw pixels (the product, block-averaged to ``raw_size`` pixels a
  side, NaN -> 0, in Jy/beam), fitted on all crops without labels, keeping as many
  components as the model's embedding has dimensions (at most N - 1 and the pixel count).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.table import Table
from sklearn.decomposition import PCA

from meersim.errors import InputError
from meersim.ssl.embed import embed

RANDOM = "random_init"
RAW = "raw_pca"


def truth_for(store, crop_ids: np.ndarray) -> Table:
    """Rows of the store's truth for ``crop_ids``, in that order."""
    crop_ids = np.asarray(crop_ids, dtype=np.int64)
    if crop_ids.size and (crop_ids.min() < 0 or crop_ids.max() >= store.n_crops):
        raise InputError(
            str(store.path),
            "crop_ids",
            f"outside 0..{store.n_crops - 1}.",
            "Are the embeddings from this dataset?",
        )
    return store.truth[crop_ids]


def align_to(crop_ids: np.ndarray, other_ids: np.ndarray, other_vectors: np.ndarray, source: str):
    """Reorder ``other_vectors`` so that its rows follow ``crop_ids``."""
    pos = {int(c): i for i, c in enumerate(np.asarray(other_ids))}
    missing = [int(c) for c in crop_ids if int(c) not in pos]
    if missing:
        raise InputError(
            source,
            "crop_ids",
            f"lacks {len(missing)} crops of the model's embeddings (e.g. {missing[:3]}).",
            "Embed the same dataset with --random-init.",
        )
    return np.asarray(other_vectors)[[pos[int(c)] for c in crop_ids]]


def block_average(crops: np.ndarray, size: int) -> np.ndarray:
    """Downsample [N, H, W] to [N, size, size] by averaging equal blocks (NaN -> 0 first).

    H and W are first trimmed to multiples of the block; crops smaller than ``size`` stay as they are.
    """
    x = np.nan_to_num(np.asarray(crops, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    n, h, w = x.shape
    by, bx = max(1, h // size), max(1, w // size)
    ny, nx = h // by, w // bx
    x = x[:, : ny * by, : nx * bx]
    return x.reshape(n, ny, by, nx, bx).mean(axis=(2, 4))


def raw_pixel_pca(
    store, crop_ids: np.ndarray, product: str, n_components: int, raw_size: int = 32, seed: int = 0
) -> np.ndarray:
    """PCA features of the raw ``product`` pixels (Jy/beam, block-averaged, NaN -> 0): [N, n]."""
    arr = store.array(product)
    rows = [block_average(np.asarray(arr[int(i)])[None], raw_size)[0] for i in crop_ids]
    pix = np.stack(rows).reshape(len(rows), -1).astype(np.float64)
    n = int(max(1, min(n_components, pix.shape[0] - 1, pix.shape[1])))
    return PCA(n_components=n, random_state=seed).fit_transform(pix).astype(np.float32)


def make_random_embeddings(meta: dict, emb_dir, ds_path, out_dir, device=None, progress=True):
    """Embed ``ds_path`` with the random-weight twin of the checkpoint in ``meta``;
    returns the embeddings directory (``out_dir/random_init_embeddings``)."""
    checkpoint = meta.get("checkpoint")
    if not checkpoint:
        raise InputError(
            str(Path(emb_dir) / "meta.json"),
            "checkpoint",
            "not recorded; cannot make random-init embeddings.",
            "Pass --random EMB_DIR from `meersim embed --random-init`.",
        )
    target = Path(out_dir) / "random_init_embeddings"
    return embed(checkpoint, ds_path, target, products=meta.get("products") or None,
                 random_init=True, device=device, progress=progress)  # fmt: skip
