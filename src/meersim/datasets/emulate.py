"""Emulated CLEAN for ``mode: fast``: the products of a Högbom CLEAN without minor or major cycles.

CLEAN to a level ``L`` (Jy/beam) takes into its model the sky that stands above ``L``
and leaves the rest in the residual. The emulator does this on the noise-free
apparent sky ``A`` (Jy/pixel), whose clean-beam image ``A_b = A * beam`` (Jy/beam)
says where the dirty image stands above the level:

1. dirty = ``A * PSF + mfs_error x g(k) (A' * P')`` + coloured noise (+ off-field
   sources): ``A' * P'`` is the first-order MFS error (:mod:`meersim.observe.fast`),
   which a CLEAN with one band PSF cannot remove, and ``g(k)`` a radial filter
   (``mfs_spectrum``) that gives it the spatial spectrum of a real CLEAN's residual;
2. level ``L = max(threshold, threshold_sigma x sigma)``, sigma = 1.4826 MAD of the
   residual, iterated from the dirty image's sigma to its fixed point (CLEAN measures
   sigma on its residual every major cycle); with ``auto_mask_sigma`` only pixels within
   ``MASK_GROW_BEAMS`` clean-beam FWHM of ``A_b > auto_mask_sigma x sigma`` may be cleaned;
3. bright part ``B = A where A_b > L``; model = ``B x (1 - leftover x L / A_b)``: a
   Högbom CLEAN stops once the residual peak is below ``L``, leaving a brightness of
   about ``leftover x L`` on each cleaned source; residual = dirty - model * PSF;
4. CLEAN also cleans noise, faint-source and MFS-error peaks above ``L``: each local
   maximum of ``|residual|`` above the level becomes a point component with the flux
   Högbom would take from it (gain ``g``: the peak times ``1 - (1 - g)^k``, ``k`` the
   iterations to fall below ``L``), subtracted with the PSF's central patch, in up to
   ``MAX_PEAK_PASSES`` passes; then the residual is recomputed exactly for the model;
5. restored = model * clean beam + residual.

``leftover``, ``mfs_error`` and ``mfs_spectrum`` are measured against real CLEAN runs
(bench/fast_validation.py --calibrate). What is approximated is listed in docs/dataset.md ("mode: fast").
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numba
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
# The level iteration stops when the level changes by less than this fraction.
LEVEL_TOLERANCE = 0.02
MAX_LEVEL_ITERATIONS = 6
MAX_PEAK_PASSES = 4
#: Edges (cycles/pixel) of the radial bins of ``FastConfig.mfs_spectrum``: ten bins
#: spaced evenly in log k from 1/128 to the Nyquist frequency 0.5.
MFS_SPECTRUM_EDGES = tuple(float(k) for k in np.geomspace(1.0 / 128.0, 0.5, 11))
#: Measured gains of the MFS term per bin (bench/fast_validation.py --calibrate).
MFS_SPECTRUM_DEFAULT = (1.142, 1.117, 1.115, 1.049, 1.017, 1.031, 1.048, 0.873, 0.884, 0.789)


@dataclass
class FastConfig:
    """Settings of ``mode: fast`` (the ``fast:`` section of a dataset config).

    leftover : brightness CLEAN leaves on a cleaned source, in units of the stopping
        level (dimensionless).
    mfs_error : scale (0-2) of the first-order spectral (MFS) error of the dirty image,
        ``slope * psf_slope`` (:mod:`meersim.observe.fast`), added to the dirty image and so
        to the residual: it stands for every error a real CLEAN with one band PSF leaves
        (the rest of the MFS error, w-term and pixelisation) at the measured rms.
    mfs_spectrum : ten gains (0-4) of the MFS term in the radial bins of spatial
        frequency ``MFS_SPECTRUM_EDGES`` (cycles/pixel), interpolated linearly in log k
        between the bins' centres: they give the emulated residual the power spectrum
        of a real CLEAN's residual.
        All three defaults are measured against real CLEAN runs
        (bench/fast_validation.py --calibrate; docs/dataset.md).
    device : ``cpu`` (numpy/scipy), ``cuda`` / ``cuda:N`` (torch on that GPU) or
        ``torch-cpu`` (torch on the CPU) for the FFT convolutions and the noise.
    """

    leftover: float = 0.898
    mfs_error: float = 0.99
    mfs_spectrum: tuple[float, ...] = MFS_SPECTRUM_DEFAULT
    device: str = "cpu"

    def __post_init__(self):
        src = "dataset config"
        for name, top in (("leftover", 1.0), ("mfs_error", 2.0)):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not 0 <= value <= top
            ):
                raise InputError(src, f"fast.{name}", f"must be a number in [0, {top:g}], got "
                                 f"{value!r}.", "Leave it out for the measured default.")  # fmt: skip
            setattr(self, name, float(value))
        gains = self.mfs_spectrum
        n_bins = len(MFS_SPECTRUM_EDGES) - 1
        if (
            not isinstance(gains, (list, tuple))
            or len(gains) != n_bins
            or not all(isinstance(g, (int, float)) and not isinstance(g, bool) and 0 <= g <= 4
                       for g in gains)
        ):  # fmt: skip
            raise InputError(src, "fast.mfs_spectrum", f"must be {n_bins} numbers in [0, 4], got "
                             f"{gains!r}.", "Leave it out for the measured default.")  # fmt: skip
        self.mfs_spectrum = tuple(float(g) for g in gains)
        self.device = check_device(self.device, src)


@functools.lru_cache(maxsize=4)
def radial_gain(gains: tuple[float, ...], shape: tuple[int, int]) -> np.ndarray:
    """float32 [ny, nx // 2 + 1]: ``gains`` per bin of ``MFS_SPECTRUM_EDGES`` on the rfft2
    frequencies of a ``shape`` plane, linear in log k between bin centres, flat beyond."""
    edges = np.log(np.asarray(MFS_SPECTRUM_EDGES))
    centres = 0.5 * (edges[1:] + edges[:-1])
    ky = np.fft.fftfreq(shape[0])[:, None]
    kx = np.fft.rfftfreq(shape[1])[None, :]
    log_k = np.log(np.maximum(np.hypot(ky, kx), 1e-12))
    gain = np.interp(log_k, centres, np.asarray(gains, dtype=np.float64)).astype(np.float32)
    gain.flags.writeable = False  # shared by every field of this shape
    return gain


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
    terms = [(apparent, psf_ft, 1.0)]
    if np.any(parts.slope) and fast.mfs_error > 0:
        slope_ft = ops.centred_kernel(parts.psf_slope)
        if any(g != 1.0 for g in fast.mfs_spectrum):
            slope_ft = slope_ft * ops.as_spectrum(
                radial_gain(fast.mfs_spectrum, tuple(parts.psf.shape))
            )
        terms.append((parts.slope, slope_ft, fast.mfs_error))
    dirty = ops.convolve_centred_sum(terms) + parts.noise
    if parts.outside is not None:
        dirty = dirty + parts.outside
    fwhm_px = np.sqrt(parts.beam.bmaj_arcsec * parts.beam.bmin_arcsec) / cell
    # CLEAN measures sigma on its residual every major cycle and stops at n sigma of the
    # last one: iterate level -> split -> residual -> sigma down to that fixed point.
    sigma_dirty = robust_rms(dirty)
    sigma = sigma_dirty
    level = _level(config, sigma)
    for _ in range(MAX_LEVEL_ITERATIONS):
        bright = bright_region(sky_b, level, sigma, config, fwhm_px)
        fraction = np.zeros_like(apparent)
        fraction[bright] = np.clip(1.0 - fast.leftover * level / sky_b[bright], 0.0, 1.0)
        model = apparent * fraction
        residual = dirty - ops.convolve_centred(model, psf_ft) if bright.any() else dirty.copy()
        sigma = robust_rms(residual[::2, ::2])  # a quarter of the pixels: MAD to ~0.2 %
        new_level = _level(config, sigma)
        if abs(new_level - level) <= LEVEL_TOLERANCE * level:
            break
        level = new_level
    region = grow(bright, MASK_GROW_BEAMS * fwhm_px) if config.auto_mask_sigma is not None else None
    residual_rms = robust_rms(residual)
    final_level = _level(config, residual_rms)
    passes = _clean_peaks(residual, model, parts.psf, final_level, config.gain, region,
                          parts.beam, cell)  # fmt: skip
    if passes:  # as a major cycle: the residual exact for the final model
        residual = dirty - ops.convolve_centred(model, psf_ft)
        residual_rms = robust_rms(residual)
    restored = ops.convolve_small(model, kernel) + residual
    obs = parts.observation(dirty.astype(np.float32), sigma_dirty)
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
        noise_rms=float(residual_rms),
        threshold_jy=float(final_level),
        image_plane=True,
        scales_px=(0.0,),
        mask=region,
        meta={"sigma_dirty": float(sigma_dirty), "split_level": float(level),
              "n_bright_pixels": int(bright.sum()), "peak_passes": passes},
    )  # fmt: skip
    return obs, result


def bright_region(
    sky_b: np.ndarray, level: float, sigma: float, config: CleanConfig, fwhm_px: float
):
    """Boolean [ny, nx]: where CLEAN to ``level`` (Jy/beam) takes the sky into its model.

    ``sky_b`` is the noise-free apparent sky x clean beam (Jy/beam); with
    ``auto_mask_sigma`` only pixels within ``MASK_GROW_BEAMS`` FWHM (``fwhm_px`` pixels)
    of ``sky_b > auto_mask_sigma x sigma`` count (the auto-mask rule).
    """
    bright = sky_b > level
    if config.auto_mask_sigma is not None:
        core = sky_b > max(level, config.auto_mask_sigma * sigma)
        bright &= grow(core, MASK_GROW_BEAMS * fwhm_px)
    return bright


def _level(config: CleanConfig, sigma: float) -> float:
    """CLEAN's stopping level (Jy/beam) for a residual of rms ``sigma`` (Jy/beam)."""
    level = float(config.threshold)
    if config.threshold_sigma is not None:
        level = max(level, float(config.threshold_sigma) * float(sigma))
    return level


def grow(mask: np.ndarray, radius_px: float) -> np.ndarray:
    """``mask`` dilated by a disc of ``radius_px`` pixels."""
    r = int(np.floor(radius_px))
    if r <= 0 or not mask.any():
        return mask.copy()
    dy, dx = np.mgrid[-r : r + 1, -r : r + 1]
    return scipy.ndimage.binary_dilation(mask, structure=dy**2 + dx**2 <= radius_px**2)


def _clean_peaks(residual, model, psf, level, gain, region, beam, cell) -> int:
    """Högbom's take of the residual's peaks above ``level`` (Jy/beam), in place; returns passes.

    Each pass takes every local maximum of ``|residual|`` (one per clean-beam-sized
    neighbourhood) above the level as a point component with the flux Högbom would
    take from an isolated peak (gain ``g``: the peak times ``1 - (1 - g)^k``, ``k`` the
    iterations to fall below the level) and subtracts them all with the PSF's central
    patch; passes repeat while peaks are left above the level, at most ``MAX_PEAK_PASSES``.
    """
    half = int(np.ceil(SPIKE_PATCH_BEAMS * beam.bmaj_arcsec / cell))
    cy, cx = psf.shape[0] // 2, psf.shape[1] // 2
    patch = np.ascontiguousarray(psf[cy - half : cy + half + 1, cx - half : cx + half + 1],
                                 dtype=np.float32)  # fmt: skip
    reach = int(np.ceil(0.5 * beam.bmaj_arcsec / cell))  # neighbourhood half-width (px)
    use_region = region is not None
    mask = region if use_region else np.zeros((1, 1), dtype=bool)
    for passes in range(MAX_PEAK_PASSES):
        found = _peak_pass(residual, model, patch, float(level), float(gain), mask, use_region,
                           reach)  # fmt: skip
        if not found:
            return passes
    return MAX_PEAK_PASSES


@numba.njit(cache=True)
def _peak_pass(residual, model, patch, level, gain, region, use_region, reach):
    """One pass of :func:`_clean_peaks` on float32 ``residual`` and ``model``; returns the peaks.

    All peaks are found first (``|residual|`` above ``level``, inside ``region``, and not
    exceeded within ``reach`` px), then each is taken with the centred ``patch``.
    """
    ny, nx = residual.shape
    ys, xs = [], []
    for y in range(ny):
        for x in range(nx):
            mag = abs(residual[y, x])
            if mag <= level or (use_region and not region[y, x]):
                continue
            peak = True
            for yy in range(max(0, y - reach), min(ny, y + reach + 1)):
                for xx in range(max(0, x - reach), min(nx, x + reach + 1)):
                    if abs(residual[yy, xx]) > mag:
                        peak = False
                        break
                if not peak:
                    break
            if peak:
                ys.append(y)
                xs.append(x)
    deltas = np.empty(len(ys), dtype=np.float32)
    for i in range(len(ys)):
        value = float(residual[ys[i], xs[i]])
        k = max(math.ceil(math.log(level / abs(value)) / math.log1p(-gain)), 1.0)
        deltas[i] = value * (1.0 - (1.0 - gain) ** k)  # iterations to the level
    half = patch.shape[0] // 2
    for i in range(len(ys)):
        y, x, delta = ys[i], xs[i], deltas[i]
        for py in range(max(0, y - half), min(ny, y + half + 1)):
            row = py - y + half
            for px in range(max(0, x - half), min(nx, x + half + 1)):
                residual[py, px] -= delta * patch[row, px - x + half]
        model[y, x] += delta
    return len(ys)


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
