"""Clark rounds against exact Högbom on the active set: speed, and accuracy against the sky.

The field of bench/clean.py (synthetic MIGHTEE catalog, 1.5" pixels, 64 dishes, 4 h of
60 s dumps, 4 channels, Briggs -0.5) is observed from visibilities and cleaned twice with
the same settings (gain 0.1, mgain 0.8, 3 sigma, auto-mask 5 sigma), ``clark=True`` (the
default) and ``clark=False``. Accuracy: the restored image minus the truth, the apparent
sky (channel mean x primary beam) convolved with the clean beam, as an rms over the pixels
where the truth exceeds 20 sigma and over the whole image.

Usage: python bench/clark.py [--npix 1024] [--threads 2] [--seed 1]
"""

from __future__ import annotations

import argparse
import os
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--npix", type=int, default=1024)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    os.environ["MEERSIM_NTHREADS"] = str(args.threads)
    os.environ.setdefault("NUMBA_NUM_THREADS", str(args.threads))

    from meersim.catalogs import synthesize
    from meersim.clean.major import CleanConfig, clean
    from meersim.grid import Grid
    from meersim.imaging.beamfit import convolve_with_beam
    from meersim.imaging.weighting import Weighting
    from meersim.observe.observe import observe
    from meersim.observe.uvcoverage import ObservationSetup
    from meersim.sky.render import render_sky

    ra, dec = 150.1, 2.2  # COSMOS (MIGHTEE field)
    grid = Grid(args.npix, args.npix, 1.5, ra, dec, (1.284e9,))
    fov = grid.fov_deg[0]
    catalog = synthesize(fov * fov, survey="mightee", seed=args.seed, ra_deg=ra, dec_deg=dec)
    setup = ObservationSetup(array="meerkat", ra_deg=ra, dec_deg=dec, hours=4.0, dump_s=60.0,
                             nchan=4, noise=True, seed=args.seed)  # fmt: skip
    sky = render_sky(catalog, grid)
    obs = observe(sky, setup, Weighting("briggs", -0.5), mode="vis")
    apparent = sky.data.mean(axis=0) * obs.primary_beam
    truth = convolve_with_beam(apparent, obs.beam, grid.cell_arcsec)
    bright = truth > 20 * obs.noise_rms_predicted
    print(f"{args.npix}^2 field, {len(catalog)} components, {args.threads} threads; "
          f"{int(bright.sum())} pixels above 20 sigma")  # fmt: skip
    print(f"{'minor cycle':14s}{'clean() s':>10s}{'minor s':>9s}{'majors':>7s}{'iterations':>11s}"
          f"{'resid rms':>10s}{'err >20s':>9s}{'err all':>9s}{'model mJy':>10s}")  # fmt: skip
    for clark in (True, False):
        config = CleanConfig(gain=0.1, mgain=0.8, niter=1_000_000, threshold_sigma=3.0,
                             auto_mask_sigma=5.0, clark=clark)  # fmt: skip
        t0 = time.perf_counter()
        result = clean(obs, config)
        seconds = time.perf_counter() - t0
        error = result.restored - truth
        print(f"{'Clark' if clark else 'exact Högbom':14s}{seconds:10.1f}"
              f"{result.meta['minor_s']:9.1f}{result.n_major:7d}{result.n_iterations:11d}"
              f"{result.noise_rms * 1e6:10.3f}{error[bright].std() * 1e6:9.2f}"
              f"{error.std() * 1e6:9.3f}{result.model.sum() * 1e3:10.3f}", flush=True)  # fmt: skip
    print(f"(sky total {apparent.sum() * 1e3:.3f} mJy; rms and errors in uJy/beam)")


if __name__ == "__main__":
    main()
