"""Benchmark: meersim CLEAN against WSClean on the same Measurement Set.

Field: a synthetic MIGHTEE-depth catalog (meersim.catalogs.synthesize) rendered
on N^2 pixels of 1.5", observed with the 64-dish MeerKAT array (L band, 4 h,
60 s dumps, 4 channels, thermal noise) and written as a Measurement Set. Both
programs clean it with the same settings: Briggs -0.5, Högbom, gain 0.1,
mgain 0.8, 3 sigma auto-threshold, auto-mask 5 sigma, niter 10^6, the same
number of threads. Runs alternate (meersim, wsclean, wsclean -use-wgridder,
meersim, ...) so that load from other processes hits all alike.

Timed: for meersim, imaging weights + PSF + dirty image + beam fit + clean()
from the visibilities in memory ("image+clean"; clean() alone is printed
too); for WSClean, the wall time of the whole command (reading the MS,
weighting, imaging, cleaning, writing FITS). Residual rms is 1.4826 MAD of
each program's final residual image.

Usage: python bench/clean.py [--large] [--npix N] [--repeats 2] [--threads 2]
       [--hours 4] [--dump 60] [--nchan 4] [--keep DIR]
``--large``: 2048^2 instead of 1024^2.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

SETTINGS = dict(gain=0.1, mgain=0.8, sigma=3.0, auto_mask=5.0, niter=1_000_000, robust=-0.5)


def wsclean_command(ms: Path, name: Path, npix: int, cell: float, threads: int, wgridder: bool):
    s = SETTINGS
    command = ["wsclean", "-size", str(npix), str(npix), "-scale", f"{cell}asec",
               "-weight", "briggs", str(s["robust"]), "-pol", "I", "-niter", str(s["niter"]),
               "-gain", str(s["gain"]), "-mgain", str(s["mgain"]),
               "-auto-threshold", str(s["sigma"]), "-auto-mask", str(s["auto_mask"]),
               "-j", str(threads), "-no-update-model-required", "-name", str(name)]  # fmt: skip
    if wgridder:
        command.append("-use-wgridder")
    return [*command, str(ms)]


def run_wsclean(ms, workdir, npix, cell, threads, wgridder, robust_rms):
    from astropy.io import fits

    name = Path(workdir) / ("wsw" if wgridder else "ws")
    t0 = time.perf_counter()
    done = subprocess.run(wsclean_command(ms, name, npix, cell, threads, wgridder),
                          capture_output=True, text=True, timeout=3600)  # fmt: skip
    seconds = time.perf_counter() - t0
    if done.returncode:
        raise RuntimeError(f"wsclean failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    majors = len(re.findall(r"== Deconvolving \(", done.stdout))
    iterations = re.findall(r"Performed (\d+) iterations in total", done.stdout)
    residual = fits.getdata(f"{name}-residual.fits")[0, 0]
    return {
        "seconds": seconds,
        "major": majors,
        "iterations": int(iterations[-1]) if iterations else -1,
        "rms": float(robust_rms(residual)),
    }


def run_meersim(obs, config):
    from meersim.clean.major import clean
    from meersim.imaging.beamfit import fit_clean_beam
    from meersim.imaging.images import make_dirty, make_psf
    from meersim.imaging.weighting import Weighting, imaging_weights, weight_norm

    t0 = time.perf_counter()
    weights = imaging_weights(obs.vis, obs.grid, Weighting("briggs", SETTINGS["robust"]))
    norm = weight_norm(obs.vis, weights)
    psf = make_psf(obs.vis, obs.grid, weights, norm=norm, do_wgridding=False)  # as observe()
    dirty, _ = make_dirty(obs.vis, obs.grid, weights, norm=norm)
    beam = fit_clean_beam(psf, obs.grid.cell_arcsec)
    fresh = dataclasses.replace(obs, dirty=dirty, psf=psf, beam=beam, imaging_weight=weights,
                                norm=norm)  # fmt: skip
    t1 = time.perf_counter()
    result = clean(fresh, config)
    t2 = time.perf_counter()
    return {
        "seconds": t2 - t0,
        "clean_s": t2 - t1,
        "major": result.n_major,
        "iterations": result.n_iterations,
        "rms": result.noise_rms,
        "stop": result.stop_reason,
        "minor_s": result.meta["minor_s"],
        "major_s": result.meta["major_s"],
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--large", action="store_true", help="2048^2 instead of 1024^2")
    parser.add_argument("--npix", type=int, default=None)
    parser.add_argument("--cell", type=float, default=1.5, help="arcsec")
    parser.add_argument("--hours", type=float, default=4.0)
    parser.add_argument("--dump", type=float, default=60.0, help="seconds")
    parser.add_argument("--nchan", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=2, help="runs of each program")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-wgridder", action="store_true", help="skip wsclean -use-wgridder")
    parser.add_argument("--keep", default=None, help="write the MS and images here and keep them")
    args = parser.parse_args()
    os.environ["MEERSIM_NTHREADS"] = str(args.threads)
    os.environ.setdefault("NUMBA_NUM_THREADS", str(args.threads))

    from meersim.catalogs import synthesize
    from meersim.clean.major import CleanConfig
    from meersim.clean.minor import hogbom_active_set
    from meersim.grid import Grid
    from meersim.imaging.weighting import Weighting
    from meersim.observe.export import write_ms
    from meersim.observe.observe import observe
    from meersim.observe.uvcoverage import ObservationSetup
    from meersim.sky.render import render_sky
    from meersim.stats import robust_rms

    if shutil.which("wsclean") is None:
        raise SystemExit("wsclean is not installed (Debian: apt-get install wsclean).")
    npix = args.npix or (2048 if args.large else 1024)
    ra, dec = 150.1, 2.2  # COSMOS (MIGHTEE field)
    grid = Grid(npix, npix, args.cell, ra, dec, (1.284e9,))
    fov = grid.fov_deg[0]
    catalog = synthesize(fov * fov, survey="mightee", seed=args.seed, ra_deg=ra, dec_deg=dec)
    setup = ObservationSetup(array="meerkat", ra_deg=ra, dec_deg=dec, hours=args.hours,
                             dump_s=args.dump, nchan=args.nchan, noise=True, seed=args.seed)  # fmt: skip
    obs = observe(render_sky(catalog, grid), setup, Weighting("briggs", -0.5), mode="vis")
    workdir = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench_clean_"))
    workdir.mkdir(parents=True, exist_ok=True)
    ms = write_ms(obs.vis, workdir / "field.ms", setup)
    print(f"field {npix}^2 x {args.cell}\" ({fov:.2f} deg), {len(catalog)} components; "
          f"{args.hours:g} h, {args.dump:g} s dumps, {args.nchan} ch: "
          f"{obs.vis.nvis_unflagged / 1e6:.2f} M vis; {args.threads} threads; MS {ms}")  # fmt: skip
    print(f"settings: Briggs {SETTINGS['robust']}, gain {SETTINGS['gain']}, mgain "
          f"{SETTINGS['mgain']}, auto-threshold {SETTINGS['sigma']}, auto-mask "
          f"{SETTINGS['auto_mask']}, niter {SETTINGS['niter']}")  # fmt: skip

    config = CleanConfig(gain=SETTINGS["gain"], mgain=SETTINGS["mgain"], niter=SETTINGS["niter"],
                         threshold_sigma=SETTINGS["sigma"], auto_mask_sigma=SETTINGS["auto_mask"])  # fmt: skip
    # compile the Högbom kernel before timing (numba caches it on disk afterwards)
    hogbom_active_set(np.ones((4, 4), np.float32), np.ones((8, 8), np.float32), 0.5, 0.1, 1)

    programs = ["meersim", "wsclean"] + ([] if args.no_wgridder else ["wsclean-wgridder"])
    results = {p: [] for p in programs}
    for r in range(args.repeats):
        for program in programs:
            if program == "meersim":
                out = run_meersim(obs, config)
            else:
                out = run_wsclean(ms, workdir, npix, args.cell, args.threads,
                                  program.endswith("wgridder"), robust_rms)  # fmt: skip
            results[program].append(out)
            extra = (f"; clean() {out['clean_s']:.1f} s (minor cycles {out['minor_s']:.1f} s = "
                     f"{1e3 * out['minor_s'] / max(out['iterations'], 1):.3f} ms/iter, re-gridding "
                     f"{out['major_s']:.1f} s), {out['stop']}" if program == "meersim" else "")  # fmt: skip
            print(f"  run {r + 1} {program:17s} {out['seconds']:7.1f} s, {out['major']:2d} major "
                  f"cycles, {out['iterations']:7d} iterations, residual rms "
                  f"{out['rms'] * 1e6:.3f} uJy/beam{extra}", flush=True)  # fmt: skip

    def best(program, key="seconds"):
        return min(o[key] for o in results[program])

    m_rms = np.median([o["rms"] for o in results["meersim"]])
    print(f"\nsummary ({npix}^2, best of {args.repeats}):")
    print(f"{'against':18s}{'meersim s':>10s}{'other s':>9s}{'wall ratio':>11s}"
          f"{'clean() ratio':>14s}{'rms ratio':>10s}{'majors':>8s}")  # fmt: skip
    for other in programs[1:]:
        o_rms = np.median([o["rms"] for o in results[other]])
        print(f"{other:18s}{best('meersim'):10.1f}{best(other):9.1f}"
              f"{best('meersim') / best(other):11.2f}{best('meersim', 'clean_s') / best(other):14.2f}"
              f"{m_rms / o_rms:10.3f}{results['meersim'][0]['major']:>4d}/{results[other][0]['major']}")  # fmt: skip
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
