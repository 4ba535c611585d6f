"""The one robust rms of the package."""

import numpy as np

from meersim.stats import MAD_TO_SIGMA, robust_median_sigma, robust_rms


def test_robust_rms_of_gaussian_noise_with_sources_and_blanks():
    rng = np.random.default_rng(3)
    image = rng.normal(0.0, 2.5e-6, (400, 400)).astype(np.float32)
    image[10:20, 10:20] += 1e-3  # a bright source barely moves the MAD
    image[:5] = np.nan  # blanked rows are ignored
    assert abs(robust_rms(image) / 2.5e-6 - 1) < 0.01
    assert np.isnan(robust_rms(np.full(4, np.nan)))


def test_precision_follows_the_input_unless_asked():
    values = np.random.default_rng(0).normal(size=1001).astype(np.float32)
    as64 = robust_rms(values, dtype=np.float64)
    v = values.astype(np.float64)
    assert as64 == MAD_TO_SIGMA * np.median(np.abs(v - np.median(v)))
    assert abs(robust_rms(values) - as64) < 1e-6
    median, sigma = robust_median_sigma(v)
    assert median == np.median(v) and sigma == as64
