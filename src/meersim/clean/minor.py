"""CLEAN minor cycles: Högbom and multiscale, against a PSF twice the image size.

Conventions: images are [ny, nx] in Jy/beam; the PSF is [2 ny, 2 nx] with its
peak (1) at pixel (ny, nx), so the response at pixel q to a unit component at
pixel p is ``psf[ny + qy - py, nx + qx - px]`` for every pair of image pixels.
Models are in Jy/pixel.

Högbom (1974, A&AS 15, 417): find the peak, subtract ``gain x peak x PSF``
shifted there, repeat. To keep each iteration cheap we follow Clark (1980,
A&A 89, 377) in working on an *active set*: only pixels whose residual is at
or above the minor cycle's stopping level can become a peak before the cycle
ends, so only they are tracked. By default an iteration subtracts only the PSF's
central patch from them (:mod:`meersim.clean.clark`) and each round ends with an
exact FFT update of the whole residual; with ``patch=None`` the full 2x PSF is
looked up at each tracked pixel, so the components are those Högbom would find on
them. Pixels outside the set are brought up to date by the FFT update and the
next major cycle (from the visibilities, or by an exact FFT convolution in
image-plane mode).

Multiscale (Cornwell 2008, IEEE JSTSP 2, 793; the sub-minor-loop scheme of
Offringa & Smirnov 2017, MNRAS 471, 301): the residual is smoothed with each
scale kernel; the scale with the largest *biased* peak is chosen; a Högbom
sub-minor loop runs on that scale's smoothed residual with its
``kernel * kernel * PSF``; the accumulated components, convolved with the
kernel, join the model and ``components * kernel * PSF`` is subtracted from
the whole residual by FFT.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numba
import numpy as np
import scipy.fft
from scipy.signal import fftconvolve

from meersim.clean.clark import CLARK_TILE, PsfPatch, clark_iterations
from meersim.imaging.fftconv import cropped_irfft2, padded_rfft2
from meersim.imaging.gridder import default_nthreads

# WSClean's multiscale gain: a sub-minor loop stops once the chosen scale's
# peak has dropped by this fraction (wsclean -multiscale-gain, default 0.2).
SUBMINOR_GAIN = 0.2
# Width of a Gaussian scale kernel of "size" (diameter) alpha pixels:
# sigma = 3 alpha / 16, WSClean's Gaussian equivalent of its tapered-quadratic
# kernel of that diameter (as re-implemented in SKA ska-sdp-func ms_clean_ws_clean).
GAUSSIAN_SIGMA_PER_SCALE = 3.0 / 16.0
# The compiled Högbom loop returns to Python every this many iterations, so
# Ctrl-C (which cannot interrupt compiled code) stops a long minor cycle promptly.
HOGBOM_CHUNK = 5000
# A Högbom minor cycle tracks every pixel above this fraction of its stopping
# level, so pixels that sidelobes of new components lift over the level are
# cleaned in the same pass instead of in another round (each round costs two
# FFTs of twice the image). Measured on a 1024^2 MeerKAT field: 0.9 cut the
# rounds from 32 to 10 with the same components (bench/clean.py).
TRACK_FRACTION = 0.9


@dataclass
class MinorCycleResult:
    """Components found by one minor (or sub-minor) cycle.

    ``pixels`` are flat indices into the [ny, nx] image, ``fluxes`` the
    component amplitudes in Jy (for a scale kernel: the kernel's total flux),
    ``scales`` the scale index of each component (0 for Högbom).
    """

    pixels: np.ndarray
    fluxes: np.ndarray
    scales: np.ndarray
    iterations: int
    last_peak: float
    interrupted: bool = False
    model_delta: np.ndarray | None = None
    residual_delta: np.ndarray | None = None

    @classmethod
    def empty(cls, peak: float = 0.0) -> MinorCycleResult:
        return cls(
            np.zeros(0, np.int64), np.zeros(0, np.float64), np.zeros(0, np.int32), 0, float(peak)
        )


def hogbom_active_set(
    image: np.ndarray,
    psf: np.ndarray,
    stop_level: float,
    gain: float,
    max_iter: int,
    *,
    region: np.ndarray | None = None,
    psf_peak: float = 1.0,
    scale_index: int = 0,
    track_level: float | None = None,
    patch: PsfPatch | None = None,
) -> MinorCycleResult:
    """Högbom iterations on the pixels of ``image`` at or above ``stop_level``.

    Parameters
    ----------
    image : float [ny, nx]
        Residual (Jy/beam), or a scale-smoothed residual. Not modified.
    psf : float [2 ny, 2 nx]
        The response to a unit component, origin at (ny, nx).
    stop_level : float
        Stop once the largest |value| in the active set is below this (Jy/beam).
    gain : float
        Loop gain: each component removes ``gain`` x the peak.
    max_iter : int
        Most components to find.
    region : bool [ny, nx], optional
        Only pixels where True may receive components (a clean mask).
    psf_peak : float
        ``psf`` value at the origin: component amplitude = gain x peak / psf_peak.
    track_level : float, optional
        Track (update exactly) every pixel at or above this level (<= ``stop_level``,
        Jy/beam), so that pixels that sidelobes lift above ``stop_level`` are
        cleaned in the same pass. Default ``stop_level``.
    patch : PsfPatch, optional
        Clark iterations: each component updates only the tracked pixels within the
        patch (the rest of the PSF is left to the caller's exact update). Default: the
        whole PSF at every tracked pixel.

    Returns
    -------
    MinorCycleResult (Ctrl-C stops it early with ``interrupted=True``).
    """
    ny, nx = image.shape
    magnitude = np.abs(image)
    active = magnitude >= (stop_level if track_level is None else min(track_level, stop_level))
    if region is not None:
        active &= region
    candidates = np.flatnonzero(active)
    if candidates.size == 0 or max_iter <= 0:
        peak = float(magnitude[region].max()) if region is not None and region.any() else 0.0
        return MinorCycleResult.empty(peak if region is not None else float(magnitude.max()))
    cy, cx = np.divmod(candidates, nx)
    amplitude_gain = float(gain) / float(psf_peak)
    if patch is None:
        row = 2 * nx
        # psf flat index of the response at candidate c to a component at p:
        # (ny + cy - py) * 2nx + (nx + cx - px) = base_c - (py * 2nx + px).
        base = (ny + cy) * row + (nx + cx)
        offset = cy * row + cx
        psf_flat = np.ascontiguousarray(psf, dtype=np.float32).ravel()
        values = image.ravel()[candidates].astype(np.float64)

        def iterate(chunk, index, flux):
            return _hogbom_kernel(values, base, offset, psf_flat, float(stop_level),
                                  amplitude_gain, index, flux, chunk)  # fmt: skip
    else:
        tiles_y, tiles_x = -(-ny // CLARK_TILE), -(-nx // CLARK_TILE)
        tile = (cy // CLARK_TILE) * tiles_x + cx // CLARK_TILE
        order = np.argsort(tile, kind="stable")
        candidates, cy, cx = candidates[order], cy[order], cx[order]
        tile_start = np.searchsorted(tile[order], np.arange(tiles_y * tiles_x + 1))
        values = image.ravel()[candidates].astype(np.float64)

        def iterate(chunk, index, flux):
            return clark_iterations(values, cy, cx, tile_start, tiles_x, CLARK_TILE, patch.values,
                                 patch.radius, float(stop_level), amplitude_gain, index, flux,
                                 chunk)  # fmt: skip

    found, amplitudes = [], []
    n = 0
    interrupted = False
    peak = float(np.max(np.abs(values)))
    try:
        while n < max_iter:
            chunk = min(HOGBOM_CHUNK, int(max_iter) - n)
            index, flux = np.empty(chunk, np.int64), np.empty(chunk, np.float64)
            done, peak = iterate(chunk, index, flux)
            found.append(index[:done])
            amplitudes.append(flux[:done])
            n += done
            if done < chunk:
                break
    except KeyboardInterrupt:
        interrupted = True
    pixels = candidates[np.concatenate(found)] if found else np.zeros(0, np.int64)
    fluxes = np.concatenate(amplitudes) if amplitudes else np.zeros(0)
    return MinorCycleResult(
        np.asarray(pixels, np.int64),
        np.asarray(fluxes, np.float64),
        np.full(n, scale_index, np.int32),
        n,
        float(peak),
        interrupted,
    )


@numba.njit(cache=True, nogil=True, fastmath=False)
def _hogbom_kernel(values, base, offset, psf_flat, stop_level, gain, found, fluxes, max_iter):
    """Compiled Högbom loop on an active set; returns (iterations, peak |value| left).

    ``values`` (Jy/beam) are updated in place; component k goes to candidate
    ``found[k]`` with amplitude ``fluxes[k]`` (Jy). The update pass also finds the
    next peak, so each iteration reads the active set once.
    """
    n = values.size
    best = -1.0
    k = 0
    for j in range(n):
        a = abs(values[j])
        if a > best:
            best = a
            k = j
    done = 0
    while done < max_iter and best >= stop_level:
        flux = gain * values[k]
        found[done] = k
        fluxes[done] = flux
        done += 1
        shift = offset[k]
        best = -1.0
        nxt = 0
        for j in range(n):
            v = values[j] - flux * psf_flat[base[j] - shift]
            values[j] = v
            a = abs(v)
            if a > best:
                best = a
                nxt = j
        k = nxt
    return done, best


def hogbom_minor_cycle(
    residual: np.ndarray,
    psf: np.ndarray,
    convolver: CentredConvolver,
    stop_level: float,
    gain: float,
    max_iter: int,
    *,
    region: np.ndarray | None = None,
    max_rounds: int = 20,
    track_fraction: float = TRACK_FRACTION,
    patch: PsfPatch | None = None,
) -> MinorCycleResult:
    """Högbom minor cycle: every pixel of ``residual`` ends below ``stop_level`` (PSF model).

    Runs :func:`hogbom_active_set` rounds; after each, the whole residual is
    updated by an exact FFT convolution of the round's components with the
    PSF (``convolver`` must hold the PSF under key ``"psf"``), and pixels that
    sidelobes lifted above ``stop_level`` form the next round's active set.
    So one minor cycle does what a dense Högbom would, and the major cycle
    only corrects what the PSF cannot describe (gridding, w-term, MFS). Each
    round tracks the pixels above ``track_fraction x stop_level``.

    With a ``patch`` the rounds are Clark's (1980, A&A 89, 377): iterations subtract
    only the PSF's central patch, and a round stops once its peak is below the
    patch's largest exterior sidelobe times the peak the round started from (or
    ``stop_level``), where the neglected sidelobes could start to pick the wrong
    peaks; the FFT update then makes the residual exact again.
    """
    ny, nx = residual.shape
    work = np.array(residual, dtype=np.float32)
    parts = []
    iterations = 0
    interrupted = False
    last_peak = 0.0
    peak_now = None
    try:
        for _ in range(max_rounds):
            round_stop = stop_level
            if patch is not None:
                if peak_now is None:
                    magnitude = np.abs(work if region is None else work[region])
                    peak_now = float(magnitude.max()) if magnitude.size else 0.0
                round_stop = max(stop_level, patch.exterior * peak_now)
            part = hogbom_active_set(work, psf, round_stop, gain, max_iter - iterations,
                                     region=region, track_level=track_fraction * round_stop,
                                     patch=patch)  # fmt: skip
            last_peak = part.last_peak
            if part.iterations:
                parts.append(part)
                iterations += part.iterations
                components = np.zeros(ny * nx, dtype=np.float32)
                np.add.at(components, part.pixels, part.fluxes)
                work -= convolver.convolve(components.reshape(ny, nx), "psf")
            if part.interrupted:
                interrupted = True
                break
            if part.iterations == 0 or iterations >= max_iter:
                break
            magnitude = np.abs(work if region is None else work[region])
            last_peak = peak_now = float(magnitude.max()) if magnitude.size else 0.0
            if last_peak < stop_level:
                break
    except KeyboardInterrupt:
        interrupted = True
    if not parts:
        out = MinorCycleResult.empty(last_peak)
        out.interrupted = interrupted
        return out
    return MinorCycleResult(
        np.concatenate([p.pixels for p in parts]),
        np.concatenate([p.fluxes for p in parts]),
        np.concatenate([p.scales for p in parts]),
        iterations,
        last_peak,
        interrupted,
    )


class CentredConvolver:
    """Exact linear convolution of [ny, nx] images with centred kernels, FFTs cached.

    A kernel is any array with a given origin pixel (offset 0); offsets must
    lie in [-ny, ny) x [-nx, nx), as for a [2 ny, 2 nx] PSF with origin (ny, nx).
    The FFT grid is at least [2 ny, 2 nx], so no pixel's response wraps onto another.
    """

    def __init__(self, shape: tuple[int, int], workers: int | None = None):
        self.ny, self.nx = (int(s) for s in shape)
        self.pad = (
            scipy.fft.next_fast_len(2 * self.ny, real=True),
            scipy.fft.next_fast_len(2 * self.nx, real=True),
        )
        self.workers = workers or default_nthreads()
        self._kernels: dict = {}

    def add_kernel(self, key, kernel: np.ndarray, origin: tuple[int, int] | None = None) -> None:
        """Register ``kernel`` (origin defaults to its centre pixel ``shape // 2``)."""
        kernel = np.asarray(kernel, dtype=np.float32)
        ky, kx = kernel.shape
        oy, ox = origin if origin is not None else (ky // 2, kx // 2)
        dy = np.arange(ky) - oy
        dx = np.arange(kx) - ox
        keep_y = (dy >= -self.ny) & (dy < self.ny)
        keep_x = (dx >= -self.nx) & (dx < self.nx)
        padded = np.zeros(self.pad, dtype=np.float32)
        iy = np.mod(dy[keep_y], self.pad[0])
        ix = np.mod(dx[keep_x], self.pad[1])
        padded[np.ix_(iy, ix)] = kernel[np.ix_(keep_y, keep_x)]
        self._kernels[key] = scipy.fft.rfft2(padded, workers=self.workers)

    def transform(self, image: np.ndarray) -> np.ndarray:
        """FFT of ``image`` zero-padded onto the convolution grid."""
        return padded_rfft2(image, self.pad, self.workers)

    def apply(self, image_ft: np.ndarray, key, overwrite: bool = False) -> np.ndarray:
        """``image * kernel[key]`` as float32 [ny, nx], from :meth:`transform`'s output
        (overwritten if ``overwrite``)."""
        if overwrite:
            image_ft *= self._kernels[key]
        else:
            image_ft = image_ft * self._kernels[key]
        return cropped_irfft2(image_ft, self.pad, (self.ny, self.nx), self.workers, overwrite=True)

    def convolve(self, image: np.ndarray, key) -> np.ndarray:
        """``image * kernel[key]`` as float32 [ny, nx]."""
        return self.apply(self.transform(image), key, overwrite=True)


def gaussian_scale_kernel(scale_px: float, max_half_width: int) -> np.ndarray:
    """Sum-1 Gaussian scale kernel (odd size) for a scale of ``scale_px`` pixels (diameter).

    Scale 0 is a delta function. ``sigma = 3 scale / 16`` pixels (WSClean's
    Gaussian shape for a scale of that size), truncated at 4 sigma.
    """
    if scale_px <= 0:
        return np.ones((1, 1), dtype=np.float32)
    sigma = GAUSSIAN_SIGMA_PER_SCALE * scale_px
    half = int(min(max(np.ceil(4.0 * sigma), 1), max_half_width))
    r = np.arange(-half, half + 1, dtype=np.float64)
    g = np.exp(-0.5 * (r / sigma) ** 2)
    kernel = np.outer(g, g)
    return (kernel / kernel.sum()).astype(np.float32)


def kernel_footprint_radius(scale_px: float) -> float:
    """Radius in pixels that a scale's component marks in an auto-mask (half its size)."""
    return max(0.5 * scale_px, 0.0)


def scale_bias_factors(scales_px, bias: float) -> np.ndarray:
    """Multiply each scale's peak by these before choosing a scale.

    WSClean's ``-multiscale-scale-bias`` beta (default 0.6): "if a peak is 0.6
    times larger at a 2x larger scale, select the larger scale". Scale 0 has
    factor 1 and counts as half the smallest non-zero scale, so a scale alpha
    gets ``beta ** -(1 + log2(alpha / alpha_min))``.
    """
    scales_px = np.asarray(scales_px, dtype=np.float64)
    positive = scales_px[scales_px > 0]
    factors = np.ones(scales_px.shape)
    if positive.size:
        smallest = positive.min()
        nz = scales_px > 0
        factors[nz] = bias ** -(1.0 + np.log2(scales_px[nz] / smallest))
    return factors


@dataclass
class MultiscaleState:
    """Precomputed kernels and PSFs of each scale (Cornwell 2008, §3).

    Attributes
    ----------
    scales_px : array
        Scale sizes (diameters) in pixels; 0 is the delta (point) scale.
    kernels : list of arrays
        Sum-1 scale kernels (odd size, centred).
    psf_scale : list of [2ny, 2nx]
        ``kernel * PSF``: the residual left by a unit-flux scale component.
    psf_scale2 : list of [2ny, 2nx]
        ``kernel * kernel * PSF``: that component's response in the smoothed residual.
    psf_scale2_peak : array
        ``psf_scale2`` at the origin, which turns a smoothed peak into a flux.
    bias : array
        Scale-bias factor of each scale.
    """

    scales_px: np.ndarray
    kernels: list
    psf_scale: list
    psf_scale2: list
    psf_scale2_peak: np.ndarray
    bias: np.ndarray
    convolver: CentredConvolver = field(repr=False)

    @classmethod
    def build(
        cls, psf: np.ndarray, scales_px, bias: float, workers: int | None = None
    ) -> MultiscaleState:
        """Kernels, scale PSFs and cached FFTs for ``psf`` [2ny, 2nx]."""
        psf = np.asarray(psf, dtype=np.float32)
        ny, nx = psf.shape[0] // 2, psf.shape[1] // 2
        convolver = CentredConvolver((ny, nx), workers)
        kernels, psf_scale, psf_scale2, peaks = [], [], [], []
        for s, scale in enumerate(scales_px):
            kernel = gaussian_scale_kernel(scale, min(ny, nx) - 1)
            if kernel.size == 1:
                p1 = p2 = psf
            else:
                p1 = fftconvolve(psf, kernel, mode="same").astype(np.float32)
                p2 = fftconvolve(p1, kernel, mode="same").astype(np.float32)
            kernels.append(kernel)
            psf_scale.append(p1)
            psf_scale2.append(p2)
            peaks.append(float(p2[ny, nx]))
            convolver.add_kernel(("kernel", s), kernel)
            convolver.add_kernel(("psf", s), p1, origin=(ny, nx))
        return cls(
            np.asarray(scales_px, dtype=np.float64),
            kernels,
            psf_scale,
            psf_scale2,
            np.asarray(peaks),
            scale_bias_factors(scales_px, bias),
            convolver,
        )

    def smoothed(self, residual: np.ndarray) -> list[np.ndarray]:
        """The residual convolved with every scale kernel (scale 0: itself)."""
        ft = None
        out = []
        for s, kernel in enumerate(self.kernels):
            if kernel.size == 1:
                out.append(residual)
                continue
            if ft is None:
                ft = self.convolver.transform(residual)
            out.append(self.convolver.apply(ft, ("kernel", s)))
        return out


def multiscale_minor_cycle(
    residual: np.ndarray,
    state: MultiscaleState,
    stop_level: float,
    gain: float,
    max_iter: int,
    *,
    region: np.ndarray | None = None,
) -> MinorCycleResult:
    """Multiscale minor cycle down to ``stop_level`` (Jy/beam) or ``max_iter`` components.

    Each round chooses the scale whose smoothed residual has the largest
    biased peak (among scales whose peak is above ``stop_level``), runs a
    Högbom sub-minor loop on it until its peak falls by ``SUBMINOR_GAIN`` (or to
    ``stop_level``), then subtracts ``components * kernel * PSF`` from the whole
    residual. Returns the components (``scales`` = scale index), the model
    change (Jy/pixel) and the residual change (Jy/beam, PSF-based).
    """
    ny, nx = residual.shape
    work = np.array(residual, dtype=np.float32)
    model_delta = np.zeros((ny, nx), dtype=np.float32)
    all_pix, all_flux, all_scale = [], [], []
    iterations = 0
    interrupted = False
    last_peak = 0.0
    try:
        while iterations < max_iter:
            smoothed = state.smoothed(work)
            peaks = np.array(
                [
                    float(np.abs(img[region]).max() if region is not None else np.abs(img).max())
                    for img in smoothed
                ]
            )
            last_peak = float(peaks[0])
            eligible = peaks >= stop_level
            if not eligible.any():
                break
            score = np.where(eligible, peaks * state.bias, -np.inf)
            t = int(np.argmax(score))
            sub_stop = max(stop_level, (1.0 - SUBMINOR_GAIN) * peaks[t])
            sub = hogbom_active_set(
                smoothed[t],
                state.psf_scale2[t],
                sub_stop,
                gain,
                max_iter - iterations,
                region=region,
                psf_peak=state.psf_scale2_peak[t],
                scale_index=t,
            )
            if sub.iterations:
                components = np.zeros(ny * nx, dtype=np.float32)
                np.add.at(components, sub.pixels, sub.fluxes)
                components = components.reshape(ny, nx)
                ft = state.convolver.transform(components)
                if state.kernels[t].size == 1:
                    model_delta += components
                else:
                    model_delta += state.convolver.apply(ft, ("kernel", t))
                work -= state.convolver.apply(ft, ("psf", t))
                all_pix.append(sub.pixels)
                all_flux.append(sub.fluxes)
                all_scale.append(sub.scales)
                iterations += sub.iterations
            if sub.interrupted:
                interrupted = True
                break
            if sub.iterations == 0:
                break
    except KeyboardInterrupt:
        interrupted = True
    cat = lambda parts, dt: np.concatenate(parts) if parts else np.zeros(0, dt)  # noqa: E731
    return MinorCycleResult(
        cat(all_pix, np.int64),
        cat(all_flux, np.float64),
        cat(all_scale, np.int32),
        iterations,
        last_peak,
        interrupted,
        model_delta=model_delta,
        residual_delta=np.asarray(residual, dtype=np.float32) - work,
    )
