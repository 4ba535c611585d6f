"""Tiny synthetic crop stores for the ssl tests."""

import numpy as np
from astropy.table import Table

from meersim.datasets.store import write_crops
from meersim.ssl.augment import AugmentConfig
from meersim.ssl.train import TrainConfig


def make_store(path, n=32, size=32, seed=0, products=("restored",)):
    """Crops of 4-11 elliptical Gaussian sources (10-100 sigma) on unit-rms noise, 2 fields."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size].astype(float)
    arrays = {p: np.empty((n, size, size), np.float32) for p in products}
    n_sources = rng.integers(4, 12, n)
    for i in range(n):
        sky = np.zeros((size, size))
        for _ in range(n_sources[i]):
            x0, y0 = rng.uniform(6, size - 6, 2)
            a, b, t = rng.uniform(1.0, 5.0), rng.uniform(1.0, 2.0), rng.uniform(0, np.pi)
            u = (xx - x0) * np.cos(t) + (yy - y0) * np.sin(t)
            v = -(xx - x0) * np.sin(t) + (yy - y0) * np.cos(t)
            sky += rng.uniform(10, 100) * np.exp(-0.5 * (u**2 / a**2 + v**2 / b**2))
        for k, p in enumerate(products):
            arrays[p][i] = sky + rng.normal(0, 1.0 + k, (size, size))
    r = np.arange(15) - 7
    psf = np.exp(-0.5 * (r[:, None] ** 2 + r[None] ** 2) / 1.5**2).astype(np.float32)
    truth = Table({"field_id": np.arange(n) % 2, "n_sources": n_sources})
    return write_crops(path, arrays, truth, psfs=np.stack([psf, psf]))


def tiny_config(data, **overrides) -> TrainConfig:
    """A 2-block, 64-wide ViT with 8-px patches on 32-px crops; small head."""
    augment = dict(global_size=32, local_size=16, n_local=2)
    augment.update(overrides.pop("augment", {}))
    kwargs = dict(
        data=str(data),
        method="dino",
        backbone="vit_tiny_patch8",
        backbone_kwargs={"depth": 2, "embed_dim": 64, "num_heads": 2},
        out_dim=256,
        hidden_dim=128,
        bottleneck_dim=32,
        epochs=2,
        batch_size=8,
        lr=0.016,
        warmup_epochs=1,
        num_workers=0,
        augment=AugmentConfig(**augment),
    )
    kwargs.update(overrides)
    return TrainConfig(**kwargs)


def method_config(data, method: str, **overrides) -> TrainConfig:
    """A tiny run of any method: DINO as :func:`tiny_config`, the others on resnet10_w16."""
    if method == "dino":
        return tiny_config(data, **overrides)
    augment = dict(global_size=32)
    augment.update(overrides.pop("augment", {}))
    kwargs = dict(
        data=str(data), method=method, backbone="resnet10_w16", hidden_dim=64,
        projection_dim=32, memory_bank_size=32, epochs=2, batch_size=8, lr=0.016,
        warmup_epochs=1, num_workers=0, augment=AugmentConfig(**augment),
    )  # fmt: skip
    kwargs.update(overrides)
    return TrainConfig(**kwargs)
