"""Observe a sky model with MeerKAT: visibilities (or their image-plane equivalent) to a dirty image.

Two modes give the same dirty image statistics:

* ``mode="vis"``: predict visibilities of the sky (with primary beam and thermal
  noise) and grid them (ducc0 wgridder, w-gridding, MFS).
* ``mode="image"``: never predict the sky's visibilities. The uv coverage and
  weights are computed as in ``vis`` mode; the PSF is gridded from the weights
  alone; the dirty image is the apparent sky convolved with the PSF (exact
  linear convolution) plus thermal noise drawn with the power spectrum of the
  weighted uv sampling (see :func:`image_plane_noise`).

Products (as MGCLS publishes them, Knowles et al. 2022, A&A 657, A56):
``basic`` is the apparent image (attenuated by the primary beam); ``enhanced``
is primary-beam corrected, ``image / pb``, blanked (NaN) where ``pb < pb_cut``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import scipy.fft

from meersim import __version__
from meersim.config import to_dict
from meersim.errors import InputError
from meersim.simulate.beamfit import convolve_centred, fit_clean_beam
from meersim.simulate.fitsio import read_image, write_image
from meersim.simulate.grid import Grid
from meersim.simulate.gridder import default_nthreads
from meersim.simulate.imaging import (
    SPEED_OF_LIGHT,
    Weighting,
    imaging_weights,
    make_dirty,
    make_psf,
    predicted_rms,
    robust_rms,
    unflagged_weights,
    weight_norm,
)
from meersim.simulate.types import Beam, Observation, Sky, Visibilities

PRODUCTS = ("basic", "enhanced")
MODES = ("vis", "image")
DEFAULT_PB_CUT = 0.2  # MGCLS enhanced products are blanked below 20% of the beam peak


def output_grid(sky_grid: Grid, channel_freqs_hz) -> Grid:
    """The MFS image grid: the sky grid with one channel at the band's mean frequency (Hz)."""
    return sky_grid.with_freqs((float(np.mean(channel_freqs_hz)),))


def enhanced(image: np.ndarray, primary_beam: np.ndarray, pb_cut: float = DEFAULT_PB_CUT):
    """Primary-beam corrected image ``image / pb``, NaN where ``pb < pb_cut`` (float32).

    ``image`` in Jy/beam (apparent), ``primary_beam`` the gain (1 at the pointing
    centre), both [..., ny, nx].
    """
    if not 0.0 < pb_cut <= 1.0:
        raise InputError("enhanced", "pb_cut", f"must lie in (0, 1], got {pb_cut}.", "e.g. 0.2.")
    image = np.asarray(image, dtype=np.float32)
    pb = np.asarray(primary_beam, dtype=np.float32)
    out = np.full(np.broadcast_shapes(image.shape, pb.shape), np.nan, dtype=np.float32)
    keep = np.broadcast_to(pb >= pb_cut, out.shape)
    np.divide(image, pb, out=out, where=keep)
    return out


def image_products(obs: Observation, names=None, pb_cut: float | None = None) -> dict:
    """The requested products of ``obs.dirty`` as ``{name: float32 [ny, nx]}`` (Jy/beam)."""
    names = tuple(names or obs.meta.get("products", PRODUCTS))
    pb_cut = float(obs.meta.get("pb_cut", DEFAULT_PB_CUT) if pb_cut is None else pb_cut)
    out = {}
    for name in names:
        if name == "basic":
            out[name] = obs.dirty
        elif name == "enhanced":
            out[name] = enhanced(obs.dirty, obs.primary_beam, pb_cut)
        else:
            raise InputError("observe", "products", f"{name!r} is unknown.", "Use basic, enhanced.")
    return out


def channel_weight_fractions(vis: Visibilities, imaging_weight: np.ndarray, norm: float):
    """Share of the MFS image each channel carries: sum of its imaging weights / norm."""
    return unflagged_weights(vis, imaging_weight).sum(axis=0, dtype=np.float64) / float(norm)


def image_plane_noise(
    vis: Visibilities,
    imaging_weight: np.ndarray,
    norm: float,
    grid: Grid,
    rng: np.random.Generator,
    *,
    workers: int | None = None,
) -> np.ndarray:
    """Thermal noise image float32 [ny, nx] (Jy/beam) with the statistics of the gridded noise.

    The dirty image of pure noise is a stationary Gaussian field whose
    covariance at lag ``d`` is ``C(d) = sum_i W_i^2 sigma_i^2 cos(2 pi u_i . d) / norm^2``
    (``sigma_i^2 = 1 / vis.weight``, per real/imaginary part; w-term neglected).
    Its power spectrum is therefore the weighted sampling function
    ``A(k) = sum_i W_i^2 sigma_i^2 [delta(k - u_i) + delta(k + u_i)] / (2 norm^2)``.
    We bin ``A`` onto the uv grid of a [2ny, 2nx] image (cell ``1/(2 n cell)``,
    twice finer than the image's own Fourier resolution, indices wrapped modulo
    the grid so that baselines beyond Nyquist alias exactly as sampled
    fringes do), colour complex white noise with ``sqrt(A)``, inverse FFT,
    take the real part and crop [ny, nx]. The real part of circular complex
    noise has covariance ``sum_k A_k cos(2 pi k . d)``: the variance is exactly
    ``predicted_rms**2`` and the power spectrum that of the visibility noise to
    within the bin width. Cost: O(nvis) binning and one FFT, no gridding.
    """
    ny, nx = grid.npix_y, grid.npix_x
    big_y, big_x = 2 * ny, 2 * nx
    w = unflagged_weights(vis, imaging_weight).astype(np.float64)
    natural = np.asarray(vis.weight, dtype=np.float64)
    variance = np.zeros_like(w)
    ok = (w > 0) & (natural > 0)
    variance[ok] = w[ok] ** 2 / natural[ok] / float(norm) ** 2
    power = np.zeros(big_y * big_x, dtype=np.float64)
    for c, f in enumerate(vis.freqs):
        keep = ok[:, c]
        if not keep.any():
            continue
        scale = f / SPEED_OF_LIGHT * grid.cell_rad
        # Image x increases west (l = -x cell): the x frequency of a fringe is -u.
        kx = np.rint(-vis.uvw[keep, 0] * scale * big_x).astype(np.int64)
        ky = np.rint(vis.uvw[keep, 1] * scale * big_y).astype(np.int64)
        half = 0.5 * variance[keep, c]
        for sign in (1, -1):
            cell = (np.mod(sign * ky, big_y)) * big_x + np.mod(sign * kx, big_x)
            power += np.bincount(cell, weights=half, minlength=big_y * big_x)
    # Single precision: the noise needs no more, and the [2ny, 2nx] FFT is the cost.
    amplitude = np.sqrt(power.reshape(big_y, big_x)).astype(np.float32)
    white = np.empty((big_y, big_x), dtype=np.complex64)
    white.real = rng.standard_normal((big_y, big_x), dtype=np.float32)
    white.imag = rng.standard_normal((big_y, big_x), dtype=np.float32)
    white *= amplitude
    field = scipy.fft.ifft2(white, workers=workers or default_nthreads(), overwrite_x=True)
    return (field.real[:ny, :nx] * (big_y * big_x)).astype(np.float32)


# ---- saving and loading ----------------------------------------------------------

OBSERVATION_JSON = "observation.json"
VIS_FILE = "vis.npz"


def _header_cards(obs: Observation) -> dict:
    weighting = Weighting.from_any(obs.weighting)
    return {
        "NOISERMS": (float(obs.noise_rms_measured), "[Jy/beam] 1.4826 MAD of the image"),
        "PREDRMS": (float(obs.noise_rms_predicted), "[Jy/beam] thermal rms from weights"),
        "WEIGHT": (weighting.scheme.upper(), "imaging weighting scheme"),
        "ROBUST": (weighting.robust, "Briggs robust (if WEIGHT=BRIGGS)"),
        "WNORM": (float(obs.norm), "[Jy^-2] sum of imaging weights"),
        "OBSMODE": (
            str(obs.meta.get("mode", "vis")),
            "vis or image (image-plane mode)",
        ),
    }


def psf_grid(grid: Grid) -> Grid:
    """Grid of the PSF: twice the image size, same cell and centre (peak at pixel (ny, nx))."""
    return Grid(
        2 * grid.npix_x, 2 * grid.npix_y, grid.cell_arcsec, grid.ra_deg, grid.dec_deg, grid.freqs_hz
    )


def save_observation(obs: Observation, outdir, *, save_vis: bool = True) -> dict[str, Path]:
    """Write an observation to ``outdir``; returns ``{product: path}``.

    Files: ``dirty.fits`` (basic, Jy/beam), ``dirty_enhanced.fits`` (if that
    product was asked for), ``pb.fits`` (gain), ``psf.fits`` (twice the image
    size, same cell), ``vis.npz`` (visibilities and imaging weights, vis mode
    only) and ``observation.json`` (setup, weighting, norm, beam, rms), which
    :func:`load_observation` reads back.
    """
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    cards = _header_cards(obs)
    written = {}
    products = image_products(obs)
    names = {"basic": "dirty.fits", "enhanced": "dirty_enhanced.fits"}
    for name, data in products.items():
        extra = dict(cards, PRODUCT=(name, "basic=apparent, enhanced=PB-corrected"))
        if name == "enhanced":
            extra["PBCUT"] = (
                float(obs.meta.get("pb_cut", DEFAULT_PB_CUT)),
                "blanked where PB gain is below",
            )
        written[name] = write_image(
            outdir / names[name], data, obs.grid, "JY/BEAM", obs.beam, extra
        )
    if "basic" not in written:  # the dirty image is always needed to restore an Observation
        written["basic"] = write_image(
            outdir / "dirty.fits", obs.dirty, obs.grid, "JY/BEAM", obs.beam, cards
        )
    written["psf"] = write_image(
        outdir / "psf.fits", obs.psf, psf_grid(obs.grid), "JY/BEAM", obs.beam, cards
    )
    written["pb"] = write_image(
        outdir / "pb.fits",
        obs.primary_beam,
        obs.grid,
        "",
        extra={"BTYPE": "Beam gain", "PRODUCT": "primary beam"},
    )
    if save_vis and obs.vis is not None:
        v = obs.vis
        path = outdir / VIS_FILE
        tmp = outdir / (VIS_FILE + ".tmp.npz")
        arrays = {
            "uvw": v.uvw,
            "freqs": v.freqs,
            "vis": v.vis,
            "weight": v.weight,
            "flag": v.flag,
            "antenna1": v.antenna1,
            "antenna2": v.antenna2,
            "time_mjd_s": v.time_mjd_s,
            "channel_width_hz": np.float64(v.channel_width_hz),
            "integration_s": np.float64(v.integration_s),
        }
        if obs.imaging_weight is not None:
            arrays["imaging_weight"] = obs.imaging_weight
        np.savez(tmp, **arrays)
        os.replace(tmp, path)
        written["vis"] = path
    meta = {
        "meersim_version": __version__,
        "grid": to_dict(obs.grid),
        "beam": to_dict(obs.beam),
        "norm": float(obs.norm),
        "weighting": Weighting.from_any(obs.weighting).as_dict(),
        "noise_rms_predicted_jy": float(obs.noise_rms_predicted),
        "noise_rms_measured_jy": float(obs.noise_rms_measured),
        "files": {k: p.name for k, p in written.items()},
        "meta": to_dict(obs.meta),
    }
    json_path = outdir / OBSERVATION_JSON
    tmp = outdir / (OBSERVATION_JSON + ".tmp")
    tmp.write_text(json.dumps(meta, indent=2))
    os.replace(tmp, json_path)
    written["json"] = json_path
    return written


def load_observation(outdir, *, load_vis: bool = True) -> Observation:
    """Read an observation written by :func:`save_observation` (the vis too, if present)."""
    outdir = Path(outdir)
    json_path = outdir / OBSERVATION_JSON
    if not json_path.exists():
        raise InputError(
            str(outdir),
            OBSERVATION_JSON,
            "is missing: not an observation directory.",
            "Run `meersim observe SKY.fits -o DIR` first.",
        )
    try:
        meta = json.loads(json_path.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(str(json_path), "JSON", f"cannot be parsed ({exc}).") from None
    files = meta.get("files", {})
    dirty = read_image(outdir / files.get("basic", "dirty.fits"))
    psf = read_image(outdir / files.get("psf", "psf.fits"))
    pb = read_image(outdir / files.get("pb", "pb.fits"))
    grid = Grid(
        **{
            k: meta["grid"][k]
            for k in ("npix_x", "npix_y", "cell_arcsec", "ra_deg", "dec_deg", "freqs_hz")
        }
    )
    vis = None
    imaging_weight = None
    vis_path = outdir / files.get("vis", VIS_FILE)
    if load_vis and "vis" in files and vis_path.exists():
        with np.load(vis_path) as data:
            vis = Visibilities(
                uvw=data["uvw"],
                freqs=data["freqs"],
                vis=data["vis"],
                weight=data["weight"],
                flag=data["flag"],
                antenna1=data["antenna1"],
                antenna2=data["antenna2"],
                time_mjd_s=data["time_mjd_s"],
                channel_width_hz=float(data["channel_width_hz"]),
                integration_s=float(data["integration_s"]),
            )
            if "imaging_weight" in data:
                imaging_weight = data["imaging_weight"]
    return Observation(
        grid=grid,
        dirty=dirty.data[0],
        psf=psf.data[0],
        beam=Beam(**meta["beam"]),
        primary_beam=pb.data[0],
        noise_rms_predicted=float(meta["noise_rms_predicted_jy"]),
        noise_rms_measured=float(meta["noise_rms_measured_jy"]),
        vis=vis,
        imaging_weight=imaging_weight,
        norm=float(meta["norm"]),
        weighting=dict(meta["weighting"]),
        meta=dict(meta.get("meta", {})),
    )


# ---- observing ----------------------------------------------------------------------


def band_primary_beam(grid: Grid, freqs_hz, channel_fractions) -> np.ndarray:
    """MFS primary beam float32 [ny, nx]: per-channel gains averaged with the channels' weight shares."""
    from meersim.simulate.primary_beam import primary_beam_image

    fractions = np.asarray(channel_fractions, dtype=np.float64)
    total = fractions.sum()
    if not total > 0:
        fractions = np.ones_like(fractions)
        total = fractions.sum()
    pb = np.zeros((grid.npix_y, grid.npix_x), dtype=np.float32)  # gains in [0, 1]: float32 suffices
    for f, share in zip(freqs_hz, fractions, strict=True):
        if share > 0:
            beam = primary_beam_image(grid, float(f)).reshape(pb.shape)
            pb += np.float32(share / total) * beam
    return pb


def _check_mode(mode: str, products) -> tuple[str, tuple[str, ...]]:
    mode = str(mode).lower()
    if mode not in MODES:
        raise InputError("observe", "mode", f"{mode!r} is unknown.", "Use vis or image.")
    if isinstance(products, str):
        products = (products,)
    products = tuple(products)
    unknown = [p for p in products if p not in PRODUCTS]
    if unknown or not products:
        raise InputError(
            "observe",
            "products",
            f"{unknown or products!r} not valid.",
            "Use basic and/or enhanced.",
        )
    return mode, products


def observe(
    sky: Sky,
    setup,
    weighting: Weighting | None = None,
    *,
    mode: str = "vis",
    products=PRODUCTS,
    pb_cut: float = DEFAULT_PB_CUT,
    array=None,
    progress: bool = False,
    nthreads: int | None = None,
) -> Observation:
    """Observe ``sky`` (Jy/pixel) with ``setup``; return the MFS dirty image, PSF and beam.

    Parameters
    ----------
    sky : Sky
        True sky in Jy/pixel; its grid is the image grid (phase centre).
    setup : ObservationSetup
        Array, pointing, hours, dump time, channels, noise and seed.
    weighting : Weighting
        Imaging weights (default Briggs robust -0.5).
    mode : ``"vis"`` or ``"image"``
        Predict and grid visibilities, or the fast image-plane equivalent
        (no sky visibilities; ``Observation.vis`` is None).
    products : tuple of ``"basic"``, ``"enhanced"``
        Which images :func:`save_observation` writes.
    pb_cut : float
        Primary-beam gain below which the ``enhanced`` image is blanked.
    array : Array, optional
        Telescope (default: ``load_array(setup.array, setup.antennas)``).
    progress : bool
        Show progress bars (prediction per channel, imaging steps).
    nthreads : int, optional
        Gridder threads (default :func:`~meersim.simulate.gridder.default_nthreads`).

    Returns
    -------
    Observation with ``grid`` = sky grid at the band's mean frequency.
    """
    mode, products = _check_mode(mode, products)
    if not 0.0 < float(pb_cut) <= 1.0:
        raise InputError("observe", "pb_cut", f"must lie in (0, 1], got {pb_cut}.", "e.g. 0.2.")
    weighting = Weighting() if weighting is None else Weighting.from_any(weighting)
    if not isinstance(sky, Sky):
        raise InputError("observe", "sky", f"expected a Sky, got {type(sky).__name__}.")
    from meersim.simulate.visibilities import (
        resolve_pointing,
        simulate_coverage,
        simulate_visibilities,
    )

    setup = resolve_pointing(setup, sky.grid)  # phase centre = pointing = grid centre
    noise_rng = None
    if mode == "vis":
        vis = simulate_visibilities(sky, setup, array, progress=progress, nthreads=nthreads)
    else:
        vis = simulate_coverage(setup, array)
        if setup.noise:
            # Seed stream [seed, 3]: visibilities.py draws vis noise from [seed, 2].
            noise_rng = np.random.default_rng([setup.seed, 3])
    grid = output_grid(sky.grid, vis.freqs)
    bar = _progress_bar(progress, 4, f"imaging ({mode} mode)")  # weights, psf, dirty, beam
    weights = imaging_weights(vis, grid, weighting)  # zero where flagged
    norm = weight_norm(vis, weights)
    bar.update()
    psf = make_psf(vis, grid, weights, norm=norm, nthreads=nthreads)
    bar.update()
    if mode == "vis":
        dirty, _ = make_dirty(vis, grid, weights, norm=norm, nthreads=nthreads)
        pb = band_primary_beam(grid, vis.freqs, channel_weight_fractions(vis, weights, norm))
    else:
        dirty, pb = _image_plane_dirty(sky, vis, weights, norm, psf, grid, noise_rng)
    bar.update()
    beam = fit_clean_beam(psf, grid.cell_arcsec)
    bar.update()
    bar.close()
    meta = {
        "mode": mode,
        "products": list(products),
        "pb_cut": float(pb_cut),
        "setup": to_dict(setup),
        "nvis_unflagged": vis.nvis_unflagged,
        "nrow": vis.nrow,
        "channel_freqs_hz": [float(f) for f in vis.freqs],
    }
    return Observation(
        grid=grid,
        dirty=dirty,
        psf=psf,
        beam=beam,
        primary_beam=pb,
        noise_rms_predicted=predicted_rms(vis, weights, norm),
        noise_rms_measured=robust_rms(dirty),
        vis=vis if mode == "vis" else None,
        imaging_weight=weights if mode == "vis" else None,
        norm=norm,
        weighting=weighting.as_dict(),
        meta=meta,
    )


def _progress_bar(enabled: bool, total: int, desc: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, disable=not enabled, leave=False)


def _image_plane_dirty(sky, vis, weights, norm, psf, grid, rng):
    """Image-plane mode: (weighted apparent sky) * PSF + coloured noise; also returns the band PB."""
    from meersim.simulate.primary_beam import primary_beam_image
    from meersim.simulate.visibilities import sky_at_frequency

    fractions = channel_weight_fractions(vis, weights, norm)
    apparent = np.zeros((grid.npix_y, grid.npix_x), dtype=np.float64)
    for f, share in zip(vis.freqs, fractions, strict=True):
        if share > 0:
            gain = primary_beam_image(sky.grid, float(f)).reshape(apparent.shape)
            apparent += share * sky_at_frequency(sky, float(f)) * gain.astype(np.float64)
    # A sample at (u, v) puts the same fringe in the dirty image of a point source
    # as in the PSF shifted to it, so (MFS, w-term aside) dirty = sum_c share_c
    # (apparent_c * PSF_c); we use the band PSF for every channel, which keeps
    # every point source's peak exact.
    dirty = convolve_centred(apparent, psf)
    if rng is not None:
        dirty = dirty + image_plane_noise(vis, weights, norm, grid, rng)
    return dirty.astype(np.float32), band_primary_beam(grid, vis.freqs, fractions)
