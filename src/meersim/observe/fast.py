"""Image-plane observation kept in its parts (apparent sky, PSF, noise) for the fast dataset mode.

:func:`observe_parts` does what ``observe(mode="image")`` does up to the dirty image:
uv coverage, imaging weights, PSF, clean beam, band primary beam, the band-weighted
apparent sky and the coloured thermal noise (same seed stream, so the same noise
numbers as image mode). It does not convolve: the CLEAN emulator
(:mod:`meersim.datasets.emulate`) convolves the bright and faint parts itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from meersim.config import to_dict
from meersim.errors import InputError
from meersim.grid import Grid
from meersim.imaging.beamfit import fit_clean_beam
from meersim.imaging.fftconv import FFTOps
from meersim.imaging.images import make_psf, predicted_rms
from meersim.imaging.weighting import Weighting, imaging_weights, weight_norm
from meersim.observe.observe import (
    band_primary_beam,
    channel_weight_fractions,
    noise_amplitude,
    output_grid,
)
from meersim.observe.outside import outside_dirty, outside_visibilities
from meersim.observe.primary_beam import primary_beam_image
from meersim.observe.visibilities import resolve_pointing, simulate_coverage, sky_at_frequency
from meersim.sky.render import check_sky_values
from meersim.stats import robust_rms
from meersim.types import Beam, Observation, Sky


@dataclass
class ImagePlaneParts:
    """An image-plane observation before convolution.

    apparent : float64 [ny, nx], Jy/pixel (band-weighted sky x primary beam).
    slope : float32 [ny, nx], Jy/pixel: least-squares slope of the channels' apparent
        skies against ``x = (freq - freq_mfs) / freq_mfs`` (weighted by the channel shares).
    psf_slope : float32 [2ny, 2nx]: ``sum_c share_c (x_c - mean x) PSF_c`` (0 at the centre).
        The MFS dirty image of the channels is ``apparent * psf + slope * psf_slope`` to
        first order in the spectrum, which a CLEAN with the band PSF cannot remove.
    noise : float32 [ny, nx], Jy/beam (zeros when the setup has no noise).
    outside : float32 [ny, nx] or None, Jy/beam (noise-free dirty image of off-grid sources).
    psf : float32 [2ny, 2nx], peak 1 at (ny, nx). Other fields as :class:`Observation`.
    """

    grid: Grid
    apparent: np.ndarray
    slope: np.ndarray
    noise: np.ndarray
    psf: np.ndarray
    psf_slope: np.ndarray
    beam: Beam
    primary_beam: np.ndarray
    noise_rms_predicted: float
    norm: float
    weighting: dict
    meta: dict
    outside: np.ndarray | None = None

    def observation(self, dirty: np.ndarray, rms: float | None = None) -> Observation:
        """The :class:`Observation` with this dirty image (Jy/beam) and its robust rms if known."""
        return Observation(
            grid=self.grid,
            dirty=dirty,
            psf=self.psf,
            beam=self.beam,
            primary_beam=self.primary_beam,
            noise_rms_predicted=self.noise_rms_predicted,
            noise_rms_measured=robust_rms(dirty) if rms is None else float(rms),
            norm=self.norm,
            weighting=self.weighting,
            meta=self.meta,
            outside_dirty=self.outside,
        )


def _channel_offsets(freqs_hz, fractions, freq_mfs: float) -> np.ndarray:
    """``x_c - mean x`` with ``x = (freq - freq_mfs) / freq_mfs`` and the mean weighted by the shares."""
    x = (np.asarray(freqs_hz, dtype=np.float64) - freq_mfs) / freq_mfs
    share = np.asarray(fractions, dtype=np.float64)
    return x - (share * x).sum() / max(share.sum(), 1e-300)


def _apparent_sky_and_slope(sky: Sky, freqs_hz, fractions, offsets):
    """Band apparent sky float64 and its weighted least-squares slope against x, float32 (Jy/pixel)."""
    share = np.asarray(fractions, dtype=np.float64)
    shape = (sky.grid.npix_y, sky.grid.npix_x)
    apparent = np.zeros(shape, dtype=np.float64)
    slope = np.zeros(shape, dtype=np.float64)
    for f, s_c, dx in zip(freqs_hz, share, offsets, strict=True):
        if s_c > 0:
            gain = primary_beam_image(sky.grid, float(f)).reshape(shape)
            channel = sky_at_frequency(sky, float(f)) * gain.astype(np.float64)
            apparent += s_c * channel
            slope += (s_c * dx) * channel
    denominator = float((share * offsets**2).sum())
    slope = slope / denominator if denominator > 0 else np.zeros(shape)
    return apparent, slope.astype(np.float32)


def observe_parts(
    sky: Sky,
    setup,
    weighting: Weighting | None = None,
    *,
    nthreads: int | None = None,
    outside=None,
    ops: FFTOps | None = None,
) -> ImagePlaneParts:
    """Image-plane observation of ``sky`` (Jy/pixel) with ``setup``, kept in parts.

    ``ops`` runs the noise FFT (numpy by default, or torch on a GPU); the noise
    equals image mode's (seed stream ``[setup.seed, 3]``) to float32 rounding.
    """
    weighting = Weighting() if weighting is None else Weighting.from_any(weighting)
    if not isinstance(sky, Sky):
        raise InputError("observe", "sky", f"expected a Sky, got {type(sky).__name__}.")
    check_sky_values(sky.data, "observe: sky")
    ops = FFTOps("cpu", nthreads) if ops is None else ops
    setup = resolve_pointing(setup, sky.grid)
    vis = simulate_coverage(setup)
    grid = output_grid(sky.grid, vis.freqs)
    weights = imaging_weights(vis, grid, weighting)
    norm = weight_norm(vis, weights)
    # No w-term: image-plane mode convolves with one PSF anyway (docs/dataset.md)
    psf = make_psf(vis, grid, weights, norm=norm, nthreads=nthreads, do_wgridding=False)
    fractions = channel_weight_fractions(vis, weights, norm)
    offsets = _channel_offsets(vis.freqs, fractions, float(grid.freqs_hz[0]))
    apparent, slope = _apparent_sky_and_slope(sky, vis.freqs, fractions, offsets)
    # sum_c (x_c - mean x) grid(w_c) / norm: the channels' PSFs weighted by their offsets
    spectral = weights * offsets[None, :].astype(np.float32)
    # it enters scaled by the spectral slope (a few % of the sky): 1e-3 gridder accuracy
    # is ample and 30 % cheaper (its error, measured: ~3e-6 of the PSF peak)
    psf_slope = make_psf(vis, grid, spectral, norm=norm, nthreads=nthreads, do_wgridding=False,
                         epsilon=1e-3)  # fmt: skip
    ny, nx = grid.npix_y, grid.npix_x
    if setup.noise:
        amplitude = noise_amplitude(vis, weights, norm, grid)
        noise = ops.coloured_noise(amplitude, np.random.default_rng([setup.seed, 3]), ny, nx)
    else:
        noise = np.zeros((ny, nx), dtype=np.float32)
    extra_image = None
    if outside is not None and len(outside):
        extra = outside_visibilities(vis, grid, outside)
        extra_image = outside_dirty(vis, grid, weights, norm, extra, nthreads)
    meta = {
        "mode": "fast",
        "setup": to_dict(setup),
        "nvis_unflagged": vis.nvis_unflagged,
        "nrow": vis.nrow,
        "channel_freqs_hz": [float(f) for f in vis.freqs],
    }
    return ImagePlaneParts(
        grid=grid,
        apparent=apparent,
        slope=slope,
        noise=noise,
        psf=psf,
        psf_slope=psf_slope,
        beam=fit_clean_beam(psf, grid.cell_arcsec),
        primary_beam=band_primary_beam(grid, vis.freqs, fractions),
        noise_rms_predicted=predicted_rms(vis, weights, norm),
        norm=norm,
        weighting=weighting.as_dict(),
        meta=meta,
        outside=extra_image,
    )
