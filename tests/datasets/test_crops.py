"""Tiling rule, per-crop truth, and crops of real (4-D, NaN-blanked, paired) FITS images."""

import numpy as np
import pytest
from astropy.table import QTable

from meersim.datasets.crops import (
    CropTruthInputs,
    crop_grid,
    crop_starts,
    crop_truth_tables,
    nan_fractions,
)
from meersim.datasets.real import crop_real_images, reproject_to
from meersim.errors import InputError
from meersim.grid import Grid
from meersim.io import write_image
from meersim.types import Beam


def test_crop_starts_follow_the_tiling_rule():
    assert list(crop_starts(192, 64, 48)) == [0, 48, 96]
    assert list(crop_starts(1000, 256, 200)) == [0, 200, 400, 600]
    assert list(crop_starts(50, 64, 48)) == []
    origins = crop_grid((100, 160), 64, 48)
    assert origins.tolist() == [[0, 0], [48, 0], [96, 0]]


def test_nan_fractions_match_direct_count():
    rng = np.random.default_rng(0)
    mask = rng.random((70, 90)) < 0.2
    origins = crop_grid(mask.shape, 20, 13)
    got = nan_fractions(mask, origins, 20)
    want = [mask[y : y + 20, x : x + 20].mean() for x, y in origins]
    np.testing.assert_allclose(got, want)


def test_truth_counts_sources_by_flux_weighted_position():
    comps = QTable(
        {
            "source_id": [1, 1, 2, 3, 4],
            "morph_class": ["fr2", "fr2", "sfg", "point", "sfg"],
        }
    )
    # source 1: components at x=5 (flux 3) and x=25 (flux 1) -> x = 10
    x = np.array([5.0, 25.0, 15.5, 30.0, 200.0])
    y = np.array([10.0, 10.0, 10.0, 10.0, 10.0])
    flux = np.array([3.0, 1.0, 0.5, 2.0, 1.0])
    origins = np.array([[0, 0], [16, 0]])
    inputs = CropTruthInputs(comps, x, y, flux, peak=flux)
    stats, sources = crop_truth_tables(inputs, origins, 20, noise_rms=0.15)
    # crop 0 covers x in [-0.5, 19.5): sources 1 (x=10) and 2 (x=15.5)
    # crop 1 covers [15.5, 35.5): sources 2 and 3
    assert list(stats["n_sources"]) == [2, 2]
    assert list(stats["n_fr2"]) == [1, 0] and list(stats["n_sfg"]) == [1, 1]
    assert list(stats["dominant_class"]) == ["fr2", "point"]
    np.testing.assert_allclose(stats["total_flux"], [4.5, 2.5])
    np.testing.assert_allclose(stats["max_flux"], [4.0, 2.0])
    assert list(stats["n_detectable"]) == [1, 1]  # peak 0.5 < 5 x 0.15 for source 2
    # both components of source 1 go to crop 0 (even the one at x=25, inside crop 1)
    rows = sources[sources["source_id"] == 1]
    assert list(rows["crop_id"]) == [0, 0]
    assert list(sources[sources["source_id"] == 4]["crop_id"]) == [-1]
    for k in range(2):
        assert len(set(sources["source_id"][sources["crop_id"] == k])) == stats["n_sources"][k]


def _blob(grid, ra, dec, sigma_pix=2.0):
    x, y = grid.world_to_pixel(ra, dec)
    yy, xx = np.mgrid[0 : grid.npix_y, 0 : grid.npix_x]
    return np.exp(-0.5 * ((xx - x) ** 2 + (yy - y) ** 2) / sigma_pix**2).astype(np.float32)


def _centroid(img):
    img = np.nan_to_num(img)
    img = np.where(img > 0.2 * img.max(), img, 0)
    yy, xx = np.mgrid[0 : img.shape[0], 0 : img.shape[1]]
    return (xx * img).sum() / img.sum(), (yy * img).sum() / img.sum()


def test_real_crops_paired_and_aligned(tmp_path):
    beam = Beam(8.0, 8.0, 0.0)
    basic = Grid(200, 180, 2.0, 150.0, 2.0)
    # the enhanced product: other centre and cell, smaller (NaN beyond its edge)
    enh = Grid(150, 150, 2.5, 150.0 + 40 / 3600, 2.0 - 30 / 3600)
    ra0, dec0 = basic.pixel_to_world(80.3, 72.6)
    ra1, dec1 = basic.pixel_to_world(130.0, 120.0)
    img = _blob(basic, ra0, dec0) + _blob(basic, ra1, dec1)
    img[:, :30] = np.nan  # blanked border: crops at x0 = 0 are 47% NaN
    img[-20:, :] = np.nan
    pair = 3.0 * (_blob(enh, ra0, dec0, 1.6) + _blob(enh, ra1, dec1, 1.6))
    pair[:5] = np.nan
    write_image(tmp_path / "basic.fits", img, basic, "JY/BEAM", beam)
    write_image(tmp_path / "enh.fits", pair, enh, "JY/BEAM", beam)
    # a catalog with the two blobs
    import astropy.units as u

    from meersim.catalogs import write_catalog
    from meersim.catalogs.schema import empty_catalog

    cat = empty_catalog(2)
    cat["ra"] = [ra0, ra1] * u.deg
    cat["dec"] = [dec0, dec1] * u.deg
    cat["flux"] = [1e-3, 2e-3] * u.Jy
    cat["ref_freq"] = [1.284e9] * 2 * u.Hz
    cat["shape"] = ["point", "point"]
    cat["source_id"] = [0, 1]
    cat["morph_class"] = ["unknown", "unknown"]
    write_catalog(cat, tmp_path / "cat.fits")

    store = crop_real_images(
        [tmp_path / "basic.fits"],
        tmp_path / "crops",
        pairs=[tmp_path / "enh.fits"],
        catalogs=[tmp_path / "cat.fits"],
        size=64,
        stride=48,
        max_nan=0.3,
        progress=False,
    )
    origins = crop_grid((180, 200), 64, 48)
    assert store.products == ("restored", "enhanced")
    assert np.all(store.truth["nan_fraction"] <= 0.3)
    # crops dropped: those overlapping the NaN bands too much (and off the pair's footprint)
    assert 0 < store.n_crops < len(origins)
    src = store.sources
    total = 0
    for i in range(store.n_crops):
        crop = store.crop(i)
        for p in ("restored", "enhanced"):
            assert np.isnan(crop[p]).mean() <= 0.3
        members = src[src["crop_id"] == i]
        assert store.truth["n_sources"][i] == len(set(members["source_id"]))
        total += store.truth["n_sources"][i]
        for row in members:
            x, y = row["crop_x"], row["crop_y"]
            if 8 < x < 56 and 8 < y < 56:
                box = (slice(int(y) - 6, int(y) + 7), slice(int(x) - 6, int(x) + 7))
                cr = _centroid(crop["restored"][box])
                ce = _centroid(crop["enhanced"][box])
                assert np.hypot(cr[0] - ce[0], cr[1] - ce[1]) < 0.5
                assert np.hypot(cr[0] + int(x) - 6 - x, cr[1] + int(y) - 6 - y) < 0.5
    assert total >= 2
    assert store.truth["bmaj"][0] == pytest.approx(8.0)


def test_reproject_identity_and_nan():
    g = Grid(40, 30, 1.0, 10.0, -30.0)
    data = np.random.default_rng(1).normal(size=(30, 40)).astype(np.float32)
    data[3, 4] = np.nan
    out = reproject_to(data, g.wcs, g.wcs, (30, 40))
    finite = np.isfinite(data)
    np.testing.assert_allclose(out[finite], data[finite], atol=1e-5)
    assert np.isnan(out[3, 4])


def test_real_crops_bad_input(tmp_path):
    with pytest.raises(InputError):
        crop_real_images([tmp_path / "nope.fits"], tmp_path / "c", progress=False)
    with pytest.raises(InputError, match="--pair"):
        crop_real_images(["a.fits"], tmp_path / "c", pairs=["b.fits", "c.fits"], progress=False)


def test_crops_cli(tmp_path):
    from click.testing import CliRunner

    from meersim.cli import main
    from meersim.datasets.store import open_store

    grid = Grid(130, 130, 2.0, 150.0, 2.0, (1.284e9, 1.3e9))
    cube = np.random.default_rng(0).normal(size=(2, 130, 130)).astype(np.float32)
    cube[1] += 100.0  # plane 1 is distinguishable
    write_image(tmp_path / "img.fits", cube, grid, "JY/BEAM", Beam(8.0, 7.0, 10.0))
    args = ["crops", str(tmp_path / "img.fits"), "--size", "64", "--stride", "60"]
    result = CliRunner().invoke(
        main, [*args, "--channel", "1", "-o", str(tmp_path / "c"), "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    store = open_store(tmp_path / "c")
    assert store.n_crops == 4 and store.products == ("restored",)
    np.testing.assert_array_equal(store.crop(3)["restored"], cube[1, 60:124, 60:124])
    again = CliRunner().invoke(main, [*args, "-o", str(tmp_path / "c")])
    assert again.exit_code != 0 and "overwrite" in again.output
