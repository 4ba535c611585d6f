"""Helper of the explorer tests: a toy store, a 1-epoch tiny ViT, its embeddings (with
attention), and a FITS image to query with."""

import numpy as np
from eval_toy_data import make_store

from meersim.grid import Grid
from meersim.io import write_image
from meersim.ssl.augment import AugmentConfig
from meersim.ssl.embed import embed
from meersim.ssl.train import TrainConfig, train


def make_explore_run(root):
    """Returns dict(ds, emb, checkpoint, fits_dir, fits) under ``root``."""
    ds, truth, sky = make_store(root / "ds")
    config = TrainConfig(
        data=str(ds), products=("restored",), method="dino", backbone="vit_tiny_patch8",
        backbone_kwargs={"depth": 2, "embed_dim": 64, "num_heads": 2}, out_dim=256,
        hidden_dim=128, bottleneck_dim=32, epochs=1, batch_size=16, lr=0.016, warmup_epochs=0,
        num_workers=0, device="cpu", amp="off",
        augment=AugmentConfig(global_size=32, local_size=16, n_local=2),
    )  # fmt: skip
    checkpoint = train(config, root / "run", progress=False)
    emb = embed(checkpoint, ds, root / "emb", attention=True, device="cpu", progress=False)
    fits_dir = root / "images"
    fits_dir.mkdir()
    image = np.zeros((1, 32, 32), np.float32)
    yy, xx = np.mgrid[:32, :32]
    image[0] = 1e-3 * np.exp(-((xx - 16) ** 2 + (yy - 12) ** 2) / 8.0)
    image[0] += np.random.default_rng(3).normal(0, 1e-5, (32, 32))
    grid = Grid(32, 32, 2.0, 150.0, 2.0, (1.284e9,))
    fits = write_image(fits_dir / "query.fits", image, grid, bunit="JY/BEAM")
    return {
        "ds": ds,
        "emb": emb,
        "checkpoint": checkpoint,
        "fits_dir": fits_dir,
        "fits": fits,
        "truth": truth,
    }
