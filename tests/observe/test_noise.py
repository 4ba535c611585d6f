import numpy as np
import pytest

from meersim.errors import InputError
from meersim.observe.noise import (
    image_rms,
    natural_image_rms,
    sefd_jy,
    sigma_for_target_rms,
    visibility_sigma,
)


def test_sefd_table_values_and_interpolation():
    np.testing.assert_allclose(
        sefd_jy([856e6, 1.2e9, 1.4e9, 1.55e9, 1711e6]), [580, 443, 424, 405, 421]
    )
    assert sefd_jy(1.325e9) == pytest.approx((443 + 424) / 2)
    assert sefd_jy(700e6) == 580.0  # held beyond the table


def test_radiometer_sigma():
    sigma = visibility_sigma(1.4e9, 1e6, 8.0)
    assert sigma == pytest.approx(424.0 / np.sqrt(2 * 1e6 * 8.0))
    with pytest.raises(InputError):
        visibility_sigma(1.4e9, 0.0, 8.0)


def test_image_rms_formulas_agree_for_natural_weighting():
    rng = np.random.default_rng(0)
    sigma = rng.uniform(0.5, 2.0, size=(100, 4))
    flag = rng.random((100, 4)) < 0.2
    w = 1 / sigma**2
    assert image_rms(w, sigma, flag) == pytest.approx(natural_image_rms(w, flag))
    assert natural_image_rms(w) == pytest.approx(1 / np.sqrt(w.sum()))
    # uniform imaging weights with equal sigma: sigma / sqrt(N)
    assert image_rms(np.ones(400), 2.0) == pytest.approx(2.0 / 20.0)


def test_sigma_for_target_rms_hits_the_target_and_keeps_the_spectrum():
    base = visibility_sigma(np.array([1.0e9, 1.3e9, 1.6e9]), 1e6, 60.0)
    flag = np.zeros((500, 3), bool)
    flag[:100, 0] = True
    sigma = sigma_for_target_rms(2e-6, base[None, :], flag)
    assert sigma.shape == (1, 3)
    np.testing.assert_allclose(sigma[0] / base, sigma[0, 0] / base[0])
    full = np.broadcast_to(sigma, flag.shape)
    assert natural_image_rms(1 / full**2, flag) == pytest.approx(2e-6, rel=1e-10)
    with pytest.raises(InputError):
        sigma_for_target_rms(0.0, base)
