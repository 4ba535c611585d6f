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
    band_apparent_sky,
    band_primary_beam,
    channel_weight_fractions,
    noise_amplitude,
    output_grid,
)
from meersim.observe.outside import outside_dirty, outside_visibilities
from meersim.observe.visibilities import resolve_pointing, simulate_coverage
from meersim.sky.render import check_sky_values
from meersim.stats import robust_rms
from meersim.types import Beam, Observation, Sky


@dataclass
class ImagePlaneParts:
    """An image-plane observation before convolution.

    apparent : float64 [ny, nx], Jy/pixel (band-weighted sky x primary beam).
    noise : float32 [ny, nx], Jy/beam (zeros when the setup has no noise).
    outside : float32 [ny, nx] or None, Jy/beam (noise-free dirty image of off-grid sources).
    psf : float32 [2ny, 2nx], peak 1 at (ny, nx). Other fields as :class:`Observation`.
    """

    grid: Grid
    apparent: np.ndarray
    noise: np.ndarray
    psf: np.ndarray
    beam: Beam
    primary_beam: np.ndarray
    noise_rms_predicted: float
    norm: float
    weighting: dict
    meta: dict
    outside: np.ndarray | None = None

    def observation(self, dirty: np.ndarray) -> Observation:
        """The :class:`Observation` with this dirty image (Jy/beam)."""
        return Observation(
            grid=self.grid,
            dirty=dirty,
            psf=self.psf,
            beam=self.beam,
            primary_beam=self.primary_beam,
            noise_rms_predicted=self.noise_rms_predicted,
            noise_rms_measured=robust_rms(dirty),
            norm=self.norm,
            weighting=self.weighting,
            meta=self.meta,
            outside_dirty=self.outside,
        )


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
    apparent = band_apparent_sky(sky, vis.freqs, fractions, grid)
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
        noise=noise,
        psf=psf,
        beam=fit_clean_beam(psf, grid.cell_arcsec),
        primary_beam=band_primary_beam(grid, vis.freqs, fractions),
        noise_rms_predicted=predicted_rms(vis, weights, norm),
        norm=norm,
        weighting=weighting.as_dict(),
        meta=meta,
        outside=extra_image,
    )
