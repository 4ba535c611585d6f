"""`meersim search --query IMAGE.fits`: the image is embedded with the checkpoint named in
meta.json (ssl.embed.embed_image) and searched against the dataset's embeddings."""

import numpy as np
import pytest
from click.testing import CliRunner
from eval_toy_data import SIZE, make_store

from meersim.cli import main
from meersim.datasets.embeddings import load_embeddings
from meersim.datasets.store import open_store
from meersim.eval.search import search_run
from meersim.grid import Grid
from meersim.io import write_image
from meersim.ssl.augment import AugmentConfig
from meersim.ssl.embed import embed, embed_image
from meersim.ssl.train import TrainConfig, train

# one-epoch runs of a tiny model: the collapse monitor's warning is expected
pytestmark = pytest.mark.filterwarnings("ignore:epoch 0")


@pytest.fixture(scope="module")
def embedded(tmp_path_factory):
    root = tmp_path_factory.mktemp("image_query")
    ds, _, _ = make_store(root / "ds", n_fields=2)
    config = TrainConfig(
        data=str(ds), method="dino", backbone="vit_tiny_patch8",
        backbone_kwargs={"depth": 1, "embed_dim": 32, "num_heads": 2}, out_dim=32,
        hidden_dim=32, bottleneck_dim=16, epochs=1, batch_size=8, warmup_epochs=0, num_workers=0,
        augment=AugmentConfig(global_size=SIZE, local_size=16, n_local=0),
    )  # fmt: skip
    checkpoint = train(config, root / "run", progress=False)
    emb = embed(checkpoint, ds, root / "emb", progress=False)
    return ds, checkpoint, emb


def _crop_as_fits(ds, crop_id, path):
    image = np.asarray(open_store(ds).array("restored")[crop_id])
    write_image(path, image, Grid(SIZE, SIZE, 2.0, 150.0, 2.0), "JY/BEAM")
    return image


def test_a_fits_crop_finds_itself(embedded, tmp_path):
    ds, checkpoint, emb_dir = embedded
    image = _crop_as_fits(ds, 7, tmp_path / "query.fits")
    emb = load_embeddings(emb_dir)
    vector = embed_image(checkpoint, image, device="cpu")
    np.testing.assert_allclose(vector, emb.vectors[7], rtol=1e-4, atol=1e-5)
    out = search_run(emb_dir, str(tmp_path / "query.fits"), k=5, out_png=tmp_path / "grid.png")
    assert out["crop_ids"][0] == 7 and out["similarity"][0] > 0.9999
    assert len(out["crop_ids"]) == 5 and (tmp_path / "grid.png").stat().st_size > 1000


def test_cli_search_with_a_fits_query(embedded, tmp_path):
    ds, _, emb_dir = embedded
    _crop_as_fits(ds, 11, tmp_path / "q.fits")
    result = CliRunner().invoke(main, ["search", str(emb_dir), "--query",
                                       str(tmp_path / "q.fits"), "-k", "3"])  # fmt: skip
    assert result.exit_code == 0, result.output
    first = result.output.splitlines()[1].split()
    assert first[:2] == ["crop", "11"] and float(first[3]) > 0.9999
