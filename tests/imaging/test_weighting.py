import math

import numpy as np
import pytest

from meersim.errors import InputError
from meersim.grid import Grid
from meersim.imaging.gridder import image_to_vis
from meersim.imaging.images import make_dirty, make_psf, predicted_rms, residual_image
from meersim.imaging.weighting import (
    SPEED_OF_LIGHT,
    Weighting,
    density_grid_size,
    imaging_weights,
)
from meersim.stats import robust_rms
from meersim.types import Visibilities


def _random_vis(
    nrow=3000, freqs=(1.2e9, 1.4e9), seed=0, flag_fraction=0.1, sigma=None, core_fraction=0.6
):
    """Random but array-like uvw: a dense core and a sparse tail, plus flags and weights."""
    rng = np.random.default_rng(seed)
    radius = 30.0 + np.where(
        rng.random(nrow) < core_fraction, rng.exponential(300.0, nrow), rng.uniform(0, 4000, nrow)
    )
    angle = rng.uniform(0, 2 * np.pi, nrow)
    uvw = np.stack(
        [radius * np.cos(angle), radius * np.sin(angle), rng.normal(0, 50.0, nrow)], axis=1
    )
    nchan = len(freqs)
    if sigma is None:
        sigma = rng.uniform(0.5, 2.0, (nrow, nchan))
    sigma = np.broadcast_to(sigma, (nrow, nchan))
    return Visibilities(
        uvw=uvw,
        freqs=np.asarray(freqs, float),
        vis=np.zeros((nrow, nchan), np.complex64),
        weight=(1.0 / sigma**2).astype(np.float32),
        flag=rng.random((nrow, nchan)) < flag_fraction,
        antenna1=np.zeros(nrow, np.int32),
        antenna2=np.ones(nrow, np.int32),
        time_mjd_s=np.zeros(nrow),
        channel_width_hz=1e6,
        integration_s=8.0,
    )


GRID = Grid(96, 80, 4.0, 30.0, -30.0)


def _padded_size(npix, padding):
    """Density-grid cells along one axis: even image size, padded, rounded up to a multiple of 4."""
    npix += npix % 2
    size = math.ceil(npix * padding)
    while size % 4:
        size += 1
    return size


def test_density_grid_size_follows_wsclean_padding():
    # WSClean: "-size 950 950" pads to 1140 (x 1.2) and, with "-padding 1", to 952
    # (a multiple of 4); odd sizes are first made even.
    assert [density_grid_size(n) for n in (950, 96, 80, 256, 255)] == [1140, 116, 96, 308, 308]
    assert [density_grid_size(n, 1.0) for n in (950, 96, 80, 256, 255)] == [952, 96, 80, 256, 256]
    for n in range(2, 300):
        for padding in (1.0, 1.2, 1.5):
            assert density_grid_size(n, padding) == _padded_size(n, padding)


def _reference_weights(vis, grid, scheme, robust=0.0, padding=1.2, level=3.0, size=16):
    """WSClean's imaging weights written out sample by sample with dictionaries.

    The rule (wsclean/gridding/imageweights.{h,cpp}, wsclean/main/settings.cpp):
    a row with v < 0 is mirrored to (-u, -v); in wavelengths, a sample lies in
    column floor(u nu cell + nu/2) and row floor(v nv cell) of a half-plane
    grid of nu x nv/2 cells (nu, nv: the padded image size); samples off it
    get weight 0. The cell's summed natural weight W gives the correction
    1/W (uniform; 0 in empty cells) or 1/(1 + W f^2) (Briggs; 1 in empty
    cells), f^2 = (5 10^-R)^2 / (sum W^2 / sum w). Then every occupied cell
    above `level` times the mean of the nonzero corrections in its window
    [x - size/2, x + size/2) x [y - size/2, y + size/2) (cut at the grid
    edges) is set to that. The imaging weight is w times the correction.
    """
    nu, nv = _padded_size(grid.npix_x, padding), _padded_size(grid.npix_y, padding)
    cell = grid.cell_rad
    density, where = {}, {}
    for i in range(vis.nrow):
        u_m, v_m = float(vis.uvw[i, 0]), float(vis.uvw[i, 1])
        if v_m < 0:
            u_m, v_m = -u_m, -v_m
        for c, f in enumerate(vis.freqs):
            if vis.flag[i, c] or vis.weight[i, c] <= 0:
                continue
            wavelength = SPEED_OF_LIGHT / f
            x = math.floor(u_m / wavelength * nu * cell + nu // 2)
            y = math.floor(v_m / wavelength * nv * cell)
            if not (0 <= x < nu and y < nv // 2):
                continue
            density[(x, y)] = density.get((x, y), 0.0) + float(vis.weight[i, c])
            where[(i, c)] = (x, y)
    if scheme == "uniform":
        correction = {k: 1.0 / d for k, d in density.items()}
        empty = 0.0
    else:
        sum_w = sum(density.values())
        f2 = (5 * 10**-robust) ** 2 / (sum(d * d for d in density.values()) / sum_w)
        correction = {k: 1.0 / (1.0 + d * f2) for k, d in density.items()}
        empty = 1.0
    filtered = dict(correction)
    clipped = 0
    if level >= 1:
        half = size // 2
        for (x, y), value in correction.items():
            window = [
                correction.get((xx, yy), empty)
                for xx in range(max(x - half, 0), min(x + half, nu))
                for yy in range(max(y - half, 0), min(y + half, nv // 2))
            ]
            window = [w for w in window if w != 0]
            limit = level * sum(window) / len(window)
            if value > limit:
                filtered[(x, y)] = limit
                clipped += 1
    expected = np.zeros(vis.weight.shape)
    for (i, c), key in where.items():
        expected[i, c] = float(vis.weight[i, c]) * filtered[key]
    return expected, clipped


@pytest.mark.parametrize(
    "grid, padding, level",
    [
        (GRID, 1.2, 3.0),
        (GRID, 1.0, 3.0),
        (GRID, 1.2, 0.0),
        # 8" cells: the longest baselines fall off the density grid and get weight 0.
        (Grid(96, 80, 8.0, 30.0, -30.0), 1.2, 3.0),
    ],
)
def test_uniform_and_briggs_match_reference_rule(grid, padding, level):
    vis = _random_vis(400)
    for weighting in (Weighting("uniform"), Weighting("briggs", 0.3)):
        expected, clipped = _reference_weights(
            vis, grid, weighting.scheme, weighting.robust, padding, level
        )
        got = imaging_weights(vis, grid, weighting, padding=padding, rank_filter_level=level)
        np.testing.assert_allclose(got, expected, rtol=2e-6, atol=0)
        assert (got[vis.flag] == 0).all()
        assert (got > 0).sum() > 0.8 * (~vis.flag).sum()
        if level >= 1 and weighting.scheme == "uniform":
            assert clipped > 0  # the rank filter is exercised
    if grid is not GRID:
        assert ((expected == 0) & ~vis.flag).any()  # some samples are off the grid


def test_conjugate_samples_share_a_cell():
    """A visibility and its conjugate (-u, -v) get the same weight, the same as two copies."""
    vis = _random_vis(300, flag_fraction=0.0)
    twin = _random_vis(300, flag_fraction=0.0)
    twin.uvw = -vis.uvw
    twin.weight = vis.weight
    both = Visibilities(
        uvw=np.concatenate([vis.uvw, twin.uvw]),
        freqs=vis.freqs,
        vis=np.zeros((600, 2), np.complex64),
        weight=np.concatenate([vis.weight, vis.weight]),
        flag=np.zeros((600, 2), bool),
        antenna1=np.zeros(600, np.int32),
        antenna2=np.ones(600, np.int32),
        time_mjd_s=np.zeros(600),
        channel_width_hz=1e6,
        integration_s=8.0,
    )
    copies = Visibilities(
        uvw=np.concatenate([vis.uvw, vis.uvw]),
        freqs=vis.freqs,
        vis=both.vis,
        weight=both.weight,
        flag=both.flag,
        antenna1=both.antenna1,
        antenna2=both.antenna2,
        time_mjd_s=both.time_mjd_s,
        channel_width_hz=1e6,
        integration_s=8.0,
    )
    for weighting in (Weighting("uniform"), Weighting("briggs", -0.5)):
        w_both = imaging_weights(both, GRID, weighting)
        np.testing.assert_array_equal(w_both[:300], w_both[300:])
        np.testing.assert_array_equal(w_both, imaging_weights(copies, GRID, weighting))


def test_briggs_limits_are_natural_and_uniform():
    vis = _random_vis(2000)
    ok = ~vis.flag
    natural = imaging_weights(vis, GRID, Weighting("natural"))[ok]
    uniform = imaging_weights(vis, GRID, Weighting("uniform"))[ok]
    plus2 = imaging_weights(vis, GRID, Weighting("briggs", 2.0))[ok]
    minus2 = imaging_weights(vis, GRID, Weighting("briggs", -2.0))[ok]
    # Up to a constant factor, robust +2 ~ natural and robust -2 ~ uniform.
    ratio_nat = plus2 / natural
    ratio_uni = minus2 / uniform
    assert ratio_nat.std() / ratio_nat.mean() < 0.15
    assert ratio_uni.std() / ratio_uni.mean() < 0.15
    assert (uniform / natural).std() / (uniform / natural).mean() > 0.5


def test_weighting_validation():
    with pytest.raises(InputError, match="scheme"):
        Weighting("superuniform")
    with pytest.raises(InputError, match="robust"):
        Weighting("briggs", 3.0)
    assert Weighting.from_any({"scheme": "natural", "robust": 0.0}).scheme == "natural"


def test_point_source_at_centre_reads_one_jansky_per_beam_and_psf_peak():
    vis = _random_vis(3000, seed=3)
    model = np.zeros((GRID.npix_y, GRID.npix_x), np.float32)
    model[GRID.npix_y // 2, GRID.npix_x // 2] = 1.0
    vis.vis = image_to_vis(model, vis.uvw, vis.freqs, GRID.cell_rad)
    for scheme in ("natural", "uniform", "briggs"):
        w = imaging_weights(vis, GRID, Weighting(scheme))
        dirty, norm = make_dirty(vis, GRID, w)
        assert dirty.shape == (GRID.npix_y, GRID.npix_x) and dirty.dtype == np.float32
        assert np.unravel_index(np.argmax(dirty), dirty.shape) == (40, 48)
        assert dirty[40, 48] == pytest.approx(1.0, abs=1e-4)
        psf = make_psf(vis, GRID, w, norm=norm)
        assert psf.shape == (2 * GRID.npix_y, 2 * GRID.npix_x)
        assert np.unravel_index(np.argmax(psf), psf.shape) == (GRID.npix_y, GRID.npix_x)
        assert psf[GRID.npix_y, GRID.npix_x] == pytest.approx(1.0, abs=1e-4)
        # The dirty image of a centred point source is the central part of the PSF.
        centre = psf[GRID.npix_y // 2 : -GRID.npix_y // 2, GRID.npix_x // 2 : -GRID.npix_x // 2]
        np.testing.assert_allclose(dirty, centre, atol=2e-4)


def test_residual_of_the_true_model_vanishes():
    vis = _random_vis(2000, seed=4)
    model = np.zeros((GRID.npix_y, GRID.npix_x), np.float32)
    model[10, 70] = 2.0
    model[55, 20] = -0.5
    vis.vis = image_to_vis(model, vis.uvw, vis.freqs, GRID.cell_rad)
    w = imaging_weights(vis, GRID, Weighting())
    dirty, norm = make_dirty(vis, GRID, w)
    assert np.abs(dirty).max() > 1.5
    residual = residual_image(vis, model, GRID, w, norm)
    assert np.abs(residual).max() < 1e-3
    half = residual_image(vis, model / 2, GRID, w, norm)
    np.testing.assert_allclose(half, dirty / 2, atol=1e-3)


@pytest.mark.parametrize("weighting", [Weighting("natural"), Weighting("briggs", -0.5)])
def test_noise_image_rms_matches_prediction(weighting):
    grid = Grid(128, 128, 6.0, 30.0, -30.0)
    # Few short baselines, so the image holds many independent beams (a core-heavy
    # natural-weighted image has few, and its sample rms scatters by several %).
    vis = _random_vis(20000, seed=5, flag_fraction=0.05, core_fraction=0.2)
    rng = np.random.default_rng(6)
    sigma = 1.0 / np.sqrt(vis.weight)
    vis.vis = (sigma * (rng.normal(size=sigma.shape) + 1j * rng.normal(size=sigma.shape))).astype(
        np.complex64
    )
    w = imaging_weights(vis, grid, weighting)
    dirty, norm = make_dirty(vis, grid, w)
    predicted = predicted_rms(vis, w, norm)
    assert np.std(dirty) == pytest.approx(predicted, rel=0.05)
    assert robust_rms(dirty) == pytest.approx(predicted, rel=0.05)
    if weighting.scheme == "natural":
        assert predicted == pytest.approx(1 / np.sqrt(vis.weight[~vis.flag].sum()), rel=1e-6)


def test_all_flagged_is_a_clear_error():
    vis = _random_vis(50)
    vis.flag[:] = True
    w = imaging_weights(vis, GRID, Weighting())
    with pytest.raises(InputError, match="flagged"):
        make_dirty(vis, GRID, w)
