import dataclasses
import warnings

import numpy as np
import pytest

from meersim.grid import Grid
from meersim.observe.export import read_visibilities, to_uvdata, write_ms, write_uvh5
from meersim.observe.telescope import Array
from meersim.observe.uvcoverage import ObservationSetup
from meersim.observe.visibilities import simulate_visibilities
from meersim.types import Sky

RA, DEC = 150.0, -30.0
GRID = Grid(256, 256, 30.0, RA, DEC, (1.4e9,))
# 4 antennas within ~50 m: short baselines keep nutation/aberration (~20") phase errors small.
ARRAY = Array(
    names=("a0", "a1", "a2", "a3"), enu_m=[[0, 0, 0], [30, 5, 1], [-10, 40, 0], [25, -35, 0]]
)
SETUP = ObservationSetup(hours=1.0, dump_s=600.0, nchan=2, freq_centre_hz=1.4e9, bandwidth_hz=10e6,
                         noise=True, target_rms_jy=0.05, rfi_fraction=0.2, seed=2)  # fmt: skip
DX, DY = -60, 40  # source offset (pixels): 30' west... x grows to the west


def _vis():
    data = np.zeros(GRID.shape, np.float32)
    cx, cy = GRID.centre_pixel
    data[0, cy + DY, cx + DX] = 1.0
    return simulate_visibilities(Sky(data, GRID), SETUP, ARRAY)


@pytest.fixture(scope="module")
def vis():
    return _vis()


def test_uvw_agree_with_pyuvdata_geometry(vis):
    uvd = to_uvdata(vis)
    recomputed = uvd.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        recomputed.set_uvws_from_antenna_positions()
    # pyuvdata uses apparent coordinates (nutation, aberration): < 1e-4 rad apart
    lengths = np.linalg.norm(vis.uvw, axis=1)
    assert np.all(np.linalg.norm(recomputed.uvw_array - vis.uvw, axis=1) < 1e-4 * lengths + 1e-3)


def test_phase_sign_matches_pyuvdata(vis):
    """Re-phasing onto the point source with pyuvdata must remove its fringe."""
    noiseless = simulate_visibilities(
        Sky(_vis_sky(), GRID), dataclasses.replace(SETUP, noise=False), ARRAY
    )
    ra, dec = GRID.pixel_to_world(GRID.centre_pixel[0] + DX, GRID.centre_pixel[1] + DY)
    uvd = to_uvdata(noiseless)
    before = np.abs(np.angle(uvd.data_array[..., 0])).max()
    uvd.phase(ra=np.radians(float(ra)), dec=np.radians(float(dec)), cat_name="source")
    after = np.abs(np.angle(uvd.data_array[..., 0])).max()
    assert before > 1.0 and after < 0.1


def _vis_sky():
    data = np.zeros(GRID.shape, np.float32)
    cx, cy = GRID.centre_pixel
    data[0, cy + DY, cx + DX] = 1.0
    return data


def _assert_same(back, vis):
    np.testing.assert_allclose(back.uvw, vis.uvw, atol=1e-6)
    np.testing.assert_allclose(back.vis, vis.vis, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(back.weight, vis.weight, rtol=1e-5)
    np.testing.assert_array_equal(back.flag, vis.flag)
    np.testing.assert_array_equal(back.antenna1, vis.antenna1)
    np.testing.assert_array_equal(back.antenna2, vis.antenna2)
    np.testing.assert_allclose(back.freqs, vis.freqs)
    np.testing.assert_allclose(back.time_mjd_s, vis.time_mjd_s, atol=1e-3)
    assert back.channel_width_hz == pytest.approx(vis.channel_width_hz)
    assert back.integration_s == pytest.approx(vis.integration_s)
    assert (back.meta["ra_deg"], back.meta["dec_deg"]) == pytest.approx((RA, DEC))


def test_uvh5_round_trip(vis, tmp_path):
    assert vis.flag.any() and not vis.flag.all()
    path = write_uvh5(vis, tmp_path / "obs.uvh5", SETUP)
    _assert_same(read_visibilities(path), vis)


def test_measurement_set_round_trip(vis, tmp_path):
    pytest.importorskip("casacore.tables")
    path = write_ms(vis, tmp_path / "obs.ms", SETUP)
    _assert_same(read_visibilities(path), vis)
    # what CASA/WSClean see: the MS DATA and UVW columns directly
    from casacore.tables import table

    with table(str(path), ack=False) as ms:
        data = ms.getcol("DATA")
        assert data.shape == (vis.nrow, vis.nchan, 2)
        np.testing.assert_allclose(data[..., 0], data[..., 1])
        uvw = ms.getcol("UVW")
    # pyuvdata's CASA convention (flip_conj): UVW = ant1 - ant2 with DATA = meersim's vis
    np.testing.assert_allclose(data[..., 0], vis.vis, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(uvw, -vis.uvw, atol=1e-6)


def test_reading_a_missing_file_is_an_input_error(tmp_path):
    from meersim.errors import InputError

    with pytest.raises(InputError, match="does not exist"):
        read_visibilities(tmp_path / "nope.uvh5")
