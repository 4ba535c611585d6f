"""``meersim explore``: serve the crop explorer on a local web page."""

from __future__ import annotations

from pathlib import Path

import click

from meersim.cli.options import device_option, seed_option
from meersim.eval.explore import explore as serve_explorer


@click.command("explore")
@click.argument("emb_dir", type=click.Path(file_okay=False))
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True,
              help="TCP port (0: any free one).")  # fmt: skip
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; 0.0.0.0 opens it to the network (not advised).")  # fmt: skip
@click.option("--dataset", type=click.Path(exists=True, file_okay=False), default=None,
              help="Dataset store (default: the one named in EMB_DIR/meta.json).")  # fmt: skip
@click.option("--product", default=None, help="Product shown (default: the embedded one).")
@click.option("--fits-dir", "fits_dirs", multiple=True, type=click.Path(exists=True, file_okay=False),
              help="Folder whose FITS images may be queried (repeatable; default: the current folder).")  # fmt: skip
@click.option("--scores", "scores_csv", type=click.Path(exists=True, dir_okay=False), default=None,
              help="scores.csv of `meersim anomaly` (default: kNN distance computed at start).")  # fmt: skip
@click.option("--cache", "cache_dir", type=click.Path(file_okay=False), default=None,
              help="Thumbnail cache folder (default: EMB_DIR/explore_thumbs).")  # fmt: skip
@device_option()
@seed_option(0, help="Seed of the IVF index and the relabel re-ranking.")
def explore(emb_dir, port, host, dataset, product, fits_dirs, scores_csv, cache_dir, device, seed):
    """Browse EMB_DIR's crops in a web browser: thumbnails, truth, nearest neighbours,
    anomaly ranking, attention maps and relabels (docs/explore.md)."""
    click.echo(f"loading {emb_dir} ...")
    serve_explorer(
        emb_dir, host=host, port=port, dataset=dataset, product=product,
        fits_dirs=fits_dirs or (str(Path.cwd()),), scores_csv=scores_csv, cache_dir=cache_dir,
        device=device, seed=seed,
        ready=lambda url: click.echo(f"explore {emb_dir}: open {url}  (Ctrl-C stops)"),
    )  # fmt: skip
