"""``meersim sky``, ``meersim observe`` and ``meersim clean``."""

from __future__ import annotations

import warnings

import click
import numpy as np

from meersim.clean import (
    CleanConfig,
    CleanLimitWarning,
    clean_directory,
    limit_message,
    parse_threshold,
)
from meersim.cli.options import (
    argument_default,
    field_default,
    floats,
    output_option,
    progress_option,
    seed_option,
)
from meersim.imaging import Weighting
from meersim.imaging.weighting import WEIGHTING_SCHEMES
from meersim.observe import ObservationSetup, observe_fits
from meersim.observe.observe import MODES
from meersim.observe.products import DEFAULT_PB_CUT, PRODUCTS
from meersim.sky import band_channels, render_to_fits
from meersim.sky.render import RENDERERS


def _setup_default(name: str):
    return field_default(ObservationSetup, name)


def _clean_default(name: str):
    return field_default(CleanConfig, name)


# ---- sky ------------------------------------------------------------------------
@click.command("sky")
@click.option("--catalog", "catalog_path", type=click.Path(exists=True, dir_okay=False),
              default=None,
              help="Catalog file (any supported format). Default: the shipped synthetic catalog.")  # fmt: skip
@click.option("--npix", type=click.IntRange(min=2), default=None,
              help="Grid side in pixels. Default: enough to cover the catalog.")  # fmt: skip
@click.option("--cell", "cell_arcsec", type=float, show_default=True, help="Pixel size in arcsec.",
              default=argument_default(render_to_fits, "cell_arcsec"))  # fmt: skip
@click.option("--ra", "ra_deg", type=float, default=None,
              help="Grid centre RA in deg (default: catalog mean).")  # fmt: skip
@click.option("--dec", "dec_deg", type=float, default=None,
              help="Grid centre Dec in deg (default: catalog mean).")  # fmt: skip
@click.option("--freqs", default=None, help='Channel frequencies in Hz, e.g. "1.2e9,1.3e9".')
@click.option("--nchan", type=click.IntRange(min=1), default=None,
              help="Number of channels spread evenly over --band.")  # fmt: skip
@click.option("--band", default="856e6,1712e6", show_default=True,
              help="Band edges in Hz for --nchan (MeerKAT L-band by default).")  # fmt: skip
@click.option("--renderer", type=click.Choice(RENDERERS), default="fast", show_default=True,
              help="Exponential/Sersic drawing: compiled pixel integrator, or galsim as in "
              "meersim <= 0.1 (docs/sky.md).")  # fmt: skip
@output_option("file", help="Output FITS cube (Jy/pixel).")
@progress_option()
def sky(catalog_path, npix, cell_arcsec, ra_deg, dec_deg, freqs, nchan, band, renderer, output,
        progress):  # fmt: skip
    """Render a catalog onto a SIN grid and write a Jy/pixel FITS cube."""
    if freqs is not None and nchan is not None:
        raise click.UsageError("give --freqs or --nchan, not both.")
    freqs_hz = None
    if freqs is not None:
        freqs_hz = floats(freqs, "--freqs")
    elif nchan is not None:
        edges = floats(band, "--band")
        if len(edges) != 2:
            raise click.BadParameter("expected two band edges LO,HI in Hz.", param_hint="--band")
        freqs_hz = band_channels(nchan, *edges)
    path, result, n_components = render_to_fits(
        catalog_path, output, cell_arcsec=cell_arcsec, npix=npix, ra_deg=ra_deg,
        dec_deg=dec_deg, freqs_hz=freqs_hz, progress=progress, renderer=renderer,
    )  # fmt: skip
    grid = result.grid
    fov_x, fov_y = grid.fov_deg
    click.echo(
        f"grid {grid.npix_x}x{grid.npix_y} px of {grid.cell_arcsec:g} arcsec "
        f"({fov_x:.3f}x{fov_y:.3f} deg) centred on RA {grid.ra_deg:.5f} Dec {grid.dec_deg:.5f} deg; "
        f"{grid.nchan} channel(s) {grid.freqs[0] / 1e6:.2f}..{grid.freqs[-1] / 1e6:.2f} MHz"
    )
    totals = result.data.sum(axis=(1, 2), dtype=np.float64)
    last = (f" .. {totals[-1] * 1e3:.5g} mJy at {grid.freqs[-1] / 1e6:.2f} MHz"
            if grid.nchan > 1 else "")  # fmt: skip
    click.echo(
        f"wrote {path}: {n_components} components, total flux {totals[0] * 1e3:.5g} mJy "
        f"at {grid.freqs[0] / 1e6:.2f} MHz{last}"
    )


# ---- observe --------------------------------------------------------------------
@click.command("observe")
@click.argument("sky_path", type=click.Path(exists=True, dir_okay=False))
@click.option("--hours", type=float, default=_setup_default("hours"), show_default=True,
              help="Track length in hours.")  # fmt: skip
@click.option("--ha-start", "ha_start_h", type=float, default=None,
              help="Start hour angle in hours (default: track centred on transit).")  # fmt: skip
@click.option("--dump", "dump_s", type=float, default=_setup_default("dump_s"), show_default=True,
              help="Dump (integration) time in seconds.")  # fmt: skip
@click.option("--nchan", type=click.IntRange(min=1), default=_setup_default("nchan"),
              show_default=True, help="Channels across the band.")  # fmt: skip
@click.option("--freq", "freq_centre_hz", type=float, default=_setup_default("freq_centre_hz"),
              show_default=True, help="Band centre in Hz.")  # fmt: skip
@click.option("--bandwidth", "bandwidth_hz", type=float, default=_setup_default("bandwidth_hz"),
              show_default=True, help="Bandwidth in Hz.")  # fmt: skip
@click.option("--weighting", type=click.Choice(WEIGHTING_SCHEMES), show_default=True,
              default=field_default(Weighting, "scheme"), help="Imaging weighting.")  # fmt: skip
@click.option("--robust", type=float, default=field_default(Weighting, "robust"),
              show_default=True, help="Briggs robustness (-2..2).")  # fmt: skip
@click.option("--antennas", type=click.IntRange(min=2), default=None,
              help="Use the first N antennas (default: all 64).")  # fmt: skip
@click.option("--array", "array_name", default=_setup_default("array"), show_default=True,
              help="Array name or layout file.")  # fmt: skip
@click.option("--rms", "target_rms_jy", type=float, default=None,
              help="Scale the thermal noise to this natural-weighting image rms, in Jy/beam.")  # fmt: skip
@click.option("--no-noise", is_flag=True, help="Leave out thermal noise.")
@click.option("--rfi", "rfi_fraction", type=float, default=_setup_default("rfi_fraction"),
              show_default=True, help="Fraction of samples flagged as RFI.")  # fmt: skip
@click.option("--elevation-limit", "elevation_limit_deg", type=float,
              default=_setup_default("elevation_limit_deg"), show_default=True,
              help="Flag below this elevation (deg).")  # fmt: skip
@click.option("--mode", type=click.Choice(MODES), show_default=True,
              default=argument_default(observe_fits, "mode"),
              help="vis: predict and grid visibilities; image: fast PSF convolution + coloured noise.")  # fmt: skip
@click.option("--products", default=",".join(PRODUCTS), show_default=True,
              help="basic (apparent) and/or enhanced (primary-beam corrected).")  # fmt: skip
@click.option("--pb-cut", type=float, default=DEFAULT_PB_CUT, show_default=True,
              help="Blank the enhanced image where the primary beam gain is below this.")  # fmt: skip
@seed_option(_setup_default("seed"), help="Random seed (noise, RFI flags).")
@click.option(
    "--ms", "ms_path", type=click.Path(), default=None, help="Also write a Measurement Set."
)
@click.option("--uvh5", "uvh5_path", type=click.Path(dir_okay=False), default=None,
              help="Also write UVH5.")  # fmt: skip
@output_option("dir", help="Output directory.")
@progress_option()
def observe(sky_path, hours, ha_start_h, dump_s, nchan, freq_centre_hz, bandwidth_hz, weighting,
            robust, antennas, array_name, target_rms_jy, no_noise, rfi_fraction,
            elevation_limit_deg, mode, products, pb_cut, seed, ms_path, uvh5_path, output,
            progress):  # fmt: skip
    """Observe a sky FITS cube (Jy/pixel) with MeerKAT: write dirty.fits, psf.fits and products."""
    setup = ObservationSetup(
        array=array_name, antennas=antennas, hours=hours, ha_start_h=ha_start_h, dump_s=dump_s,
        nchan=nchan, freq_centre_hz=freq_centre_hz, bandwidth_hz=bandwidth_hz,
        rfi_fraction=rfi_fraction, elevation_limit_deg=elevation_limit_deg,
        target_rms_jy=target_rms_jy, noise=not no_noise, seed=seed,
    )  # fmt: skip
    obs, written = observe_fits(
        sky_path, output, setup, Weighting(weighting, robust), mode=mode,
        products=tuple(p.strip() for p in products.split(",") if p.strip()), pb_cut=pb_cut,
        ms_path=ms_path, uvh5_path=uvh5_path, progress=progress,
    )  # fmt: skip
    b = obs.beam
    robust_text = (
        f" robust {obs.weighting['robust']:+g}" if obs.weighting["scheme"] == "briggs" else ""
    )
    click.echo(
        f"{obs.meta['nvis_unflagged']:,} unflagged visibilities ({obs.meta['nrow']:,} rows x "
        f"{len(obs.meta['channel_freqs_hz'])} channels), {obs.weighting['scheme']} weighting"
        + robust_text
    )
    click.echo(
        f"clean beam {b.bmaj_arcsec:.2f} x {b.bmin_arcsec:.2f} arcsec, PA {b.bpa_deg:.1f} deg"
    )
    click.echo(
        f"noise rms: predicted {obs.noise_rms_predicted * 1e6:.3f} uJy/beam, "
        f"measured {obs.noise_rms_measured * 1e6:.3f} uJy/beam (1.4826 MAD)"
    )
    for name, path in written.items():
        click.echo(f"  {name:9s} {path}")


# ---- clean ----------------------------------------------------------------------
@click.command("clean")
@click.argument("obs_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--threshold", default=f"{_clean_default('threshold_sigma'):g}sigma", show_default=True,
              help="Stop level: N sigma of the residual (e.g. 3sigma, sigma = 1.4826 MAD, re-measured "
              "every major cycle) or Jy/beam (1e-5, 10uJy, 0.01mJy).")  # fmt: skip
@click.option("--auto-mask", "auto_mask_sigma", type=float, default=None,
              help="Clean to this many sigma first, then only inside the mask of what was found "
              "(WSClean -auto-mask).")  # fmt: skip
@click.option("--niter", type=click.IntRange(min=0), default=_clean_default("niter"),
              show_default=True, help="Most minor iterations (components).")  # fmt: skip
@click.option("--gain", type=float, default=_clean_default("gain"), show_default=True,
              help="Minor-cycle loop gain.")  # fmt: skip
@click.option("--mgain", type=float, default=_clean_default("mgain"), show_default=True,
              help="Major-cycle gain (fraction of the peak cleaned per major cycle).")  # fmt: skip
@click.option("--max-major", type=click.IntRange(min=1), default=_clean_default("max_major"),
              show_default=True, help="Most major cycles.")  # fmt: skip
@click.option("--multiscale", is_flag=True, help="Multiscale CLEAN instead of Högbom.")
@click.option("--scales", default=",".join(f"{s:g}" for s in _clean_default("scales")),
              show_default=True, help="Multiscale sizes in clean-beam FWHM (0 = point).")  # fmt: skip
@click.option("--scale-bias", type=float, default=_clean_default("scale_bias"), show_default=True,
              help="Multiscale scale bias (lower favours large scales).")  # fmt: skip
@click.option("--image-plane", is_flag=True,
              help="Update the residual with the PSF only, even when visibilities were kept "
              "(needed when vis.npz is gone).")  # fmt: skip
@output_option("dir", required=False, help="Output directory (default: OBS_DIR).")
@progress_option(default=False)
def clean(obs_dir, threshold, auto_mask_sigma, niter, gain, mgain, max_major, multiscale, scales,
          scale_bias, image_plane, output, progress):  # fmt: skip
    """Deconvolve an observation directory (from `meersim observe`): write model.fits (Jy/pixel),
    residual.fits and restored.fits (Jy/beam), components.ecsv and history.csv."""
    threshold_jy, threshold_sigma = parse_threshold(threshold)
    config = CleanConfig(
        gain=gain, mgain=mgain, niter=niter, threshold=threshold_jy,
        threshold_sigma=threshold_sigma, auto_mask_sigma=auto_mask_sigma, max_major=max_major,
        multiscale=multiscale, scales=floats(scales, "--scales"), scale_bias=scale_bias,
        image_plane_only=image_plane,
    )  # fmt: skip
    click.echo(f"{obs_dir}: {config.describe()}")

    def report(row):
        click.echo(
            f"  major {row['major']:3d}  iter {row['iteration']:6d}  peak "
            f"{row['peak'] * 1e6:10.3f} uJy/beam  rms {row['rms'] * 1e6:8.3f} uJy/beam  level "
            f"{row['level'] * 1e6:8.3f}  components {row['n_components']:6d}  [{row['phase']}]"
        )

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CleanLimitWarning)  # printed as one line below
        result, written = clean_directory(
            obs_dir, config, output, progress=progress, callback=report
        )
    click.echo(result.summary())
    limit = limit_message(result.stop_reason, config)
    if limit is not None:
        click.echo(f"WARNING: {limit}", err=True)
    if result.interrupted:
        click.echo("interrupted by Ctrl-C: wrote the products of the model found so far.")
    for name, path in written.items():
        click.echo(f"  {name:10s} {path}")
