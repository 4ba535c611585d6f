"""Synthetic catalogs: truth columns, components, reproducibility, default catalog."""

import numpy as np
import pytest

from meersim.catalogs import catalog_info, default_catalog, synthesize, write_catalog
from meersim.catalogs.schema import CANONICAL_COLUMNS, OPTIONAL_COLUMNS, SHAPES, check_catalog
from meersim.catalogs.synthetic import (
    DEFAULT_CATALOG_PARAMS,
    MorphologyModel,
    offset_position,
    sample_positions,
)
from meersim.errors import InputError


@pytest.fixture(scope="module")
def bright():
    # bright, wide: many FRI/FRII so every component kind appears
    return synthesize(2.0, seed=3, flux_min_jy=5e-4, flux_max_jy=1.0)


def test_every_component_has_all_truth_columns(bright):
    check_catalog(bright)
    for name in list(CANONICAL_COLUMNS) + list(OPTIONAL_COLUMNS):
        assert name in bright.colnames
    for name in ("flux", "major", "minor", "pa", "spectral_index", "sersic_n", "ra", "dec"):
        assert np.all(
            np.isfinite(
                np.asarray(bright[name].value if hasattr(bright[name], "unit") else bright[name])
            )
        )
    assert set(bright["shape"]) <= set(SHAPES)
    assert set(bright["morph_class"]) == {"point", "sfg", "fr1", "fr2"}
    assert np.all(bright["minor"] <= bright["major"])
    assert np.all((bright["pa"].value >= 0) & (bright["pa"].value < 180))
    point = bright["shape"] == "point"
    assert np.all(bright["major"][point].value == 0)
    assert np.all(bright["major"][~point].value > 0)


def test_components_per_class_and_flux_sums(bright):
    ids = np.asarray(bright["source_id"])
    uniq, first, counts = np.unique(ids, return_index=True, return_counts=True)
    morph = np.asarray(bright["morph_class"])[first]
    assert np.all(counts[morph == "point"] == 1)
    assert np.all(counts[morph == "sfg"] == 1)
    assert np.all(counts[(morph == "fr1") | (morph == "fr2")] == 5)
    roles = {
        cls: sorted(set(np.asarray(bright["component"])[np.asarray(bright["morph_class"]) == cls]))
        for cls in ("fr1", "fr2", "sfg")
    }
    assert roles["fr1"] == ["core", "jet", "lobe"]
    assert roles["fr2"] == ["core", "hotspot", "lobe"]
    assert roles["sfg"] == ["disc"]
    # the core carries the source position; components of one source share alpha
    fr = (morph == "fr1") | (morph == "fr2")
    for sid in uniq[fr][:20]:
        rows = bright[ids == sid]
        assert len(set(rows["spectral_index"])) == 1
        assert rows["component"][0] == "core"
        assert np.all(rows["flux"].value > 0)
    assert info_sum_matches(bright)


def info_sum_matches(table):
    info = catalog_info(table)
    return info["total_flux_jy"] == pytest.approx(table["flux"].value.sum())


def test_source_flux_equals_sum_of_components():
    # fluxes are drawn per source, then split: sum of components == drawn source flux
    from meersim.catalogs import source_counts

    table = synthesize(0.5, seed=11, flux_min_jy=1e-3)
    rng = np.random.default_rng(11)
    expected = source_counts.expected_number(1e-3, 1.0, 0.5, 1.284e9)
    n = rng.poisson(expected)
    drawn = source_counts.sample_fluxes(rng, n, 1e-3, 1.0, 1.284e9)
    ids = np.asarray(table["source_id"])
    sums = np.bincount(ids, weights=table["flux"].value)
    np.testing.assert_allclose(sums, drawn, rtol=1e-12)


def test_reproducible_and_seed_dependent():
    a = synthesize(0.05, seed=5)
    b = synthesize(0.05, seed=5)
    c = synthesize(0.05, seed=6)
    for name in a.colnames:
        assert np.array_equal(np.asarray(a[name]), np.asarray(b[name])), name
    assert len(a) != len(c) or not np.array_equal(a["ra"].value, c["ra"].value)


def test_class_fractions_follow_flux():
    model = MorphologyModel()
    faint = model.class_probabilities(2e-5)
    brightp = model.class_probabilities(0.1)
    assert faint["sfg"] > 0.8 and brightp["sfg"] < 0.01
    assert brightp["fr2"] > brightp["fr1"]
    total = sum(model.class_probabilities(np.geomspace(1e-6, 1, 7)).values())
    np.testing.assert_allclose(total, 1.0)


def test_windhorst_sizes():
    model = MorphologyModel()
    rng = np.random.default_rng(0)
    flux = np.full(200000, 1e-3)  # 1 mJy -> theta_med = 2"
    sizes = model.draw_sizes(rng, flux)
    assert np.median(sizes) == pytest.approx(2.0, rel=0.02)
    theta = 6.0
    expected = np.exp(-np.log(2) * (theta / 2.0) ** 0.62)
    assert np.mean(sizes > theta) == pytest.approx(expected, abs=0.005)


def test_disc_axis_ratios_respect_thickness(bright):
    disc = bright["component"] == "disc"
    q = (bright["minor"][disc] / bright["major"][disc]).value
    assert q.min() >= 0.2 - 1e-12 and q.max() <= 1.0


def test_positions_cover_the_requested_area():
    rng = np.random.default_rng(1)
    ra, dec = sample_positions(rng, 20000, 1.0, 359.8, -30.0)
    assert np.all((dec > -30.5) & (dec < -29.5))
    assert np.all((ra > 359.0) | (ra < 1.0))  # wraps through RA = 0
    # uniform on the sphere: density in sin(dec) is flat
    hist, _ = np.histogram(np.sin(np.radians(dec)), bins=5)
    assert hist.min() > 0.9 * hist.mean()
    ra_c, dec_c = sample_positions(rng, 5000, 1.0, 10.0, 89.9, footprint="circle")
    radius = np.degrees(np.arccos(1 - 1.0 * (np.pi / 180) ** 2 / (2 * np.pi)))
    sep = np.degrees(
        np.arccos(
            np.sin(np.radians(dec_c)) * np.sin(np.radians(89.9))
            + np.cos(np.radians(dec_c)) * np.cos(np.radians(89.9)) * np.cos(np.radians(ra_c - 10))
        )
    )
    assert sep.max() <= radius * 1.0001 and sep.max() > 0.95 * radius
    with pytest.raises(InputError, match="pole"):
        sample_positions(rng, 10, 1.0, 0.0, 89.9)


def test_offset_position_east_of_north():
    ra, dec = offset_position(150.0, 0.0, 90.0, 3600.0)  # 1 deg east
    assert ra == pytest.approx(151.0) and dec == pytest.approx(0.0, abs=1e-12)
    ra, dec = offset_position(150.0, 0.0, 0.0, 3600.0)  # 1 deg north
    assert ra == pytest.approx(150.0) and dec == pytest.approx(1.0)


def test_bad_parameters_raise_input_error():
    with pytest.raises(InputError, match="survey"):
        synthesize(0.1, survey="nvss")
    with pytest.raises(InputError, match="area_deg2"):
        synthesize(-1)
    with pytest.raises(InputError, match="flux_min"):
        synthesize(0.1, flux_min_jy=2.0)


def test_mgcls_preset_is_shallower():
    mightee = synthesize(0.05, survey="mightee", seed=2)
    mgcls = synthesize(0.05, survey="mgcls", seed=2)
    assert len(np.unique(mgcls["source_id"])) < len(np.unique(mightee["source_id"]))
    assert mgcls.meta["DEC_CEN"] < 0


def test_shipped_default_catalog_matches_fresh_synthesis(tmp_path):
    shipped = default_catalog()
    fresh = synthesize(**DEFAULT_CATALOG_PARAMS)
    assert 100 < len(np.unique(shipped["source_id"])) < 600
    assert len(shipped) == len(fresh)
    for name in list(CANONICAL_COLUMNS) + list(OPTIONAL_COLUMNS):
        got, want = np.asarray(shipped[name]), np.asarray(fresh[name])
        if got.dtype.kind == "f":
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=0, err_msg=name)
        else:
            assert np.array_equal(got, want), name
    assert shipped.meta["SEED"] == DEFAULT_CATALOG_PARAMS["seed"]
    # the regenerate path writes the same thing
    out = write_catalog(fresh, tmp_path / "again.fits")
    assert out.exists()
