import numpy as np
import pytest

from meersim.errors import InputError
from meersim.imaging.beamfit import (
    convolve_centred,
    convolve_with_beam,
    fit_clean_beam,
    gaussian_beam_image,
)
from meersim.types import Beam


@pytest.mark.parametrize("pa", [0.0, 30.0, -60.0, 89.0, 135.0])
def test_fit_recovers_elliptical_gaussian(pa):
    truth = Beam(12.0, 7.0, pa)
    psf = gaussian_beam_image(truth, (128, 128), 1.5)
    beam = fit_clean_beam(psf, 1.5)
    assert beam.bmaj_arcsec == pytest.approx(12.0, rel=1e-3)
    assert beam.bmin_arcsec == pytest.approx(7.0, rel=1e-3)
    expected = (pa + 90.0) % 180.0 - 90.0
    assert beam.bpa_deg == pytest.approx(expected, abs=0.1)


def test_position_angle_is_east_of_north_with_east_left():
    # Build a beam by hand, elongated towards the north-east: in the array that is
    # +y (north) and -x (east, since x increases west).
    ny = nx = 96
    y, x = np.mgrid[:ny, :nx].astype(float)
    dx, dy = x - nx // 2, y - ny // 2
    east, north = -dx, dy
    along = (east + north) / np.sqrt(2)  # NE-SW axis
    across = (east - north) / np.sqrt(2)
    sig_major, sig_minor = 6.0, 2.5
    psf = np.exp(-0.5 * ((along / sig_major) ** 2 + (across / sig_minor) ** 2))
    beam = fit_clean_beam(psf, 2.0)
    assert beam.bpa_deg == pytest.approx(45.0, abs=0.1)
    assert beam.bmaj_arcsec == pytest.approx(sig_major * 2.3548 * 2.0, rel=1e-3)
    # The generated beam image agrees pixel by pixel.
    np.testing.assert_allclose(gaussian_beam_image(beam, (ny, nx), 2.0), psf, atol=1e-5)


def test_fit_uses_main_lobe_only():
    truth = Beam(10.0, 10.0, 0.0)
    psf = gaussian_beam_image(truth, (128, 128), 1.0).astype(float)
    psf[20:30, 20:30] = 0.9  # a strong, disconnected sidelobe
    psf -= 0.15 * (gaussian_beam_image(Beam(30.0, 30.0, 0.0), (128, 128), 1.0) > 0.2)
    beam = fit_clean_beam(psf, 1.0)
    assert 8.0 < beam.bmaj_arcsec < 11.5


def test_unsampled_psf_is_rejected():
    psf = np.zeros((32, 32))
    psf[16, 16] = 1.0
    with pytest.raises(InputError, match="main lobe"):
        fit_clean_beam(psf, 1.0)


def test_convolve_point_source_gives_beam_at_its_pixel():
    beam = Beam(9.0, 6.0, 20.0)
    image = np.zeros((2, 60, 50), np.float32)
    image[0, 5, 45] = 3.0  # near a corner: no wrap-around allowed
    image[1, 30, 25] = 1.0
    out = convolve_with_beam(image, beam, 1.5)
    assert out.shape == image.shape
    assert out[0, 5, 45] == pytest.approx(3.0, rel=1e-5)
    assert np.unravel_index(np.argmax(out[0]), (60, 50)) == (5, 45)
    np.testing.assert_allclose(out[1], gaussian_beam_image(beam, (60, 50), 1.5), atol=1e-6)
    # Flux density conservation: total (Jy/beam) / beam area (pixels) = Jy.
    assert out[1].sum() / beam.area_in_pixels(1.5) == pytest.approx(1.0, rel=1e-3)
    # Nothing wraps around: the far corner stays empty.
    assert abs(out[0, 55, 2]) < 1e-6


def test_convolve_centred_is_linear_convolution():
    rng = np.random.default_rng(0)
    image = rng.normal(size=(12, 10))
    kernel = rng.normal(size=(24, 20))
    out = convolve_centred(image, kernel)
    ref = np.zeros_like(image)
    for j in range(12):
        for i in range(10):
            for jj in range(12):
                for ii in range(10):
                    ref[j, i] += image[jj, ii] * kernel[12 + j - jj, 10 + i - ii]
    np.testing.assert_allclose(out, ref, atol=1e-4)
