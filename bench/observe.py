"""Benchmark: full ``observe`` (vis mode) against the bare ducc0 calls it cannot avoid.

The floor is one ``dirty2vis`` per channel (predicting the apparent sky), one
``vis2dirty`` for the dirty image and one for the PSF (on the 2x grid), on the
same uvw, frequencies, weights and threads. The ratio is the pipeline
overhead (uv tracks, primary beam, noise, weighting, beam fit, bookkeeping);
the target is < 1.15. Also prints the image-plane mode time and the full
64-antenna 8 h clean beam.

Both sides are timed ``--repeat`` times, alternating, and the fastest run of
each is kept (the machine may be shared); the median of the per-pair ratios
is printed too. Every ``observe`` run starts with an empty primary-beam
cache, so it pays for the beams it needs.

Usage: python bench/observe.py [--npix 1024] [--hours 2] [--dump 60] [--nchan 8] [--threads N]
                               [--repeat 5]
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import ducc0
import numpy as np

from meersim.grid import Grid
from meersim.imaging.gridder import FLIP_U, FLIP_V, FLIP_W, default_epsilon, image_to_vis
from meersim.imaging.weighting import Weighting
from meersim.observe.observe import observe
from meersim.observe.primary_beam import clear_primary_beam_cache, primary_beam_image
from meersim.observe.uvcoverage import ObservationSetup
from meersim.types import Sky


def _sky(grid: Grid, nsrc: int, seed: int) -> Sky:
    rng = np.random.default_rng(seed)
    data = np.zeros(grid.shape, np.float32)
    x = rng.integers(0, grid.npix_x, nsrc)
    y = rng.integers(0, grid.npix_y, nsrc)
    flux = 1e-4 * rng.pareto(1.5, nsrc).astype(np.float32) + 1e-5
    np.add.at(data, (slice(None), y, x), flux)
    return Sky(data, grid)


def bare_ducc0(sky: Sky, vis, weight, cell_rad: float, nthreads: int) -> float:
    """Seconds for dirty2vis per channel + vis2dirty (dirty) + vis2dirty (psf, 2x grid, no
    w-term, as observe grids it)."""
    eps = default_epsilon(np.float32)
    common = dict(
        pixsize_x=cell_rad, pixsize_y=cell_rad, epsilon=eps, do_wgridding=True,
        nthreads=nthreads, flip_u=FLIP_U, flip_v=FLIP_V, flip_w=FLIP_W, divide_by_n=False,
    )  # fmt: skip
    mask = np.ascontiguousarray(~vis.flag, dtype=np.uint8)
    ny, nx = sky.grid.npix_y, sky.grid.npix_x
    pbs = [primary_beam_image(sky.grid, float(f)) for f in vis.freqs]  # not timed
    t0 = time.perf_counter()
    predicted = np.empty(vis.vis.shape, np.complex64)
    for c, f in enumerate(vis.freqs):
        apparent = np.ascontiguousarray((sky.data[0] * pbs[c]).T.astype(np.float32))
        predicted[:, c] = ducc0.wgridder.dirty2vis(
            uvw=vis.uvw, freq=np.array([f]), dirty=apparent, mask=mask[:, c : c + 1], **common
        )[:, 0]
    ducc0.wgridder.vis2dirty(
        uvw=vis.uvw, freq=vis.freqs, vis=predicted, wgt=weight, mask=mask,
        npix_x=nx, npix_y=ny, **common,
    )  # fmt: skip
    ducc0.wgridder.vis2dirty(
        uvw=vis.uvw, freq=vis.freqs, vis=np.ones_like(predicted), wgt=weight, mask=mask,
        npix_x=2 * nx, npix_y=2 * ny, **{**common, "do_wgridding": False},
    )  # fmt: skip
    return time.perf_counter() - t0


def time_inside_ducc0(run) -> tuple[float, float]:
    """(total seconds of ``run()``, seconds spent inside ducc0.wgridder calls)."""
    spent = []
    originals = {name: getattr(ducc0.wgridder, name) for name in ("dirty2vis", "vis2dirty")}

    def timed(function):
        def call(**kwargs):
            t0 = time.perf_counter()
            try:
                return function(**kwargs)
            finally:
                spent.append(time.perf_counter() - t0)

        return call

    try:
        for name, function in originals.items():
            setattr(ducc0.wgridder, name, timed(function))
        t0 = time.perf_counter()
        run()
        total = time.perf_counter() - t0
    finally:
        for name, function in originals.items():
            setattr(ducc0.wgridder, name, function)
    return total, sum(spent)


def blas_spin_check(sky: Sky, vis, nthreads: int, repeat: int) -> tuple[float, float]:
    """Fastest dirty2vis (s) right after a BLAS product on all cores, and after one on one core.

    The product is the primary beam's spline evaluation (1024 x 53 x 1024 for a 1024^2 grid).
    """
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    left = rng.random((sky.grid.npix_y, 53))
    middle = rng.random((53, 53))
    right = rng.random((53, sky.grid.npix_x))
    image = sky.data[0]
    after = {"all": [], "one": []}
    for _ in range(repeat):
        for key, limit in (("all", None), ("one", 1)):
            with threadpool_limits(limits=limit, user_api="blas"):
                _ = left @ middle @ right
            t0 = time.perf_counter()
            image_to_vis(image, vis.uvw, vis.freqs[:1], sky.grid.cell_rad, nthreads=nthreads)
            after[key].append(time.perf_counter() - t0)
    return min(after["all"]), min(after["one"])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--npix", type=int, default=1024)
    parser.add_argument("--cell", type=float, default=1.5, help="arcsec")
    parser.add_argument("--antennas", type=int, default=64)
    parser.add_argument("--hours", type=float, default=2.0)
    parser.add_argument("--dump", type=float, default=60.0, help="seconds")
    parser.add_argument("--nchan", type=int, default=8)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=5, help="keep the fastest of N runs")
    parser.add_argument("--no-full-beam", action="store_true", help="skip the 8 h beam run")
    args = parser.parse_args()

    import os

    if args.threads:
        os.environ["MEERSIM_NTHREADS"] = str(args.threads)
    from meersim.imaging.gridder import default_nthreads

    nthreads = default_nthreads()
    grid = Grid(args.npix, args.npix, args.cell, 150.0, -30.0, (1.284e9,))
    sky = _sky(grid, 2000, seed=1)
    setup = ObservationSetup(
        array="meerkat", antennas=args.antennas, ra_deg=grid.ra_deg, dec_deg=grid.dec_deg,
        hours=args.hours, dump_s=args.dump, nchan=args.nchan, noise=True, seed=1,
    )  # fmt: skip
    weighting = Weighting("briggs", -0.5)

    t_full, t_bare, t_image = [], [], []
    for _ in range(max(1, args.repeat)):
        clear_primary_beam_cache()
        t0 = time.perf_counter()
        obs = observe(sky, setup, weighting, mode="vis")
        t_full.append(time.perf_counter() - t0)
        vis = obs.vis
        t_bare.append(bare_ducc0(sky, vis, obs.imaging_weight, grid.cell_rad, nthreads))
        clear_primary_beam_cache()
        t0 = time.perf_counter()
        observe(sky, setup, weighting, mode="image")
        t_image.append(time.perf_counter() - t0)
    nvis = vis.nvis_unflagged
    print("runs (s): vis " + " ".join(f"{t:.2f}" for t in t_full)
          + " | bare " + " ".join(f"{t:.2f}" for t in t_bare))  # fmt: skip
    paired = float(np.median([f / b for f, b in zip(t_full, t_bare, strict=True)]))
    t_full, t_bare, t_image = min(t_full), min(t_bare), min(t_image)

    print(f"grid {args.npix}^2 x {args.cell}\"; {args.antennas} antennas, {args.hours} h, "
          f"{args.dump} s dumps, {args.nchan} channels; {nvis / 1e6:.2f} M unflagged vis; "
          f"{nthreads} threads")  # fmt: skip
    print(f"observe (vis mode):   {t_full:7.2f} s")
    print(f"bare ducc0 floor:     {t_bare:7.2f} s  (predict + dirty + psf)")
    print(f"overhead ratio:       {t_full / t_bare:7.3f}  (fastest / fastest; target < 1.15)")
    print(f"                      {paired:7.3f}  (median of the {args.repeat} paired runs)")
    print(f"observe (image mode): {t_image:7.2f} s  ({t_full / t_image:.1f}x faster than vis)")
    # Three passes over the visibilities (predict, dirty, psf).
    print(f"throughput: {3 * nvis / t_bare / 1e6 / nthreads:.2f} Mvis/s/core bare, "
          f"{3 * nvis / t_full / 1e6 / nthreads:.2f} Mvis/s/core through observe")  # fmt: skip
    print(f"beam (this run): {obs.beam.bmaj_arcsec:.2f}\" x {obs.beam.bmin_arcsec:.2f}\" "
          f"PA {obs.beam.bpa_deg:.1f} deg")  # fmt: skip

    clear_primary_beam_cache()
    total, inside = time_inside_ducc0(lambda: observe(sky, setup, weighting, mode="vis"))
    print(f"one more observe: {total:.2f} s, {inside:.2f} s inside ducc0, "
          f"{total - inside:.2f} s outside")  # fmt: skip
    slow, fast = blas_spin_check(sky, vis, nthreads, args.repeat)
    print(f"dirty2vis right after a BLAS product on all cores: {slow:.3f} s, "
          f"on one core: {fast:.3f} s (ratio {slow / fast:.2f})")  # fmt: skip

    if not args.no_full_beam:
        full = dataclasses.replace(
            setup, antennas=None, hours=8.0, dump_s=120.0, nchan=8, noise=False
        )
        beam_grid = Grid(512, 512, 0.5, grid.ra_deg, grid.dec_deg, (1.284e9,))
        empty = Sky(np.zeros(beam_grid.shape, np.float32), beam_grid)
        for w in (Weighting("briggs", -0.5), Weighting("briggs", 0.0), Weighting("natural")):
            beam = observe(empty, full, w, mode="image").beam
            print(f"full array, 8 h, Dec {grid.dec_deg:g}, L-band 8 ch, {w.describe():>12s}: "
                  f"BMAJ {beam.bmaj_arcsec:.2f}\" BMIN {beam.bmin_arcsec:.2f}\" "
                  f"BPA {beam.bpa_deg:.1f} deg")  # fmt: skip


if __name__ == "__main__":
    main()
