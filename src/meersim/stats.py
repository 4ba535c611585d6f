"""Robust noise statistics shared by every stage.

The noise of a radio image is measured as sigma = 1.4826 x MAD (median absolute
deviation): the standard deviation of a Gaussian, insensitive to the few bright
sources. WSClean's ``-auto-threshold`` uses the same estimator (WSClean manual,
"Automatic thresholding").
"""

from __future__ import annotations

import numpy as np

MAD_TO_SIGMA = 1.4826  # sigma of a Gaussian = 1.4826 x MAD


def robust_rms(values, *, dtype=None) -> float:
    """1.4826 x MAD of the finite values (image units, e.g. Jy/beam); NaN if none is finite.

    The medians are taken in ``dtype``; by default float32 and float64 inputs keep
    their precision and anything else is promoted to float64.
    """
    values = np.asarray(values)
    if dtype is not None:
        values = values.astype(dtype)
    elif values.dtype not in (np.float32, np.float64):
        values = values.astype(np.float64)
    values = values[np.isfinite(values)]  # a copy, so the medians may reorder it in place
    if values.size == 0:
        return float("nan")
    centre = np.median(values, overwrite_input=True)
    np.abs(np.subtract(values, centre, out=values), out=values)
    return float(MAD_TO_SIGMA * np.median(values, overwrite_input=True))


def robust_median_sigma(values: np.ndarray) -> tuple[float, float]:
    """Median and 1.4826 x MAD of float64 ``values`` (all assumed finite)."""
    values = np.asarray(values, dtype=np.float64)
    median = np.median(values)
    return float(median), float(MAD_TO_SIGMA * np.median(np.abs(values - median)))
