"""Embeddings of every crop from a trained backbone (or a random-weight baseline).

``embed(...)`` writes an embeddings directory (:mod:`meersim.datasets.embeddings`):
``embeddings.npy`` holds the embedding backbone's feature (DINO's teacher, the online
encoder of the other methods; ViT CLS token after the final norm, ResNet pooled
features) in eval mode, and ``attention.npy`` (ViTs,
``attention=True``) the last block's CLS -> patch attention per head (softmax over
all tokens, so rows sum to <= 1).

Inputs get the training global view's normalisation without random augmentation:
whole crop, (x - median) / (1.4826 MAD), resized to the global size, stretched. With
``scale_jy`` every crop is divided by that one reference rms instead of its own, so
differences in noise level stay visible (used by sweeps).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from meersim.config import from_dict
from meersim.datasets.embeddings import write_embeddings
from meersim.datasets.loader import CropDataset
from meersim.datasets.store import open_store
from meersim.errors import InputError
from meersim.ssl.augment import RadioMultiCrop
from meersim.ssl.backbones import build_backbone, is_vit
from meersim.ssl.train import TrainConfig, read_training_checkpoint, resolve_device
from meersim.ssl.train.checkpoint import embedding_backbone_state


class _EvalViews(torch.utils.data.Dataset):
    def __init__(self, base, transform: RadioMultiCrop, scale_jy: float | None):
        self.base, self.transform, self.scale_jy = base, transform, scale_jy

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i):
        item = self.base[i]
        return self.transform.eval_view(item["image"], scale_jy=self.scale_jy), item["crop_id"]


class _AttentionCatcher:
    """Recompute the last block's CLS -> patch attention from the input to its ``attn``."""

    def __init__(self, model):
        self.attn = model.blocks[-1].attn
        self.n_prefix = int(getattr(model, "num_prefix_tokens", 1))
        self.maps = None
        self.handle = self.attn.register_forward_pre_hook(self._hook)

    def _hook(self, module, args):
        x = args[0]
        b, n, _ = x.shape
        qkv = (
            module.qkv(x).reshape(b, n, 3, module.num_heads, module.head_dim).permute(2, 0, 3, 1, 4)
        )
        q, k = module.q_norm(qkv[0]), module.k_norm(qkv[1])
        weights = ((q * module.scale) @ k.transpose(-2, -1)).softmax(dim=-1)
        self.maps = weights[:, :, 0, self.n_prefix :]

    def remove(self):
        self.handle.remove()


@torch.no_grad()
def embed(
    checkpoint: str | Path,
    data_path: str | Path,
    out_dir: str | Path,
    batch_size: int = 64,
    products=None,
    attention: bool = False,
    random_init: bool = False,
    device: str | None = None,
    num_workers: int = 0,
    progress: bool = True,
    scale_jy: float | None = None,
) -> Path:
    """Embed every crop of ``data_path`` with the checkpoint's embedding backbone.

    Parameters
    ----------
    checkpoint : meersim DINO checkpoint (file or run directory).
    data_path : dataset directory (may differ from the training set, e.g. real crops).
    products : the product to embed (one name or a 1-tuple). Default: ``restored`` if the
        model was trained on it, else the first training product.
    attention : ViTs only; also write ``attention.npy``.
    random_init : same architecture with seeded random weights (the untrained baseline).
    device : ``cpu``/``cuda``; default auto.
    scale_jy : divide every crop (after its median) by this rms in Jy/beam instead of
        its own 1.4826 MAD (None: per-crop noise normalisation, as in training).

    Returns the output directory.
    """
    if int(batch_size) < 1:
        raise InputError("embed", "batch_size", f"must be >= 1, got {batch_size}.")
    ckpt = read_training_checkpoint(checkpoint)
    config = from_dict(TrainConfig, ckpt["config"], str(checkpoint))
    if products is None:
        product = "restored" if "restored" in config.products else config.products[0]
    else:
        chosen = (products,) if isinstance(products, str) else tuple(products)
        if len(chosen) != 1:
            raise InputError("embed", "products", f"{chosen}: the backbone takes one product.",
                             "Embed each product in its own run.")  # fmt: skip
        product = chosen[0]
    img_size = config.augment.global_size
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)  # random_init: the same weights every time
        model, embed_dim = build_backbone(config.backbone, img_size, **config.backbone_kwargs)
    if not random_init:
        model.load_state_dict(embedding_backbone_state(ckpt))
    if attention and not is_vit(model):
        raise InputError("embed", "attention", f"{config.backbone} is not a ViT.",
                         "Drop --attention or use a ViT backbone.")  # fmt: skip
    dev = resolve_device(device or "auto")
    model = model.to(dev).eval()

    base = CropDataset(data_path, products=(product,))
    transform = RadioMultiCrop(config.augment)
    loader = torch.utils.data.DataLoader(
        _EvalViews(base, transform, scale_jy),
        batch_size=batch_size,
        shuffle=False,
        num_workers=num_workers,
    )
    catcher = _AttentionCatcher(model) if attention else None
    vectors, ids, maps = [], [], []
    it = tqdm(loader, desc="embed", leave=False, disable=not progress)
    try:
        for images, crop_ids in it:
            features = model(images.to(dev))
            vectors.append(features.float().cpu().numpy())
            ids.append(np.asarray(crop_ids, dtype=np.int64))
            if catcher is not None:
                h = images.shape[-2] // model.patch_embed.patch_size[0]
                w = images.shape[-1] // model.patch_embed.patch_size[1]
                a = catcher.maps.reshape(images.shape[0], -1, h, w)
                maps.append(a.to(torch.float16).cpu().numpy())
    finally:
        if catcher is not None:
            catcher.remove()

    d = embed_dim
    vec = np.concatenate(vectors).astype(np.float32) if vectors else np.zeros((0, d), np.float32)
    meta = {
        "dataset": str(Path(data_path).resolve()),
        "checkpoint": str(Path(checkpoint).resolve()),
        "backbone": config.backbone,
        "backbone_kwargs": config.backbone_kwargs,
        "embed_dim": int(embed_dim),
        "products": [product],
        "random_init": bool(random_init),
        "img_size": int(img_size),
        "epoch": int(ckpt["epoch"]),
        "normalisation": {
            "stretch": config.augment.stretch,
            "asinh_scale": config.augment.asinh_scale,
            "clip_sigma": list(config.augment.clip_sigma),
        },
    }
    if scale_jy is not None:
        meta.update(normalize="fixed", scale_jy=float(scale_jy))
    return write_embeddings(
        out_dir,
        vec,
        np.concatenate(ids) if ids else np.zeros(0, np.int64),
        meta,
        attention=np.concatenate(maps) if catcher is not None else None,
        dataset=open_store(data_path),  # its fingerprint goes into meta.json
    )


@torch.no_grad()
def embed_image(checkpoint, image: np.ndarray, device: str | None = None) -> np.ndarray:
    """Embed one 2-D image (Jy/beam; NaN = blank) with the checkpoint's teacher: float32 [D].

    The image is normalised and resized as every crop is (:meth:`RadioMultiCrop.eval_view`),
    so it should cover about the field of view of the training crops.
    """
    plane = np.asarray(image, dtype=np.float32)
    if plane.ndim != 2 or min(plane.shape) < 2:
        raise InputError("embed_image", "image", f"needs a 2-D image, got shape {plane.shape}.")
    ckpt = read_training_checkpoint(checkpoint)
    config = from_dict(TrainConfig, ckpt["config"], str(checkpoint))
    model, _ = build_backbone(config.backbone, config.augment.global_size,
                              **config.backbone_kwargs)  # fmt: skip
    model.load_state_dict(embedding_backbone_state(ckpt))
    dev = resolve_device(device or "auto")
    model = model.to(dev).eval()
    tensor = torch.from_numpy(np.nan_to_num(plane, nan=0.0, posinf=0.0, neginf=0.0))[None]
    view = RadioMultiCrop(config.augment).eval_view(tensor)
    return model(view[None].to(dev)).float().cpu().numpy()[0]
