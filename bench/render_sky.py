"""Sky rendering throughput (components per second) by shape: galsim path against the fast path.

Usage: python bench/render_sky.py [--npix 4096] [--seed 0] [--sizes catalog|wide|both]
       python bench/render_sky.py --by-size   (fast renderer, catalog sizes, µs per component
                                               by major FWHM)

Sizes:
- ``catalog``: what ``meersim.catalogs.synthesize`` draws (MIGHTEE preset,
  1.5" pixels): major FWHM, axis ratio and PA of its exponential discs,
  resampled; Sersic rows get the same sizes with n uniform in 1-4.
- ``wide``: major FWHM log-uniform in 1-20 arcsec (0.7-13 px at 1.5"), axis
  ratio 0.3-1, random PA; Sersic n uniform in 1-4.

One channel, one thread (NUMBA_NUM_THREADS=1; the renderers are serial anyway).
Both renderers draw the same catalog on the same grid, one after the other;
the compiled kernels are compiled (or loaded from numba's cache) before timing.
"""

from __future__ import annotations

import argparse
import itertools
import os
import time

os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import astropy.units as u  # noqa: E402
import numpy as np  # noqa: E402
from astropy.table import QTable  # noqa: E402

from meersim.grid import Grid  # noqa: E402
from meersim.sky.render import render_sky  # noqa: E402

CELL = 1.5


def catalog_sizes(rng, n):
    """(major arcsec, axis ratio) resampled from a synthetic MIGHTEE catalog's exponential discs."""
    from meersim.catalogs import synthesize

    cat = synthesize(0.2, survey="mightee", seed=int(rng.integers(1 << 30)))
    disc = np.asarray(cat["shape"]) == "exponential"
    major = np.asarray(cat["major"].to_value(u.arcsec))[disc]
    minor = np.asarray(cat["minor"].to_value(u.arcsec))[disc]
    pick = rng.integers(0, major.size, n)
    return major[pick], np.where(major[pick] > 0, minor[pick] / np.maximum(major[pick], 1e-12), 1)


def catalog(rng, n, shape, grid, sizes):
    x = rng.uniform(0, grid.npix_x, n)
    y = rng.uniform(0, grid.npix_y, n)
    ra, dec = grid.pixel_to_world(x, y)
    if sizes == "catalog":
        major, ratio = catalog_sizes(rng, n)
    else:
        major, ratio = np.exp(rng.uniform(np.log(1.0), np.log(20.0), n)), rng.uniform(0.3, 1, n)
    t = QTable()
    t["ra"], t["dec"] = ra * u.deg, dec * u.deg
    t["flux"] = rng.uniform(1e-5, 1e-3, n) * u.Jy
    t["ref_freq"] = np.full(n, 1.284e9) * u.Hz
    t["spectral_index"] = np.full(n, -0.7)
    t["major"] = major * u.arcsec
    t["minor"] = major * ratio * u.arcsec
    t["pa"] = rng.uniform(0, 180, n) * u.deg
    t["shape"] = np.full(n, shape)
    t["sersic_n"] = rng.uniform(1.0, 4.0, n)
    return t


def timed(cat, grid, renderer, min_seconds=0.5):
    """Components per second (repeats the draw until ``min_seconds`` have passed)."""
    runs, elapsed = 0, 0.0
    while runs == 0 or elapsed < min_seconds:
        t0 = time.perf_counter()
        sky = render_sky(cat, grid, renderer=renderer)
        elapsed += time.perf_counter() - t0
        runs += 1
    assert np.isfinite(sky.data).all()
    return runs * len(cat) / elapsed, sky


SIZE_EDGES_PX = (0.0, 0.1, 0.5, 1.0, 2.0, 4.0, np.inf)


def by_size(grid, rng, n=20000):
    """Share of catalog-size components and fast-renderer µs per component, by major FWHM."""
    print(f"{n} catalog-size components per shape, fast renderer, 1 thread")
    cat = {shape: catalog(rng, n, shape, grid, "catalog") for shape in ("exponential", "sersic")}
    major_px = np.asarray(cat["exponential"]["major"].to_value(u.arcsec)) / CELL
    for column in ("major", "minor"):  # the same sizes for both shapes
        cat["sersic"][column] = cat["exponential"][column]
    print(f"{'major FWHM (px)':>16s}{'share':>8s}{'exponential us':>16s}{'sersic us':>11s}")
    for lo, hi in itertools.pairwise(SIZE_EDGES_PX):
        sel = (major_px >= lo) & (major_px < hi)
        cost = [1e6 / timed(cat[shape][sel], grid, "fast", 1.0)[0] for shape in cat]
        label = f"{lo:g}-{hi:g}" if np.isfinite(hi) else f">= {lo:g}"
        print(f"{label:>16s}{sel.mean():8.0%}{cost[0]:16.1f}{cost[1]:11.1f}", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--npix", type=int, default=4096)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sizes", choices=("catalog", "wide", "both"), default="both")
    ap.add_argument("--by-size", action="store_true", help="fast renderer's cost by source size")
    args = ap.parse_args()
    grid = Grid(args.npix, args.npix, CELL, 150.0, 2.2, (1.284e9,))
    rng = np.random.default_rng(args.seed)
    # warm up: compile or load the numba kernels of every shape's path (the first
    # Gaussian draw alone took ~0.1 s more, which halved its rate when timed)
    for shape in ("gaussian", "exponential", "sersic"):
        for sizes in ("catalog", "wide"):
            render_sky(catalog(rng, 8, shape, grid, sizes), grid)
    if args.by_size:
        by_size(grid, rng)
        return
    # galsim is slow for Sersic: fewer of them
    counts = {"gaussian": (2000, 2000), "exponential": (2000, 20000), "sersic": (100, 20000)}
    print(f"grid {args.npix}x{args.npix} at {CELL} arcsec, 1 channel, 1 thread")
    print(f"{'sizes':9s}{'shape':<13s}{'galsim comp/s':>14s}{'fast comp/s':>13s}{'speed-up':>10s}"
          f"{'max |fast - galsim|':>21s}")  # fmt: skip
    for sizes in ("catalog", "wide") if args.sizes == "both" else (args.sizes,):
        for shape, (n_old, n_new) in counts.items():
            cat_old = catalog(rng, n_old, shape, grid, sizes)
            old, sky_old = timed(cat_old, grid, "galsim")
            new, sky_new = timed(catalog(rng, n_new, shape, grid, sizes), grid, "fast")
            # the same components through both paths: largest pixel difference / largest pixel
            _, sky_same = timed(cat_old, grid, "fast", 0.0)
            diff = np.abs(sky_same.data - sky_old.data).max() / np.abs(sky_old.data).max()
            print(f"{sizes:9s}{shape:<13s}{old:14.0f}{new:13.0f}{new / old:10.1f}{diff:21.1e}",
                  flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
