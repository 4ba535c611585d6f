"""Sources beyond the grid: direct Fourier sum against the gridder, and their sidelobes."""

import numpy as np
import pytest
from astropy import units as u
from astropy.table import QTable

from meersim.clean.config import CleanConfig
from meersim.clean.major import clean
from meersim.grid import Grid
from meersim.imaging.weighting import Weighting
from meersim.observe.observe import observe
from meersim.observe.uvcoverage import ObservationSetup, channel_freqs
from meersim.types import Sky

RA, DEC = 150.0, -30.0
SETUP = ObservationSetup(array="meerkat", antennas=16, ra_deg=RA, dec_deg=DEC, hours=2.0,
                         dump_s=300.0, nchan=2, noise=False, seed=1)  # fmt: skip
GRID = Grid(128, 128, 8.0, RA, DEC, tuple(channel_freqs(SETUP)))


def _points(grid, pixels, fluxes):
    ra, dec = grid.pixel_to_world([p[0] for p in pixels], [p[1] for p in pixels])
    t = QTable()
    t["ra"], t["dec"] = np.atleast_1d(ra) * u.deg, np.atleast_1d(dec) * u.deg
    t["flux"] = np.asarray(fluxes, float) * u.Jy
    t["ref_freq"] = np.full(len(fluxes), 1.284e9) * u.Hz
    t["spectral_index"] = np.full(len(fluxes), -0.7)
    return t


def _sky_with(points, fluxes):
    data = np.zeros(GRID.shape, np.float32)
    for (x, y), s in zip(points, fluxes, strict=True):
        data[:, y, x] = s * (GRID.freqs / 1.284e9) ** -0.7
    return Sky(data, GRID)


@pytest.mark.parametrize("mode", ["vis", "image"])
def test_outside_sum_equals_gridded_source_on_the_grid(mode):
    """A component passed as 'outside' but lying on a pixel gives that pixel's exact dirty
    image (vis mode; image mode approximates the in-grid sky with the band PSF, so it is
    compared with vis mode too)."""
    pixels, fluxes = [(90, 40), (20, 100)], [1.0, 0.5]
    weighting = Weighting("briggs", 0.0)
    on_grid = observe(_sky_with(pixels, fluxes), SETUP, weighting, mode="vis")
    empty = Sky(np.zeros(GRID.shape, np.float32), GRID)
    direct = observe(empty, SETUP, weighting, mode=mode, outside=_points(GRID, pixels, fluxes))
    assert direct.outside_dirty is not None and on_grid.outside_dirty is None
    peak = float(np.abs(on_grid.dirty).max())
    assert peak > 0.4
    np.testing.assert_allclose(direct.dirty, on_grid.dirty, atol=2e-3 * peak)
    np.testing.assert_allclose(direct.outside_dirty, direct.dirty, atol=1e-6)


def test_bright_source_beyond_the_edge_leaves_sidelobes_clean_cannot_remove():
    """2 Jy 40 pixels beyond the east edge: its sidelobes cover the field and survive CLEAN."""
    beyond = _points(GRID, [(-40, 64)], [2.0])
    assert not GRID.contains(beyond["ra"].value, beyond["dec"].value)[0]
    setup = SETUP.with_pointing(RA, DEC)
    obs = observe(Sky(np.zeros(GRID.shape, np.float32), GRID), setup, mode="vis", outside=beyond)
    art = obs.outside_dirty
    peak = float(np.abs(art).max())
    assert peak > 0.01 * 2.0
    np.testing.assert_allclose(obs.dirty, art, atol=1e-6)
    result = clean(obs, CleanConfig(niter=200, threshold=1e-4, max_major=2))
    assert np.abs(result.residual).max() > 0.5 * peak
