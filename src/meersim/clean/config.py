"""CLEAN settings (WSClean option names in brackets) and threshold parsing."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from meersim.errors import InputError


@dataclass
class CleanConfig:
    """CLEAN parameters (WSClean names in brackets).

    Parameters
    ----------
    gain : float
        Minor-cycle loop gain, fraction of the peak removed per component (-gain).
    mgain : float
        Major-cycle gain: a minor cycle stops once the peak fell by this fraction (-mgain).
    niter : int
        Most components over all cycles (-niter). The default (10^6) is a safety
        net that realistic fields cleaned to a threshold do not reach; a stop by it
        warns (:class:`~meersim.clean.major.CleanLimitWarning`). With
        ``threshold = 0`` and ``threshold_sigma = None`` cleaning runs exactly
        ``niter`` iterations.
    threshold : float
        Absolute stopping level in Jy/beam (-threshold); 0 for none.
    threshold_sigma : float or None
        Stop at this many sigma of the residual (-auto-threshold); None for none.
        With both thresholds the higher one applies.
    auto_mask_sigma : float or None
        Clean first to this many sigma without a mask, then continue within the
        mask of the components found (-auto-mask). Must exceed ``threshold_sigma``.
    max_major : int
        Most major cycles (-nmiter).
    multiscale : bool
        Multiscale CLEAN instead of Högbom (-multiscale).
    scales : tuple of float
        Multiscale scale sizes in units of the clean-beam FWHM (0 = point).
    scale_bias : float
        Multiscale scale bias in (0, 1]; lower favours larger scales (-multiscale-scale-bias).
    image_plane_only : bool
        Update the residual with the PSF only, never from visibilities
        (used automatically when the observation kept no visibilities).
    clark : bool
        Högbom iterations subtract the PSF's central patch in Clark's rounds, each
        ended by an exact FFT update (default); False subtracts the full PSF at every
        tracked pixel (exact Högbom on the active set, for checks; several times slower
        on large images). docs/clean.md.
    """

    gain: float = 0.1
    mgain: float = 0.8
    niter: int = 1_000_000
    threshold: float = 0.0
    threshold_sigma: float | None = 3.0
    auto_mask_sigma: float | None = None
    max_major: int = 20
    multiscale: bool = False
    scales: tuple[float, ...] = (0.0, 2.0, 4.0, 8.0)
    scale_bias: float = 0.6
    image_plane_only: bool = False
    clark: bool = True

    def __post_init__(self):
        src = "clean config"

        def number(name, value, low, high, low_open=False, high_open=False, fix=None):
            try:
                value = float(value)
            except (TypeError, ValueError):
                raise InputError(src, name, f"must be a number, got {value!r}.", fix) from None
            bad = (
                not np.isfinite(value)
                or (value <= low if low_open else value < low)
                or (value >= high if high_open else value > high)
            )
            if bad:
                lo = "(" if low_open else "["
                hi = ")" if high_open else "]"
                raise InputError(src, name, f"must lie in {lo}{low}, {high}{hi}, got {value}.", fix)
            return value

        self.gain = number("gain", self.gain, 0.0, 1.0, low_open=True, fix="e.g. 0.1.")
        self.mgain = number("mgain", self.mgain, 0.0, 1.0, low_open=True, fix="e.g. 0.8.")
        self.threshold = number(
            "threshold", self.threshold, 0.0, np.inf, high_open=True,
            fix="Give a level >= 0 in Jy/beam, e.g. 1e-5.",
        )  # fmt: skip
        if self.threshold_sigma is not None:
            self.threshold_sigma = number(
                "threshold_sigma", self.threshold_sigma, 0.0, np.inf, low_open=True,
                high_open=True, fix="e.g. 3 (sigma), or None for no sigma threshold.",
            )  # fmt: skip
        if self.auto_mask_sigma is not None:
            self.auto_mask_sigma = number(
                "auto_mask_sigma", self.auto_mask_sigma, 0.0, np.inf, low_open=True,
                high_open=True, fix="e.g. 5 (sigma).",
            )  # fmt: skip
            if self.threshold_sigma is not None and self.auto_mask_sigma <= self.threshold_sigma:
                raise InputError(
                    src, "auto_mask_sigma",
                    f"({self.auto_mask_sigma}) must exceed threshold_sigma ({self.threshold_sigma}).",
                    "The mask is found at a higher level, e.g. auto_mask_sigma 5 with threshold 3 sigma.",
                )  # fmt: skip
        for name in ("niter", "max_major"):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not float(value).is_integer()
                or value < (0 if name == "niter" else 1)
            ):
                raise InputError(
                    src,
                    name,
                    f"must be an integer >= {0 if name == 'niter' else 1}, got {value!r}.",
                )
            setattr(self, name, int(value))
        self.scale_bias = number(
            "scale_bias", self.scale_bias, 0.0, 1.0, low_open=True, fix="e.g. 0.6."
        )
        try:
            scales = tuple(float(s) for s in np.atleast_1d(self.scales))
        except (TypeError, ValueError):
            raise InputError(src, "scales", f"must be numbers, got {self.scales!r}.") from None
        if not scales or any(not np.isfinite(s) or s < 0 for s in scales):
            raise InputError(
                src, "scales", f"must be beam widths >= 0, got {self.scales!r}.", "e.g. 0,2,4,8."
            )
        self.scales = tuple(sorted(set(scales)))
        self.multiscale = bool(self.multiscale)
        self.image_plane_only = bool(self.image_plane_only)
        if not isinstance(self.clark, (bool, np.bool_)):
            raise InputError(src, "clark", f"must be true or false, got {self.clark!r}.")
        self.clark = bool(self.clark)

    def describe(self) -> str:
        """One line, e.g. ``hogbom gain 0.1 mgain 0.8 to 3 sigma``."""
        parts = ["multiscale" if self.multiscale else "hogbom", f"gain {self.gain:g}",
                 f"mgain {self.mgain:g}", f"niter {self.niter}"]  # fmt: skip
        if self.threshold_sigma is not None:
            parts.append(f"to {self.threshold_sigma:g} sigma")
        if self.threshold > 0:
            parts.append(f"to {self.threshold:g} Jy/beam")
        if self.auto_mask_sigma is not None:
            parts.append(f"auto-mask {self.auto_mask_sigma:g} sigma")
        return " ".join(parts)


_FLUX_UNITS = {"jy": 1.0, "mjy": 1e-3, "ujy": 1e-6, "µjy": 1e-6, "njy": 1e-9}


def parse_threshold(text) -> tuple[float, float | None]:
    """Parse ``"3sigma"`` / ``"3σ"`` or a level ``"1e-5"``, ``"10uJy"``, ``"0.01mJy"`` (Jy/beam).

    Returns ``(threshold_jy, threshold_sigma)`` for :class:`CleanConfig`.
    """
    raw = str(text).strip()
    s = raw.lower().replace(" ", "").replace("/beam", "")
    try:
        for suffix in ("sigma", "σ", "sig"):
            if s.endswith(suffix):
                value = float(s[: -len(suffix)])
                if not value > 0:
                    raise ValueError
                return 0.0, value
        for unit in sorted(_FLUX_UNITS, key=len, reverse=True):
            if s.endswith(unit):
                value = float(s[: -len(unit)]) * _FLUX_UNITS[unit]
                break
        else:
            value = float(s)
    except ValueError:
        raise InputError(
            "clean", "threshold", f"cannot read {raw!r}.",
            "Use N sigma (3sigma) or a level >= 0 in Jy/beam (1e-5, 10uJy, 0.01mJy).",
        ) from None  # fmt: skip
    if not np.isfinite(value) or value < 0:
        raise InputError(
            "clean", "threshold", f"{raw!r} is below zero.", "Give a level >= 0 in Jy/beam."
        )
    return value, None
