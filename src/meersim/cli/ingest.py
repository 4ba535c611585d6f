"""``meersim ingest mirabest | rgd | folder``: external labelled images into a crop store."""

from __future__ import annotations

import click
import numpy as np

from meersim.cli.options import output_option, overwrite_option, progress_option, stokes_option
from meersim.datasets.ingest import FIRST_PIXEL_ARCSEC, RGD_LABELLINGS, ingest


def _pixel_scale_option(default_text: str):
    return click.option("--pixel-scale", "pixel_scale", type=click.FloatRange(min=0, min_open=True),
                        default=None, help=f"Pixel scale in arcsec/pixel ({default_text}).")  # fmt: skip


def _report(store, source) -> None:
    truth = store.truth
    splits = ""
    if "split" in truth.colnames:
        names, counts = np.unique(np.asarray(truth["split"]), return_counts=True)
        splits = "; split " + ", ".join(f"{n} {c}" for n, c in zip(names, counts, strict=True))
    labels = [c for c in truth.colnames if c not in ("crop_id", "field_id", "cell_arcsec")]
    click.echo(f"{store.path}: {store.n_crops} images of {store.crop_size[0]}x"
               f"{store.crop_size[1]} px from {source}{splits}")  # fmt: skip
    click.echo(f"truth columns: {', '.join(labels)}")


@click.group("ingest")
def ingest_group():
    """Labelled images (MiraBest, RadioGalaxyDataset, a folder) into a crop store."""


@ingest_group.command("mirabest")
@click.argument("batches", type=click.Path(exists=True, file_okay=False))
@click.option("--subset", type=click.Choice(["all", "confident"]), default="all", show_default=True,
              help="confident: FRI/FRII with confident labels (codes 100, 102, 104, 200, 201).")  # fmt: skip
@_pixel_scale_option(f"default FIRST's {FIRST_PIXEL_ARCSEC}")
@output_option("dir", help="Store directory.")
@overwrite_option("Replace OUTPUT if it exists.")
@progress_option()
def mirabest(batches, subset, pixel_scale, output, overwrite, progress):
    """MiraBest pickled batches (data_batch_*, test_batch, batches.meta) in BATCHES."""
    store = ingest(batches, output, "mirabest", subset=subset, pixel_scale_arcsec=pixel_scale,
                   overwrite=overwrite, progress=progress)  # fmt: skip
    _report(store, batches)


@ingest_group.command("rgd")
@click.argument("h5file", type=click.Path(exists=True, dir_okay=False))
@click.option("--labelling", type=click.Choice(RGD_LABELLINGS), default="literature",
              show_default=True, help="Labelling whose official split becomes 'split'.")  # fmt: skip
@_pixel_scale_option(f"default FIRST's {FIRST_PIXEL_ARCSEC}")
@output_option("dir", help="Store directory.")
@overwrite_option("Replace OUTPUT if it exists.")
@progress_option()
def rgd(h5file, labelling, pixel_scale, output, overwrite, progress):
    """RadioGalaxyDataset HDF5 (groups data_K with Img, Label_*/Split_*) in H5FILE."""
    store = ingest(h5file, output, "rgd", labelling=labelling, pixel_scale_arcsec=pixel_scale,
                   overwrite=overwrite, progress=progress)  # fmt: skip
    _report(store, h5file)


@ingest_group.command("folder")
@click.argument("folder", type=click.Path(exists=True, file_okay=False))
@click.option("--labels", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Labels CSV: a 'file' column plus label columns (default FOLDER/labels.csv).")  # fmt: skip
@_pixel_scale_option("needed for images without a celestial WCS, e.g. PNG")
@click.option("--size", type=click.IntRange(min=1), default=None,
              help="Centre-crop or NaN-pad every image to SIZE x SIZE pixels.")  # fmt: skip
@stokes_option()
@output_option("dir", help="Store directory.")
@overwrite_option("Replace OUTPUT if it exists.")
@progress_option()
def folder(folder, labels, pixel_scale, size, stokes, output, overwrite, progress):
    """PNG / JPEG / FITS images in FOLDER with a labels CSV."""
    store = ingest(folder, output, "folder", labels=labels, pixel_scale_arcsec=pixel_scale,
                   size=size, stokes=stokes, overwrite=overwrite, progress=progress)  # fmt: skip
    _report(store, folder)
