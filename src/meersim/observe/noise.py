"""Thermal noise: MeerKAT L-band SEFD, per-visibility sigma and image-plane rms.

Radiometer equation per real and imaginary part of one visibility (OSKAR
theory documentation, "Noise"; Thompson, Moran & Swenson 2017 §6.2)::

    sigma = SEFD / sqrt(2 * channel_width * dump_time)

A dirty pixel is ``sum_i W_i Re(V_i e^{i phi_i}) / sum_i W_i``. With independent
real/imaginary noise of variance ``sigma_i^2`` each, ``Re(V e^{i phi})`` has
variance ``sigma_i^2``, so the image rms for imaging weights W is::

    rms = sqrt(sum_i W_i^2 sigma_i^2) / sum_i W_i

which for natural weighting (``W_i = w_i = 1/sigma_i^2``) is ``1/sqrt(sum_i w_i)``.
"""

from __future__ import annotations

import numpy as np

from meersim.errors import InputError

# MeerKAT L-band SEFD (Jy) vs frequency (Hz): table in SpheMakh/msutils
# (~Tsys/eta 19.7-24 K in the MeerKAT cookbook). Linear interpolation between
# points; held constant beyond the ends.
SEFD_TABLE_HZ = np.array([856e6, 1100e6, 1250e6, 1400e6, 1500e6, 1600e6, 1711e6])
SEFD_TABLE_JY = np.array([580.0, 443.0, 443.0, 424.0, 405.0, 405.0, 421.0])


def sefd_jy(freq_hz) -> np.ndarray:
    """System equivalent flux density (Jy) at ``freq_hz`` (Hz), MeerKAT L band."""
    f = np.asarray(freq_hz, dtype=np.float64)
    if np.any(~np.isfinite(f)) or np.any(f <= 0):
        raise InputError("noise", "freq_hz", "frequencies must be positive Hz.")
    return np.interp(f, SEFD_TABLE_HZ, SEFD_TABLE_JY)


def visibility_sigma(freq_hz, channel_width_hz: float, dump_s: float) -> np.ndarray:
    """Noise sigma (Jy) per real and per imaginary part of one visibility: SEFD/sqrt(2 dnu tau).

    ``freq_hz`` (Hz, scalar or array), ``channel_width_hz`` (Hz), ``dump_s`` (s).
    """
    if not (channel_width_hz > 0 and dump_s > 0):
        raise InputError("noise", "channel_width_hz/dump_s", "must both be > 0.")
    return sefd_jy(freq_hz) / np.sqrt(2.0 * float(channel_width_hz) * float(dump_s))


def natural_image_rms(weights, flag=None) -> float:
    """Image rms (Jy/beam) of natural weighting: 1/sqrt(sum w) with w = 1/sigma^2 (Jy^-2).

    Flagged samples (``flag`` True) and zero weights do not count.
    """
    w = np.asarray(weights, dtype=np.float64)
    if flag is not None:
        w = np.where(np.asarray(flag, bool), 0.0, w)
    total = w.sum()
    if not total > 0:
        raise InputError("noise", "weights", "no unflagged visibility with weight > 0.")
    return float(1.0 / np.sqrt(total))


def image_rms(imaging_weights, sigma, flag=None) -> float:
    """Image rms (Jy/beam) for imaging weights W and per-part sigma: sqrt(sum W^2 s^2)/sum W."""
    W = np.asarray(imaging_weights, dtype=np.float64)
    s = np.broadcast_to(np.asarray(sigma, dtype=np.float64), W.shape)
    if flag is not None:
        W = np.where(np.asarray(flag, bool), 0.0, W)
    total = W.sum()
    if not total > 0:
        raise InputError("noise", "imaging_weights", "no unflagged visibility with weight > 0.")
    return float(np.sqrt(np.sum(W**2 * s**2)) / total)


def sigma_for_target_rms(target_rms_jy: float, sigma, flag=None) -> np.ndarray:
    """Scale per-visibility sigma (Jy) so the natural-weighting image rms is ``target_rms_jy``.

    ``sigma`` (any shape, e.g. (nchan,) or (nrow, nchan)) keeps its shape across
    the band; ``flag`` (broadcastable to the visibilities) marks samples that do
    not count. Returns ``k * sigma`` with ``1/sqrt(sum 1/(k sigma)^2) = target``.
    """
    if not (target_rms_jy is not None and np.isfinite(target_rms_jy) and target_rms_jy > 0):
        raise InputError("noise", "target_rms_jy", f"must be > 0 Jy, got {target_rms_jy}.")
    s = np.asarray(sigma, dtype=np.float64)
    if flag is not None:
        shape = np.broadcast_shapes(s.shape, np.shape(flag))
        w = np.where(np.broadcast_to(flag, shape), 0.0, 1.0 / np.broadcast_to(s, shape) ** 2)
    else:
        w = 1.0 / s**2
    current = natural_image_rms(w)
    return s * (float(target_rms_jy) / current)
