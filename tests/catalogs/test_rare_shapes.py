"""Rare-source shapes: fluxes, extents and geometry of each class."""

import warnings

import numpy as np
import pytest

from meersim.catalogs.rare import FLUX_RANGE_JY, MORPH_CLASS, rare_shape, rare_sources
from meersim.catalogs.schema import check_catalog
from meersim.errors import InputError
from meersim.grid import Grid
from meersim.sky.render import render_sky

RA, DEC = 150.0, -30.0


def _extent(rows):
    xy = np.array([(r[0], r[1]) for r in rows])
    d = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
    return d.max()


@pytest.mark.parametrize("kind", ["grg", "bent", "xshaped", "orc"])
def test_shapes_carry_the_requested_flux(kind):
    rows = rare_shape(kind, np.random.default_rng(3), 200.0, 0.02)
    assert sum(r[2] for r in rows) == pytest.approx(0.02, rel=1e-9)
    assert all(r[2] > 0 for r in rows)
    assert {r[6] for r in rows} <= {"point", "gaussian"}


def test_catalog_is_canonical_with_classes_ids_and_flux_ranges():
    counts = {"grg": 2, "bent": 3, "xshaped": 2, "orc": 3, "artefact": 2}
    cat = rare_sources(counts, np.random.default_rng(0), RA, DEC, 1024.0, first_source_id=100)
    check_catalog(cat)
    kinds = np.asarray(cat["rare_class"])
    ids = np.asarray(cat["source_id"])
    for kind, n in counts.items():
        sel = kinds == kind
        assert len(set(ids[sel])) == n
        assert set(np.asarray(cat["morph_class"])[sel]) == {MORPH_CLASS[kind]}
        lo, hi = FLUX_RANGE_JY[kind]
        per_source = [cat["flux"][ids == s].sum().value for s in set(ids[sel])]
        assert all(lo <= f <= hi for f in per_source)
    assert ids.min() == 100 and len(set(ids)) == sum(counts.values())


def test_giant_radio_galaxies_exceed_four_arcmin():
    rng = np.random.default_rng(1)
    cat = rare_sources({"grg": 20}, rng, RA, DEC, 3600.0)
    for sid in set(np.asarray(cat["source_id"])):
        c = cat[cat["source_id"] == sid]
        ra, dec = np.radians(c["ra"].value), np.radians(c["dec"].value)
        cosd = np.sin(dec[:, None]) * np.sin(dec) + np.cos(dec[:, None]) * np.cos(dec) * np.cos(
            ra[:, None] - ra
        )
        assert np.degrees(np.arccos(np.clip(cosd, -1, 1))).max() * 3600 >= 240.0


def test_x_shaped_wings_are_long_and_at_an_angle():
    """Cheung (2007): wings >= 0.8 of the active lobes; here at 30-90 deg to them."""
    for seed in range(10):
        rows = rare_shape("xshaped", np.random.default_rng(seed), 120.0, 0.01)
        hot = [r for r in rows if r[7] == "hotspot"]
        wings = [r for r in rows if r[7] == "wing"]
        assert len(hot) == 2 and len(wings) == 8
        lobe_dir = np.arctan2(hot[0][0], hot[0][1])
        far = max(wings, key=lambda r: np.hypot(r[0], r[1]))
        wing_dir = np.arctan2(far[0], far[1])
        angle = np.degrees(abs((wing_dir - lobe_dir + np.pi / 2) % np.pi - np.pi / 2))
        assert 20.0 < angle <= 90.0  # 30-90 deg, less the 4-deg scatter of each arm
        # the wing chain's outer component sits at 0.9 of the wing length (>= 0.8 lobe)
        assert np.hypot(far[0], far[1]) >= 0.8 * 0.9 * np.hypot(hot[0][0], hot[0][1]) - 1e-9


def test_odd_radio_circle_is_edge_brightened():
    """Norris et al. (2021): edge-brightened discs ~1' across; the rendered ring peaks at R."""
    grid = Grid(96, 96, 2.0, RA, DEC, (1.284e9,))
    for seed in range(4):
        cat = rare_sources({"orc": 1}, np.random.default_rng(seed), RA, DEC, 0.0)
        cat = cat[cat["component"] != "core"]  # central point sources aside
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sky = render_sky(cat, grid).data[0]
        yy, xx = np.mgrid[:96, :96]
        r = np.hypot(xx - 48, yy - 48) * 2.0
        centre = sky[r < 6].mean()
        ring = max(sky[(r >= a) & (r < a + 4)].mean() for a in range(20, 50, 2))
        assert ring > 1.5 * centre


def test_artefacts_lie_outside_the_field():
    side = 600.0
    cat = rare_sources({"artefact": 30}, np.random.default_rng(2), RA, DEC, side,
                       artefact_offset_arcsec=120.0)  # fmt: skip
    grid = Grid(300, 300, 2.0, RA, DEC, (1.284e9,))
    assert not grid.contains(cat["ra"].value, cat["dec"].value).any()
    big = Grid(300 + 2 * 62, 300 + 2 * 62, 2.0, RA, DEC, (1.284e9,))
    assert big.contains(cat["ra"].value, cat["dec"].value).all()
    assert set(cat["shape"]) == {"point"}


def test_unknown_shape_is_refused():
    with pytest.raises(InputError):
        rare_shape("artefact", np.random.default_rng(0), 10.0, 1.0)
