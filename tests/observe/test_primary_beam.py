import numpy as np
import pytest

from meersim.grid import Grid
from meersim.observe.primary_beam import (
    beam_fwhm_arcmin,
    primary_beam_gain,
    primary_beam_image,
)


def test_fwhm_is_about_64_arcmin_at_1300_mhz():
    fx, fy = beam_fwhm_arcmin(1.3e9)
    # measured: 64.3' along l and 66.6' along m (katbeam's H/V FWHMs differ)
    assert 62.0 < fx < 67.0 and 62.0 < fy < 69.0
    assert np.sqrt(fx * fy) == pytest.approx(64.0, abs=3.0)


def test_beam_is_a_power_pattern_peaking_at_one_and_shrinking_with_frequency():
    assert primary_beam_gain(0.0, 0.0, 1.3e9) == pytest.approx(1.0, abs=1e-3)
    lo, hi = beam_fwhm_arcmin(1.0e9), beam_fwhm_arcmin(1.6e9)
    assert lo[0] / hi[0] == pytest.approx(1.6, rel=0.1)  # FWHM ~ 1/f
    # half power at half the FWHM (power, not voltage, beam)
    half = np.radians(beam_fwhm_arcmin(1.3e9)[0] / 2 / 60)
    assert primary_beam_gain(half, 0.0, 1.3e9) == pytest.approx(0.5, abs=0.01)


def test_frequencies_outside_the_model_are_clamped():
    l = np.radians(0.4)
    assert primary_beam_gain(l, 0, 800e6) == primary_beam_gain(l, 0, 900e6)
    assert primary_beam_gain(l, 0, 1712e6) == primary_beam_gain(l, 0, 1650e6)


def test_beam_image_is_centred_on_the_phase_centre():
    grid = Grid(65, 64, 120.0, 10.0, -30.0)
    pb = primary_beam_image(grid, 1.284e9)
    assert pb.shape == (64, 65) and pb.dtype == np.float32
    cx, cy = grid.centre_pixel
    assert np.unravel_index(np.argmax(pb), pb.shape) == (cy, cx)
    l, m = grid.pixel_lm()
    np.testing.assert_allclose(pb[5, 7], primary_beam_gain(l[5, 7], m[5, 7], 1.284e9), rtol=1e-6)


@pytest.mark.parametrize("freq_hz", [0.9e9, 1.284e9, 1.67e9])
def test_spline_beam_image_matches_direct_katbeam(freq_hz):
    # 1.5" cells put the image on the spline path (nodes every 30"); it must
    # agree with katbeam evaluated at every pixel to float32 rounding.
    grid = Grid(301, 260, 1.5, 10.0, -30.0)
    pb = primary_beam_image(grid, freq_hz)
    l, m = grid.pixel_lm()
    direct = primary_beam_gain(l, m, freq_hz)
    np.testing.assert_allclose(pb, direct, rtol=0, atol=2e-7)
    assert not pb.flags.writeable  # cached: callers must not change it
    assert primary_beam_image(grid, freq_hz) is pb
