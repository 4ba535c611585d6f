"""``meersim dataset`` and ``meersim crops``."""

from __future__ import annotations

import json

import click

from meersim.cli.options import (
    argument_default,
    config_option,
    output_option,
    overwrite_option,
    progress_option,
    seed_option,
    stokes_option,
)
from meersim.datasets import build_from_yaml, crop_real_images
from meersim.datasets.build import build_dataset
from meersim.datasets.shard import shard_store


@click.command("dataset")
@config_option("Dataset YAML (see docs/dataset.md; example: meersim/data/example_mgcls_small.yaml).",
               required=True)  # fmt: skip
@output_option("dir", help="Store directory.")
@click.option("--workers", type=click.IntRange(min=0), show_default=True,
              default=argument_default(build_dataset, "workers"),
              help="Fields in parallel on a local dask cluster (0/1: inline, no dask).")  # fmt: skip
@click.option(
    "--scheduler", default=None, help="Address of a running dask scheduler (tcp://host:port)."
)
@click.option("--device", default=None,
              help="mode fast only: cpu, cuda, cuda:N or torch-cpu for the FFTs and noise "
                   "(overrides fast.device; default cpu).")  # fmt: skip
@seed_option(None, help="Master seed (overrides the config's).")
@overwrite_option("Start again instead of resuming a dataset in OUTPUT.")
@progress_option()
def dataset(config_path, output, workers, scheduler, device, seed, overwrite, progress):
    """Simulate fields and cut them into a crop dataset (resumes an interrupted build)."""
    store = build_from_yaml(config_path, output, workers=workers, scheduler=scheduler, seed=seed,
                            overwrite=overwrite, progress=progress, device=device)  # fmt: skip
    click.echo(
        f"{output}: {store.n_crops} crops of {store.crop_size[0]}x{store.crop_size[1]} px from "
        f"{store.manifest['n_fields']} fields; products {', '.join(store.products)}"
    )
    report = store.path / "pybdsf_report.json"
    if report.exists():
        click.echo(_pybdsf_summary(json.loads(report.read_text())))


@click.command("shard")
@click.argument("source", type=click.Path(exists=True, file_okay=False))
@output_option("dir", help="Directory of the sharded copy.")
@click.option("--crops-per-shard", type=click.IntRange(min=1), show_default=True,
              default=argument_default(shard_store, "crops_per_shard"),
              help="Crops per shard file (one file per product per shard).")  # fmt: skip
@overwrite_option("Replace a dataset in OUTPUT instead of refusing or resuming.")
@progress_option()
def shard(source, output, crops_per_shard, overwrite, progress):
    """Copy a finished dataset into Zarr shards of N crops per file (resumes)."""
    store = shard_store(source, output, crops_per_shard, overwrite=overwrite, progress=progress)
    info = store.manifest["sharded"]
    click.echo(f"{output}: {store.n_crops} crops in {info['n_shards']} shards of up to "
               f"{info['crops_per_shard']} crops per product ({', '.join(store.products)})")  # fmt: skip


def _pybdsf_summary(report: dict) -> str:
    lines = [f"PyBDSF: {report['n_detected']} detections of {report['n_true']} true sources; "
             f"completeness {_pct(report['completeness_above_5sigma'])} above 5 sigma, "
             f"{_pct(report['completeness_above_10sigma'])} above 10 sigma; reliability "
             f"{_pct(report['reliability'])}",
             f"{'S/N':>10s} {'n_true':>7s} {'complete':>9s} {'n_det':>6s} {'reliable':>9s} "
             f"{'flux bias':>9s}"]  # fmt: skip
    for b in report["bins"]:
        bias = "-" if b["flux_bias"] is None else f"{b['flux_bias']:+.3f}"
        lines.append(f"{b['snr_min']:>4g}-{b['snr_max'] or 'inf':<5} {b['n_true']:7d} "
                     f"{_pct(b['completeness']):>9s} {b['n_detected']:6d} "
                     f"{_pct(b['reliability']):>9s} {bias:>9s}")  # fmt: skip
    return "\n".join(lines)


def _pct(value) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


@click.command("crops")
@click.argument("images", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--pair", "pairs", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="Paired image (e.g. MGCLS enhanced), one per IMAGE; stored as product 'enhanced'.")  # fmt: skip
@click.option("--catalog", "catalogs", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="Source catalog (PyBDSF/MIGHTEE/MGCLS/meersim), one per IMAGE, for per-crop counts.")  # fmt: skip
@click.option("--size", type=click.IntRange(min=1), show_default=True,
              default=argument_default(crop_real_images, "size"), help="Crop size in pixels.")  # fmt: skip
@click.option("--stride", type=click.IntRange(min=1), show_default=True,
              default=argument_default(crop_real_images, "stride"), help="Crop step in pixels.")  # fmt: skip
@click.option("--max-nan", type=float, show_default=True,
              default=argument_default(crop_real_images, "max_nan"),
              help="Drop crops whose blanked (NaN) fraction exceeds this.")  # fmt: skip
@click.option("--channel", type=int, show_default=True,
              default=argument_default(crop_real_images, "channel"), help="Image plane of cubes.")  # fmt: skip
@stokes_option()
@output_option("dir", help="Store directory.")
@overwrite_option("Replace OUTPUT if it exists.")
@progress_option()
def crops(images, pairs, catalogs, size, stride, max_nan, channel, stokes, output, overwrite,
          progress):  # fmt: skip
    """Cut real FITS images (4-D, NaN-blanked MGCLS/MIGHTEE products) into a crop dataset."""
    store = crop_real_images(list(images), output, pairs=list(pairs), catalogs=list(catalogs),
                             size=size, stride=stride, max_nan=max_nan, channel=channel,
                             overwrite=overwrite, progress=progress, stokes=stokes)  # fmt: skip
    click.echo(
        f"{output}: {store.n_crops} crops of {size}x{size} px from {len(images)} image(s); "
        f"products {', '.join(store.products)}"
    )
