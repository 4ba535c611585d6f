import dataclasses
import functools

import numpy as np
import pytest
from click.testing import CliRunner

from meersim.errors import InputError
from meersim.grid import Grid
from meersim.imaging.weighting import Weighting
from meersim.io import read_image, write_image
from meersim.observe.observe import observe, save_observation
from meersim.observe.products import enhanced, load_observation
from meersim.observe.uvcoverage import ObservationSetup
from meersim.types import Sky

RA, DEC = 150.0, -30.0
# 16 antennas, 2 h, 300 s dumps, 2 channels: ~3k rows, fast on 2 cores.
SETUP = ObservationSetup(
    array="meerkat",
    antennas=16,
    ra_deg=RA,
    dec_deg=DEC,
    hours=2.0,
    dump_s=300.0,
    nchan=2,
    noise=False,
    seed=1,
)
GRID = Grid(192, 192, 8.0, RA, DEC, (1.284e9,))


def _sky(points, grid=GRID):
    """Sky with point sources [(x, y, Jy)] on exact pixels, flat spectrum."""
    data = np.zeros(grid.shape, np.float32)
    for x, y, flux in points:
        data[:, y, x] = flux
    return Sky(data, grid)


def _noise_setup(**changes):
    """Noise tests need many samples: Briggs weights leave few effective ones (N_eff =
    (sum W^2 s^2)^2 / sum (W^2 s^2)^2), and one image's variance scatters by ~sqrt(2/N_eff)."""
    values = dict(noise=True, target_rms_jy=None, antennas=list(range(0, 64, 3)), dump_s=120.0)
    values.update(changes)
    return dataclasses.replace(SETUP, **values)


def test_point_source_at_phase_centre_reads_one_jansky_per_beam():
    cx, cy = GRID.centre_pixel
    obs = observe(_sky([(cx, cy, 1.0)]), SETUP, Weighting("briggs", -0.5))
    assert obs.dirty.shape == (GRID.npix_y, GRID.npix_x)
    assert np.unravel_index(np.argmax(obs.dirty), obs.dirty.shape) == (cy, cx)
    assert obs.dirty[cy, cx] == pytest.approx(1.0, abs=0.01)
    assert obs.psf.shape == (2 * GRID.npix_y, 2 * GRID.npix_x)
    assert obs.psf[GRID.npix_y, GRID.npix_x] == pytest.approx(1.0, abs=1e-4)
    assert obs.primary_beam[cy, cx] == pytest.approx(1.0, abs=1e-3)
    assert obs.grid.nchan == 1 and obs.vis is not None


def test_off_centre_source_lands_on_its_wcs_pixel_with_pb_attenuation(tmp_path):
    # 40 arcmin east and 25 arcmin south... scaled to the grid: pick a pixel well off centre.
    ra, dec = GRID.pixel_to_world(30, 150)
    x, y = (int(round(float(v))) for v in GRID.world_to_pixel(ra, dec))
    assert (x, y) == (30, 150)
    flux = 2.0
    obs = observe(_sky([(x, y, flux)]), SETUP, Weighting("natural"))
    peak = np.unravel_index(np.argmax(obs.dirty), obs.dirty.shape)
    assert peak == (y, x)
    gain = obs.primary_beam[y, x]
    assert 0.4 < gain < 0.95  # the source is attenuated measurably
    assert obs.dirty[y, x] == pytest.approx(flux * gain, rel=0.02)
    corrected = enhanced(obs.dirty, obs.primary_beam, 0.2)
    assert corrected[y, x] == pytest.approx(flux, rel=0.02)
    # The written FITS WCS puts the source's RA/Dec on the same pixel.
    files = save_observation(obs, tmp_path / "obs")
    for name in ("basic", "enhanced"):
        image = read_image(files[name])
        px, py = image.wcs.world_to_pixel_values(ra, dec)
        assert (round(float(px)), round(float(py))) == (x, y)
        assert np.nanargmax(image.data[0]) == np.ravel_multi_index((y, x), obs.dirty.shape)
    assert read_image(files["enhanced"]).data[0, y, x] == pytest.approx(flux, rel=0.02)


def test_enhanced_blanks_below_pb_cut():
    image = np.ones((4, 4), np.float32)
    pb = np.linspace(0.05, 1.0, 16, dtype=np.float32).reshape(4, 4)
    out = enhanced(image, pb, 0.2)
    assert np.all(np.isnan(out[pb < 0.2]))
    np.testing.assert_allclose(out[pb >= 0.2], 1 / pb[pb >= 0.2])
    with pytest.raises(InputError, match="pb_cut"):
        enhanced(image, pb, 0.0)


# Every third antenna spans the whole array: a 6-25" beam (Briggs to natural),
# so this 13' field holds thousands of independent beams.
NOISE_GRID = Grid(384, 384, 2.0, RA, DEC, (1.284e9,))
NOISE_SEEDS = (11, 12, 13, 14, 15)


@functools.cache
def _noise_images(weighting, mode):
    """Noise-only dirty images for a few seeds, and the predicted rms (Jy/beam).

    One image's rms scatters by ~2% (vis mode) to ~2.7% (image mode) around the
    prediction (measured over 30 seeds); pooling five seeds brings that to ~0.9% and
    ~1.2%, so the 5% bars below (also vis vs image: sigma ~1.5%) are > 3 sigma.
    """
    images, predicted = [], []
    for seed in NOISE_SEEDS:
        obs = observe(_sky([], NOISE_GRID), _noise_setup(seed=seed), weighting, mode=mode)
        images.append(obs.dirty)
        predicted.append(obs.noise_rms_predicted)
    np.testing.assert_allclose(predicted, predicted[0], rtol=1e-6)  # same coverage
    return np.array(images), predicted[0], obs


@pytest.mark.parametrize("weighting", [Weighting("natural"), Weighting("briggs", -0.5)])
def test_noise_only_rms_matches_radiometer_prediction(weighting):
    images, predicted, obs = _noise_images(weighting, "vis")
    assert np.sqrt(np.mean(images**2)) == pytest.approx(predicted, rel=0.05)
    assert obs.noise_rms_measured == pytest.approx(predicted, rel=0.1)
    # Independent check of the radiometer equation for natural weighting: 1/sqrt(sum w).
    if weighting.scheme == "natural":
        w = obs.vis.weight[~obs.vis.flag].astype(float)
        assert predicted == pytest.approx(1 / np.sqrt(w.sum()), rel=1e-6)


def _azimuthal_power(image, edges):
    power = np.abs(np.fft.fftshift(np.fft.fft2(image))) ** 2
    ny, nx = image.shape
    yy, xx = np.indices(image.shape)
    radius = np.hypot((yy - ny // 2) / ny, (xx - nx // 2) / nx)  # cycles per pixel
    out = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        ring = (radius >= lo) & (radius < hi)
        out.append((power[ring].mean(), ring.sum()))
    return np.array(out)


def test_image_mode_agrees_with_vis_mode():
    cx, cy = GRID.centre_pixel
    points = [(cx, cy, 1.0), (40, 60, 0.5), (150, 120, 0.3)]
    sky = _sky(points)
    weighting = Weighting("briggs", -0.5)
    by_vis = observe(sky, SETUP, weighting, mode="vis")
    by_image = observe(sky, SETUP, weighting, mode="image")
    assert by_image.vis is None
    np.testing.assert_allclose(by_image.psf, by_vis.psf, atol=1e-6)
    for x, y, flux in points:
        assert by_image.dirty[y, x] == pytest.approx(by_vis.dirty[y, x], abs=0.01 * flux)
    np.testing.assert_allclose(by_image.primary_beam, by_vis.primary_beam, atol=1e-6)


@pytest.mark.parametrize("weighting", [Weighting("natural"), Weighting("briggs", -0.5)])
def test_image_mode_noise_matches_vis_mode(weighting):
    vis_noise, predicted, _ = _noise_images(weighting, "vis")
    image_noise, predicted_image, _ = _noise_images(weighting, "image")
    assert predicted_image == pytest.approx(predicted, rel=1e-6)
    assert np.sqrt(np.mean(image_noise**2)) == pytest.approx(predicted, rel=0.05)
    assert np.sqrt(np.mean(image_noise**2)) == pytest.approx(
        np.sqrt(np.mean(vis_noise**2)), rel=0.05
    )
    # Azimuthally averaged power in rings of spatial frequency (cycles/pixel), pooled
    # over the seeds. Rings are chosen to hold >= ~100 independent modes x 3 seeds, so
    # a ring mean scatters by <~ 8%; we compare only rings holding >= 2% of the power
    # (the rest is gridder-kernel leakage at the 1e-4 level) and allow 20%.
    edges = np.array([0.0, 0.03, 0.06, 0.1, 0.14, 0.2, 0.3, 0.5])
    p_vis = np.mean([_azimuthal_power(im, edges) for im in vis_noise], axis=0)
    p_img = np.mean([_azimuthal_power(im, edges) for im in image_noise], axis=0)
    share = p_vis[:, 0] * p_vis[:, 1] / np.sum(p_vis[:, 0] * p_vis[:, 1])
    strong = share > 0.02
    assert strong.sum() >= 3
    np.testing.assert_allclose(p_img[strong, 0] / p_vis[strong, 0], 1.0, atol=0.2)
    # The spectrum is far from white, so the comparison has teeth.
    assert p_vis[strong, 0].max() / p_vis[strong, 0].min() > 3


def test_psf_of_full_array_is_a_few_arcsec():
    # 64 antennas, 8 h at Dec -30 deg; coarse 30-minute dumps and one channel keep it fast
    # (the beam depends on the uv extent, not on the dump time).
    setup = dataclasses.replace(
        SETUP, antennas=None, hours=8.0, dump_s=1800.0, nchan=1, noise=False
    )
    grid = Grid(128, 128, 1.0, RA, DEC, (1.284e9,))
    obs = observe(_sky([], grid), setup, Weighting("briggs", -0.5))
    assert 4.0 < obs.beam.bmin_arcsec <= obs.beam.bmaj_arcsec < 9.0


def test_save_and_load_round_trip(tmp_path):
    cx, cy = GRID.centre_pixel
    obs = observe(_sky([(cx, cy, 1.0)]), _noise_setup(antennas=16), Weighting("uniform"))
    files = save_observation(obs, tmp_path / "obs")
    header = read_image(files["basic"]).header
    assert header["BUNIT"] == "JY/BEAM"
    assert header["BMAJ"] == pytest.approx(obs.beam.bmaj_arcsec / 3600)
    assert header["NOISERMS"] == pytest.approx(obs.noise_rms_measured)
    assert header["PREDRMS"] == pytest.approx(obs.noise_rms_predicted)
    assert header["WEIGHT"] == "UNIFORM"
    pb_header = read_image(files["pb"]).header
    assert pb_header["BUNIT"] == "" and pb_header["BTYPE"] == "Beam gain"
    psf_image = read_image(files["psf"])
    assert psf_image.grid.npix_x == 2 * GRID.npix_x
    assert psf_image.grid.cell_arcsec == pytest.approx(GRID.cell_arcsec, rel=1e-9)
    back = load_observation(tmp_path / "obs")
    np.testing.assert_array_equal(back.dirty, obs.dirty)
    np.testing.assert_array_equal(back.psf, obs.psf)
    np.testing.assert_array_equal(back.primary_beam, obs.primary_beam)
    np.testing.assert_array_equal(back.vis.vis, obs.vis.vis)
    np.testing.assert_array_equal(back.imaging_weight, obs.imaging_weight)
    assert back.beam == obs.beam and back.norm == obs.norm and back.grid == obs.grid
    assert back.weighting == {"scheme": "uniform", "robust": -0.5}
    with pytest.raises(InputError, match="observation.json"):
        load_observation(tmp_path)


def test_bad_mode_and_products_are_clear_errors():
    with pytest.raises(InputError, match="mode"):
        observe(_sky([]), SETUP, mode="fast")
    with pytest.raises(InputError, match="products"):
        observe(_sky([]), SETUP, products=("restored",))
    with pytest.raises(InputError, match="grid centre"):
        observe(_sky([]), dataclasses.replace(SETUP, dec_deg=-31.0))


def test_cli_observe(tmp_path):
    from meersim.cli import main

    cx, cy = GRID.centre_pixel
    sky_path = write_image(tmp_path / "sky.fits", _sky([(cx, cy, 1.0)]).data, GRID, "JY/PIXEL")
    out = tmp_path / "obs"
    result = CliRunner().invoke(
        main,
        [
            "observe", str(sky_path), "--hours", "1", "--dump", "600", "--nchan", "2",
            "--antennas", "12", "--robust", "0", "--no-noise", "--seed", "3",
            "-o", str(out), "--no-progress",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "clean beam" in result.output and "uJy/beam" in result.output
    for name in ("dirty.fits", "dirty_enhanced.fits", "psf.fits", "pb.fits", "observation.json"):
        assert (out / name).exists()
    assert read_image(out / "dirty.fits").data[0, cy, cx] == pytest.approx(1.0, abs=0.01)
    bad = CliRunner().invoke(main, ["observe", str(out / "psf.fits"), "-o", str(tmp_path / "x")])
    assert bad.exit_code != 0 and "JY/PIXEL" in bad.output
