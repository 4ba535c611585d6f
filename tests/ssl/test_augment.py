"""Radio augmentations: flux, noise, normalisation and beam properties."""

import math

import numpy as np
import pytest
import torch

from meersim.errors import InputError
from meersim.ssl.augment import (
    AugmentConfig,
    RadioMultiCrop,
    add_noise,
    change_beam,
    correlated_noise,
    dihedral,
    gaussian_kernel,
    normalise_noise,
    psf_convolve,
    psf_fwhm_pix,
    random_resized_crop,
    robust_stats,
    stretch,
)

FWHM_TO_SIGMA = 1 / (2 * math.sqrt(2 * math.log(2)))


def _gaussian_image(fwhm, n=129, amplitude=1.0, x0=0.0, y0=0.0):
    s = fwhm * FWHM_TO_SIGMA
    r = torch.arange(n, dtype=torch.float64) - n // 2
    return amplitude * torch.exp(-0.5 * ((r[None, :] - x0) ** 2 + (r[:, None] - y0) ** 2) / s**2)


def _second_moment_fwhm(image):
    n = image.shape[-1]
    r = torch.arange(n, dtype=torch.float64) - n // 2
    total = image.sum()
    var_x = (image * r[None, :] ** 2).sum() / total
    var_y = (image * r[:, None] ** 2).sum() / total
    return float(torch.sqrt((var_x + var_y) / 2)) / FWHM_TO_SIGMA


def test_dihedral_group_keeps_flux_and_is_a_group():
    image = torch.rand(2, 17, 23, generator=torch.Generator().manual_seed(0))
    seen = set()
    for k in range(8):
        out = dihedral(image, k)
        assert out.sum().item() == pytest.approx(image.sum().item(), rel=1e-6)
        assert sorted(out.flatten().tolist()) == sorted(image.flatten().tolist())  # a permutation
        seen.add(out[0].numpy().tobytes())
    assert len(seen) == 8
    # rotating four times by 90 degrees is the identity; flips are involutions
    assert torch.equal(dihedral(dihedral(dihedral(dihedral(image, 1), 1), 1), 1), image)
    assert torch.equal(dihedral(dihedral(image, 4), 4), image)
    with pytest.raises(InputError):
        dihedral(image, 8)


def test_noise_injection_has_requested_rms():
    gen = torch.Generator().manual_seed(1)
    base = torch.zeros(1, 256, 256)
    for rms, kernel in (
        (2.5e-5, None),
        (2.5e-5, gaussian_kernel(4.0)),
        (3.0, gaussian_kernel(2.0)),
    ):
        noisy = add_noise(base, rms, kernel, gen)
        assert abs(noisy.std().item() / rms - 1) < 0.05
    # correlation: neighbours of beam-correlated noise are strongly correlated
    n = correlated_noise((256, 256), 1.0, gaussian_kernel(4.0), gen, torch.float64)
    corr = torch.corrcoef(torch.stack([n[:, :-1].flatten(), n[:, 1:].flatten()]))[0, 1]
    # a Gaussian of FWHM 4 px convolved with itself: rho(1 px) = exp(-1 / (4 sigma^2))
    assert abs(corr.item() - math.exp(-1 / (4 * (4 * FWHM_TO_SIGMA) ** 2))) < 0.03


def test_normalisation_gives_unit_mad_rms():
    gen = torch.Generator().manual_seed(2)
    image = 3e-5 * torch.randn(2, 64, 64, generator=gen) + 1e-4
    image[0, 10:14, 10:14] += 5e-3  # a bright source barely moves the MAD
    out = normalise_noise(image)
    for c in range(2):
        values = out[c].numpy().astype(np.float64)
        mad = np.median(np.abs(values - np.median(values)))
        assert abs(1.4826 * mad - 1) < 1e-5
        assert abs(np.median(values)) < 1e-5
    torch.testing.assert_close(robust_stats(out)[1][..., 0, 0], torch.ones(2), rtol=1e-5, atol=0)


def test_stretches():
    x = torch.tensor([-10.0, -3.0, 0.0, 3.0, 50.0, 100.0])
    clip = stretch(x, "clip", clip_sigma=(-3.0, 50.0))
    torch.testing.assert_close(clip, torch.tensor([0.0, 0.0, 3 / 53, 6 / 53, 1.0, 1.0]))
    torch.testing.assert_close(stretch(x, "arcsinh", asinh_scale=3.0), torch.asinh(x / 3.0))
    with pytest.raises(InputError):
        stretch(x, "log")


def test_psf_convolution_with_delta_is_identity():
    image = torch.randn(1, 40, 48, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    for size in (1, 9, 16, 101):  # odd, even (centre at size//2), larger than the image
        delta = torch.zeros(size, size)
        delta[size // 2, size // 2] = 0.25  # any amplitude: normalised to peak 1 / sum 1
        for normalize in ("peak", "sum"):
            torch.testing.assert_close(psf_convolve(image, delta, normalize), image)


def test_psf_convolution_peak_convention_and_centring():
    sky = torch.zeros(1, 64, 64, dtype=torch.float64)
    sky[0, 20, 30] = 2.0  # 2 Jy/pixel point source
    psf = _gaussian_image(3.0, n=31)
    dirty = psf_convolve(sky, psf, "peak")
    assert dirty.max().item() == pytest.approx(2.0)  # reads 2 Jy/beam
    assert tuple(np.unravel_index(int(dirty.argmax()), dirty.shape)) == (0, 20, 30)
    assert psf_convolve(sky, psf, "sum").sum().item() == pytest.approx(2.0)


def test_gaussian_beam_change_reaches_target_width():
    b1, b2 = 3.0, 6.5
    source = _gaussian_image(b1, amplitude=1e-3)  # a point source seen by beam b1, Jy/beam
    out = change_beam(source, b1, b2)
    assert _second_moment_fwhm(out) == pytest.approx(b2, rel=5e-3)
    assert out.max().item() == pytest.approx(1e-3, rel=5e-3)  # still its flux in Jy/beam
    # total flux = sum / beam area is kept
    assert (out.sum() / b2**2).item() == pytest.approx((source.sum() / b1**2).item(), rel=1e-6)
    with pytest.raises(InputError):
        change_beam(source, b2, b1)


def test_psf_fwhm_measurement():
    for fwhm in (2.5, 4.0, 7.3):
        assert psf_fwhm_pix(_gaussian_image(fwhm, n=64).numpy()) == pytest.approx(fwhm, rel=0.02)


def test_random_resized_crop_keeps_surface_brightness():
    gen = torch.Generator().manual_seed(4)
    flat = torch.full((1, 64, 64), 7e-5)
    for size in (16, 96):  # shrink and enlarge: a constant stays that constant (Jy/beam)
        out = random_resized_crop(flat, size, (0.05, 1.0), generator=gen)
        assert out.shape == (1, size, size)
        torch.testing.assert_close(out, torch.full_like(out, 7e-5))


def test_multicrop_views_and_reproducibility():
    gen = torch.Generator().manual_seed(5)
    image = torch.randn(2, 48, 48, generator=gen)
    image[0, 20:24, 20:24] += 40
    image[1] = image[0] * 3 + torch.randn(48, 48, generator=gen)
    psfs = np.stack([_gaussian_image(3.0, n=15).numpy()] * 2)
    cfg = AugmentConfig(global_size=32, local_size=16, n_local=3, p_beam=0.5, p_psf=0.5, p_noise=1)
    mc = RadioMultiCrop(cfg, psfs=psfs)
    assert mc.beam_fwhm(1) == pytest.approx(3.0, rel=0.02)
    a = mc(image, torch.Generator().manual_seed(9), field_id=1)
    b = mc(image, torch.Generator().manual_seed(9), field_id=1)
    c = mc(image, torch.Generator().manual_seed(10), field_id=1)
    assert [tuple(v.shape) for v in a] == [(1, 32, 32)] * 2 + [(1, 16, 16)] * 3
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(torch.equal(x, y) for x, y in zip(a, c, strict=True))
    assert all(v.dtype == torch.float32 and torch.isfinite(v).all() for v in a)
    ev = mc.eval_view(image)
    assert ev.shape == (1, 32, 32)


def test_paired_views_use_both_products():
    # product 1 carries a marker pixel: exactly one global view must show it
    raw = RadioMultiCrop(AugmentConfig(global_size=32, n_local=0, global_scale=(1, 1),
                                       dihedral=False, p_beam=0, p_psf=0, p_noise=0,
                                       stretch="none"))  # fmt: skip
    marked = torch.stack([torch.randn(32, 32), 100 + torch.randn(32, 32)])
    marked[1, 0, 0] = 1e4  # a marker pixel only product 1 has
    for seed in range(5):
        v = raw(marked, torch.Generator().manual_seed(seed))
        has_marker = [bool(x.max() > 1000) for x in v]
        assert sorted(has_marker) == [False, True]


def test_config_validation():
    with pytest.raises(InputError):
        AugmentConfig(global_scale=(0.0, 1.0))
    with pytest.raises(InputError):
        AugmentConfig(beam_factor=(0.5, 1.0))
    with pytest.raises(InputError):
        AugmentConfig(stretch="solarize")
