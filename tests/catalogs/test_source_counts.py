"""The count model, and that synthesize draws physical-source fluxes from it."""

import numpy as np
import pytest
from scipy import stats

from meersim.catalogs import source_counts, synthesize


def test_hopkins_polynomial_values():
    # at 1 mJy log10(S^2.5 dN/dS) = a0 = 0.859
    assert source_counts.euclidean_counts_1p4(1e-3) == pytest.approx(10**0.859, rel=1e-12)
    # at 10 mJy: sum of the coefficients
    assert source_counts.euclidean_counts_1p4(1e-2) == pytest.approx(
        10 ** sum(source_counts.HOPKINS2003_COEFFS), rel=1e-12
    )


def test_extrapolation_is_continuous_and_flat_by_default():
    edge = source_counts.VALID_MIN_JY
    below, above = source_counts.euclidean_counts_1p4([edge * 0.999999, edge * 1.000001])
    assert below == pytest.approx(above, rel=1e-4)
    flat = source_counts.euclidean_counts_1p4([1.5e-5, edge])
    assert flat[0] == pytest.approx(flat[1])
    steep = source_counts.euclidean_counts_1p4(
        1.5e-5, faint_slope=source_counts.FAINT_SLOPE_CONTINUE
    )
    assert steep == pytest.approx(flat[1] * 0.3**source_counts.FAINT_SLOPE_CONTINUE)
    assert source_counts.FAINT_SLOPE_CONTINUE == pytest.approx(1.342, abs=1e-3)


def test_frequency_scaling_conserves_numbers():
    # N(>S) at 1284 MHz equals N(>S k) at 1.4 GHz with S_1.4 = k S_1284, k = (1.4/1.284)^-0.7
    k = (1.4e9 / 1.284e9) ** -0.7
    n_1284 = source_counts.expected_number(1e-4, 0.1, 1.0, ref_freq_hz=1.284e9)
    n_1400 = source_counts.expected_number(1e-4 * k, 0.1 * k, 1.0, ref_freq_hz=1.4e9)
    assert n_1284 == pytest.approx(n_1400, rel=1e-8)


def test_expected_number_matches_simple_quadrature():
    s = np.geomspace(1e-5, 1.0, 200001)
    f = source_counts.dnds(s, 1.284e9)
    brute = np.sum(0.5 * (f[1:] + f[:-1]) * np.diff(s)) * source_counts.SR_PER_DEG2
    assert source_counts.expected_number(1e-5, 1.0, 1.0, 1.284e9) == pytest.approx(brute, rel=1e-5)


def _source_fluxes(table):
    ids = np.asarray(table["source_id"])
    uniq, inverse = np.unique(ids, return_inverse=True)
    return np.bincount(inverse, weights=table["flux"].value, minlength=len(uniq))


def test_synthesized_source_fluxes_follow_the_model():
    area, s_min, s_max = 1.0, 1e-5, 1.0
    table = synthesize(area, seed=7, flux_min_jy=s_min, flux_max_jy=s_max)
    fluxes = _source_fluxes(table)
    expected_total = source_counts.expected_number(s_min, s_max, area, 1.284e9)
    assert abs(len(fluxes) - expected_total) < 4 * np.sqrt(expected_total)
    edges = np.array([1e-5, 2e-5, 4e-5, 8e-5, 1.6e-4, 3.2e-4, 6.4e-4, 1.3e-3, 3e-3, 1e-2, 1.0])
    observed, _ = np.histogram(fluxes, bins=edges)
    expected = np.array(
        [
            source_counts.expected_number(a, b, area, 1.284e9)
            for a, b in zip(edges[:-1], edges[1:], strict=True)
        ]
    )
    assert expected.min() > 10  # bins chosen so the Gaussian approximation holds
    pulls = (observed - expected) / np.sqrt(expected)
    assert np.all(np.abs(pulls) < 4), pulls
    chi2 = np.sum(pulls**2)
    threshold = stats.chi2.ppf(0.999, len(expected))
    assert chi2 < threshold, chi2
    # the test has power: a 15 % different model fails it
    wrong = 0.85 * expected
    assert np.sum((observed - wrong) ** 2 / wrong) > threshold
