"""Predict MeerKAT visibilities of a sky model: primary beam, w-terms, thermal noise, flags.

Per channel c at frequency f_c: apparent sky = sky(f_c) × katbeam gain(f_c),
predicted with :func:`meersim.imaging.gridder.image_to_vis` (ducc0 wgridder,
w-gridding on), plus complex Gaussian noise with sigma per real/imaginary part
(SEFD radiometer noise, or scaled to ``setup.target_rms_jy``). Weights are
1/sigma²; flagged samples keep their values and weights, ``flag`` marks them.

The pointing is the phase centre: ``setup.ra_deg/dec_deg`` (None = the sky
grid centre) must equal the sky grid's centre.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from meersim.errors import InputError
from meersim.imaging.gridder import default_nthreads, image_to_vis
from meersim.observe.noise import sigma_for_target_rms, visibility_sigma
from meersim.observe.primary_beam import primary_beam_image
from meersim.observe.telescope import Array, load_array
from meersim.observe.uvcoverage import ObservationSetup, channel_freqs, uv_tracks
from meersim.types import Sky, Visibilities

_POINTING_TOL_DEG = 1e-6


def sky_at_frequency(sky: Sky, freq_hz: float) -> np.ndarray:
    """The sky [ny, nx] (Jy/pixel) at ``freq_hz`` (Hz).

    * one channel: used at every frequency (flat spectrum);
    * a channel within 1 ppm of ``freq_hz``: that channel;
    * otherwise linear interpolation in log-frequency between the two nearest
      channels (exact for power laws sampled finely; no extrapolation: outside
      the cube's range the nearest channel is used).
    """
    freqs = sky.grid.freqs
    if len(freqs) == 1:
        return sky.data[0]
    match = np.flatnonzero(np.abs(freqs - freq_hz) <= 1e-6 * freq_hz)
    if match.size:
        return sky.data[match[0]]
    order = np.argsort(freqs)
    fs = freqs[order]
    if freq_hz <= fs[0]:
        return sky.data[order[0]]
    if freq_hz >= fs[-1]:
        return sky.data[order[-1]]
    hi = int(np.searchsorted(fs, freq_hz))
    lo = hi - 1
    t = np.log(freq_hz / fs[lo]) / np.log(fs[hi] / fs[lo])
    return ((1.0 - t) * sky.data[order[lo]] + t * sky.data[order[hi]]).astype(np.float32)


def resolve_pointing(setup: ObservationSetup, grid) -> ObservationSetup:
    """``setup`` pointed at the sky grid centre; InputError if its own pointing differs."""
    if setup.ra_deg is None:
        return setup.with_pointing(grid.ra_deg, grid.dec_deg)
    dra = (float(setup.ra_deg) - grid.ra_deg + 180.0) % 360.0 - 180.0
    off = np.hypot(dra * np.cos(np.radians(grid.dec_deg)), setup.dec_deg - grid.dec_deg)
    if off > _POINTING_TOL_DEG:
        raise InputError(
            "observe setup",
            "ra_deg/dec_deg",
            f"pointing ({setup.ra_deg}, {setup.dec_deg}) differs from the sky grid centre "
            f"({grid.ra_deg}, {grid.dec_deg}) by {off * 3600:.3g} arcsec; in meersim the "
            "pointing is the phase centre, which is the grid centre.",
            "Leave ra_deg/dec_deg unset (None) or render the sky on a grid centred on the pointing.",
        )
    return setup


def channel_sigma(setup: ObservationSetup, freqs_hz, flag) -> np.ndarray:
    """Noise sigma per real/imag part (Jy), float64 (nchan,): SEFD radiometer or scaled to target."""
    sigma = visibility_sigma(freqs_hz, setup.channel_width_hz, setup.dump_s)
    if setup.target_rms_jy is not None:
        sigma = sigma_for_target_rms(setup.target_rms_jy, sigma[None, :], flag)[0]
    return sigma


def simulate_coverage(
    setup: ObservationSetup,
    array: Array | None = None,
    *,
    ra_deg: float | None = None,
    dec_deg: float | None = None,
) -> Visibilities:
    """uv coverage, flags and noise weights of ``setup`` with zero visibilities (no sky, no noise).

    What the image-plane mode needs; :func:`simulate_visibilities` fills ``vis``.
    ``ra_deg/dec_deg`` override the setup's pointing (deg).
    """
    if array is None:
        array = load_array(setup.array, setup.antennas)
    tracks = uv_tracks(array, setup, ra_deg=ra_deg, dec_deg=dec_deg)
    freqs = channel_freqs(setup)
    sigma = channel_sigma(setup, freqs, tracks.flag)
    weight = np.broadcast_to((1.0 / sigma**2).astype(np.float32), tracks.flag.shape).copy()
    return Visibilities(
        uvw=tracks.uvw,
        freqs=freqs,
        vis=np.zeros(tracks.flag.shape, dtype=np.complex64),
        weight=weight,
        flag=tracks.flag,
        antenna1=tracks.antenna1,
        antenna2=tracks.antenna2,
        time_mjd_s=tracks.time_mjd_s,
        channel_width_hz=setup.channel_width_hz,
        integration_s=setup.dump_s,
        meta={
            "ra_deg": tracks.meta["ra_deg"],
            "dec_deg": tracks.meta["dec_deg"],
            "array": array.as_dict(),
            "sigma_jy": sigma.tolist(),
            "n_times": tracks.n_times,
            "seed": setup.seed,
        },
    )


def thermal_noise(nrow: int, sigma_jy, seed: int, *, nthreads: int | None = None) -> np.ndarray:
    """Complex Gaussian noise, channel-major complex64 (nchan, nrow), in Jy.

    Real and imaginary parts each have standard deviation ``sigma_jy[c]`` (Jy)
    in channel c. Each channel draws from its own stream, spawned from
    ``SeedSequence([seed, 2])``, so the result depends on the seed alone and
    the channels can be drawn in parallel (numpy releases the GIL while filling).
    """
    sigma = np.asarray(sigma_jy, dtype=np.float64)
    streams = np.random.SeedSequence([seed, 2]).spawn(sigma.size)
    noise = np.empty((sigma.size, nrow), dtype=np.complex64)

    def draw(c: int) -> None:
        parts = noise[c].view(np.float32)  # real and imaginary parts, interleaved
        np.random.default_rng(streams[c]).standard_normal(dtype=np.float32, out=parts)
        parts *= np.float32(sigma[c])

    workers = min(nthreads or default_nthreads(), sigma.size)
    if workers > 1:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(draw, range(sigma.size)))
    else:
        for c in range(sigma.size):
            draw(c)
    return noise


def simulate_visibilities(
    sky: Sky,
    setup: ObservationSetup,
    array: Array | None = None,
    *,
    progress: bool = False,
    nthreads: int | None = None,
) -> Visibilities:
    """Observe ``sky`` (Jy/pixel) with ``setup``: visibilities in Jy, weights 1/sigma² (Jy⁻²), flags.

    ``array`` defaults to ``load_array(setup.array, setup.antennas)``. The noise
    (``setup.noise``) is seeded by ``setup.seed``. ``progress`` shows a bar over channels.
    """
    from tqdm.auto import tqdm

    if not isinstance(sky, Sky):
        raise InputError(
            "simulate_visibilities", "sky", f"expected a Sky, got {type(sky).__name__}."
        )
    setup = resolve_pointing(setup, sky.grid)
    vis = simulate_coverage(setup, array)
    grid = sky.grid
    nrow, nchan = vis.vis.shape
    noise = None
    if setup.noise:
        sigma = np.asarray(vis.meta["sigma_jy"], dtype=np.float64)
        noise = thermal_noise(nrow, sigma, setup.seed, nthreads=nthreads)
    data = np.empty((nrow, nchan), dtype=np.complex64)
    for c in tqdm(range(nchan), desc="predicting channels", disable=not progress, leave=False):
        f = float(vis.freqs[c])
        apparent = sky_at_frequency(sky, f) * primary_beam_image(grid, f)
        if np.any(apparent):
            predicted = image_to_vis(
                apparent.astype(np.float32, copy=False), vis.uvw, vis.freqs[c : c + 1],
                grid.cell_rad, nthreads=nthreads,
            )[:, 0]  # fmt: skip
            if noise is None:
                data[:, c] = predicted
            else:
                np.add(predicted, noise[c], out=data[:, c])
        else:
            data[:, c] = 0 if noise is None else noise[c]
    vis.vis = data
    vis.meta["noise"] = bool(setup.noise)
    vis.meta["sky_channels_hz"] = [float(f) for f in grid.freqs]
    return vis
