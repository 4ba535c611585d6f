"""mode fast: emulated CLEAN products, their consistency, config errors, torch path, scheduler."""

import time

import numpy as np
import pytest
import scipy.ndimage
import yaml
from scipy.stats import ks_2samp

from meersim.clean.config import CleanConfig
from meersim.config import from_dict
from meersim.datasets.build import DatasetConfig, build_dataset, example_config_path
from meersim.datasets.emulate import (
    MFS_SPECTRUM_EDGES,
    FastConfig,
    beam_kernel,
    emulate_clean,
    radial_gain,
)
from meersim.datasets.fields import simulate_field
from meersim.errors import InputError
from meersim.grid import Grid
from meersim.imaging.beamfit import convolve_centred, convolve_with_beam
from meersim.imaging.fftconv import FFTOps
from meersim.observe.fast import observe_parts
from meersim.observe.uvcoverage import ObservationSetup, channel_freqs
from meersim.stats import robust_rms
from meersim.types import Sky


def tiny(**overrides) -> DatasetConfig:
    """The shipped example in mode fast, shrunk to 160^2 fields of 20"."""
    data = yaml.safe_load(example_config_path().read_text())
    data.update(n_fields=2, seed=3, mode="fast")
    data["field"].update(npix=160, cell_arcsec=20.0, margin_arcsec=0.0, flux_min_jy=3e-3,
                         flux_max_jy=0.05)  # fmt: skip
    data["observation"] = {"hours": 1.0, "dump_s": 900.0, "nchan": 2, "antennas": 16}
    data["clean"] = {"threshold_sigma": 3.0}
    data["crops"].update(size=64, stride=48, psf_size=32)
    data.update(overrides)
    return from_dict(DatasetConfig, data, "tiny config")


def _parts(flux_jy=0.05, noise=True, nchan=2):
    """One flat-spectrum point source of ``flux_jy`` at the centre of a 96^2 field of 20"."""
    setup = ObservationSetup(hours=1.0, dump_s=900.0, nchan=nchan, antennas=16, seed=5,
                             noise=noise, target_rms_jy=2e-4)  # fmt: skip
    freqs = tuple(float(f) for f in np.atleast_1d(channel_freqs(setup)))
    grid = Grid(96, 96, 20.0, 150.0, -30.0, freqs)
    data = np.zeros(grid.shape, np.float32)
    data[:, 48, 48] = flux_jy
    return observe_parts(Sky(data, grid), setup, nthreads=1)


def realistic(mode: str) -> DatasetConfig:
    """The example at the calibration's settings (2" cells, 64 antennas, 4 h, 4 channels),
    on eight 256^2 fields cut into 64-px crops: 200 crops, real CLEAN run to its threshold."""
    data = yaml.safe_load(example_config_path().read_text())
    data.update(n_fields=8, seed=7, mode=mode, products=["restored", "residual"])
    data["field"]["npix"] = 256
    data["observation"].update(hours=4.0, dump_s=480.0, nchan=4)
    data["clean"] = {"threshold_sigma": 3.0}
    if mode == "vis":
        data["clean"].update(niter=1000000, max_major=20)
    data["crops"].update(size=64, stride=48, psf_size=32)
    return from_dict(DatasetConfig, data, "validation config")


def per_crop_statistics(config: DatasetConfig) -> dict[str, np.ndarray]:
    """Residual rms, and the count, brightest peak and summed flux of the >5 sigma islands
    of each restored crop (8-connected; the flux as the sum of their pixels, Jy/beam)."""
    stats = {"residual rms": [], "islands": [], "brightest peak": [], "island flux": []}
    for fid in range(config.n_fields):
        result = simulate_field(config, fid)
        for restored, residual in zip(result.arrays["restored"], result.arrays["residual"],
                                      strict=True):  # fmt: skip
            sigma = robust_rms(residual)
            labels, n = scipy.ndimage.label(restored > 5 * sigma, np.ones((3, 3)))
            stats["residual rms"].append(sigma)
            stats["islands"].append(n)
            stats["brightest peak"].append(restored.max() if n else 0.0)
            stats["island flux"].append(restored[labels > 0].sum())
    return {name: np.asarray(values, float) for name, values in stats.items()}


def test_fast_agrees_with_real_clean_on_the_same_fields():
    # the full check (13 fields of 1024^2, 208 crops of 256 px): bench/fast_validation.py
    real = per_crop_statistics(realistic("vis"))
    emulated = per_crop_statistics(realistic("fast"))
    assert len(real["residual rms"]) == 200
    for name, tolerance in (("residual rms", 0.025), ("islands", 0.1), ("brightest peak", 0.1),
                            ("island flux", 0.1)):  # fmt: skip
        a, b = real[name], emulated[name]
        assert np.median(b) == pytest.approx(np.median(a), rel=tolerance), name
        assert ks_2samp(a, b).pvalue > 0.01, name


def test_products_are_consistent_and_the_bright_source_is_cleaned():
    parts = _parts()
    obs, result = emulate_clean(parts, CleanConfig(threshold_sigma=3.0), FastConfig())
    # restored = model * clean beam + residual; dirty = residual + model * PSF
    restored = convolve_with_beam(result.model, result.beam, obs.grid.cell_arcsec)
    np.testing.assert_allclose(result.restored, restored + result.residual, atol=2e-5 * 0.05)
    model_dirty = convolve_centred(result.model, parts.psf)
    np.testing.assert_allclose(obs.dirty, result.residual + model_dirty, atol=1e-5 * 0.05)
    # the 50 mJy source (~250 sigma) is in the model; what is left of it is below the level
    level = result.threshold_jy
    assert 0.9 * 0.05 < result.model.sum() < 1.0 * 0.05
    assert np.abs(result.residual).max() < 3 * level
    assert result.stop_reason.startswith("emulated") and result.n_major == 0
    assert result.noise_rms == pytest.approx(robust_rms(result.residual))


def test_leftover_sets_the_brightness_left_on_a_source():
    parts = _parts(noise=False, nchan=1)
    config = CleanConfig(threshold=1e-3, threshold_sigma=None)  # level 1 mJy/beam
    _, none_left = emulate_clean(parts, config, FastConfig(leftover=0.0))
    _, most_left = emulate_clean(parts, config, FastConfig(leftover=1.0))
    centre = np.unravel_index(np.argmax(none_left.restored), none_left.restored.shape)
    assert abs(none_left.residual[centre]) < 0.1e-3
    assert most_left.residual[centre] == pytest.approx(1e-3, rel=0.15)
    assert none_left.model.sum() > most_left.model.sum()


def _steep_parts():
    """A 0.5 Jy source of spectral index -2 off the centre of a noiseless 96^2 field, 4 channels."""
    setup = ObservationSetup(hours=1.0, dump_s=900.0, nchan=4, antennas=16, seed=5, noise=False)
    freqs = np.atleast_1d(channel_freqs(setup)).astype(float)
    grid = Grid(96, 96, 20.0, 150.0, -30.0, tuple(freqs))
    data = np.zeros(grid.shape, np.float32)
    data[:, 40, 55] = 0.5 * (freqs / freqs.mean()) ** -2.0
    return observe_parts(Sky(data, grid), setup, nthreads=1)


def test_radial_gain_holds_each_bins_gain_at_its_centre():
    gains = tuple(float(g) for g in np.linspace(0.5, 2.0, 10))
    gain = radial_gain(gains, (512, 512))
    edges = np.asarray(MFS_SPECTRUM_EDGES)
    centres = np.sqrt(edges[1:] * edges[:-1])  # cycles/px
    k = np.hypot(np.fft.fftfreq(512)[:, None], np.fft.rfftfreq(512)[None, :])
    for centre, expected in zip(centres, gains, strict=True):
        nearest = np.unravel_index(np.argmin(np.abs(k - centre)), k.shape)
        assert gain[nearest] == pytest.approx(expected, abs=0.02)
    assert gain[0, 0] == pytest.approx(0.5) and gain[256, 256] == pytest.approx(2.0)


def test_mfs_spectrum_filters_the_mfs_error_by_spatial_frequency():
    parts = _steep_parts()
    config = CleanConfig(threshold=1e-3, threshold_sigma=None)
    without = emulate_clean(parts, config, FastConfig(mfs_error=0.0))[0].dirty
    flat = emulate_clean(parts, config, FastConfig(mfs_spectrum=(1.0,) * 10))[0].dirty
    cut = emulate_clean(parts, config, FastConfig(mfs_spectrum=(1.0,) * 7 + (0.0,) * 3))[0].dirty
    taper = np.outer(np.hanning(96), np.hanning(96))  # keeps the field's edges from leaking
    spectra = [np.abs(np.fft.rfft2(taper * (d - without))) ** 2 for d in (flat, cut)]
    k = np.hypot(np.fft.fftfreq(96)[:, None], np.fft.rfftfreq(96)[None, :])
    low, high = k < 0.1, k > 0.2  # gain 1 below bin 6's centre, 0 above bin 7's
    assert spectra[0][high].sum() > 1e-3 * spectra[0].sum()  # the MFS error reaches high k
    # the cut term's spectrum is the flat one's times the gain^2: nothing left at high k
    assert spectra[1][high].sum() < 1e-4 * spectra[0][high].sum()
    assert spectra[1][low].sum() == pytest.approx(spectra[0][low].sum(), rel=0.01)
    # the same filtered MFS term on the torch path
    pytest.importorskip("torch")
    cut_torch = emulate_clean(parts, config, FastConfig(mfs_spectrum=(1.0,) * 7 + (0.0,) * 3,
                                                        device="torch-cpu"))[0].dirty  # fmt: skip
    np.testing.assert_allclose(cut_torch, cut, atol=1e-5 * np.abs(cut).max())


def test_field_is_deterministic_and_all_products_are_finite():
    config = tiny()
    a, b = simulate_field(config, 1), simulate_field(config, 1)
    assert set(a.arrays) == {"sky", "dirty", "restored", "residual", "model"}
    for name, crops in a.arrays.items():
        assert np.all(np.isfinite(crops)), name
        np.testing.assert_array_equal(crops, b.arrays[name])
    assert a.params["clean_stop"].startswith("emulated")


def test_torch_path_on_cpu_matches_numpy():
    pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    image = rng.standard_normal((40, 48)).astype(np.float32)
    kernel = rng.standard_normal((80, 96)).astype(np.float32)
    small = rng.standard_normal((7, 7)).astype(np.float32)
    amplitude = np.abs(rng.standard_normal((80, 96))).astype(np.float32)
    cpu, torch_cpu = FFTOps("cpu", 1), FFTOps("torch-cpu")
    np.testing.assert_allclose(torch_cpu.convolve_centred(image, torch_cpu.centred_kernel(kernel)),
                               cpu.convolve_centred(image, cpu.centred_kernel(kernel)),
                               atol=1e-4)  # fmt: skip
    exact = convolve_centred(image, kernel)  # float64 reference
    np.testing.assert_allclose(cpu.convolve_centred(image, cpu.centred_kernel(kernel)), exact,
                               atol=1e-4)  # fmt: skip
    np.testing.assert_allclose(torch_cpu.convolve_small(image, small),
                               cpu.convolve_small(image, small), atol=1e-4)  # fmt: skip
    a = cpu.coloured_noise(amplitude, np.random.default_rng(1), 40, 48)
    b = torch_cpu.coloured_noise(amplitude, np.random.default_rng(1), 40, 48)
    np.testing.assert_allclose(b, a, atol=1e-5 * np.abs(a).max())
    # the whole emulation on the torch path
    parts = _parts()
    _, r_np = emulate_clean(parts, CleanConfig(), FastConfig(device="cpu"))
    _, r_t = emulate_clean(parts, CleanConfig(), FastConfig(device="torch-cpu"))
    scale = np.abs(r_np.restored).max()
    np.testing.assert_allclose(r_t.restored, r_np.restored, atol=1e-5 * scale)


def test_beam_kernel_matches_the_full_beam_convolution():
    parts = _parts(noise=False)
    image = np.zeros((96, 96), np.float32)
    image[40, 50] = 1.0
    small = FFTOps("cpu", 1).convolve_small(image, beam_kernel(parts.beam, 20.0, 96))
    full = convolve_with_beam(image, parts.beam, 20.0)
    np.testing.assert_allclose(small, full, atol=1e-6)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"clean": {"multiscale": True}}, "clean.multiscale"),
        ({"clean": {"scales": [0, 2]}}, "clean.scales"),
        ({"clean": {"image_plane_only": True}}, "clean.image_plane_only"),
        ({"clean": {"threshold_sigma": None}}, "clean.threshold_sigma"),
        ({"fast": {"leftover": 2.0}}, "fast.leftover"),
        ({"fast": {"mfs_spectrum": [1.0, 1.0]}}, "fast.mfs_spectrum"),
        ({"fast": {"mfs_spectrum": [1.0] * 9 + [5.0]}}, "fast.mfs_spectrum"),
        ({"fast": {"device": "tpu"}}, "device"),
        ({"mode": "vis", "fast": {"leftover": 0.5}}, "fast"),
    ],
)
def test_bad_fast_configs_name_the_key(overrides, field):
    with pytest.raises(InputError) as err:
        tiny(**overrides)
    assert err.value.field == field
    assert "\n" not in str(err.value)


def test_dead_scheduler_fails_fast_with_a_clear_message(tmp_path):
    pytest.importorskip("distributed")
    tick = time.perf_counter()
    with pytest.raises(InputError) as err:
        build_dataset(
            tiny(n_fields=1), tmp_path / "ds", scheduler="tcp://127.0.0.1:9", progress=False
        )
    assert time.perf_counter() - tick < 15
    assert err.value.field == "--scheduler" and "127.0.0.1:9" in str(err.value)
    assert not (tmp_path / "ds" / "manifest.json").exists()


def test_device_option_needs_mode_fast_and_is_not_part_of_the_resume_key(tmp_path):
    from meersim.datasets.build import _config_record, build_from_yaml

    path = tmp_path / "image.yaml"
    path.write_text(yaml.safe_dump({**yaml.safe_load(example_config_path().read_text()),
                                    "mode": "image"}))  # fmt: skip
    with pytest.raises(InputError) as err:
        build_from_yaml(path, tmp_path / "ds", device="torch-cpu", progress=False)
    assert err.value.field == "--device"
    assert "fast" not in _config_record(tiny(mode="image", clean={"threshold_sigma": 3.0}))
    record = _config_record(tiny(fast={"device": "torch-cpu"}))
    assert record["fast"] == {
        "leftover": FastConfig().leftover,
        "mfs_error": FastConfig().mfs_error,
        "mfs_spectrum": list(FastConfig().mfs_spectrum),
    }
