"""Helpers for the eval tests: tiny stores and embeddings directories with planted signal."""

import json

import numpy as np
from astropy.table import Table

from meersim.datasets.store import write_crops

CLASSES = np.array(["point", "sfg", "fr1"])
SIZE = 32
PATCH = 8


def make_store(path, n_fields=6, crops_per_field=12, seed=0):
    """Store with `sky` and `restored` products; returns (store path, truth, sky)."""
    rng = np.random.default_rng(seed)
    n = n_fields * crops_per_field
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    sky = np.zeros((n, SIZE, SIZE), np.float32)
    field_rms = 10 ** rng.uniform(-5.5, -4.5, n_fields)
    rows, sources = [], []
    for i in range(n):
        f = i // crops_per_field
        x0, y0 = (i % crops_per_field) * SIZE, 0
        count = int(rng.poisson(3))
        fluxes = 10 ** rng.uniform(-4, -2.5, count)
        for s in range(count):
            px, py = rng.uniform(3, SIZE - 3, 2)
            sky[i] += fluxes[s] * np.exp(-((xx - px) ** 2 + (yy - py) ** 2) / (2 * 1.5**2))
            sources.append((i, x0 + px, y0 + py, fluxes[s]))
        rows.append((f, x0, y0, count, fluxes.sum(), field_rms[f], CLASSES[count % 3], 6.0))
    truth = Table(
        rows=rows,
        names=(
            "field_id",
            "x0",
            "y0",
            "n_sources",
            "total_flux",
            "noise_rms",
            "dominant_class",
            "bmaj",
        ),
    )
    restored = sky + rng.normal(0, 1, sky.shape).astype(np.float32) * truth["noise_rms"].data[
        :, None, None
    ].astype(np.float32)
    src = Table(rows=sources, names=("crop_id", "x", "y", "flux"))
    path = write_crops(
        path,
        {"sky": sky, "restored": restored},
        truth,
        sources=src,
        manifest={"config": {"field": {"cell_arcsec": 2.0}}},
    )
    return path, truth, sky


def planted_features(truth, dim=16, signal=1.0, seed=1):
    """Features whose first columns encode count, log flux and class (times ``signal``) plus noise."""
    rng = np.random.default_rng(seed)
    n = len(truth)
    x = rng.normal(0, 1, (n, dim))
    count = np.asarray(truth["n_sources"], float)
    x[:, 0] += signal * 3 * count
    x[:, 1] += signal * 3 * np.log10(np.maximum(np.asarray(truth["total_flux"], float), 1e-6))
    for j, c in enumerate(CLASSES):
        x[:, 2 + j] += signal * 6 * (np.asarray(truth["dominant_class"]) == c)
    return x.astype(np.float32)


def write_embedding_dir(path, vectors, crop_ids, dataset, attention=None, random_init=False):
    path.mkdir(parents=True, exist_ok=True)
    np.save(path / "embeddings.npy", np.asarray(vectors, np.float32))
    np.save(path / "crop_ids.npy", np.asarray(crop_ids, np.int64))
    meta = {
        "dataset": str(dataset),
        "checkpoint": None,
        "method": "dino",
        "backbone": "vit_tiny_patch8",
        "embed_dim": int(vectors.shape[1]),
        "products": ["restored"],
        "random_init": random_init,
        "img_size": SIZE,
    }
    (path / "meta.json").write_text(json.dumps(meta))
    if attention is not None:
        np.save(path / "attention.npy", attention.astype(np.float16))
    return path


def source_attention(sky, noise_rms, heads=3, seed=2):
    """Head 0 looks at source patches, head 1 is uniform, head 2 random: float [N, heads, 4, 4]."""
    rng = np.random.default_rng(seed)
    n = sky.shape[0]
    g = SIZE // PATCH
    mask = sky > 3 * np.asarray(noise_rms, float)[:, None, None]
    patch_frac = mask.reshape(n, g, PATCH, g, PATCH).mean(axis=(2, 4))
    att = np.empty((n, heads, g, g))
    att[:, 0] = patch_frac + 1e-3
    att[:, 1] = 1.0
    att[:, 2:] = rng.uniform(0, 1, (n, heads - 2, g, g))
    return att / att.sum(axis=(2, 3), keepdims=True)
