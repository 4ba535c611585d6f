"""FFT convolutions: the row-pruned padded convolution, sums of terms, and cached small kernels."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal

from meersim.imaging.fftconv import FFTOps


def _centred_reference(image, kernel):
    """float64 linear convolution with a [2ny, 2nx] kernel whose origin is pixel (ny, nx)."""
    ny, nx = image.shape
    full = scipy.signal.fftconvolve(image.astype(np.float64), kernel.astype(np.float64))
    return full[ny : 2 * ny, nx : 2 * nx]


@pytest.mark.parametrize("shape", [(40, 48), (33, 20)])
def test_pruned_centred_convolution_equals_the_full_linear_convolution(shape):
    rng = np.random.default_rng(4)
    ny, nx = shape
    image = rng.standard_normal(shape).astype(np.float32)
    kernel = rng.standard_normal((2 * ny, 2 * nx)).astype(np.float32)
    ops = FFTOps("cpu", 1)
    out = ops.convolve_centred(image, ops.centred_kernel(kernel))
    assert out.dtype == np.float32 and out.shape == shape
    np.testing.assert_allclose(out, _centred_reference(image, kernel), atol=2e-4)


def test_sum_of_terms_needs_one_inverse_and_equals_the_separate_sums():
    rng = np.random.default_rng(5)
    a, b = (rng.standard_normal((24, 30)).astype(np.float32) for _ in range(2))
    ka, kb = (rng.standard_normal((48, 60)).astype(np.float32) for _ in range(2))
    ops = FFTOps("cpu", 1)
    fa, fb = ops.centred_kernel(ka), ops.centred_kernel(kb)
    both = ops.convolve_centred_sum([(a, fa, 1.0), (b, fb, -0.35)])
    expect = _centred_reference(a, ka) - 0.35 * _centred_reference(b, kb)
    np.testing.assert_allclose(both, expect, atol=2e-4)


def test_small_kernel_spectrum_is_reused_only_for_the_same_kernel():
    rng = np.random.default_rng(6)
    image = rng.standard_normal((50, 40)).astype(np.float32)
    k1 = rng.standard_normal((7, 7)).astype(np.float32)
    k2 = k1.copy()
    k2[3, 3] += 1.0  # a different kernel of the same shape
    ops = FFTOps("cpu", 1)
    first = ops.convolve_small(image, k1)
    assert len(ops._small_kernels) == 1
    np.testing.assert_array_equal(ops.convolve_small(image, k1), first)
    assert len(ops._small_kernels) == 1  # reused
    second = ops.convolve_small(image, k2)
    np.testing.assert_allclose(second - first, image, atol=1e-5)  # k2 - k1 is a unit delta
    ref = scipy.signal.fftconvolve(image, k1, mode="same")
    np.testing.assert_allclose(first, ref, atol=1e-5)
