"""Benchmark: seconds and major cycles for CLEAN to reach 3 sigma on a standard MeerKAT field.

Standard field: a synthetic MIGHTEE-depth catalog (meersim.catalogs.synthesize)
rendered on 2048^2 pixels of 1.5" (0.85 deg), observed with the full 64-dish
array for 8 h (L-band, 8 channels, Briggs -0.5, thermal noise), cleaned with
Cotton-Schwab major cycles from the visibilities to 3 sigma (sigma = 1.4826
MAD of the residual). Also cleans the same observation in image-plane mode
(PSF only), and with --multiscale the multiscale variant.

``--quick``: 1024^2, 2 h, 120 s dumps, for a 2-core laptop in a minute or two.

Usage: python bench/clean.py [--quick] [--npix 2048] [--hours 8] [--dump 60]
       [--nchan 8] [--multiscale] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1024^2, 2 h, 120 s dumps")
    parser.add_argument("--npix", type=int, default=None, help="grid side (default 2048)")
    parser.add_argument("--cell", type=float, default=1.5, help="arcsec")
    parser.add_argument("--hours", type=float, default=None, help="track length (default 8)")
    parser.add_argument("--dump", type=float, default=None, help="dump seconds (default 60)")
    parser.add_argument("--nchan", type=int, default=8)
    parser.add_argument("--antennas", type=int, default=None, help="first N dishes (default 64)")
    parser.add_argument("--sigma", type=float, default=3.0, help="threshold in sigma")
    parser.add_argument("--multiscale", action="store_true", help="also time multiscale")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if args.threads:
        os.environ["MEERSIM_NTHREADS"] = str(args.threads)

    from meersim.catalogs import synthesize
    from meersim.clean.major import CleanConfig, clean
    from meersim.grid import Grid
    from meersim.imaging.gridder import default_nthreads
    from meersim.imaging.weighting import Weighting
    from meersim.observe.observe import observe
    from meersim.observe.uvcoverage import ObservationSetup
    from meersim.sky.render import render_sky

    npix = args.npix or (1024 if args.quick else 2048)
    hours = args.hours or (2.0 if args.quick else 8.0)
    dump = args.dump or (120.0 if args.quick else 60.0)
    ra, dec = 150.1, 2.2  # COSMOS (MIGHTEE field)
    grid = Grid(npix, npix, args.cell, ra, dec, (1.284e9,))
    fov = grid.fov_deg[0]
    t0 = time.perf_counter()
    catalog = synthesize(fov * fov, survey="mightee", seed=args.seed, ra_deg=ra, dec_deg=dec)
    sky = render_sky(catalog, grid)
    t_sky = time.perf_counter() - t0
    setup_kwargs = dict(array="meerkat", ra_deg=ra, dec_deg=dec, hours=hours, dump_s=dump,
                        nchan=args.nchan, noise=True, seed=args.seed)  # fmt: skip
    if args.antennas:
        setup_kwargs["antennas"] = args.antennas
    setup = ObservationSetup(**setup_kwargs)
    t0 = time.perf_counter()
    obs = observe(sky, setup, Weighting("briggs", -0.5), mode="vis")
    t_obs = time.perf_counter() - t0
    nvis = obs.vis.nvis_unflagged
    print(f"field {npix}^2 x {args.cell}\" ({fov:.2f} deg), {len(catalog)} components; "
          f"{hours:g} h, {dump:g} s dumps, {args.nchan} ch: {nvis / 1e6:.2f} M vis; "
          f"{default_nthreads()} threads")  # fmt: skip
    print(f"sky {t_sky:.1f} s, observe {t_obs:.1f} s; beam {obs.beam.bmaj_arcsec:.2f}\" x "
          f"{obs.beam.bmin_arcsec:.2f}\"; predicted rms {obs.noise_rms_predicted * 1e6:.2f} uJy/beam, "
          f"dirty MAD rms {obs.noise_rms_measured * 1e6:.2f} uJy/beam")  # fmt: skip

    runs = [("hogbom, visibilities", CleanConfig(threshold_sigma=args.sigma, niter=200000)),
            ("hogbom, image-plane", CleanConfig(threshold_sigma=args.sigma, niter=200000,
                                                image_plane_only=True))]  # fmt: skip
    if args.multiscale:
        runs.append(("multiscale, visibilities",
                     CleanConfig(threshold_sigma=args.sigma, niter=200000, multiscale=True)))  # fmt: skip
    for name, config in runs:
        t0 = time.perf_counter()
        result = clean(obs, config)
        seconds = time.perf_counter() - t0
        ratio = result.noise_rms / obs.noise_rms_predicted
        print(f"{name:26s}: {seconds:7.1f} s, {result.n_major:2d} major cycles, "
              f"{result.n_iterations:7d} iterations, {len(result.components):6d} components; "
              f"{result.stop_reason}; residual rms / predicted {ratio:.3f}; model "
              f"{float(np.sum(result.model)) * 1e3:.2f} mJy")  # fmt: skip
        if not result.image_plane:
            per_major = 2 * nvis * result.n_major / seconds / 1e6
            print(f"{'':26s}  {seconds / max(result.n_major, 1):.1f} s per major cycle "
                  f"(predict + grid: {per_major:.2f} Mvis/s through the whole clean)")  # fmt: skip


if __name__ == "__main__":
    main()
