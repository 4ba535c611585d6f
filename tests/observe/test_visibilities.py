import dataclasses

import numpy as np
import pytest

from meersim.errors import InputError
from meersim.grid import Grid
from meersim.imaging.gridder import vis_to_image
from meersim.observe.noise import natural_image_rms
from meersim.observe.primary_beam import primary_beam_gain
from meersim.observe.visibilities import (
    simulate_coverage,
    simulate_visibilities,
    sky_at_frequency,
    thermal_noise,
)
from meersim.types import Sky

RA, DEC = 150.0, -30.0
GRID = Grid(128, 128, 10.0, RA, DEC, (1.284e9,))
from meersim.observe.uvcoverage import ObservationSetup  # noqa: E402

SETUP = ObservationSetup(antennas=6, hours=2.0, dump_s=600.0, nchan=3, noise=False, seed=3)


def _point_sky(dx=0, dy=0, flux=1.0, grid=GRID):
    data = np.zeros(grid.shape, np.float32)
    cx, cy = grid.centre_pixel
    data[:, cy + dy, cx + dx] = flux
    return Sky(data, grid)


def test_point_source_at_phase_centre_gives_unit_visibilities():
    vis = simulate_visibilities(_point_sky(), SETUP)
    assert vis.vis.dtype == np.complex64 and vis.vis.shape == (12 * 15, 3)
    assert (vis.meta["ra_deg"], vis.meta["dec_deg"]) == (RA, DEC)  # pointing from the grid
    np.testing.assert_allclose(vis.vis, 1.0 + 0j, atol=1e-3)  # on-axis gain 0.9996-1 (squint)
    gain = [primary_beam_gain(0.0, 0.0, f) for f in vis.freqs]
    np.testing.assert_allclose(vis.vis, np.broadcast_to(gain, vis.vis.shape), atol=2e-5)


def test_off_centre_source_is_attenuated_by_the_primary_beam_and_lands_on_its_pixel():
    dx, dy = -30, 20  # 5' west, 3.3' north (x grows westward)
    vis = simulate_visibilities(_point_sky(dx, dy), SETUP)
    l, m = GRID.pixel_lm()
    cx, cy = GRID.centre_pixel
    for c, f in enumerate(vis.freqs):
        gain = primary_beam_gain(l[cy + dy, cx + dx], m[cy + dy, cx + dx], f)
        np.testing.assert_allclose(np.abs(vis.vis[:, c]), gain, rtol=2e-3)
    dirty = vis_to_image(vis.vis, vis.uvw, vis.freqs, 128, 128, GRID.cell_rad)
    assert np.unravel_index(np.argmax(dirty), dirty.shape) == (cy + dy, cx + dx)


def test_noise_only_visibilities_have_the_requested_sigma():
    setup = dataclasses.replace(SETUP, noise=True, target_rms_jy=1e-3, dump_s=120.0, antennas=8)
    vis = simulate_visibilities(Sky(np.zeros(GRID.shape, np.float32), GRID), setup)
    sigma = np.asarray(vis.meta["sigma_jy"])
    for c in range(vis.nchan):
        for part in (vis.vis[:, c].real, vis.vis[:, c].imag):
            assert np.std(part) == pytest.approx(sigma[c], rel=0.06)  # 1680 samples: ~1.7 % scatter
    np.testing.assert_allclose(
        vis.weight, np.broadcast_to(1 / sigma**2, vis.weight.shape), rtol=1e-6
    )
    assert natural_image_rms(vis.weight, vis.flag) == pytest.approx(1e-3, rel=1e-6)
    # reproducible from the seed
    again = simulate_visibilities(Sky(np.zeros(GRID.shape, np.float32), GRID), setup)
    np.testing.assert_array_equal(again.vis, vis.vis)


def test_thermal_noise_depends_on_the_seed_alone_not_the_threads():
    sigma = np.array([1.0, 3.0, 0.5])
    serial = thermal_noise(20000, sigma, seed=7, nthreads=1)
    parallel = thermal_noise(20000, sigma, seed=7, nthreads=3)
    assert serial.shape == (3, 20000) and serial.dtype == np.complex64
    np.testing.assert_array_equal(serial, parallel)
    for c, s in enumerate(sigma):
        for part in (serial[c].real, serial[c].imag):
            assert np.std(part) == pytest.approx(s, rel=0.03)  # 20000 samples: 0.5 % scatter
            assert abs(np.mean(part)) < 0.03 * s
    # channels are independent streams, and another seed gives other noise
    assert abs(np.corrcoef(serial[0].real, serial[1].real)[0, 1]) < 0.05
    assert not np.array_equal(thermal_noise(20000, sigma, seed=8, nthreads=1), serial)


def test_sefd_noise_matches_radiometer_equation():
    setup = dataclasses.replace(SETUP, noise=True, nchan=2, dump_s=300.0, antennas=8)
    vis = simulate_coverage(setup.with_pointing(RA, DEC))
    expected = np.interp(vis.freqs, [856e6, 1100e6, 1250e6, 1400e6, 1500e6, 1600e6, 1711e6],
                         [580, 443, 443, 424, 405, 405, 421]) / np.sqrt(2 * 385e6 * 300.0)  # fmt: skip
    np.testing.assert_allclose(vis.meta["sigma_jy"], expected, rtol=1e-12)
    assert not np.any(vis.vis)


def test_sky_spectrum_handling():
    grid2 = Grid(8, 8, 10.0, RA, DEC, (1.0e9, 1.6e9))
    data = np.ones(grid2.shape, np.float32)
    data[1] *= 0.5
    sky = Sky(data, grid2)
    assert sky_at_frequency(sky, 1.0e9)[0, 0] == 1.0
    mid = np.sqrt(1.0e9 * 1.6e9)  # log-frequency midpoint
    assert sky_at_frequency(sky, mid)[0, 0] == pytest.approx(0.75)
    assert sky_at_frequency(sky, 2.0e9)[0, 0] == 0.5  # clamped, no extrapolation
    flat = Sky(np.full((1, 8, 8), 2.0, np.float32), grid2.with_freqs((1.4e9,)))
    assert sky_at_frequency(flat, 0.9e9)[0, 0] == 2.0


def test_pointing_must_be_the_sky_centre():
    with pytest.raises(InputError, match="differs from the sky grid centre"):
        simulate_visibilities(_point_sky(), SETUP.with_pointing(RA + 0.1, DEC))
    ok = simulate_visibilities(_point_sky(), SETUP.with_pointing(RA + 360.0, DEC))
    assert ok.nrow == 180
