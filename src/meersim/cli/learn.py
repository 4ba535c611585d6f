"""``meersim train`` and ``meersim embed``."""

from __future__ import annotations

import click

from meersim.cli.options import (
    argument_default,
    config_option,
    device_option,
    output_option,
    overwrite_option,
    progress_option,
)
from meersim.datasets.embeddings import load_embeddings
from meersim.ssl.embed import embed as embed_crops
from meersim.ssl.train import config_from_options
from meersim.ssl.train import train as train_model


@click.command("train")
@click.option("--data", type=click.Path(exists=True, file_okay=False), default=None,
              help="Dataset directory (meersim dataset / crops).")  # fmt: skip
@config_option("Train YAML (keys of TrainConfig; see docs/train.md).")
@click.option("--method", default=None,
              help="SSL method: simclr (default), moco, byol or dino.")  # fmt: skip
@click.option("--backbone", default=None,
              help="resnet10_w16 (default), resnet18, vit_tiny_patch8, vit_small_patch8 or a "
                   "timm name.")  # fmt: skip
@click.option("--epochs", type=click.IntRange(min=1), default=None,
              help="Epochs (passes over the dataset).")  # fmt: skip
@click.option("--batch-size", type=click.IntRange(min=1), default=None,
              help="Crops per process per step.")  # fmt: skip
@click.option("--out-dim", type=click.IntRange(min=1), default=None, help="DINO prototypes K.")
@device_option(default=None)
@click.option("--resume", is_flag=True, help="Continue from OUTPUT/checkpoint.pth (must exist).")
@overwrite_option("Start again in OUTPUT even if it holds a run (replaces its checkpoint and "
                  "metrics).")  # fmt: skip
@progress_option()
@output_option("dir", help="Run directory (checkpoint.pth, metrics.csv, steps.csv).")
def train(data, config_path, method, backbone, epochs, batch_size, out_dim, device, resume,
          overwrite, progress, output):  # fmt: skip
    """Train a self-supervised model (SimCLR, MoCo v2, BYOL or DINO) on radio crops.
    For several GPUs/processes: torchrun --nproc_per_node=N -m meersim.ssl.train ..."""
    config = config_from_options(
        config_path, output, resume, data=data, method=method, backbone=backbone, epochs=epochs,
        batch_size=batch_size, out_dim=out_dim, device=device,
    )  # fmt: skip
    path = train_model(config, output, resume=resume, overwrite=overwrite, progress=progress)
    click.echo(f"checkpoint {path}; metrics {output}/metrics.csv")


@click.command("embed")
@click.argument("checkpoint", type=click.Path(exists=True))
@click.option("--data", type=click.Path(exists=True, file_okay=False), required=True,
              help="Dataset directory to embed.")  # fmt: skip
@click.option("--product", default=None,
              help="Product to embed (default: restored if trained on it, else the first).")  # fmt: skip
@click.option("--attention", is_flag=True, help="Also write last-layer CLS attention (ViTs).")
@click.option("--random-init", is_flag=True, help="Seeded random weights (untrained baseline).")
@click.option("--pretrained", is_flag=True,
              help="CHECKPOINT holds foreign weights (seed-study or DINO ImageNet release, or a "
              "plain state dict); architecture read from the weights unless --backbone.")  # fmt: skip
@click.option(
    "--backbone", default=None, help="With --pretrained: the backbone (timm or short name)."
)
@click.option("--img-size", type=click.IntRange(min=8), default=224, show_default=True,
              help="With --pretrained: input side in pixels.")  # fmt: skip
@click.option("--batch-size", type=click.IntRange(min=1), show_default=True,
              default=argument_default(embed_crops, "batch_size"), help="Crops per batch.")  # fmt: skip
@device_option()
@progress_option()
@output_option("dir", help="Output directory (embeddings.npy, crop_ids.npy, meta.json).")
def embed(checkpoint, data, product, attention, random_init, pretrained, backbone, img_size,
          batch_size, device, progress, output):  # fmt: skip
    """Embed every crop with a checkpoint's backbone (DINO's teacher, else the online encoder)."""
    if pretrained:
        from meersim.ssl.pretrained import embed_pretrained

        out = embed_pretrained(checkpoint, data, output, backbone=backbone, img_size=img_size,
                               product=product or "restored", batch_size=batch_size,
                               device=device, progress=progress)  # fmt: skip
        emb = load_embeddings(out)
        click.echo(f"{out}: {emb.vectors.shape[0]} x {emb.vectors.shape[1]} embeddings "
                   f"({emb.meta['backbone']}, pretrained {checkpoint})")  # fmt: skip
        return
    out = embed_crops(checkpoint, data, output, batch_size=batch_size, products=product,
                      attention=attention, random_init=random_init, device=device,
                      progress=progress)  # fmt: skip
    emb = load_embeddings(out)
    extra = f", attention {emb.attention.shape}" if emb.attention is not None else ""
    click.echo(f"{out}: {emb.vectors.shape[0]} x {emb.vectors.shape[1]} embeddings "
               f"({emb.meta['backbone']}, product {emb.meta['products'][0]}){extra}")  # fmt: skip
