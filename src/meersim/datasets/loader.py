"""PyTorch access to a crop dataset store (see :mod:`meersim.datasets.store`).

:class:`CropDataset` reads crops lazily: the Zarr arrays are (re)opened in each
process on first use, so the dataset pickles cheaply and works in multi-worker
``DataLoader`` s (fork or spawn).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from astropy.table import Table

from meersim.datasets.store import open_store
from meersim.errors import InputError


class CropDataset(torch.utils.data.Dataset):
    """Crops of a dataset store as tensors.

    Parameters
    ----------
    path : str or Path
        Dataset directory written by ``meersim dataset`` / ``meersim crops``.
    products : sequence of str
        Products stacked as channels, e.g. ``("restored",)`` or ``("restored", "sky")``.
    label_columns : sequence of str
        Truth columns returned under ``"labels"``. Numeric columns become 0-d tensors
        (float32, or int64 for integer columns); text columns (e.g. ``dominant_class``)
        become int64 indices into ``label_classes[col]`` (sorted unique values).
    nan_to : float
        Value that replaces NaN (blanked) pixels, in the product's unit (Jy/beam).
    transform : callable, optional
        Applied to the float32 image tensor [C, H, W] after NaN replacement.
    indices : sequence of int, optional
        Use only these crop ids (e.g. a train/validation split); item i is crop ``indices[i]``.
    in_memory : bool, optional
        Read the products into memory once (per process) instead of one Zarr read per
        item. None (default): when they take at most ``IN_MEMORY_LIMIT_BYTES``.
    """

    IN_MEMORY_LIMIT_BYTES = 1 << 30

    def __init__(
        self,
        path,
        products: Sequence[str] = ("restored",),
        label_columns: Sequence[str] = (),
        nan_to: float = 0.0,
        transform: Callable | None = None,
        indices: Sequence[int] | None = None,
        in_memory: bool | None = None,
    ):
        self.path = Path(path)
        store = open_store(self.path)
        if isinstance(products, str):
            products = (products,)
        self.products = tuple(products)
        for p in self.products:
            if p not in store.products:
                raise InputError(
                    str(self.path),
                    p,
                    "product not in this dataset.",
                    f"Choose from {', '.join(store.products)}.",
                )
        self.label_columns = tuple(label_columns)
        for col in self.label_columns:
            if col not in store.truth.colnames:
                raise InputError(
                    str(self.path) + "/crops.ecsv",
                    col,
                    "no such truth column.",
                    "See docs/dataset.md for the truth columns.",
                )
        self.nan_to = float(nan_to)
        self.transform = transform
        self.truth: Table = store.truth
        self.manifest = store.manifest
        self.crop_size = store.crop_size
        n = store.n_crops
        if indices is None:
            self.indices = np.arange(n, dtype=np.int64)
        else:
            self.indices = np.asarray(indices, dtype=np.int64)
            if self.indices.size and (self.indices.min() < 0 or self.indices.max() >= n):
                raise InputError(str(self.path), "indices", f"must lie in 0..{n - 1}.")
        self.label_classes: dict[str, list[str]] = {}
        self._labels: dict[str, torch.Tensor] = {}
        for col in self.label_columns:
            values = np.asarray(self.truth[col])
            if values.dtype.kind in "USO":
                classes = sorted({str(v) for v in values})
                self.label_classes[col] = classes
                lookup = {c: i for i, c in enumerate(classes)}
                self._labels[col] = torch.tensor(
                    [lookup[str(v)] for v in values], dtype=torch.int64
                )
            elif values.dtype.kind in "iub":
                self._labels[col] = torch.as_tensor(values.astype(np.int64))
            else:
                self._labels[col] = torch.as_tensor(values.astype(np.float32))
        if in_memory is None:
            h, w = self.crop_size
            in_memory = n * h * w * 4 * len(self.products) <= self.IN_MEMORY_LIMIT_BYTES
        self.in_memory = bool(in_memory)
        self._arrays = None
        self._pid = None

    # -- lazy per-process Zarr handles (or in-memory copies) ------------------------------
    def _open(self):
        if self._arrays is None or self._pid != os.getpid():
            store = open_store(self.path)
            self._arrays = [store.array(p) for p in self.products]
            if self.in_memory:
                self._arrays = [np.asarray(a[:]) for a in self._arrays]
            self._pid = os.getpid()
        return self._arrays

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_arrays"] = None
        state["_pid"] = None
        return state

    # -- Dataset protocol ---------------------------------------------------------------
    def __len__(self) -> int:
        return int(self.indices.size)

    def __getitem__(self, i: int) -> dict:
        if not -len(self) <= i < len(self):
            raise IndexError(f"item {i} outside a dataset of {len(self)} crops")
        crop_id = int(self.indices[i])
        arrays = self._open()
        image = np.stack([np.asarray(a[crop_id], dtype=np.float32) for a in arrays])
        image = torch.from_numpy(
            np.nan_to_num(image, nan=self.nan_to, posinf=self.nan_to, neginf=self.nan_to)
        )
        if self.transform is not None:
            image = self.transform(image)
        labels = {col: self._labels[col][crop_id] for col in self.label_columns}
        return {"image": image, "crop_id": crop_id, "labels": labels}

    # -- metadata ---------------------------------------------------------------------
    def psfs(self) -> np.ndarray | None:
        """PSF of every field, float32 [n_fields, P, P] (peak 1), or None if not stored."""
        return open_store(self.path).psfs()

    @property
    def field_ids(self) -> np.ndarray:
        """Field id of each item (int64 [len(self)])."""
        if "field_id" in self.truth.colnames:
            return np.asarray(self.truth["field_id"], dtype=np.int64)[self.indices]
        return np.zeros(len(self), dtype=np.int64)

    @property
    def crop_ids(self) -> np.ndarray:
        """Crop id (row of the store) of each item (int64 [len(self)])."""
        return self.indices.copy()

    def __repr__(self) -> str:
        return (
            f"CropDataset({str(self.path)!r}, n={len(self)}, products={self.products}, "
            f"labels={self.label_columns})"
        )
