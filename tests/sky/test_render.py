"""Sky rendering: flux, positions, orientation, spectra, edges, grid and CLI."""

from __future__ import annotations

import warnings

import astropy.units as u
import numpy as np
import pytest
from astropy.io import fits
from astropy.table import QTable
from astropy.wcs import WCS
from click.testing import CliRunner

from meersim.cli import main
from meersim.errors import InputError
from meersim.grid import Grid
from meersim.io import write_image
from meersim.sky import stamps as sky_module
from meersim.sky.render import band_channels, default_grid, mean_position, render_sky

RA0, DEC0 = 150.0, -30.0
CELL = 1.5


def make_catalog(rows) -> QTable:
    """QTable from dicts with canonical keys (missing keys get neutral defaults)."""
    defaults = dict(ra=RA0, dec=DEC0, flux=1.0, ref_freq=1.284e9, spectral_index=0.0,
                    major=0.0, minor=0.0, pa=0.0, shape="point", sersic_n=np.nan)  # fmt: skip
    rows = [{**defaults, **r} for r in rows]
    units = dict(ra=u.deg, dec=u.deg, flux=u.Jy, ref_freq=u.Hz, major=u.arcsec, minor=u.arcsec,
                 pa=u.deg)  # fmt: skip
    table = QTable()
    for name in defaults:
        values = [r[name] for r in rows]
        table[name] = np.array(values) * units[name] if name in units else np.array(values)
    return table


def small_grid(n=128, freqs=(1.284e9,)) -> Grid:
    return Grid(n, n, CELL, RA0, DEC0, freqs)


def moments(image):
    """Flux, centroid (x, y) and second moments (xx, yy, xy) in pixels."""
    yy, xx = np.mgrid[: image.shape[0], : image.shape[1]]
    f = image.sum(dtype=np.float64)
    cx, cy = (image * xx).sum() / f, (image * yy).sum() / f
    ixx = (image * (xx - cx) ** 2).sum() / f
    iyy = (image * (yy - cy) ** 2).sum() / f
    ixy = (image * (xx - cx) * (yy - cy)).sum() / f
    return f, cx, cy, ixx, iyy, ixy


@pytest.mark.parametrize(
    "shape,n",
    [
        ("point", np.nan),
        ("gaussian", np.nan),
        ("exponential", np.nan),
        ("sersic", 4.0),
        ("sersic", 1.5),
    ],  # fmt: skip
)
def test_total_flux_of_each_shape(shape, n):
    cat = make_catalog([dict(shape=shape, sersic_n=n, flux=0.37, major=9.0, minor=4.0, pa=30.0,
                             ra=RA0 + 2e-4, dec=DEC0 - 3e-4)])  # fmt: skip
    sky = render_sky(cat, small_grid(160))
    assert sky.data.dtype == np.float32 and sky.data.shape == (1, 160, 160)
    assert sky.data.sum(dtype=np.float64) == pytest.approx(0.37, rel=5e-3)
    assert sky.data.min() >= 0.0


@pytest.mark.parametrize(
    ("major", "minor", "beta"),
    [
        (0.7, 0.3, 0.4),
        (1.5, 0.6, 2.0),
        (3.0, 1.0, 0.8),
        (6.0, 5.5, 1.2),
        (13.0, 4.0, 2.7),
        (12.0, 0.4, 0.8),
        (2.0, 0.12, 1.9),
    ],
)
def test_fast_gaussian_matches_galsim_drawing(monkeypatch, major, minor, beta):
    # Sizes in pixels (FWHM), beta counter-clockwise from +x; off-centre position.
    x, y = 40.37, 27.81
    fast, fx0, fy0 = sky_module.draw_component_stamp("gaussian", x, y, major, minor, beta)
    assert sky_module._use_fast_gaussian("gaussian", np.nan, (fast.shape[0] - 1) // 2, minor)
    monkeypatch.setattr(sky_module, "FAST_GAUSSIAN_MIN_MINOR_PIX", np.inf)  # galsim only
    drawn, gx0, gy0 = sky_module.draw_component_stamp("gaussian", x, y, major, minor, beta)
    assert (fx0, fy0) == (gx0, gy0) and fast.shape == drawn.shape
    assert fast.sum() == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(fast, drawn, rtol=0, atol=1e-3 * drawn.max())


@pytest.mark.parametrize(
    ("major", "minor", "beta"), [(0.5, 0.35, 0.3), (1.2, 0.8, 2.2), (3.0, 1.5, 1.0)]
)
def test_fast_exponential_matches_galsim_pixel_integral(major, minor, beta):
    import galsim

    from meersim.catalogs.schema import sersic_scale_radius

    x, y = 30.62, 25.18
    fast, x0, y0 = sky_module.draw_component_stamp("exponential", x, y, major, minor, beta)
    half = (fast.shape[0] - 1) // 2
    assert sky_module._use_fast_exponential("exponential", half, minor)
    # galsim's real-space draw integrates the profile over each pixel directly.
    fwhm = np.sqrt(major * minor)
    prof = galsim.Exponential(scale_radius=sersic_scale_radius(fwhm, 1.0))
    prof = prof.shear(q=minor / major, beta=beta * galsim.radians)
    image = galsim.ImageD(galsim.BoundsI(x0, x0 + 2 * half, y0, y0 + 2 * half), scale=1.0)
    prof.drawImage(image=image, center=galsim.PositionD(x, y), method="real_space")
    drawn = image.array / image.array.sum()
    np.testing.assert_allclose(fast, drawn, rtol=0, atol=1e-3 * drawn.max())


def test_sizes_follow_fwhm_convention():
    """Second moments: Gaussian sigma^2, exponential 3 r0^2 (r0 = FWHM / 2 ln 2), + 1/12 pixel."""
    major, minor = 12.0, 6.0
    grid = small_grid(256)
    for shape, var_per_fwhm2 in [
        ("gaussian", 1.0 / (8.0 * np.log(2.0))),
        ("exponential", 3.0 / (2.0 * np.log(2.0)) ** 2),
    ]:
        cat = make_catalog([dict(shape=shape, major=major, minor=minor, pa=0.0)])
        _, _, _, ixx, iyy, _ = moments(render_sky(cat, grid).data[0])
        assert iyy == pytest.approx(var_per_fwhm2 * (major / CELL) ** 2 + 1 / 12, rel=0.01)
        assert ixx == pytest.approx(var_per_fwhm2 * (minor / CELL) ** 2 + 1 / 12, rel=0.01)


def test_sersic_half_maximum_at_half_fwhm():
    """A large circular Sersic n=2 falls to half its peak at FWHM/2 from the centre."""
    fwhm = 30.0
    cat = make_catalog([dict(shape="sersic", sersic_n=2.0, major=fwhm, minor=fwhm)])
    img = render_sky(cat, small_grid(128)).data[0].astype(np.float64)
    # Central pixel is pixel-averaged over the cusp; compare the profile 1 px out
    # with the analytic one to avoid the cusp, then find the half-peak radius.
    r0 = fwhm / CELL / (2 * np.log(2.0) ** 2)
    profile = img[64, 64:]
    model = np.exp(-np.sqrt(np.arange(profile.size) / r0))
    scale = profile[3] / model[3]
    np.testing.assert_allclose(profile[3:15] / scale, model[3:15], rtol=0.01)


@pytest.mark.parametrize(
    "pa,expect",
    [(0.0, "y"), (90.0, "x"), (45.0, "neg"), (135.0, "pos"), (-45.0, "pos")],
)
def test_position_angle_east_of_north(pa, expect):
    """North is +y, east is -x: PA 0 lies along y, PA 90 along x, PA 45 toward (+y, -x)."""
    cat = make_catalog([dict(shape="gaussian", major=15.0, minor=3.0, pa=pa)])
    _, _, _, ixx, iyy, ixy = moments(render_sky(cat, small_grid()).data[0])
    if expect == "y":
        assert iyy > 10 * ixx and abs(ixy) < 1e-3 * iyy
    elif expect == "x":
        assert ixx > 10 * iyy and abs(ixy) < 1e-3 * ixx
    elif expect == "neg":
        assert ixy < -0.4 * ixx and ixx == pytest.approx(iyy, rel=1e-3)
    else:
        assert ixy > 0.4 * ixx and ixx == pytest.approx(iyy, rel=1e-3)


def test_point_source_lands_where_fits_wcs_says(tmp_path):
    grid = Grid(96, 80, CELL, RA0, DEC0, (1.284e9,))
    ra, dec = RA0 + 0.0061, DEC0 - 0.0047  # off-centre, sub-pixel
    cat = make_catalog([dict(ra=ra, dec=dec, flux=2.5e-3)])
    sky = render_sky(cat, grid)
    path = write_image(tmp_path / "sky.fits", sky.data, grid, bunit="JY/PIXEL")
    with fits.open(path) as hdul:
        data = hdul[0].data[0, 0].astype(np.float64)
        wcs = WCS(hdul[0].header).celestial
    x_wcs, y_wcs = wcs.all_world2pix(ra, dec, 0)
    flux, cx, cy, *_ = moments(data)
    assert flux == pytest.approx(2.5e-3, rel=1e-6)
    assert abs(cx - x_wcs) < 0.01 and abs(cy - y_wcs) < 0.01
    assert x_wcs < grid.npix_x // 2  # east (larger RA) is to the left


def test_extended_centroid_and_offset_position():
    ra, dec = RA0 - 0.004, DEC0 + 0.003
    grid = small_grid()
    cat = make_catalog([dict(ra=ra, dec=dec, shape="exponential", major=8.0, minor=5.0, pa=70.0)])
    _, cx, cy, *_ = moments(render_sky(cat, grid).data[0])
    x, y = grid.world_to_pixel(ra, dec)
    assert abs(cx - x) < 0.01 and abs(cy - y) < 0.01


def test_spectral_index_scales_each_channel():
    freqs = (0.9e9, 1.284e9, 1.6e9)
    cat = make_catalog([
        dict(flux=1.0, spectral_index=-0.7, ref_freq=1.4e9),
        dict(flux=0.5, spectral_index=0.3, ref_freq=1.0e9, ra=RA0 + 0.01, shape="gaussian",
             major=6.0, minor=6.0),
    ])  # fmt: skip
    sky = render_sky(cat, small_grid(freqs=freqs))
    f = np.array(freqs)
    expected = (f / 1.4e9) ** -0.7 + 0.5 * (f / 1.0e9) ** 0.3
    np.testing.assert_allclose(sky.data.sum(axis=(1, 2), dtype=np.float64), expected, rtol=1e-5)
    # a component's shape is the same in every channel
    one = render_sky(cat[1:], small_grid(freqs=freqs)).data
    norm = one / one.sum(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(norm[0] - norm[2], 0.0, atol=1e-6)


def test_edge_cut_and_partial_sources_warn():
    grid = small_grid(64)
    half_width_deg = 32 * CELL / 3600.0
    edge_ra = RA0 + (32.5 * CELL / 3600.0) / np.cos(np.radians(DEC0))  # centre at x = -0.5
    cat = make_catalog([
        dict(flux=1.0),                                   # centre
        dict(flux=1.0, dec=DEC0 + 3 * half_width_deg),    # far off: cut
        dict(flux=1.0, ra=edge_ra, shape="gaussian", major=9.0, minor=9.0),  # straddles
    ])  # fmt: skip
    with pytest.warns(UserWarning, match=r"1 of 3 components lie entirely off.*1 more straddle"):
        sky = render_sky(cat, grid)
    total = sky.data.sum(dtype=np.float64)
    assert total == pytest.approx(1.5, abs=0.02)  # full + about half of the straddling one


def test_default_grid_covers_catalog_and_cuts_with_npix():
    offsets = np.array([[-0.02, 0.01], [0.015, -0.012], [0.0, 0.02]])
    cat = make_catalog([dict(ra=RA0 + dx, dec=DEC0 + dy, shape="gaussian", major=5.0, minor=5.0)
                        for dx, dy in offsets])  # fmt: skip
    grid = default_grid(cat)
    assert grid.npix_x == grid.npix_y and grid.npix_x % 2 == 0
    assert grid.cell_arcsec == 1.5 and grid.freqs_hz == (1.284e9,)
    assert grid.contains(cat["ra"].value, cat["dec"].value, margin_pix=5).all()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sky = render_sky(cat, grid)
    assert sky.data.sum(dtype=np.float64) == pytest.approx(3.0, rel=1e-3)
    small = default_grid(cat, npix=40, freqs_hz=[1e9, 1.1e9])
    assert small.shape == (2, 40, 40)
    with pytest.warns(UserWarning, match="of 3 components lie entirely off the 40x40 grid"):
        render_sky(cat, small)


def test_mean_position_wraps_ra():
    ra, dec = mean_position(np.array([359.9, 0.1]), np.array([-10.0, -10.0]))
    assert min(ra, 360 - ra) < 1e-9 and dec == pytest.approx(-10.0, abs=1e-4)


def test_bad_catalogs_raise_input_error():
    cat = make_catalog([dict(shape="sersic", major=5.0, minor=5.0)])
    with pytest.raises(InputError, match="sersic_n"):
        render_sky(cat, small_grid())
    cat = make_catalog([dict(shape="blob")])
    with pytest.raises(InputError, match="shape"):
        render_sky(cat, small_grid())
    cat = make_catalog([dict()])
    del cat["spectral_index"]
    with pytest.raises(InputError, match="spectral_index"):
        render_sky(cat, small_grid())
    with pytest.raises(InputError):
        band_channels(0, 1e9, 2e9)


def test_band_channels_centres():
    np.testing.assert_allclose(band_channels(2, 856e6, 1712e6), [1070e6, 1498e6])
    assert band_channels(1, 856e6, 1712e6) == (1.284e9,)


def test_cli_catalog_synth_then_sky(tmp_path):
    runner = CliRunner()
    cat_path, sky_path = tmp_path / "cat.fits", tmp_path / "sky.fits"
    result = runner.invoke(main, ["catalog", "synth", "--area", "0.003", "--seed", "3",
                                  "-o", str(cat_path)])  # fmt: skip
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["sky", "--catalog", str(cat_path), "--nchan", "2", "--npix",
                                  "256", "--no-progress", "-o", str(sky_path)])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "grid 256x256" in result.output and "total flux" in result.output
    with fits.open(sky_path) as hdul:
        h = hdul[0].header
        assert h["CTYPE1"] == "RA---SIN" and h["CTYPE2"] == "DEC--SIN"
        assert h["CTYPE3"] == "FREQ" and h["NAXIS3"] == 2
        assert h["BUNIT"] == "JY/PIXEL"
        assert h["CRVAL3"] == pytest.approx(1070e6)
        data = hdul[0].data
    from meersim.catalogs import read_catalog

    cat = read_catalog(cat_path)
    f = 1070e6
    expected = np.sum(cat["flux"].to_value(u.Jy) * (f / cat["ref_freq"].to_value(u.Hz))
                      ** np.asarray(cat["spectral_index"]))  # fmt: skip
    assert data[0, 0].sum(dtype=np.float64) == pytest.approx(expected, rel=0.02)
    bad = runner.invoke(main, ["sky", "--catalog", str(cat_path), "--freqs", "1e9,x",
                               "-o", str(sky_path)])  # fmt: skip
    assert bad.exit_code != 0 and "--freqs" in bad.output


def test_cli_warnings_are_one_line_without_source_echo(tmp_path):
    """A real process (pytest records warnings in-process): the user sees 'warning: ...' only."""
    import subprocess
    import sys

    runner = CliRunner()
    cat_path = tmp_path / "cat.fits"
    result = runner.invoke(main, ["catalog", "synth", "--area", "0.003", "--seed", "3",
                                  "-o", str(cat_path)])  # fmt: skip
    assert result.exit_code == 0, result.output
    # A 32-pixel grid leaves most of the catalog's sources off the image: render_sky warns.
    done = subprocess.run(
        [sys.executable, "-c", "from meersim.cli import main; main()", "sky", "--catalog",
         str(cat_path), "--npix", "32", "--no-progress", "-o", str(tmp_path / "sky.fits")],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    lines = done.stderr.strip().splitlines()
    assert any(line.startswith("warning: render_sky:") for line in lines), done.stderr
    assert "UserWarning" not in done.stderr and "render_sky(" not in done.stderr
