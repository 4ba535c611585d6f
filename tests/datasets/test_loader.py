"""CropDataset: lazy, picklable, multi-worker safe."""

import pickle

import numpy as np
import pytest
import torch
from astropy.table import Table

from meersim.datasets.loader import CropDataset
from meersim.datasets.store import write_crops
from meersim.errors import InputError


@pytest.fixture
def store(tmp_path):
    rng = np.random.default_rng(0)
    n = 10
    restored = rng.normal(size=(n, 16, 16)).astype(np.float32)
    restored[:, :2] = np.nan
    sky = rng.normal(size=(n, 16, 16)).astype(np.float32)
    # tag each crop so we can check which one came back
    restored[:, 8, 8] = np.arange(n)
    truth = Table(
        {
            "field_id": np.repeat([0, 1], 5),
            "n_sources": np.arange(n),
            "total_flux": np.linspace(0, 1, n),
            "dominant_class": ["sfg", "fr1"] * 5,
        }
    )
    psfs = rng.normal(size=(2, 9, 9)).astype(np.float32)
    write_crops(tmp_path / "ds", {"restored": restored, "sky": sky}, truth, psfs=psfs)
    return tmp_path / "ds", restored, sky, psfs


def test_item_contents(store):
    path, restored, sky, psfs = store
    ds = CropDataset(
        path,
        products=("restored", "sky"),
        label_columns=("n_sources", "total_flux", "dominant_class"),
        nan_to=-1.0,
        transform=lambda x: x * 2,
    )
    assert len(ds) == 10
    item = ds[3]
    assert item["crop_id"] == 3
    assert item["image"].shape == (2, 16, 16) and item["image"].dtype == torch.float32
    assert torch.all(item["image"][0, :2] == -2.0)
    assert item["image"][0, 8, 8] == 6.0
    np.testing.assert_allclose(item["image"][1].numpy(), 2 * sky[3])
    assert item["labels"]["n_sources"].dtype == torch.int64 and item["labels"]["n_sources"] == 3
    assert item["labels"]["total_flux"].dtype == torch.float32
    assert ds.label_classes["dominant_class"] == ["fr1", "sfg"]
    assert item["labels"]["dominant_class"] == 0
    np.testing.assert_array_equal(ds.psfs(), psfs)
    np.testing.assert_array_equal(ds.field_ids, np.repeat([0, 1], 5))
    assert len(ds.truth) == 10


def test_in_memory_copy_gives_the_same_items(store, monkeypatch):
    path = store[0]
    lazy = CropDataset(path, products=("restored", "sky"), in_memory=False)
    assert CropDataset(path).in_memory  # 10 small crops: below the limit
    monkeypatch.setattr(CropDataset, "IN_MEMORY_LIMIT_BYTES", 100)
    assert not CropDataset(path).in_memory
    memory = CropDataset(path, products=("restored", "sky"), in_memory=True, indices=[7, 2])
    for i, crop_id in enumerate((7, 2)):
        assert torch.equal(memory[i]["image"], lazy[crop_id]["image"])
    assert isinstance(memory._arrays[0], np.ndarray)
    assert pickle.loads(pickle.dumps(memory))._arrays is None


def test_pickle_does_not_carry_open_arrays(store):
    path = store[0]
    ds = CropDataset(path)
    ds[0]
    assert ds._arrays is not None
    clone = pickle.loads(pickle.dumps(ds))
    assert clone._arrays is None
    assert clone[4]["image"][0, 8, 8] == 4.0


def test_multiworker_dataloader(store):
    path = store[0]
    ds = CropDataset(path, label_columns=("n_sources",), indices=[9, 1, 5, 7, 0, 2])
    ds[0]  # opened in the parent before forking: workers must reopen
    loader = torch.utils.data.DataLoader(ds, batch_size=2, num_workers=2, shuffle=False)
    seen = []
    for batch in loader:
        assert batch["image"].shape == (2, 1, 16, 16)
        np.testing.assert_array_equal(batch["image"][:, 0, 8, 8].numpy(), batch["crop_id"].numpy())
        np.testing.assert_array_equal(
            batch["labels"]["n_sources"].numpy(), batch["crop_id"].numpy()
        )
        seen += batch["crop_id"].tolist()
    assert seen == [9, 1, 5, 7, 0, 2]


def test_bad_product_and_column(store):
    path = store[0]
    with pytest.raises(InputError, match="dirty"):
        CropDataset(path, products=("dirty",))
    with pytest.raises(InputError, match="nope"):
        CropDataset(path, label_columns=("nope",))
