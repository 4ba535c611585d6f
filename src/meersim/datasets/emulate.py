"""Emulated CLEAN for ``mode: fast``: the products of a Högbom CLEAN without minor or major cycles.

CLEAN to a level ``L`` (Jy/beam) takes into its model the sky that stands above ``L``
and leaves the rest in the residual. The emulator does this on the noise-free
apparent sky ``A`` (Jy/pixel), whose clean-beam image ``A_b = A * beam`` (Jy/beam)
says where the dirty image stands above the level:

1. level ``L = max(threshold, threshold_sigma x sigma)``, sigma = 1.4826 MAD of the
   dirty image (CLEAN's first sigma; the issue's "n sigma of the field's noise");
   with ``auto_mask_sigma`` only pixels within ``MASK_GROW_BEAMS`` clean-beam FWHM of
   ``A_b > auto_mask_sigma x sigma`` may be cleaned to ``L`` (the auto-mask rule);
2. bright part ``B = A where A_b > L``; model = ``B x (1 - leftover x L / A_b)``: a
   Högbom CLEAN stops once the residual peak is below ``L``, leaving a brightness of
   about ``leftover x L`` on each cleaned source (``leftover`` measured from real
   CLEAN runs, bench/fast_validation.py --calibrate, docs/dataset.md);
3. residual = dirty - model * PSF, with dirty = A * PSF + coloured noise (+ off-field);
4. CLEAN also cleans noise and faint-source peaks of the residual above ``L``: each
   local maximum of ``|residual|`` above the level becomes a point component with the
   flux Högbom would take from it (gain ``g``: the peak times ``1 - (1 - g)^k``, ``k``
   the iterations to fall below ``L``), subtracted with the PSF's central patch;
5. restored = model * clean beam + residual.

What is approximated is listed in docs/dataset.md ("mode: fast").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.ndimage
from astropy.table import Table

from meersim.clean.config import CleanConfig
from meersim.clean.major import MASK_GROW_BEAMS, CleanResult
from meersim.errors import InputError
from meersim.imaging.beamfit import gaussian_beam_image
from meersim.imaging.fftconv import FFTOps, check_device
from meersim.observe.fast import ImagePlaneParts
from meersim.stats import robust_rms
from meersim.types import Observation

STOP_EMULATED = "emulated (mode fast: no CLEAN cycles)"
# Half-size (pixels, in units of the clean beam's BMAJ) of the PSF patch removed per
# emulated noise-peak component: the main lobe and first sidelobes.
SPIKE_PATCH_BEAMS = 3.0


@dataclass
class FastConfig:
    """Settings of ``mode: fast`` (the ``fast:`` section of a dataset config).

    leftover : brightness CLEAN leaves on a cleaned source, in units of the stopping
        level (dimensionless); the default is measured against real CLEAN runs
        (bench/fast_validation.py --calibrate; docs/dataset.md).
    device : ``cpu`` (numpy/scipy), ``cuda`` / ``cuda:N`` (torch on that GPU) or
        ``torch-cpu`` (torch on the CPU) for the FFT convolutions and the noise.
    """

    leftover: float = 0.9
    device: str = "cpu"

    def __post_init__(self):
        src = "dataset config"
        value = self.leftover
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
            raise InputError(src, "fast.leftover", f"must be a number in [0, 1], got {value!r}.",
                             "e.g. 0.9 (the measured default).")  # fmt: skip
        self.leftover = float(value)
        self.device = check_device(self.device, src)


def beam_kernel(beam, cell_arcsec: float, limit: int) -> np.ndarray:
    """Peak-1 clean beam on an odd square of side <= ``limit`` reaching 4 BMAJ from its centre."""
    half = int(np.ceil(4.0 * beam.bmaj_arcsec / cell_arcsec))
    side = min(2 * half + 1, limit - 1 + limit % 2)
    return gaussian_beam_image(beam, (side, side), cell_arcsec)


def emulate_clean(
    parts: ImagePlaneParts, config: CleanConfig, fast: FastConfig, ops: FFTOps | None = None
) -> tuple[Observation, CleanResult]:
    """The dirty image and emulated CLEAN products (model Jy/pixel, others Jy/beam) of ``parts``."""
    if config.threshold <= 0 and config.threshold_sigma is None:
        raise InputError("dataset config", "clean.threshold_sigma",
                         "mode fast emulates CLEAN down to a level, and none is set.",
                         "Set clean.threshold_sigma (e.g. 3) or clean.threshold (Jy/beam).")  # fmt: skip
    ops = FFTOps(fast.device) if ops is None else ops
    ny, nx = parts.grid.npix_y, parts.grid.npix_x
    cell = parts.grid.cell_arcsec
    apparent = parts.apparent.astype(np.float32)
    psf_ft = ops.centred_kernel(parts.psf)
    kernel = beam_kernel(parts.beam, cell, min(ny, nx))
    sky_b = ops.convolve_small(apparent, kernel)
    dirty = ops.convolve_centred(apparent, psf_ft) + parts.noise
    if parts.outside is not None:
        dirty = dirty + parts.outside
    sigma = robust_rms(dirty)
    level = _level(config, sigma)
    bright = sky_b > level
    fwhm_px = np.sqrt(parts.beam.bmaj_arcsec * parts.beam.bmin_arcsec) / cell
    if config.auto_mask_sigma is not None:
        core = sky_b > max(level, config.auto_mask_sigma * sigma)
        bright &= _grow(core, MASK_GROW_BEAMS * fwhm_px)
    fraction = np.zeros_like(apparent)
    fraction[bright] = np.clip(1.0 - fast.leftover * level / sky_b[bright], 0.0, 1.0)
    model = apparent * fraction
    residual = dirty - ops.convolve_centred(model, psf_ft) if bright.any() else dirty.copy()
    region = (
        _grow(bright, MASK_GROW_BEAMS * fwhm_px) if config.auto_mask_sigma is not None else None
    )
    final_level = _level(config, robust_rms(residual))
    _clean_peaks(residual, model, parts.psf, final_level, config.gain, region, parts.beam, cell)
    restored = ops.convolve_small(model, kernel) + residual
    obs = parts.observation(dirty.astype(np.float32))
    result = CleanResult(
        model=model.astype(np.float32),
        residual=residual.astype(np.float32),
        restored=restored.astype(np.float32),
        components=_components(model, parts.grid),
        history=Table(names=("major", "iteration", "peak", "rms", "level", "n_components", "phase")),
        stop_reason=STOP_EMULATED,
        interrupted=False,
        beam=parts.beam,
        config=config,
        n_major=0,
        n_iterations=0,
        noise_rms=float(robust_rms(residual)),
        threshold_jy=float(final_level),
        image_plane=True,
        scales_px=(0.0,),
        mask=region,
        meta={"sigma_dirty": float(sigma), "split_level": float(level),
              "n_bright_pixels": int(bright.sum())},
    )  # fmt: skip
    return obs, result


def _level(config: CleanConfig, sigma: float) -> float:
    """CLEAN's stopping level (Jy/beam) for a residual of rms ``sigma`` (Jy/beam)."""
    level = float(config.threshold)
    if config.threshold_sigma is not None:
        level = max(level, float(config.threshold_sigma) * float(sigma))
    return level


def _grow(mask: np.ndarray, radius_px: float) -> np.ndarray:
    """``mask`` dilated by a disc of ``radius_px`` pixels."""
    r = int(np.floor(radius_px))
    if r <= 0 or not mask.any():
        return mask.copy()
    dy, dx = np.mgrid[-r : r + 1, -r : r + 1]
    return scipy.ndimage.binary_dilation(mask, structure=dy**2 + dx**2 <= radius_px**2)


def _clean_peaks(residual, model, psf, level, gain, region, beam, cell) -> None:
    """Högbom's take of the residual's local maxima above ``level``: model += flux, residual -= flux x PSF patch (in place)."""
    magnitude = np.abs(residual)
    peaks = (magnitude > level) & (scipy.ndimage.maximum_filter(magnitude, size=3) == magnitude)
    if region is not None:
        peaks &= region
    py, px = np.nonzero(peaks)
    if py.size == 0:
        return
    value = residual[py, px].astype(np.float64)
    # iterations k until |value| (1 - gain)^k < level
    k = np.ceil(np.log(level / np.abs(value)) / np.log1p(-gain))
    flux = value * (1.0 - (1.0 - gain) ** np.maximum(k, 1.0))
    ny, nx = residual.shape
    half = int(np.ceil(SPIKE_PATCH_BEAMS * beam.bmaj_arcsec / cell))
    cy, cx = psf.shape[0] // 2, psf.shape[1] // 2
    patch = psf[cy - half : cy + half + 1, cx - half : cx + half + 1]
    for y, x, f in zip(py, px, flux, strict=True):
        y0, y1 = max(y - half, 0), min(y + half + 1, ny)
        x0, x1 = max(x - half, 0), min(x + half + 1, nx)
        residual[y0:y1, x0:x1] -= np.float32(f) * patch[y0 - y + half : y1 - y + half,
                                                        x0 - x + half : x1 - x + half]  # fmt: skip
        model[y, x] += np.float32(f)


def _components(model: np.ndarray, grid) -> Table:
    """One row per non-zero model pixel: x, y (pixel), ra, dec (deg), flux (Jy), scale 0."""
    y, x = np.nonzero(model)
    ra, dec = grid.pixel_to_world(x.astype(float), y.astype(float))
    table = Table({"x": x.astype(np.int32), "y": y.astype(np.int32),
                   "ra": np.atleast_1d(ra).astype(np.float64),
                   "dec": np.atleast_1d(dec).astype(np.float64),
                   "flux": model[y, x].astype(np.float64), "scale": np.zeros(x.size)})  # fmt: skip
    table["ra"].unit = table["dec"].unit = "deg"
    table["flux"].unit = "Jy"
    table["scale"].unit = "pix"
    return table
