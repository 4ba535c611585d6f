"""CLEAN deconvolution: Cotton-Schwab major cycles around Högbom or multiscale minor cycles.

Major cycle (Schwab 1984, AJ 89, 1076): the model is predicted into the
visibilities and the residual is re-gridded *exactly* from ``vis - model``
(ducc0 wgridder via :func:`meersim.simulate.imaging.residual_image`). When an
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
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from astropy.table import Table

from meersim.errors import InputError
from meersim.simulate.beamfit import convolve_centred, convolve_with_beam
from meersim.simulate.deconvolve import (
    CentredConvolver,
    MultiscaleState,
    hogbom_minor_cycle,
    kernel_footprint_radius,
    multiscale_minor_cycle,
)
from meersim.simulate.imaging import imaging_weights, residual_image, robust_rms
from meersim.simulate.types import Beam, Observation

# The auto-mask marks each component's pixels grown by this many clean-beam FWHM
# (at least the scale kernel's radius), so that the sub-pixel structure of a
# source can still be cleaned inside it. WSClean marks the component pixels only.
MASK_GROW_BEAMS = 0.5

# A peak within this fraction above the level counts as reached: sigma drops a
# little every major cycle as noise peaks are cleaned, which would otherwise
# cost whole major cycles for a handful of components each.
LEVEL_TOLERANCE = 0.01

STOP_THRESHOLD = "threshold reached"
STOP_NITER = "niter reached"
STOP_MAX_MAJOR = "max_major reached"
STOP_INTERRUPTED = "interrupted (Ctrl-C)"
STOP_DIVERGING = "diverging (residual peak grew above twice its start)"
STOP_NO_PROGRESS = "no component above the minor-cycle level"


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
        Most components over all cycles (-niter). With ``threshold = 0`` and
        ``threshold_sigma = None`` cleaning runs exactly ``niter`` iterations.
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
    """

    gain: float = 0.1
    mgain: float = 0.8
    niter: int = 10000
    threshold: float = 0.0
    threshold_sigma: float | None = 3.0
    auto_mask_sigma: float | None = None
    max_major: int = 20
    multiscale: bool = False
    scales: tuple[float, ...] = (0.0, 2.0, 4.0, 8.0)
    scale_bias: float = 0.6
    image_plane_only: bool = False

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
        return residual_image(self.obs.vis, model, self.obs.grid, self.weight, self.obs.norm)


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
    grid = obs.grid
    ny, nx = grid.npix_y, grid.npix_x
    psf = _centred_psf(np.asarray(obs.psf), ny, nx)
    image_plane = config.image_plane_only or obs.vis is None
    residual_of = _Residual(obs, psf, image_plane)

    if config.multiscale:
        scales_px = scale_sizes_px(config.scales, obs.beam, grid.cell_arcsec, (ny, nx))
        ms_state = MultiscaleState.build(psf, scales_px, config.scale_bias)
    else:
        scales_px, ms_state = (0.0,), None
        psf_convolver = CentredConvolver((ny, nx))
        psf_convolver.add_kernel("psf", psf, origin=(ny, nx))

    fwhm_px = np.sqrt(obs.beam.bmaj_arcsec * obs.beam.bmin_arcsec) / grid.cell_arcsec
    model = np.zeros((ny, nx), dtype=np.float32)
    residual = residual_of(model)
    comp_pix, comp_flux, comp_scale = [], [], []
    history = []
    phase = "automask" if config.auto_mask_sigma is not None else "final"
    mask = None
    iterations = 0
    n_major = 0
    first_peak = None
    stop_reason = None
    interrupted = False
    residual_stale = False
    final_level = 0.0
    sigma = robust_rms(residual)

    from tqdm.auto import tqdm

    bar = tqdm(total=config.max_major, desc="clean major cycles", disable=not progress, leave=False)
    try:
        while True:
            sigma = robust_rms(residual)
            final_level = config.threshold
            if config.threshold_sigma is not None:
                final_level = max(final_level, config.threshold_sigma * sigma)
            level = final_level
            if phase == "automask":
                level = max(final_level, config.auto_mask_sigma * sigma)
            region = mask if phase == "final" else None
            magnitude = np.abs(residual)
            peak = float(magnitude[region].max() if region is not None else magnitude.max())
            if first_peak is None:
                first_peak = peak
            row = {
                "major": n_major,
                "iteration": iterations,
                "peak": peak,
                "rms": sigma,
                "level": level,
                "n_components": _count_components(comp_pix, comp_scale, len(scales_px)),
                "phase": phase,
            }
            history.append(row)
            if callback is not None:
                callback(dict(row))
            bar.set_postfix(peak=f"{peak:.3g}", rms=f"{sigma:.3g}")
            if peak <= level * (1.0 + LEVEL_TOLERANCE):
                if phase == "automask":
                    pixels = np.concatenate(comp_pix) if comp_pix else np.zeros(0, np.int64)
                    scales = np.concatenate(comp_scale) if comp_scale else np.zeros(0, np.int32)
                    mask = np.zeros((ny, nx), dtype=bool)
                    for s, size in enumerate(scales_px):
                        radius = max(kernel_footprint_radius(size), MASK_GROW_BEAMS * fwhm_px)
                        mask |= _disc_mask(pixels[scales == s], radius, (ny, nx))
                    phase = "final"
                    if not mask.any():
                        stop_reason = STOP_THRESHOLD
                        break
                    continue
                stop_reason = STOP_THRESHOLD
                break
            if iterations >= config.niter:
                stop_reason = STOP_NITER
                break
            if n_major >= config.max_major:
                stop_reason = STOP_MAX_MAJOR
                break
            if n_major > 0 and peak > 2.0 * first_peak:
                stop_reason = STOP_DIVERGING
                break
            stop_level = max(level, (1.0 - config.mgain) * peak)
            budget = config.niter - iterations
            if ms_state is None:
                minor = hogbom_minor_cycle(
                    residual, psf, psf_convolver, stop_level, config.gain, budget, region=region
                )
                np.add.at(model.ravel(), minor.pixels, minor.fluxes.astype(np.float32))
            else:
                minor = multiscale_minor_cycle(
                    residual, ms_state, stop_level, config.gain, budget, region=region
                )
                model += minor.model_delta
            comp_pix.append(minor.pixels)
            comp_flux.append(minor.fluxes)
            comp_scale.append(minor.scales)
            iterations += minor.iterations
            if minor.iterations:
                residual_stale = True
                residual = residual_of(model)
                residual_stale = False
                n_major += 1
                bar.update()
            if minor.interrupted:
                interrupted = True
                stop_reason = STOP_INTERRUPTED
                break
            if minor.iterations == 0:
                stop_reason = STOP_NO_PROGRESS
                break
    except KeyboardInterrupt:
        interrupted = True
        stop_reason = STOP_INTERRUPTED
    finally:
        bar.close()
    if residual_stale:  # Ctrl-C hit while re-gridding: make the residual match the model
        residual = residual_of(model)

    restored = (convolve_with_beam(model, obs.beam, grid.cell_arcsec) + residual).astype(np.float32)
    components = _component_table(comp_pix, comp_flux, comp_scale, scales_px, grid, nx)
    return CleanResult(
        model=model,
        residual=np.asarray(residual, dtype=np.float32),
        restored=restored,
        components=components,
        history=_history_table(history),
        stop_reason=stop_reason,
        interrupted=interrupted,
        beam=obs.beam,
        config=config,
        n_major=n_major,
        n_iterations=iterations,
        noise_rms=float(robust_rms(residual)),
        threshold_jy=float(final_level),
        image_plane=image_plane,
        scales_px=tuple(float(s) for s in scales_px),
        mask=mask,
        elapsed_s=time.perf_counter() - start_time,
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


def _header_cards(result: CleanResult, obs: Observation) -> dict:
    c = result.config
    return {
        "NOISERMS": (float(result.noise_rms), "[Jy/beam] 1.4826 MAD of the residual"),
        "PREDRMS": (float(obs.noise_rms_predicted), "[Jy/beam] thermal rms from the weights"),
        "CLALGO": ("MULTISCALE" if c.multiscale else "HOGBOM", "CLEAN minor-cycle algorithm"),
        "CLMODE": (
            "IMAGE" if result.image_plane else "VIS",
            "residual from: VIS = visibilities, IMAGE = PSF",
        ),
        "CLGAIN": (c.gain, "minor-cycle loop gain"),
        "CLMGAIN": (c.mgain, "major-cycle gain"),
        "CLNITER": (c.niter, "iteration limit"),
        "CLTHRESH": (float(c.threshold), "[Jy/beam] absolute threshold asked for"),
        "CLTHSIG": (
            float(c.threshold_sigma) if c.threshold_sigma is not None else 0.0,
            "sigma threshold asked for (0 = none)",
        ),
        "CLAMASK": (
            float(c.auto_mask_sigma) if c.auto_mask_sigma is not None else 0.0,
            "auto-mask sigma (0 = none)",
        ),
        "CLTHRUSE": (float(result.threshold_jy), "[Jy/beam] final stopping level used"),
        "CLSCALES": (",".join(f"{s:.3g}" for s in result.scales_px), "[pix] multiscale sizes"),
        "CLSBIAS": (c.scale_bias, "multiscale scale bias"),
        "CLNMAJOR": (result.n_major, "major cycles done"),
        "CLNMINOR": (result.n_iterations, "minor iterations done"),
        "CLSTOP": (result.stop_reason[:60], "why cleaning stopped"),
        "CLINTERR": (bool(result.interrupted), "stopped by Ctrl-C"),
    }


def write_clean_products(result: CleanResult, obs: Observation, outdir) -> dict[str, Path]:
    """Write model.fits (JY/PIXEL), residual.fits, restored.fits (JY/BEAM),
    components.ecsv and history.csv to ``outdir``; returns ``{product: path}``."""
    from meersim.simulate.fitsio import write_image

    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    cards = _header_cards(result, obs)
    written = {
        "model": write_image(
            outdir / "model.fits", result.model, obs.grid, "JY/PIXEL", result.beam, cards
        ),
        "residual": write_image(
            outdir / "residual.fits", result.residual, obs.grid, "JY/BEAM", result.beam, cards
        ),
        "restored": write_image(
            outdir / "restored.fits", result.restored, obs.grid, "JY/BEAM", result.beam, cards
        ),
    }
    components = result.components.copy()
    components.meta.update(
        {
            "stop_reason": result.stop_reason,
            "interrupted": bool(result.interrupted),
            "config": {
                k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(result.config).items()
            },
            "bmaj_arcsec": result.beam.bmaj_arcsec,
            "bmin_arcsec": result.beam.bmin_arcsec,
            "bpa_deg": result.beam.bpa_deg,
        }
    )
    path = outdir / "components.ecsv"
    tmp = outdir / "components.ecsv.tmp"
    components.write(tmp, format="ascii.ecsv", overwrite=True)
    tmp.replace(path)
    written["components"] = path
    path = outdir / "history.csv"
    tmp = outdir / "history.csv.tmp"
    result.history.write(tmp, format="ascii.csv", overwrite=True)
    tmp.replace(path)
    written["history"] = path
    return written
