"""Sky rendering throughput (components per second) by shape on a 4096^2 grid.

Usage: python bench/render_sky.py [--npix 4096] [--seed 0]
Sizes: major FWHM log-uniform in 1-20 arcsec (0.7-13 px at 1.5"), axis ratio 0.3-1,
random PA; Sersic n uniform in 1-4. One channel.
"""

from __future__ import annotations

import argparse
import time

import astropy.units as u
import numpy as np
from astropy.table import QTable

from meersim.grid import Grid
from meersim.sky.render import render_sky


def catalog(rng, n, shape, grid):
    x = rng.uniform(0, grid.npix_x, n)
    y = rng.uniform(0, grid.npix_y, n)
    ra, dec = grid.pixel_to_world(x, y)
    major = np.exp(rng.uniform(np.log(1.0), np.log(20.0), n))
    t = QTable()
    t["ra"], t["dec"] = ra * u.deg, dec * u.deg
    t["flux"] = rng.uniform(1e-5, 1e-3, n) * u.Jy
    t["ref_freq"] = np.full(n, 1.284e9) * u.Hz
    t["spectral_index"] = np.full(n, -0.7)
    t["major"] = (major if shape != "point" else np.zeros(n)) * u.arcsec
    t["minor"] = t["major"] * rng.uniform(0.3, 1.0, n)
    t["pa"] = rng.uniform(0, 180, n) * u.deg
    t["shape"] = np.full(n, shape)
    t["sersic_n"] = rng.uniform(1.0, 4.0, n)
    return t


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--npix", type=int, default=4096)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    grid = Grid(args.npix, args.npix, 1.5, 150.0, 2.2, (1.284e9,))
    rng = np.random.default_rng(args.seed)
    counts = {"point": 200_000, "gaussian": 2000, "exponential": 2000, "sersic": 200}
    print(f"grid {args.npix}x{args.npix} at 1.5 arcsec, 1 channel")
    print(f"{'shape':<12}{'n':>9}{'seconds':>10}{'comp/s':>12}")
    for shape, n in counts.items():
        cat = catalog(rng, n, shape, grid)
        t0 = time.perf_counter()
        sky = render_sky(cat, grid)
        dt = time.perf_counter() - t0
        assert np.isfinite(sky.data).all()
        print(f"{shape:<12}{n:>9}{dt:>10.2f}{n / dt:>12.0f}")


if __name__ == "__main__":
    main()
