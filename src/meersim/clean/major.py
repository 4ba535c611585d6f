"""CLEAN deconvolution: Cotton-Schwab major cycles around Högbom or multiscale minor cycles.

Major cycle (Schwab 1984, AJ 89, 1076): the model is predicted into the
visibilities and the residual is re-gridded *exactly* from ``vis - model``
(ducc0 wgridder via :func:`meersim.imaging.images.residual_image`). When an
observation kept no visibilities (image-plane mode) the residual is instead
``dirty - model * PSF``, computed exactly with a zero-padded FFT.

Stopping, as WSClean does it (Offringa et al. 2014, MNRAS 444, 606; WSClean
manual): each major cycle measures sigma = 1.4826 MAD of the residual
(``-auto-threshold``), and cleaning stops when the residual peak is below
``max(threshold, threshold_sigma * sigma)``. A minor cycle stops at
``max(that, (1 - mgain) * peak)``. With ``auto_mask_sigma`` (``-auto-mask``),
cleaning first goes to ``auto_mask_sigma * sigma`` everywhere; the pixels that
received components (for multiscale: their kernels' footprints) become the
mask, and cleaning continues within it to the final threshold.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field

import numpy as np
from astropy.table import Table
from tqdm.auto import tqdm

from meersim.clean.clark import PsfPatch
from meersim.clean.config import CleanConfig
from meersim.clean.minor import (
    CentredConvolver,
    MinorCycleResult,
    MultiscaleState,
    hogbom_minor_cycle,
    kernel_footprint_radius,
    multiscale_minor_cycle,
)
from meersim.errors import InputError
from meersim.grid import Grid
from meersim.imaging.beamfit import convolve_centred, convolve_with_beam
from meersim.imaging.images import residual_image
from meersim.imaging.weighting import imaging_weights
from meersim.stats import robust_rms
from meersim.types import Beam, Observation

# The auto-mask marks each component's pixels grown by this many clean-beam FWHM
# (at least the scale kernel's radius), so that the sub-pixel structure of a
# source can still be cleaned inside it. WSClean marks the component pixels only.
MASK_GROW_BEAMS = 0.5

#: Gridder accuracy of the major cycles' predict and re-grid: WSClean's default
#: ``-wgridder-accuracy`` (wsclean 3.1 --help). It moves a 2048^2 residual by ~2e-6 of
#: its peak against meersim's imaging default (2e-5) and saves 15 % of each major cycle.
MAJOR_CYCLE_EPSILON = 1e-4
STOP_THRESHOLD = "threshold reached"
STOP_NITER = "niter reached"
STOP_MAX_MAJOR = "max_major reached"
STOP_INTERRUPTED = "interrupted (Ctrl-C)"
STOP_DIVERGING = "diverging (residual peak grew above twice its start)"
STOP_NO_PROGRESS = "no component above the minor-cycle level"


class CleanLimitWarning(UserWarning):
    """CLEAN stopped at ``niter`` or ``max_major`` before reaching its threshold."""


def limit_message(stop_reason: str, config: CleanConfig) -> str | None:
    """One line saying which limit stopped CLEAN before its threshold and how to raise it."""
    if stop_reason == STOP_NITER and (config.threshold > 0 or config.threshold_sigma is not None):
        return (f"CLEAN stopped at the iteration limit niter = {config.niter} before reaching its "
                "threshold; raise niter (--niter, clean: niter) to clean deeper.")  # fmt: skip
    if stop_reason == STOP_MAX_MAJOR:
        return (f"CLEAN stopped at the major-cycle limit max_major = {config.max_major} before "
                "reaching its threshold; raise max_major (--max-major, clean: max_major).")  # fmt: skip
    return None


@dataclass
class CleanResult:
    """Products of :func:`clean`.

    Attributes
    ----------
    model : float32 [ny, nx]
        CLEAN model in Jy/pixel (apparent).
    residual : float32 [ny, nx]
        Residual in Jy/beam, exact for ``model`` (from the visibilities unless image-plane).
    restored : float32 [ny, nx]
        ``model`` convolved with the peak-1 clean beam (Jy/beam) plus ``residual``.
    components : Table
        One row per (pixel, scale): x, y (pixel), ra, dec (deg), flux (Jy),
        scale (kernel size in pixels, 0 for a point).
    history : Table
        One row per major-cycle check: major, iteration, peak (Jy/beam),
        rms (Jy/beam), level (Jy/beam), n_components, phase.
    stop_reason : str
    interrupted : bool
        True when Ctrl-C stopped the run (products are those of the model so far).
    """

    model: np.ndarray
    residual: np.ndarray
    restored: np.ndarray
    components: Table
    history: Table
    stop_reason: str
    interrupted: bool
    beam: Beam
    config: CleanConfig
    n_major: int
    n_iterations: int
    noise_rms: float
    threshold_jy: float
    image_plane: bool
    scales_px: tuple = ()
    mask: np.ndarray | None = None
    elapsed_s: float = 0.0
    meta: dict = field(default_factory=dict)

    def summary(self) -> str:
        """A few lines for the CLI."""
        peak = float(np.max(np.abs(self.residual))) if self.residual.size else 0.0
        return (
            f"{self.stop_reason}: {self.n_iterations} iterations, {len(self.components)} "
            f"components, {self.n_major} major cycles ({'image-plane' if self.image_plane else 'visibilities'}), "
            f"{self.elapsed_s:.1f} s\n"
            f"model flux {float(self.model.sum(dtype=np.float64)) * 1e3:.4g} mJy; residual rms "
            f"{self.noise_rms * 1e6:.3f} uJy/beam, peak {peak * 1e6:.3f} uJy/beam; "
            f"threshold {self.threshold_jy * 1e6:.3f} uJy/beam"
        )


def check_observation(obs: Observation) -> None:
    """Raise :class:`InputError` if ``obs`` cannot be cleaned (shapes, PSF, weights)."""
    src = "observation"
    if not isinstance(obs, Observation):
        raise InputError("clean", "obs", f"expected an Observation, got {type(obs).__name__}.")
    ny, nx = obs.grid.npix_y, obs.grid.npix_x
    dirty = np.asarray(obs.dirty)
    if dirty.shape != (ny, nx):
        raise InputError(
            src, "dirty", f"shape {dirty.shape} does not match its grid ({ny}, {nx}).",
            "Image and grid must come from the same observe() call.",
        )  # fmt: skip
    if not np.all(np.isfinite(dirty)):
        raise InputError(src, "dirty", "contains NaN/inf; clean the apparent (basic) image.")
    psf = np.asarray(obs.psf)
    if psf.ndim != 2 or psf.shape[0] < 2 * ny or psf.shape[1] < 2 * nx:
        raise InputError(
            src, "psf",
            f"shape {psf.shape} is smaller than twice the image ({2 * ny}, {2 * nx}); a component "
            "anywhere in the image needs the PSF out to every other pixel.",
            "Make the PSF with make_psf() (twice the image size) or image a smaller field.",
        )  # fmt: skip
    if not np.all(np.isfinite(psf)):
        raise InputError(src, "psf", "contains NaN/inf.")
    centre = psf[psf.shape[0] // 2, psf.shape[1] // 2]
    if not abs(centre - 1.0) < 0.01 or abs(psf).max() > 1.01:
        raise InputError(
            src, "psf", f"peak at the centre pixel is {centre:.4g}, not 1 (max |psf| {abs(psf).max():.4g}).",
            "The PSF must be normalised to 1 at pixel (ny, nx), as make_psf() returns it.",
        )  # fmt: skip
    if obs.vis is not None:
        if obs.vis.vis.ndim != 2 or obs.vis.vis.shape != obs.vis.weight.shape:
            raise InputError(src, "vis", "vis and weight arrays have different shapes.")
        if obs.imaging_weight is not None and np.shape(obs.imaging_weight) != obs.vis.vis.shape:
            raise InputError(
                src, "imaging_weight",
                f"shape {np.shape(obs.imaging_weight)} does not match the visibilities {obs.vis.vis.shape}.",
            )  # fmt: skip
        if not obs.norm > 0:
            raise InputError(src, "norm", f"must be > 0, got {obs.norm}.")


def _centred_psf(psf: np.ndarray, ny: int, nx: int) -> np.ndarray:
    """Crop a PSF of at least [2ny, 2nx] to exactly that, keeping its centre at (ny, nx)."""
    cy, cx = psf.shape[0] // 2, psf.shape[1] // 2
    return np.ascontiguousarray(psf[cy - ny : cy + ny, cx - nx : cx + nx], dtype=np.float32)


def scale_sizes_px(scales, beam: Beam, cell_arcsec: float, shape) -> tuple[float, ...]:
    """Scale sizes in pixels from sizes in clean-beam FWHM; drops scales over a quarter of the image."""
    fwhm_px = np.sqrt(beam.bmaj_arcsec * beam.bmin_arcsec) / cell_arcsec
    limit = min(shape) / 4.0
    sizes = [float(s) * fwhm_px for s in scales]
    kept = tuple(s for s in sizes if s <= limit)
    return kept if kept else (0.0,)


class _Residual:
    """Computes the exact residual of a model: from visibilities or by PSF convolution."""

    def __init__(self, obs: Observation, psf: np.ndarray, image_plane: bool):
        self.obs = obs
        self.psf = psf
        self.image_plane = image_plane
        self.dirty = np.asarray(obs.dirty, dtype=np.float32)
        if not image_plane:
            weight = obs.imaging_weight
            if weight is None:
                weight = imaging_weights(obs.vis, obs.grid, obs.weighting)
            self.weight = weight

    def __call__(self, model: np.ndarray) -> np.ndarray:
        if not np.any(model):
            return self.dirty.copy()
        if self.image_plane:
            return (self.dirty - convolve_centred(model, self.psf)).astype(np.float32)
        return residual_image(self.obs.vis, model, self.obs.grid, self.weight, self.obs.norm,
                              epsilon=MAJOR_CYCLE_EPSILON)  # fmt: skip


def _disc_mask(pixels: np.ndarray, radius: float, shape) -> np.ndarray:
    """Boolean [ny, nx]: True within ``radius`` pixels of any flat index in ``pixels``."""
    ny, nx = shape
    mask = np.zeros(shape, dtype=bool)
    if pixels.size == 0:
        return mask
    py, px = np.divmod(np.unique(pixels), nx)
    r = int(np.floor(radius))
    if r <= 0:
        mask[py, px] = True
        return mask
    dy, dx = np.mgrid[-r : r + 1, -r : r + 1]
    inside = dy**2 + dx**2 <= radius**2
    for oy, ox in zip(dy[inside], dx[inside], strict=True):
        y, x = py + oy, px + ox
        ok = (y >= 0) & (y < ny) & (x >= 0) & (x < nx)
        mask[y[ok], x[ok]] = True
    return mask


@dataclass
class _Setup:
    """What stays fixed during one CLEAN run."""

    config: CleanConfig
    grid: Grid
    psf: np.ndarray  # [2ny, 2nx], peak 1 at (ny, nx)
    residual_of: _Residual
    scales_px: tuple[float, ...]
    ms_state: MultiscaleState | None
    psf_convolver: CentredConvolver | None
    fwhm_px: float  # clean-beam FWHM (geometric mean) in pixels
    psf_patch: PsfPatch | None = None  # Högbom: Clark minor iterations

    @property
    def shape(self) -> tuple[int, int]:
        return self.grid.npix_y, self.grid.npix_x


@dataclass
class _Loop:
    """The state of a CLEAN run between major cycles."""

    model: np.ndarray  # Jy/pixel
    residual: np.ndarray  # Jy/beam
    phase: str  # "automask" (no mask yet) or "final"
    comp_pix: list = field(default_factory=list)
    comp_flux: list = field(default_factory=list)
    comp_scale: list = field(default_factory=list)
    history: list = field(default_factory=list)
    mask: np.ndarray | None = None
    iterations: int = 0
    n_major: int = 0
    first_peak: float | None = None
    final_level: float = 0.0
    residual_stale: bool = False
    minor_s: float = 0.0  # wall seconds in minor cycles
    major_s: float = 0.0  # wall seconds re-gridding residuals


def clean(
    obs: Observation,
    config: CleanConfig | None = None,
    *,
    progress: bool = False,
    callback=None,
) -> CleanResult:
    """Deconvolve ``obs.dirty``: Cotton-Schwab major cycles, Högbom or multiscale minor cycles.

    Parameters
    ----------
    obs : Observation
        Dirty image (Jy/beam), PSF [2ny, 2nx], clean beam and (optionally)
        visibilities with imaging weights and ``norm``.
    config : CleanConfig
    progress : bool
        Show a tqdm bar over major cycles.
    callback : callable, optional
        Called with each history row (a dict) after every major-cycle check.

    Returns
    -------
    CleanResult. Ctrl-C stops cleaning: the result holds the model found so
    far with its exact residual, ``interrupted=True``.
    """
    config = CleanConfig() if config is None else config
    if not isinstance(config, CleanConfig):
        raise InputError("clean", "config", f"expected a CleanConfig, got {type(config).__name__}.")
    check_observation(obs)
    start_time = time.perf_counter()
    setup = _prepare(obs, config)
    model = np.zeros(setup.shape, dtype=np.float32)
    phase = "automask" if config.auto_mask_sigma is not None else "final"
    loop = _Loop(model=model, residual=setup.residual_of(model), phase=phase)
    bar = tqdm(total=config.max_major, desc="clean major cycles", disable=not progress, leave=False)
    interrupted = False
    try:
        stop_reason = _major_cycles(loop, setup, bar, callback)
        interrupted = stop_reason == STOP_INTERRUPTED
    except KeyboardInterrupt:
        interrupted, stop_reason = True, STOP_INTERRUPTED
    finally:
        bar.close()
    if loop.residual_stale:  # Ctrl-C hit while re-gridding: make the residual match the model
        loop.residual = setup.residual_of(loop.model)
    message = limit_message(stop_reason, config)
    if message is not None:
        warnings.warn(message, CleanLimitWarning, stacklevel=2)
    return _result(obs, setup, loop, stop_reason, interrupted, time.perf_counter() - start_time)


def _prepare(obs: Observation, config: CleanConfig) -> _Setup:
    """PSF, residual operator and minor-cycle machinery of one run."""
    ny, nx = obs.grid.npix_y, obs.grid.npix_x
    psf = _centred_psf(np.asarray(obs.psf), ny, nx)
    residual_of = _Residual(obs, psf, config.image_plane_only or obs.vis is None)
    ms_state, psf_convolver = None, None
    if config.multiscale:
        scales_px = scale_sizes_px(config.scales, obs.beam, obs.grid.cell_arcsec, (ny, nx))
        ms_state = MultiscaleState.build(psf, scales_px, config.scale_bias)
    else:
        scales_px = (0.0,)
        psf_convolver = CentredConvolver((ny, nx))
        psf_convolver.add_kernel("psf", psf, origin=(ny, nx))
    fwhm_px = np.sqrt(obs.beam.bmaj_arcsec * obs.beam.bmin_arcsec) / obs.grid.cell_arcsec
    patch = None if config.multiscale or not config.clark else PsfPatch.from_psf(psf, fwhm_px)
    return _Setup(config, obs.grid, psf, residual_of, scales_px, ms_state, psf_convolver, fwhm_px,
                  patch)  # fmt: skip


def _major_cycles(loop: _Loop, setup: _Setup, bar, callback) -> str:
    """Alternate checks and minor cycles until a stopping rule holds; returns the reason.

    WSClean's rule (wsclean 3.1 deconvolution/deconvolution.cpp, genericclean.cpp):
    a minor cycle cleans to ``max(level, (1 - mgain) x peak)``; when that reached
    the phase's level itself, the phase is over after the following re-grid (no
    further check of the re-gridded peak), so the last major cycle only makes the
    exact residual. The auto-mask phase then gives way to the masked final phase.
    """
    config = setup.config
    while True:
        level, region, peak = _check(loop, setup, bar, callback)
        if peak <= level:
            if _finish_phase(loop, setup):
                continue
            return STOP_THRESHOLD
        if loop.iterations >= config.niter:
            return STOP_NITER
        if loop.n_major >= config.max_major:
            return STOP_MAX_MAJOR
        if loop.n_major > 0 and peak > 2.0 * loop.first_peak:
            return STOP_DIVERGING
        t0 = time.perf_counter()
        minor = _minor_cycle(loop, setup, max(level, (1.0 - config.mgain) * peak), region)
        t1 = time.perf_counter()
        loop.minor_s += t1 - t0
        if minor.iterations:
            loop.residual_stale = True
            loop.residual = setup.residual_of(loop.model)
            loop.residual_stale = False
            loop.major_s += time.perf_counter() - t1
            loop.n_major += 1
            bar.update()
        if minor.interrupted:
            return STOP_INTERRUPTED
        if minor.iterations == 0:
            return STOP_NO_PROGRESS
        if minor.last_peak <= level and not _finish_phase(loop, setup):
            _check(loop, setup, bar, callback, final_level=level)
            return STOP_THRESHOLD


def _finish_phase(loop: _Loop, setup: _Setup) -> bool:
    """End the current phase; True when a masked final phase follows (auto-mask)."""
    if loop.phase != "automask":
        return False
    loop.mask = _auto_mask(loop, setup)
    loop.phase = "final"
    return bool(loop.mask.any())


def _check(
    loop: _Loop, setup: _Setup, bar, callback, final_level: float | None = None
) -> tuple[float, np.ndarray | None, float]:
    """Measure sigma and the residual peak, record a history row; returns (level, region, peak).

    The level is ``max(threshold, threshold_sigma x sigma)``, raised to
    ``auto_mask_sigma x sigma`` while no mask exists yet (Jy/beam). The row after
    the last minor cycle (``final_level`` given) keeps the level that cycle cleaned to.
    """
    config = setup.config
    sigma = robust_rms(loop.residual)
    if final_level is not None:
        level = loop.final_level = final_level
    else:
        loop.final_level = config.threshold
        if config.threshold_sigma is not None:
            loop.final_level = max(loop.final_level, config.threshold_sigma * sigma)
        level = loop.final_level
        if loop.phase == "automask":
            level = max(loop.final_level, config.auto_mask_sigma * sigma)
    region = loop.mask if loop.phase == "final" else None
    magnitude = np.abs(loop.residual)
    peak = float(magnitude[region].max() if region is not None else magnitude.max())
    if loop.first_peak is None:
        loop.first_peak = peak
    row = {
        "major": loop.n_major,
        "iteration": loop.iterations,
        "peak": peak,
        "rms": sigma,
        "level": level,
        "n_components": _count_components(loop.comp_pix, loop.comp_scale, len(setup.scales_px)),
        "phase": loop.phase,
    }
    loop.history.append(row)
    if callback is not None:
        callback(dict(row))
    bar.set_postfix(peak=f"{peak:.3g}", rms=f"{sigma:.3g}")
    return level, region, peak


def _auto_mask(loop: _Loop, setup: _Setup) -> np.ndarray:
    """The mask of the components found so far, each grown by its footprint or half a beam."""
    ny, nx = setup.shape
    pixels = np.concatenate(loop.comp_pix) if loop.comp_pix else np.zeros(0, np.int64)
    scales = np.concatenate(loop.comp_scale) if loop.comp_scale else np.zeros(0, np.int32)
    mask = np.zeros((ny, nx), dtype=bool)
    for s, size in enumerate(setup.scales_px):
        radius = max(kernel_footprint_radius(size), MASK_GROW_BEAMS * setup.fwhm_px)
        mask |= _disc_mask(pixels[scales == s], radius, (ny, nx))
    return mask


def _minor_cycle(loop: _Loop, setup: _Setup, stop_level: float, region) -> MinorCycleResult:
    """One Högbom or multiscale minor cycle down to ``stop_level`` (Jy/beam); updates the model."""
    config = setup.config
    budget = config.niter - loop.iterations
    if setup.ms_state is None:
        minor = hogbom_minor_cycle(loop.residual, setup.psf, setup.psf_convolver, stop_level,
                                   config.gain, budget, region=region,
                                   patch=setup.psf_patch)  # fmt: skip
        np.add.at(loop.model.ravel(), minor.pixels, minor.fluxes.astype(np.float32))
    else:
        minor = multiscale_minor_cycle(loop.residual, setup.ms_state, stop_level, config.gain,
                                       budget, region=region)  # fmt: skip
        loop.model += minor.model_delta
    loop.comp_pix.append(minor.pixels)
    loop.comp_flux.append(minor.fluxes)
    loop.comp_scale.append(minor.scales)
    loop.iterations += minor.iterations
    return minor


def _result(obs, setup: _Setup, loop: _Loop, stop_reason, interrupted, elapsed_s) -> CleanResult:
    grid, beam = setup.grid, obs.beam
    restored = convolve_with_beam(loop.model, beam, grid.cell_arcsec) + loop.residual
    return CleanResult(
        model=loop.model,
        residual=np.asarray(loop.residual, dtype=np.float32),
        restored=restored.astype(np.float32),
        components=_component_table(
            loop.comp_pix, loop.comp_flux, loop.comp_scale, setup.scales_px, grid, grid.npix_x
        ),  # fmt: skip
        history=_history_table(loop.history),
        stop_reason=stop_reason,
        interrupted=interrupted,
        beam=beam,
        config=setup.config,
        n_major=loop.n_major,
        n_iterations=loop.iterations,
        noise_rms=float(robust_rms(loop.residual)),
        threshold_jy=float(loop.final_level),
        image_plane=setup.residual_of.image_plane,
        scales_px=tuple(float(s) for s in setup.scales_px),
        mask=loop.mask,
        elapsed_s=elapsed_s,
        meta={"minor_s": loop.minor_s, "major_s": loop.major_s},
    )


def _count_components(comp_pix, comp_scale, n_scales) -> int:
    """Number of distinct (pixel, scale) components so far."""
    if not comp_pix:
        return 0
    return int(np.unique(np.concatenate(comp_pix) * n_scales + np.concatenate(comp_scale)).size)


def _component_table(comp_pix, comp_flux, comp_scale, scales_px, grid, nx) -> Table:
    """Sum components per (pixel, scale) into a table with pixel and world positions."""
    pixels = np.concatenate(comp_pix) if comp_pix else np.zeros(0, np.int64)
    fluxes = np.concatenate(comp_flux) if comp_flux else np.zeros(0)
    scales = np.concatenate(comp_scale) if comp_scale else np.zeros(0, np.int32)
    key = pixels * len(scales_px) + scales
    unique, inverse = np.unique(key, return_inverse=True)
    total = np.bincount(inverse, weights=fluxes, minlength=unique.size) if unique.size else fluxes
    upix, uscale = np.divmod(unique, len(scales_px))
    y, x = np.divmod(upix, nx)
    ra, dec = grid.pixel_to_world(x.astype(float), y.astype(float))
    table = Table(
        {
            "x": x.astype(np.int32),
            "y": y.astype(np.int32),
            "ra": np.atleast_1d(ra).astype(np.float64),
            "dec": np.atleast_1d(dec).astype(np.float64),
            "flux": total.astype(np.float64),
            "scale": np.asarray(scales_px, dtype=np.float64)[uscale]
            if unique.size
            else np.zeros(0),
        }
    )
    table["ra"].unit = "deg"
    table["dec"].unit = "deg"
    table["flux"].unit = "Jy"
    table["scale"].unit = "pix"
    table["x"].description = "0-based pixel column"
    table["y"].description = "0-based pixel row"
    table["flux"].description = "total flux of the component (Jy; kernel-integrated for scale > 0)"
    table["scale"].description = "scale kernel size (diameter) in pixels; 0 = point"
    return table


def _history_table(history: list[dict]) -> Table:
    names = ("major", "iteration", "peak", "rms", "level", "n_components", "phase")
    table = (
        Table(rows=[tuple(h[n] for n in names) for h in history], names=names)
        if history
        else Table(names=names)
    )
    for name in ("peak", "rms", "level"):
        table[name].unit = "Jy/beam"
    return table
