"""The compiled renderer (renderer="fast") against galsim (renderer="galsim") as the reference."""

from __future__ import annotations

import numpy as np
import pytest
from test_render import CELL, DEC0, RA0, make_catalog, moments, small_grid

from meersim.errors import InputError
from meersim.sky.render import render_sky


def half_light_radius(image, cx, cy):
    """Radius (px) around (cx, cy) holding half the flux, from pixel centres sorted by radius."""
    yy, xx = np.mgrid[: image.shape[0], : image.shape[1]]
    r = np.hypot(xx - cx, yy - cy).ravel()
    order = np.argsort(r)
    cumulative = np.cumsum(image.ravel()[order]) / image.sum(dtype=np.float64)
    return float(np.interp(0.5, cumulative, r[order]))


# (shape, Sersic n, major FWHM px, axis ratio, PA deg, sub-pixel offset px): sizes as the
# synthetic catalogs draw them (0.2-6 px), round and elongated, several angles and offsets.
CASES = [
    ("exponential", np.nan, 0.2, 0.3, 20.0, (0.31, -0.12)),
    ("exponential", np.nan, 0.7, 1.0, 0.0, (0.45, 0.05)),
    ("exponential", np.nan, 1.5, 0.5, 70.0, (-0.2, 0.33)),
    ("exponential", np.nan, 6.0, 0.35, 135.0, (0.1, 0.4)),
    ("sersic", 1.5, 0.5, 0.6, 40.0, (0.25, -0.3)),
    ("sersic", 2.5, 1.2, 1.0, 0.0, (-0.05, 0.2)),
    ("sersic", 3.5, 1.0, 0.4, 110.0, (0.4, 0.4)),
    ("gaussian", np.nan, 0.3, 0.2, 60.0, (0.2, -0.4)),
    ("gaussian", np.nan, 1.1, 0.5, 15.0, (-0.35, 0.1)),
    ("gaussian", np.nan, 5.0, 0.9, 100.0, (0.05, 0.3)),
    ("gaussian", np.nan, 9.0, 0.08, 145.0, (0.4, -0.2)),
]


@pytest.mark.parametrize("shape,n,major_px,q,pa,offset", CASES)
def test_fast_matches_galsim_flux_and_size(monkeypatch, shape, n, major_px, q, pa, offset):
    import meersim.sky.stamps as stamps

    monkeypatch.setattr(stamps, "FAST_GAUSSIAN_MIN_MINOR_PIX", np.inf)  # Gaussians by galsim
    grid = small_grid(96)
    ra, dec = grid.pixel_to_world(48 + offset[0], 48 + offset[1])
    row = dict(shape=shape, sersic_n=n, ra=float(ra), dec=float(dec), major=major_px * CELL,
               minor=q * major_px * CELL, pa=pa, flux=2.5e-3)  # fmt: skip
    cat = make_catalog([row])
    fast = render_sky(cat, grid, renderer="fast").data[0].astype(np.float64)
    ref = render_sky(cat, grid, renderer="galsim").data[0].astype(np.float64)
    f_fast, cx, cy, xx_f, yy_f, xy_f = moments(fast)
    f_ref, cx_r, cy_r, xx_r, yy_r, xy_r = moments(ref)
    assert f_fast == pytest.approx(2.5e-3, rel=1e-5) and f_ref == pytest.approx(2.5e-3, rel=1e-5)
    assert np.hypot(cx - cx_r, cy - cy_r) < 5e-3  # px
    # half-light radius and second moments (size and shape) within 1 %
    hlr_fast, hlr_ref = half_light_radius(fast, cx_r, cy_r), half_light_radius(ref, cx_r, cy_r)
    assert hlr_fast == pytest.approx(hlr_ref, rel=0.01)
    size_fast, size_ref = xx_f + yy_f, xx_r + yy_r
    assert size_fast == pytest.approx(size_ref, rel=0.01)
    assert abs(xy_f - xy_r) < 0.01 * size_ref and abs(xx_f - xx_r) < 0.01 * size_ref
    # and pixel by pixel: galsim's FFT draw of an exponential smooths its cusp (docs/sky.md)
    assert np.abs(fast - ref).max() < 0.01 * ref.max()


def test_fast_is_the_default_and_galsim_stays_available():
    cat = make_catalog([dict(shape="exponential", major=3.0, minor=2.0, pa=30.0, flux=1.0)])
    grid = small_grid(64)
    default = render_sky(cat, grid).data
    np.testing.assert_array_equal(default, render_sky(cat, grid, renderer="fast").data)
    assert not np.array_equal(default, render_sky(cat, grid, renderer="galsim").data)
    with pytest.raises(InputError, match="renderer"):
        render_sky(cat, grid, renderer="gpu")


def test_fast_channels_edges_and_mixed_shapes():
    """Spectral scaling per channel, a component straddling the edge, and Gaussians alongside."""
    grid = small_grid(64, freqs=(1.0e9, 1.5e9))
    edge_ra, edge_dec = grid.pixel_to_world(1.0, 30.0)
    cat = make_catalog([
        dict(shape="exponential", major=4.0, minor=3.0, flux=1.0, spectral_index=-0.7, sersic_n=1.0),
        dict(shape="sersic", sersic_n=2.0, major=3.0, minor=3.0, flux=0.5, ra=float(edge_ra),
             dec=float(edge_dec)),
        dict(shape="gaussian", major=5.0, minor=4.0, flux=0.25, ra=RA0 + 0.005, dec=DEC0,
             sersic_n=1.0),
    ])  # fmt: skip
    fast = render_sky(cat, grid).data.astype(np.float64)
    ref = render_sky(cat, grid, renderer="galsim").data.astype(np.float64)
    for c, freq in enumerate(grid.freqs):
        full = (freq / 1.284e9) ** -0.7 + 0.5 + 0.25
        # channel totals: the on-grid part of the edge source agrees with galsim's
        assert fast[c].sum() == pytest.approx(ref[c].sum(), rel=2e-3)
        assert fast[c].sum() < full - 0.1  # the edge source lost a part
    np.testing.assert_allclose(fast, ref, rtol=0, atol=0.01 * ref.max())
    assert np.isfinite(fast).all() and fast.min() >= 0.0


@pytest.mark.parametrize("n", [0.7, 1.3, 2.0, 2.7, 4.0, 6.0])
def test_enclosed_flux_is_the_incomplete_gamma_function(n):
    """F(t) = n gamma(2n, t^(1/n)) to double precision from the cusp to far beyond any
    truncation (a 16-node quadrature was 0.41 of the total off at t = 1e5 for n = 1.3)."""
    from scipy.special import gamma, gammainc

    from meersim.sky.fast import _enclosed

    whole = n * gamma(2 * n)
    t = np.geomspace(1e-6, 1e5, 300)
    exact = whole * gammainc(2 * n, t ** (1 / n))
    drawn = np.array([_enclosed(v, 1.0 / n, np.inf, whole) for v in t])
    assert np.max(np.abs(drawn - exact)) < 1e-13 * whole
    # the truncation caps the radius
    capped = _enclosed(50.0, 1.0 / n, 2.0, whole)
    assert capped == pytest.approx(whole * gammainc(2 * n, 2.0 ** (1 / n)), rel=1e-13)
