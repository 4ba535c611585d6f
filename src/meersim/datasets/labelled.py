"""What every ingested store shares: the :class:`Ingested` bundle and the base truth
columns (``field_id`` = row, ``cell_arcsec``, ``split``)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from astropy.table import Table

from meersim.errors import InputError

SPLIT_NAMES = {"train": "train", "training": "train", "valid": "valid", "val": "valid",
               "validation": "valid", "test": "test"}  # fmt: skip


@dataclass
class Ingested:
    """Images and their truth rows, ready for the store.

    images : float32 [N, H, W] (NaN = blank); truth : N rows; manifest : extra entries.
    """

    images: np.ndarray
    truth: Table
    manifest: dict = field(default_factory=dict)


def base_truth(n: int, pixel_scale_arcsec: float, split=None) -> Table:
    """The columns every ingested store has: field_id (= row), cell_arcsec, split."""
    truth = Table()
    truth["field_id"] = np.arange(n, dtype=np.int64)
    truth["cell_arcsec"] = np.full(n, float(pixel_scale_arcsec))
    truth["cell_arcsec"].unit = "arcsec"
    if split is not None:
        truth["split"] = normalise_split(split, "split")
    return truth


def normalise_split(values, source: str) -> np.ndarray:
    """Split names lower-cased and mapped to train / valid / test (anything else refused)."""
    out = []
    for v in values:
        name = SPLIT_NAMES.get(as_text(v).strip().lower())
        if name is None:
            raise InputError(source, "split", f"value {as_text(v)!r} is not train, valid or test.",
                             "Use train/valid/test (or val/validation).")  # fmt: skip
        out.append(name)
    return np.array(out, dtype="U5")


def as_text(value) -> str:
    if isinstance(value, (bytes, np.bytes_)):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, np.ndarray) and value.shape == ():
        return as_text(value[()])
    return str(value)
