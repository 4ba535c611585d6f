import numpy as np
import pytest

from meersim.errors import InputError
from meersim.grid import Grid
from meersim.imaging.gridder import image_to_vis
from meersim.imaging.images import make_dirty, make_psf, predicted_rms, residual_image
from meersim.imaging.weighting import SPEED_OF_LIGHT, Weighting, imaging_weights
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


def _brute_force_density(vis, grid):
    """Per-sample density by a dictionary of folded cells (reference implementation)."""
    cells = {}
    keys = {}
    for i in range(vis.nrow):
        for c, f in enumerate(vis.freqs):
            if vis.flag[i, c]:
                continue
            u = vis.uvw[i, 0] * f / SPEED_OF_LIGHT
            v = vis.uvw[i, 1] * f / SPEED_OF_LIGHT
            iu = int(np.rint(u * grid.npix_x * grid.cell_rad))
            iv = int(np.rint(v * grid.npix_y * grid.cell_rad))
            if iu < 0 or (iu == 0 and iv < 0):
                iu, iv = -iu, -iv
            cells[(iu, iv)] = cells.get((iu, iv), 0.0) + float(vis.weight[i, c])
            keys[(i, c)] = (iu, iv)
    return cells, keys


def test_natural_weights_are_vis_weights_with_flags_zeroed():
    vis = _random_vis(500)
    w = imaging_weights(vis, GRID, Weighting("natural"))
    assert w.dtype == np.float32 and w.shape == vis.weight.shape
    np.testing.assert_array_equal(w[vis.flag], 0)
    np.testing.assert_allclose(w[~vis.flag], vis.weight[~vis.flag])


def test_uniform_and_briggs_match_reference_formulae():
    vis = _random_vis(400)
    cells, keys = _brute_force_density(vis, GRID)
    sum_w = float(vis.weight[~vis.flag].sum(dtype=np.float64))
    sum_d2 = sum(d * d for d in cells.values())
    uniform = imaging_weights(vis, GRID, Weighting("uniform"))
    briggs = imaging_weights(vis, GRID, Weighting("briggs", 0.3))
    f2 = (5 * 10**-0.3) ** 2 / (sum_d2 / sum_w)
    for (i, c), key in keys.items():
        d = cells[key]
        assert uniform[i, c] == pytest.approx(vis.weight[i, c] / d, rel=1e-5)
        assert briggs[i, c] == pytest.approx(vis.weight[i, c] / (1 + d * f2), rel=1e-5)
    np.testing.assert_array_equal(uniform[vis.flag], 0)
    np.testing.assert_array_equal(briggs[vis.flag], 0)


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
