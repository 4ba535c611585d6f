"""The ``meersim`` command line: parse, call the library, print. Nothing else lives here."""

from __future__ import annotations

import functools
import warnings

import click

from meersim import __version__
from meersim.errors import MeersimError


def friendly_errors(func):
    """Turn :class:`MeersimError` into a one-line click error (no traceback)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except MeersimError as exc:
            raise click.ClickException(str(exc)) from None

    return wrapper


@click.group()
@click.version_option(__version__, prog_name="meersim")
def main():
    """meersim: simulated MeerKAT images with known truth, for self-supervised learning."""
    # Warnings reach a command-line user as one line, without Python's source echo.
    warnings.formatwarning = _format_warning


def _format_warning(message, category, filename, lineno, line=None) -> str:
    return f"warning: {message}\n"


# ---- catalogs -------------------------------------------------------------------
# (catalog commands: catalog synth / info / convert)


def _echo_catalog_info(info: dict, title: str) -> None:
    """Print a catalog_info dict on one screen."""
    click.echo(title)
    click.echo(f"  sources      {info['n_sources']}  (components {info['n_components']})")
    click.echo(
        f"  source flux  {info['source_flux_min_jy'] * 1e6:.3g} uJy .. "
        f"{info['source_flux_max_jy'] * 1e3:.4g} mJy   total {info['total_flux_jy'] * 1e3:.4g} mJy"
    )
    click.echo(
        f"  area         {info['area_deg2']:.4g} deg^2   "
        f"density {info['source_density_per_deg2']:.4g} sources/deg^2"
    )
    click.echo(
        f"  RA           {info['ra_range_deg'][0]:.5f} .. {info['ra_range_deg'][1]:.5f} deg   "
        f"Dec {info['dec_range_deg'][0]:.5f} .. {info['dec_range_deg'][1]:.5f} deg"
    )
    freqs = ", ".join(f"{f / 1e6:.2f}" for f in info["ref_freq_hz"])
    click.echo(f"  ref freq     {freqs} MHz")
    click.echo("  classes      " + ", ".join(f"{k} {v}" for k, v in info["classes"].items()))
    click.echo("  shapes       " + ", ".join(f"{k} {v}" for k, v in info["shapes"].items()))


@main.group()
def catalog():
    """Source catalogs: synthesize, inspect, convert (PyBDSF / MIGHTEE / MGCLS)."""


@catalog.command("synth")
@click.option(
    "--survey", type=click.Choice(["mightee", "mgcls"]), default="mightee", show_default=True
)
@click.option("--area", "area_deg2", type=float, required=True, help="Sky area in deg^2.")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@click.option("--ra", "ra_deg", type=float, default=None, help="Field centre RA in deg.")
@click.option("--dec", "dec_deg", type=float, default=None, help="Field centre Dec in deg.")
@click.option(
    "--flux-min",
    "flux_min_jy",
    type=float,
    default=None,
    help="Faintest source in Jy at the reference frequency (default ~5x survey rms).",
)
@click.option("--flux-max", "flux_max_jy", type=float, default=1.0, show_default=True, help="Jy.")
@click.option(
    "--ref-freq", "ref_freq_hz", type=float, default=1.284e9, show_default=True, help="Hz."
)
@click.option("--footprint", type=click.Choice(["box", "circle"]), default="box", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False), required=True, help="FITS file.")
@friendly_errors
def catalog_synth(
    survey,
    area_deg2,
    seed,
    ra_deg,
    dec_deg,
    flux_min_jy,
    flux_max_jy,
    ref_freq_hz,
    footprint,
    output,
):
    """Draw a synthetic catalog (Hopkins+03 counts, Windhorst+90 sizes, SFG/FRI/FRII)."""
    from meersim.catalogs import catalog_info, synthesize, write_catalog

    table = synthesize(
        area_deg2,
        survey=survey,
        seed=seed,
        ra_deg=ra_deg,
        dec_deg=dec_deg,
        flux_min_jy=flux_min_jy,
        flux_max_jy=flux_max_jy,
        ref_freq_hz=ref_freq_hz,
        footprint=footprint,
    )
    path = write_catalog(table, output)
    _echo_catalog_info(catalog_info(table), f"wrote {path} ({survey}, seed {seed})")


@catalog.command("info")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["pybdsf", "mightee", "mgcls", "meersim"]),
    default=None,
    help="Skip auto-detection.",
)
@friendly_errors
def catalog_info_cmd(path, fmt):
    """Summarise a catalog (any supported format)."""
    from meersim.catalogs import catalog_info, read_catalog

    table = read_catalog(path, format=fmt)
    meta = table.meta
    title = f"{path}: format {meta.get('format')}"
    if meta.get("n_dropped"):
        title += f", dropped {meta['n_dropped']} bad rows"
    _echo_catalog_info(catalog_info(table), title)
    click.echo(f"  ref freq from {meta.get('ref_freq_origin', '?')}; sizes from "
               f"{meta.get('size_origin', 'truth columns')}")  # fmt: skip


@catalog.command("convert")
@click.argument("input_path", type=click.Path(exists=True, dir_okay=False))
@click.argument("output_path", type=click.Path(dir_okay=False))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["pybdsf", "mightee", "mgcls", "meersim"]),
    default=None,
    help="Input format (default: auto-detect).",
)
@friendly_errors
def catalog_convert(input_path, output_path, fmt):
    """Read any supported catalog and write meersim's canonical FITS (PyBDSF srl form)."""
    from meersim.catalogs import read_catalog, write_catalog

    table = read_catalog(input_path, format=fmt)
    path = write_catalog(table, output_path)
    click.echo(
        f"{input_path} ({table.meta['format']}) -> {path}: {len(table)} components, "
        f"{table.meta.get('n_dropped', 0)} rows dropped"
    )


# ---- sky ------------------------------------------------------------------------
# (sky command)


def _parse_floats(text: str, option: str) -> tuple[float, ...]:
    """Comma-separated numbers, or a clean click error naming ``option``."""
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise click.BadParameter(
            f"expected comma-separated numbers, got {text!r}.", param_hint=option
        ) from None
    if not values:
        raise click.BadParameter("no values given.", param_hint=option)
    return values


@main.command("sky")
@click.option(
    "--catalog",
    "catalog_path",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Catalog file (any supported format). Default: the shipped synthetic catalog.",
)
@click.option(
    "--npix",
    type=int,
    default=None,
    help="Grid side in pixels. Default: enough to cover the catalog (components off a smaller grid are cut).",
)
@click.option(
    "--cell",
    "cell_arcsec",
    type=float,
    default=1.5,
    show_default=True,
    help="Pixel size in arcsec.",
)
@click.option(
    "--ra",
    "ra_deg",
    type=float,
    default=None,
    help="Grid centre RA in deg (default: catalog mean).",
)
@click.option(
    "--dec",
    "dec_deg",
    type=float,
    default=None,
    help="Grid centre Dec in deg (default: catalog mean).",
)
@click.option("--freqs", default=None, help='Channel frequencies in Hz, e.g. "1.2e9,1.3e9".')
@click.option(
    "--nchan", type=int, default=None, help="Number of channels spread evenly over --band."
)
@click.option(
    "--band",
    default="856e6,1712e6",
    show_default=True,
    help="Band edges in Hz for --nchan (MeerKAT L-band by default).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    required=True,
    help="Output FITS cube (Jy/pixel).",
)
@click.option(
    "--progress/--no-progress", default=True, show_default=True, help="Show a progress bar."
)
@friendly_errors
def sky_cmd(catalog_path, npix, cell_arcsec, ra_deg, dec_deg, freqs, nchan, band, output, progress):
    """Render a catalog onto a SIN grid with galsim and write a Jy/pixel FITS cube."""
    import numpy as np

    from meersim.catalogs import default_catalog, read_catalog
    from meersim.simulate.fitsio import write_image
    from meersim.simulate.sky import band_channels, default_grid, render_sky

    if freqs is not None and nchan is not None:
        raise click.UsageError("give --freqs or --nchan, not both.")
    if freqs is not None:
        freqs_hz = _parse_floats(freqs, "--freqs")
    elif nchan is not None:
        edges = _parse_floats(band, "--band")
        if len(edges) != 2:
            raise click.BadParameter("expected two band edges LO,HI in Hz.", param_hint="--band")
        freqs_hz = band_channels(nchan, *edges)
    else:
        freqs_hz = None
    table = read_catalog(catalog_path) if catalog_path else default_catalog()
    grid = default_grid(table, cell_arcsec=cell_arcsec, npix=npix, ra_deg=ra_deg, dec_deg=dec_deg,
                        freqs_hz=freqs_hz)  # fmt: skip
    fov_x, fov_y = grid.fov_deg
    click.echo(
        f"grid {grid.npix_x}x{grid.npix_y} px of {grid.cell_arcsec:g} arcsec "
        f"({fov_x:.3f}x{fov_y:.3f} deg) centred on RA {grid.ra_deg:.5f} Dec {grid.dec_deg:.5f} deg; "
        f"{grid.nchan} channel(s) {grid.freqs[0] / 1e6:.2f}..{grid.freqs[-1] / 1e6:.2f} MHz"
    )
    sky = render_sky(table, grid, progress=progress)
    path = write_image(output, sky.data, grid, bunit="JY/PIXEL")
    totals = sky.data.sum(axis=(1, 2), dtype=np.float64)
    click.echo(
        f"wrote {path}: {len(table)} components, total flux {totals[0] * 1e3:.5g} mJy "
        f"at {grid.freqs[0] / 1e6:.2f} MHz"
        + (
            f" .. {totals[-1] * 1e3:.5g} mJy at {grid.freqs[-1] / 1e6:.2f} MHz"
            if grid.nchan > 1
            else ""
        )
    )


# ---- observe --------------------------------------------------------------------
# (observe command)


@main.command("observe")
@click.argument("sky_path", type=click.Path(exists=True, dir_okay=False))
@click.option("--hours", type=float, default=8.0, show_default=True, help="Track length in hours.")
@click.option(
    "--ha-start",
    "ha_start_h",
    type=float,
    default=None,
    help="Start hour angle in hours (default: track centred on transit).",
)
@click.option(
    "--dump", "dump_s", type=float, default=None, help="Dump (integration) time in seconds."
)
@click.option("--nchan", type=int, default=8, show_default=True, help="Channels across the band.")
@click.option("--freq", "freq_centre_hz", type=float, default=None, help="Band centre in Hz.")
@click.option("--bandwidth", "bandwidth_hz", type=float, default=None, help="Bandwidth in Hz.")
@click.option(
    "--weighting",
    type=click.Choice(["natural", "uniform", "briggs"]),
    default="briggs",
    show_default=True,
    help="Imaging weighting.",
)
@click.option("--robust", type=float, default=-0.5, show_default=True, help="Briggs robustness.")
@click.option(
    "--antennas", type=int, default=None, help="Use the first N antennas (default: all 64)."
)
@click.option(
    "--array", "array_name", default="meerkat", show_default=True, help="Array name or layout file."
)
@click.option(
    "--rms",
    "target_rms_jy",
    type=float,
    default=None,
    help="Scale the thermal noise to this natural-weighting image rms, in Jy/beam.",
)
@click.option("--no-noise", is_flag=True, help="Leave out thermal noise.")
@click.option(
    "--rfi", "rfi_fraction", type=float, default=None, help="Fraction of samples flagged as RFI."
)
@click.option(
    "--elevation-limit",
    "elevation_limit_deg",
    type=float,
    default=None,
    help="Flag below this elevation (deg).",
)
@click.option(
    "--mode",
    type=click.Choice(["vis", "image"]),
    default="vis",
    show_default=True,
    help="vis: predict and grid visibilities; image: fast PSF convolution + coloured noise.",
)
@click.option(
    "--products",
    default="basic,enhanced",
    show_default=True,
    help="basic (apparent) and/or enhanced (primary-beam corrected).",
)
@click.option(
    "--pb-cut",
    type=float,
    default=0.2,
    show_default=True,
    help="Blank enhanced image where the primary beam gain is below this.",
)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Random seed (noise, RFI flags)."
)
@click.option(
    "--ms", "ms_path", type=click.Path(), default=None, help="Also write a Measurement Set."
)
@click.option(
    "--uvh5", "uvh5_path", type=click.Path(dir_okay=False), default=None, help="Also write UVH5."
)
@click.option(
    "-o", "--output", type=click.Path(file_okay=False), required=True, help="Output directory."
)
@click.option(
    "--progress/--no-progress", default=True, show_default=True, help="Show progress bars."
)
@friendly_errors
def observe_cmd(
    sky_path, hours, ha_start_h, dump_s, nchan, freq_centre_hz, bandwidth_hz, weighting, robust,
    antennas, array_name, target_rms_jy, no_noise, rfi_fraction, elevation_limit_deg, mode,
    products, pb_cut, seed, ms_path, uvh5_path, output, progress,
):  # fmt: skip
    """Observe a sky FITS cube (Jy/pixel) with MeerKAT: write dirty.fits, psf.fits and products."""
    from meersim.errors import InputError
    from meersim.simulate.fitsio import read_image
    from meersim.simulate.imaging import Weighting
    from meersim.simulate.observe import observe, save_observation
    from meersim.simulate.types import Sky
    from meersim.simulate.uvcoverage import ObservationSetup

    image = read_image(sky_path)
    if image.grid is None:
        raise InputError(sky_path, "WCS", "is not a centred SIN grid with CDELT1 < 0.",
                         "Render the sky with `meersim sky`.")  # fmt: skip
    if image.bunit != "JY/PIXEL":
        raise InputError(sky_path, "BUNIT", f"is {image.bunit!r}; a sky model must be JY/PIXEL.",
                         "Render the sky with `meersim sky`.")  # fmt: skip
    sky = Sky(image.data, image.grid)
    options = {
        "array": array_name, "antennas": antennas, "ra_deg": sky.grid.ra_deg,
        "dec_deg": sky.grid.dec_deg, "hours": hours, "ha_start_h": ha_start_h, "dump_s": dump_s,
        "nchan": nchan, "freq_centre_hz": freq_centre_hz, "bandwidth_hz": bandwidth_hz,
        "rfi_fraction": rfi_fraction, "elevation_limit_deg": elevation_limit_deg,
        "target_rms_jy": target_rms_jy, "seed": seed,
    }  # fmt: skip
    kwargs = {k: v for k, v in options.items() if v is not None}
    if no_noise:
        kwargs["noise"] = False
    setup = ObservationSetup(**kwargs)
    obs = observe(
        sky, setup, Weighting(weighting, robust), mode=mode,
        products=tuple(p.strip() for p in products.split(",") if p.strip()),
        pb_cut=pb_cut, progress=progress,
    )  # fmt: skip
    written = save_observation(obs, output)
    if ms_path or uvh5_path:
        if obs.vis is None:
            raise click.UsageError("--ms/--uvh5 need visibilities: use --mode vis.")
        from meersim.simulate.export import write_ms, write_uvh5

        if ms_path:
            written["ms"] = write_ms(obs.vis, ms_path, setup)
        if uvh5_path:
            written["uvh5"] = write_uvh5(obs.vis, uvh5_path, setup)
    b = obs.beam
    click.echo(
        f"{obs.meta['nvis_unflagged']:,} unflagged visibilities ({obs.meta['nrow']:,} rows x "
        f"{len(obs.meta['channel_freqs_hz'])} channels), {obs.weighting['scheme']} weighting"
        + (f" robust {obs.weighting['robust']:+g}" if obs.weighting["scheme"] == "briggs" else "")
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
# (clean command)


@main.command("clean")
@click.argument("obs_dir", type=click.Path(exists=True, file_okay=False))
@click.option(
    "--threshold",
    default="3sigma",
    show_default=True,
    help="Stop level: N sigma of the residual (e.g. 3sigma, sigma = 1.4826 MAD, re-measured "
    "every major cycle) or Jy/beam (1e-5, 10uJy, 0.01mJy).",
)
@click.option(
    "--auto-mask",
    "auto_mask_sigma",
    type=float,
    default=None,
    help="Clean to this many sigma first, then only inside the mask of what was found (WSClean -auto-mask).",
)
@click.option(
    "--niter",
    type=int,
    default=10000,
    show_default=True,
    help="Most minor iterations (components).",
)
@click.option("--gain", type=float, default=0.1, show_default=True, help="Minor-cycle loop gain.")
@click.option(
    "--mgain",
    type=float,
    default=0.8,
    show_default=True,
    help="Major-cycle gain (fraction of the peak cleaned per major cycle).",
)
@click.option("--max-major", type=int, default=20, show_default=True, help="Most major cycles.")
@click.option("--multiscale", is_flag=True, help="Multiscale CLEAN instead of Högbom.")
@click.option(
    "--scales",
    default="0,2,4,8",
    show_default=True,
    help="Multiscale sizes in clean-beam FWHM (0 = point).",
)
@click.option(
    "--scale-bias",
    type=float,
    default=0.6,
    show_default=True,
    help="Multiscale scale bias (lower favours large scales).",
)
@click.option(
    "--image-plane",
    is_flag=True,
    help="Update the residual with the PSF only, even when visibilities were kept.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(file_okay=False),
    default=None,
    help="Output directory (default: OBS_DIR).",
)
@click.option(
    "--progress/--no-progress", default=False, show_default=True, help="Show a progress bar."
)
@friendly_errors
def clean_cmd(
    obs_dir, threshold, auto_mask_sigma, niter, gain, mgain, max_major, multiscale, scales,
    scale_bias, image_plane, output, progress,
):  # fmt: skip
    """Deconvolve an observation directory (from `meersim observe`): write model.fits (Jy/pixel),
    residual.fits and restored.fits (Jy/beam), components.ecsv and history.csv."""
    from meersim.simulate.clean import CleanConfig, clean, parse_threshold, write_clean_products
    from meersim.simulate.observe import load_observation

    threshold_jy, threshold_sigma = parse_threshold(threshold)
    config = CleanConfig(
        gain=gain, mgain=mgain, niter=niter, threshold=threshold_jy,
        threshold_sigma=threshold_sigma, auto_mask_sigma=auto_mask_sigma, max_major=max_major,
        multiscale=multiscale, scales=_parse_floats(scales, "--scales"), scale_bias=scale_bias,
        image_plane_only=image_plane,
    )  # fmt: skip
    obs = load_observation(obs_dir)
    mode = "image-plane (PSF)" if image_plane or obs.vis is None else "Cotton-Schwab (visibilities)"
    click.echo(f"{obs_dir}: {obs.grid.npix_x}x{obs.grid.npix_y} px, {config.describe()}, {mode}")

    def report(row):
        click.echo(
            f"  major {row['major']:3d}  iter {row['iteration']:6d}  peak "
            f"{row['peak'] * 1e6:10.3f} uJy/beam  rms {row['rms'] * 1e6:8.3f} uJy/beam  level "
            f"{row['level'] * 1e6:8.3f}  components {row['n_components']:6d}  [{row['phase']}]"
        )

    result = clean(obs, config, progress=progress, callback=report)
    written = write_clean_products(result, obs, output or obs_dir)
    click.echo(result.summary())
    if result.interrupted:
        click.echo("interrupted by Ctrl-C: wrote the products of the model found so far.")
    for name, path in written.items():
        click.echo(f"  {name:10s} {path}")


# ---- dataset / crops ------------------------------------------------------------
# (dataset and crops commands)


@main.command("dataset")
@click.option(
    "--config",
    "config_path",
    type=click.Path(exists=True, dir_okay=False),
    required=True,
    help="Dataset YAML (see docs/dataset.md; example: meersim/data/example_mgcls_small.yaml).",
)
@click.option(
    "-o", "--output", type=click.Path(file_okay=False), required=True, help="Store directory."
)
@click.option(
    "--workers",
    type=int,
    default=1,
    show_default=True,
    help="Fields in parallel on a local dask cluster (0/1: inline, no dask).",
)
@click.option(
    "--scheduler", default=None, help="Address of a running dask scheduler (tcp://host:port)."
)
@click.option("--seed", type=int, default=None, help="Master seed (overrides the config's).")
@click.option(
    "--overwrite", is_flag=True, help="Start again instead of resuming a dataset in OUTPUT."
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
@friendly_errors
def dataset_cmd(config_path, output, workers, scheduler, seed, overwrite, quiet):
    """Simulate fields and cut them into a crop dataset (resumes an interrupted build)."""
    from meersim.simulate.dataset import build_from_yaml

    store = build_from_yaml(
        config_path,
        output,
        workers=workers,
        scheduler=scheduler,
        seed=seed,
        overwrite=overwrite,
        progress=not quiet,
    )
    click.echo(
        f"{output}: {store.n_crops} crops of {store.crop_size[0]}x{store.crop_size[1]} px from "
        f"{store.manifest['n_fields']} fields; products {', '.join(store.products)}"
    )


@main.command("crops")
@click.argument("images", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--pair",
    "pairs",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False),
    help="Paired image (e.g. MGCLS enhanced), one per IMAGE; stored as product 'enhanced'.",
)
@click.option(
    "--catalog",
    "catalogs",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False),
    help="Source catalog (PyBDSF/MIGHTEE/MGCLS/meersim), one per IMAGE, for per-crop counts.",
)
@click.option("--size", type=int, default=256, show_default=True, help="Crop size in pixels.")
@click.option("--stride", type=int, default=200, show_default=True, help="Crop step in pixels.")
@click.option(
    "--max-nan",
    type=float,
    default=0.3,
    show_default=True,
    help="Drop crops whose blanked (NaN) fraction exceeds this.",
)
@click.option("--channel", type=int, default=0, show_default=True, help="Image plane of cubes.")
@click.option(
    "-o", "--output", type=click.Path(file_okay=False), required=True, help="Store directory."
)
@click.option("--overwrite", is_flag=True, help="Replace OUTPUT if it exists.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@friendly_errors
def crops_cmd(images, pairs, catalogs, size, stride, max_nan, channel, output, overwrite, quiet):
    """Cut real FITS images (4-D, NaN-blanked MGCLS/MIGHTEE products) into a crop dataset."""
    from meersim.simulate.crops import crop_real_images

    store = crop_real_images(
        list(images),
        output,
        pairs=list(pairs),
        catalogs=list(catalogs),
        size=size,
        stride=stride,
        max_nan=max_nan,
        channel=channel,
        overwrite=overwrite,
        progress=not quiet,
    )
    click.echo(
        f"{output}: {store.n_crops} crops of {size}x{size} px from {len(images)} image(s); "
        f"products {', '.join(store.products)}"
    )


# ---- ssl ------------------------------------------------------------------------
# (train and embed commands)


@main.command("train")
@click.option(
    "--data",
    type=click.Path(exists=True, file_okay=False),
    default=None,
    help="Dataset directory (meersim dataset / crops).",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Train YAML (keys of TrainConfig; see docs/train.md).",
)
@click.option(
    "--backbone",
    default=None,
    help="vit_tiny_patch16, vit_small_patch8, resnet18, resnet50 or a timm name.",
)
@click.option("--epochs", type=int, default=None, help="Epochs (passes over the dataset).")
@click.option("--batch-size", type=int, default=None, help="Crops per process per step.")
@click.option("--out-dim", type=int, default=None, help="DINO prototypes K (default 4096).")
@click.option("--device", default=None, help="auto (default), cpu, cuda, cuda:N.")
@click.option("--resume", is_flag=True, help="Continue from OUTPUT/checkpoint.pth.")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Progress bar.")
@click.option(
    "-o",
    "--output",
    type=click.Path(file_okay=False),
    required=True,
    help="Run directory (checkpoint.pth, metrics.csv, steps.csv).",
)
@friendly_errors
def train_cmd(data, config_path, backbone, epochs, batch_size, out_dim, device, resume,
              progress, output):  # fmt: skip
    """Train DINO (teacher-student self-distillation) on radio crops, one process.
    For several GPUs/processes: torchrun --nproc_per_node=N -m meersim.ssl.train ..."""
    from meersim.ssl.train import config_from_options, train

    config = config_from_options(
        config_path, output, resume, data=data, backbone=backbone, epochs=epochs,
        batch_size=batch_size, out_dim=out_dim, device=device,
    )  # fmt: skip
    path = train(config, output, resume=resume, progress=progress)
    click.echo(f"checkpoint {path}; metrics {output}/metrics.csv")


@main.command("embed")
@click.argument("checkpoint", type=click.Path(exists=True))
@click.option(
    "--data",
    type=click.Path(exists=True, file_okay=False),
    required=True,
    help="Dataset directory to embed.",
)
@click.option(
    "--product",
    default=None,
    help="Product to embed (default: restored if trained on it, else the first).",
)
@click.option("--attention", is_flag=True, help="Also write last-layer CLS attention (ViTs).")
@click.option("--random-init", is_flag=True, help="Seeded random weights (untrained baseline).")
@click.option("--batch-size", type=int, default=64, show_default=True, help="Crops per batch.")
@click.option("--device", default=None, help="auto (default), cpu, cuda.")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Progress bar.")
@click.option(
    "-o",
    "--output",
    type=click.Path(file_okay=False),
    required=True,
    help="Output directory (embeddings.npy, crop_ids.npy, meta.json).",
)
@friendly_errors
def embed_cmd(checkpoint, data, product, attention, random_init, batch_size, device, progress,
              output):  # fmt: skip
    """Embed every crop with a checkpoint's teacher backbone (float32 [N, D])."""
    from meersim.ssl.embed import embed, load_embeddings

    out = embed(checkpoint, data, output, batch_size=batch_size, products=product,
                attention=attention, random_init=random_init, device=device,
                progress=progress)  # fmt: skip
    emb = load_embeddings(out)
    extra = f", attention {emb.attention.shape}" if emb.attention is not None else ""
    click.echo(f"{out}: {emb.vectors.shape[0]} x {emb.vectors.shape[1]} embeddings "
               f"({emb.meta['backbone']}, product {emb.meta['products'][0]}){extra}")  # fmt: skip


# ---- eval -----------------------------------------------------------------------
# (eval, search, sweep and demo commands)

_EVAL_SUMMARY = (
    "count_mse",
    "count_r2",
    "detected_count_mse",
    "detected_count_r2",
    "log_flux_r2",
    "log_rms_r2",
    "class_accuracy",
    "class_macro_f1",
    "knn_class_accuracy",
    "precision_at_k_class",
    "precision_at_k_count",
    "pca_components_99",
)


@main.command("eval")
@click.argument("emb_dir", type=click.Path(exists=True, file_okay=False))
@click.option(
    "-o",
    "--output",
    type=click.Path(file_okay=False),
    required=True,
    help="Report directory (metrics.json, index.html, PNGs).",
)
@click.option(
    "--dataset",
    type=click.Path(exists=True, file_okay=False),
    default=None,
    help="Dataset store (default: the one named in EMB_DIR/meta.json).",
)
@click.option(
    "--random",
    "random_dir",
    type=click.Path(exists=True, file_okay=False),
    default=None,
    help="Embeddings of the same backbone with random weights (`meersim embed --random-init`).",
)
@click.option(
    "--make-random",
    is_flag=True,
    help="Without --random: embed the dataset with random weights now (needs the checkpoint in meta.json).",
)
@click.option(
    "--raw-product",
    default=None,
    help="Product for the raw-pixel PCA baseline (default: the embedded product).",
)
@click.option(
    "--raw-size",
    type=int,
    default=32,
    show_default=True,
    help="Raw-pixel baseline: crops block-averaged to this many pixels a side.",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="YAML of evaluation settings (keys of meersim.eval.EvalConfig, see docs/eval.md).",
)
@click.option(
    "--attention-mask",
    type=click.Choice(["sky", "catalog"]),
    default="sky",
    show_default=True,
    help="Source mask for the attention overlap: sky > 3 rms, or catalog positions dilated by the beam.",
)
@click.option("--no-tsne", is_flag=True, help="Skip the t-SNE maps (slow on large sets).")
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Seed of folds, PCA and t-SNE."
)
@click.option(
    "--device", default=None, help="torch device for --make-random (default: cuda if present)."
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
@friendly_errors
def eval_cmd(
    emb_dir,
    output,
    dataset,
    random_dir,
    make_random,
    raw_product,
    raw_size,
    config_path,
    attention_mask,
    no_tsne,
    seed,
    device,
    quiet,
):
    """Probe, kNN and search metrics of EMB_DIR against truth, beside two baselines."""
    from meersim.config import load_yaml
    from meersim.eval.evaluate import evaluate_run

    config = load_yaml(config_path) if config_path else None
    result = evaluate_run(
        emb_dir,
        output,
        dataset=dataset,
        random_emb_dir=random_dir,
        make_random=make_random,
        raw_product=raw_product,
        raw_size=raw_size,
        config=config,
        seed=seed,
        tsne=not no_tsne,
        attention_mask=attention_mask,
        device=device,
        progress=not quiet,
    )
    sets = list(result["dims"])
    click.echo(f"{result['n_crops']} crops; split: {result['split']['note']}")
    click.echo(f"{'metric':24s}" + "".join(f"{s:>13s}" for s in sets))
    for metric in _EVAL_SUMMARY:
        values = result["metrics"].get(metric)
        if values is None:
            continue
        cells = []
        for s in sets:
            v = values.get(s)
            cells.append(f"{'-':>13s}" if v is None or v != v else f"{v:13.4g}")
        click.echo(f"{metric:24s}" + "".join(cells))
    att = result.get("attention")
    if att and att.get("chance") is not None:
        shares = ", ".join(f"{v:.2f}" for v in att["overlap"])
        click.echo(f"attention on sources per head: {shares} (chance {att['chance']:.2f})")
    for note in result["notes"]:
        click.echo(f"note: {note}")
    click.echo(f"report: {result['report']['html']}  metrics: {result['report']['metrics']}")


@main.command("search")
@click.argument("emb_dir", type=click.Path(exists=True, file_okay=False))
@click.option(
    "--query",
    required=True,
    help="Crop id, or a FITS image (embedded with the checkpoint in meta.json).",
)
@click.option("-k", "k", type=int, default=8, show_default=True, help="Neighbours to return.")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    default=None,
    help="PNG of the query and its neighbours.",
)
@click.option(
    "--dataset",
    type=click.Path(exists=True, file_okay=False),
    default=None,
    help="Dataset store (default: the one named in EMB_DIR/meta.json).",
)
@click.option(
    "--label",
    default="dominant_class",
    show_default=True,
    help="Truth column that defines a relevant neighbour (n_sources is binned).",
)
@click.option(
    "--index",
    "kind",
    type=click.Choice(["flat", "ivf"]),
    default="flat",
    show_default=True,
    help="FAISS index: exact flat, or IVF for large sets.",
)
@click.option("--nlist", type=int, default=None, help="IVF cells (default ~4 sqrt(N)).")
@click.option(
    "--nprobe", type=int, default=8, show_default=True, help="IVF cells searched per query."
)
@click.option("--device", default=None, help="torch device to embed a FITS query.")
@friendly_errors
def search_cmd(emb_dir, query, k, output, dataset, label, kind, nlist, nprobe, device):
    """Nearest crops (cosine) to a crop or a FITS image."""
    from meersim.eval.search import search_run

    out = search_run(
        emb_dir,
        query,
        k,
        output,
        dataset=dataset,
        label=label,
        kind=kind,
        nlist=nlist,
        nprobe=nprobe,
        device=device,
    )
    labels = out["labels"] or [""] * len(out["crop_ids"])
    click.echo(f"query {out['query']}: {len(out['crop_ids'])} neighbours")
    for cid, sim, lab in zip(out["crop_ids"], out["similarity"], labels, strict=True):
        click.echo(f"  crop {cid:6d}  cos {sim:.4f}  {lab}")
    if out["precision_at_k"] is not None:
        click.echo(f"precision@{k} ({label}): {out['precision_at_k']:.3f}")
    if out["grid"]:
        click.echo(f"grid: {out['grid']}")


@main.command("sweep")
@click.option(
    "--config",
    "config_path",
    type=click.Path(exists=True, dir_okay=False),
    required=True,
    help="Sweep YAML (dataset, parameter, values, checkpoint or train).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(file_okay=False),
    required=True,
    help="Sweep directory (resumable: finished values are skipped).",
)
@click.option("--quick", is_flag=True, help="Shrink datasets and training (tests, smoke runs).")
@click.option("--device", default=None, help="torch device: cpu or cuda (default: auto).")
@click.option("--quiet", is_flag=True, help="No progress output.")
@friendly_errors
def sweep_cmd(config_path, output, quick, device, quiet):
    """Sweep one dataset parameter (e.g. noise_rms_jy in Jy/beam) and measure the embedding."""
    from meersim.eval.sweep import load_sweep_config, run_sweep

    config = load_sweep_config(config_path, device=device)
    table = run_sweep(config, output, progress=not quiet, quick=quick)
    cols = [c for c in ("value_label", "normalize", "n_crops", "count_mse", "count_r2",
                        "class_accuracy") if c in table.colnames]  # fmt: skip
    click.echo("  ".join(cols))
    for row in table:
        click.echo("  ".join(f"{row[c]:.4g}" if isinstance(row[c], float) else str(row[c])
                             for c in cols))  # fmt: skip
    click.echo(f"wrote {output}/sweep.ecsv, leakage.json, index.html")


@main.command("demo")
@click.option(
    "-o",
    "--output",
    type=click.Path(file_okay=False),
    default="demo",
    show_default=True,
    help="Demo directory (resumable).",
)
@click.option("--quick", is_flag=True, help="A much smaller run (under a minute).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of every step.")
@click.option(
    "--device",
    type=click.Choice(["cpu", "cuda"]),
    default=None,
    help="torch device (default: cuda when present).",
)
@friendly_errors
def demo_cmd(output, quick, seed, device):
    """Catalog -> dataset -> DINO -> embeddings -> evaluation -> noise sweep -> report."""
    from meersim.eval.demo import run_demo

    run_demo(output, quick=quick, seed=seed, device=device, progress=True)


if __name__ == "__main__":
    main()
