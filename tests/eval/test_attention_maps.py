import numpy as np
import pytest
from astropy.table import Table
from matplotlib.image import imread

from meersim.datasets.store import open_store
from meersim.errors import InputError
from meersim.eval.attention import (
    attention_overlap,
    catalog_masks,
    plot_attention,
    store_masks,
    upsample_attention,
)
from meersim.eval.maps import plot_map, write_maps


def test_upsample_is_nearest_patch():
    att = np.arange(4.0).reshape(1, 2, 2)
    up = upsample_attention(att, (4, 6))
    assert up.shape == (1, 4, 6)
    np.testing.assert_array_equal(up[0, :2, :3], 0)
    np.testing.assert_array_equal(up[0, 2:, 3:], 3)


def test_overlap_focused_uniform_and_chance():
    masks = np.zeros((2, 8, 8), bool)
    masks[0, :4, :4] = True  # exactly patch (0, 0) of a 2x2 patch grid
    masks[1, 4:, :] = True
    att = np.zeros((2, 2, 2, 2))
    att[0, 0, 0, 0] = 1.0  # head 0 of crop 0 looks only at the source patch
    att[1, 0, 0, 0] = 1.0  # ... and in crop 1 only off-source
    att[:, 1] = 0.25  # head 1 uniform
    res = attention_overlap(att, masks)
    assert res["n_crops"] == 2
    assert res["chance"] == pytest.approx((16 / 64 + 32 / 64) / 2)
    assert res["overlap"][0] == pytest.approx((1.0 + 0.0) / 2)
    assert res["overlap"][1] == pytest.approx(res["chance"])  # uniform attention = chance
    assert res["lift"][1] == pytest.approx(1.0)
    empty = attention_overlap(att, np.zeros((2, 8, 8), bool))
    assert empty["n_crops"] == 0 and empty["chance"] is None


def test_catalog_masks_place_discs():
    src = Table({"crop_id": [0, 0, 1], "x": [105.0, 200.0, 12.0], "y": [52.0, 0.0, 3.0]})
    masks = catalog_masks(src, np.array([0]), np.array([[100, 50]]), (16, 16), np.array([2.0]))
    assert masks[0, 2, 5] and masks[0, 2, 7] and not masks[0, 2, 8]
    assert masks[0].sum() == 13  # disc of radius 2 px; the source at x=200 falls outside


def test_store_masks_and_planted_head(toy):
    store = open_store(toy["ds"])
    ids = np.arange(len(toy["truth"]))
    sky = store_masks(store, ids, "sky", 3.0)
    cat = store_masks(store, ids, "catalog")
    assert sky.shape == cat.shape == (len(ids), 32, 32)
    # both masks agree on which crops hold sources
    np.testing.assert_array_equal(sky.any(axis=(1, 2)), cat.any(axis=(1, 2)))
    res = attention_overlap(toy["attention"], sky)
    assert res["lift"][0] > 1.5  # the head planted on sources
    assert abs(res["lift"][1] - 1.0) < 1e-6  # the uniform head sits at chance
    with pytest.raises(InputError):
        store_masks(store, ids, "nope")


def test_attention_and_map_pngs_have_figure_size(toy, tmp_path):
    png = plot_attention(
        toy["sky"][0], toy["attention"][0], tmp_path / "att.png", toy["sky"][0] > 0
    )
    assert imread(png).shape[:2] == (220, 4 * 220)  # 1 + 3 heads, 2.2 in panels, 100 dpi
    coords = np.random.default_rng(0).normal(size=(len(toy["truth"]), 2))
    png = plot_map(coords, toy["truth"], tmp_path / "map.png", "t")
    assert imread(png).shape[:2] == (360, 5 * 320)  # five truth colours, 3.2 x 3.6 in
    paths = write_maps(toy["model"][:30], toy["truth"][:30], tmp_path, "m", tsne=True)
    assert set(paths) == {"pca", "tsne"}
    for p in paths.values():
        assert imread(p).shape[:2] == (360, 1600)
