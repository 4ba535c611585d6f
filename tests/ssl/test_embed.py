"""Embedding extraction from a trained checkpoint."""

import json

import numpy as np
import pytest
import torch
from _ssl_synthetic import make_store, tiny_config

from meersim.datasets.embeddings import load_embeddings
from meersim.datasets.loader import CropDataset
from meersim.errors import InputError
from meersim.ssl.augment import RadioMultiCrop
from meersim.ssl.backbones import build_backbone
from meersim.ssl.embed import embed
from meersim.ssl.train import train


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("embed")
    store = make_store(root / "ds", n=16, products=("dirty", "restored"))
    cfg = tiny_config(store, epochs=1, products=("dirty", "restored"))
    return store, train(cfg, root / "run", progress=False)


def test_embed_shapes_ids_attention_and_random_baseline(trained, tmp_path):
    store, ckpt = trained
    out = embed(ckpt, store, tmp_path / "emb", batch_size=5, attention=True, progress=False)
    emb = load_embeddings(out)
    assert emb.vectors.shape == (16, 64) and emb.vectors.dtype == np.float32
    np.testing.assert_array_equal(emb.crop_ids, np.arange(16))
    assert emb.crop_ids.dtype == np.int64
    assert emb.attention.shape == (16, 2, 4, 4) and emb.attention.dtype == np.float16
    assert np.all(emb.attention >= 0) and np.all(emb.attention.sum(axis=(2, 3)) <= 1.001)
    meta = json.loads((out / "meta.json").read_text())
    assert meta["products"] == ["restored"] and meta["embed_dim"] == 64
    assert meta["img_size"] == 32 and meta["random_init"] is False
    assert np.isfinite(emb.vectors).all() and emb.vectors.std(axis=0).mean() > 0

    # the teacher backbone on the deterministic global view, computed by hand
    ck = torch.load(ckpt, weights_only=True)
    cfg = tiny_config(store)
    model, _ = build_backbone(cfg.backbone, 32, **cfg.backbone_kwargs)
    teacher = ck["model"]  # DINO embeds with the teacher's backbone
    model.load_state_dict(
        {k[len("teacher.backbone.") :]: v for k, v in teacher.items() if k.startswith("teacher.backbone.")}
    )
    view = RadioMultiCrop(cfg.augment).eval_view(
        CropDataset(store, products=("restored",))[3]["image"]
    )
    with torch.no_grad():
        np.testing.assert_allclose(model.eval()(view[None])[0].numpy(), emb.vectors[3], atol=1e-5)

    again = load_embeddings(embed(ckpt, store, tmp_path / "emb2", progress=False))
    np.testing.assert_allclose(again.vectors, emb.vectors, rtol=1e-5, atol=1e-6)
    assert again.attention is None

    rnd = load_embeddings(embed(ckpt, store, tmp_path / "rnd", random_init=True, progress=False))
    rnd2 = load_embeddings(embed(ckpt, store, tmp_path / "rnd2", random_init=True, progress=False))
    assert rnd.meta["random_init"] is True
    np.testing.assert_array_equal(rnd.vectors, rnd2.vectors)  # seeded
    assert not np.allclose(rnd.vectors, emb.vectors, atol=1e-3)

    dirty = load_embeddings(embed(ckpt, store, tmp_path / "d", products="dirty", progress=False))
    assert dirty.meta["products"] == ["dirty"] and not np.allclose(dirty.vectors, emb.vectors)


def test_embed_errors(trained, tmp_path):
    store, ckpt = trained
    with pytest.raises(InputError, match="one product"):
        embed(ckpt, store, tmp_path / "e", products=("dirty", "restored"), progress=False)
    with pytest.raises(InputError):
        embed(tmp_path / "nothing.pth", store, tmp_path / "e", progress=False)
    with pytest.raises(InputError):
        load_embeddings(tmp_path)
