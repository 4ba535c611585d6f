"""Embeddings from a user-supplied pretrained checkpoint (the ``--baseline CKPT`` of eval).

Accepted: a meersim training checkpoint (embedded with :func:`meersim.ssl.embed.embed`),
and foreign weights read by :func:`meersim.ssl.backbones.load_pretrained`: the seed
study's released DINO ViT-S/8 and ResNet-50 (Lastufka et al. 2024), DINO's ImageNet
weights (``teacher``/``student`` dicts with ``module.backbone.`` prefixes, or plain
state dicts), with 3-channel first layers summed to one channel. The architecture is
read from the state dict (ViT width, depth, patch; ResNet depth) unless ``backbone``
names it. Inputs are normalised as meersim's own embeddings (per-crop median and
1.4826 MAD, asinh stretch) at ``img_size``; no weights are ever downloaded.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from meersim.datasets.embeddings import write_embeddings
from meersim.datasets.loader import CropDataset
from meersim.datasets.store import open_store
from meersim.errors import InputError
from meersim.ssl.augment import AugmentConfig, RadioMultiCrop
from meersim.ssl.backbones import (
    build_backbone,
    extract_backbone_state,
    load_pretrained,
    patch_size,
    read_checkpoint,
)
from meersim.ssl.embed import _EvalViews, embed
from meersim.ssl.train import resolve_device
from meersim.ssl.train.checkpoint import READABLE_FORMATS

# ResNet blocks in layer3 -> depth (He et al. 2016, table 1)
_RESNET_BOTTLENECK = {6: "resnet50", 23: "resnet101", 36: "resnet152"}
_RESNET_BASIC = {2: "resnet18", 6: "resnet34"}


def infer_backbone(state: dict, source: str = "checkpoint") -> tuple[str, dict]:
    """timm name and keyword overrides of the backbone a (prefix-stripped) state dict fits."""
    if "patch_embed.proj.weight" in state:
        weight = state["patch_embed.proj.weight"]
        dim, patch = int(weight.shape[0]), int(weight.shape[-1])
        depth = 1 + max(int(m[1]) for k in state if (m := re.match(r"blocks\.(\d+)\.", k)))
        kwargs = {"patch_size": patch, "embed_dim": dim, "depth": depth,
                  "num_heads": max(1, dim // 64)}  # fmt: skip
        return "vit_small_patch16_224", kwargs
    if "conv1.weight" in state and "layer3.0.conv1.weight" in state:
        blocks = 1 + max(int(m[1]) for k in state if (m := re.match(r"layer3\.(\d+)\.", k)))
        table = _RESNET_BOTTLENECK if "layer3.0.conv3.weight" in state else _RESNET_BASIC
        if blocks in table:
            return table[blocks], {}
    raise InputError(source, "backbone", "cannot tell the architecture from the weights.",
                     "Name it with --baseline-backbone (e.g. vit_small_patch8, resnet50).")  # fmt: skip


def is_meersim_checkpoint(obj: dict) -> bool:
    return obj.get("format") in READABLE_FORMATS


@torch.no_grad()
def embed_pretrained(
    checkpoint,
    data_path,
    out_dir,
    *,
    backbone: str | None = None,
    img_size: int = 224,
    product: str = "restored",
    batch_size: int = 32,
    device: str | None = None,
    progress: bool = True,
) -> Path:
    """Embed every crop of ``data_path`` with pretrained weights; writes an embeddings dir.

    checkpoint : a meersim checkpoint, or foreign DINO / ImageNet / seed-study weights.
    backbone : short or timm name (None: inferred from the state dict).
    img_size : side (px) crops are resized to before the backbone (a ViT's patch multiple).
    """
    path = Path(checkpoint)
    obj = read_checkpoint(path / "checkpoint.pth" if path.is_dir() else path)
    if is_meersim_checkpoint(obj):
        return embed(checkpoint, data_path, out_dir, products=product, device=device,
                     progress=progress, batch_size=batch_size)  # fmt: skip
    state, key = extract_backbone_state(obj)
    if backbone is None:
        name, kwargs = infer_backbone(state, str(path))
    else:
        name, kwargs = backbone, {}
    model, dim = build_backbone(name, int(img_size), **kwargs)
    report = load_pretrained(model, path)
    if product not in open_store(data_path).products:
        raise InputError(str(data_path), product, "no such product.", "Pass --product.")
    dev = resolve_device(device or "auto")
    model = model.to(dev).eval()
    transform = RadioMultiCrop(AugmentConfig(global_size=int(img_size)))
    loader = torch.utils.data.DataLoader(
        _EvalViews(CropDataset(data_path, products=(product,)), transform, None),
        batch_size=batch_size, shuffle=False,
    )  # fmt: skip
    vectors, ids = [], []
    for images, crop_ids in tqdm(loader, desc="embed (pretrained)", disable=not progress):
        vectors.append(model(images.to(dev)).float().cpu().numpy())
        ids.append(np.asarray(crop_ids, dtype=np.int64))
    meta = {
        "dataset": str(Path(data_path).resolve()),
        "checkpoint": None,
        "pretrained": str(path.resolve()),
        "checkpoint_key": key,
        "backbone": name,
        "backbone_kwargs": kwargs,
        "patch_size": patch_size(model),
        "embed_dim": int(dim),
        "products": [product],
        "random_init": False,
        "img_size": int(img_size),
        "loaded_tensors": len(report.loaded),
        "adapted": report.adapted,
    }
    return write_embeddings(out_dir, np.concatenate(vectors).astype(np.float32),
                            np.concatenate(ids), meta)  # fmt: skip
