"""``meersim catalog synth | info | convert``."""

from __future__ import annotations

import click

from meersim.catalogs import (
    catalog_info,
    convert_catalog,
    read_catalog,
    synthesize,
    synthesize_to_file,
)
from meersim.catalogs.schema import FORMATS
from meersim.catalogs.synthetic import SURVEYS
from meersim.cli.options import argument_default, output_option, seed_option


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


def _format_option(help: str):
    return click.option("--format", "fmt", type=click.Choice(FORMATS), default=None, help=help)


@click.group()
def catalog():
    """Source catalogs: synthesize, inspect, convert (PyBDSF / MIGHTEE / MGCLS)."""


@catalog.command("synth")
@click.option("--survey", type=click.Choice(list(SURVEYS)), show_default=True,
              default=argument_default(synthesize, "survey"))  # fmt: skip
@click.option("--area", "area_deg2", type=float, required=True, help="Sky area in deg^2.")
@seed_option(argument_default(synthesize, "seed"))
@click.option("--ra", "ra_deg", type=float, default=None, help="Field centre RA in deg.")
@click.option("--dec", "dec_deg", type=float, default=None, help="Field centre Dec in deg.")
@click.option("--flux-min", "flux_min_jy", type=float, default=None,
              help="Faintest source in Jy at the reference frequency (default ~5x survey rms).")  # fmt: skip
@click.option("--flux-max", "flux_max_jy", type=float, show_default=True, help="Jy.",
              default=argument_default(synthesize, "flux_max_jy"))  # fmt: skip
@click.option("--ref-freq", "ref_freq_hz", type=float, show_default=True, help="Hz.",
              default=argument_default(synthesize, "ref_freq_hz"))  # fmt: skip
@click.option("--footprint", type=click.Choice(["box", "circle"]), show_default=True,
              default=argument_default(synthesize, "footprint"))  # fmt: skip
@output_option("file", help="Catalog file; the extension sets the format: .fits, .ecsv or .csv.")
def synth(survey, area_deg2, seed, ra_deg, dec_deg, flux_min_jy, flux_max_jy, ref_freq_hz,
          footprint, output):  # fmt: skip
    """Draw a synthetic catalog (Hopkins+03 counts, Windhorst+90 sizes, SFG/FRI/FRII)."""
    path, table = synthesize_to_file(
        output, area_deg2, survey=survey, seed=seed, ra_deg=ra_deg, dec_deg=dec_deg,
        flux_min_jy=flux_min_jy, flux_max_jy=flux_max_jy, ref_freq_hz=ref_freq_hz,
        footprint=footprint,
    )  # fmt: skip
    _echo_catalog_info(catalog_info(table), f"wrote {path} ({survey}, seed {seed})")


@catalog.command("info")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@_format_option("Skip auto-detection.")
def info(path, fmt):
    """Summarise a catalog (any supported format)."""
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
@_format_option("Input format (default: auto-detect).")
def convert(input_path, output_path, fmt):
    """Read any supported catalog and write it in meersim's PyBDSF srl form; the output
    extension sets the format (.fits, .ecsv or .csv)."""
    path, table = convert_catalog(input_path, output_path, format=fmt)
    click.echo(
        f"{input_path} ({table.meta['format']}) -> {path}: {len(table)} components, "
        f"{table.meta.get('n_dropped', 0)} rows dropped"
    )
