import dataclasses

import numpy as np
import pytest

from meersim.config import from_dict
from meersim.errors import InputError
from meersim.observe.telescope import Array, load_array
from meersim.observe.uvcoverage import (
    ObservationSetup,
    channel_freqs,
    enu_to_xyz,
    uv_tracks,
    xyz_to_uvw,
)

SETUP = ObservationSetup(ra_deg=150.0, dec_deg=-30.0, hours=4.0, dump_s=600.0, nchan=3)


def test_channels_span_the_band():
    freqs = channel_freqs(ObservationSetup(nchan=4, freq_centre_hz=1.284e9, bandwidth_hz=800e6))
    np.testing.assert_allclose(freqs, [0.984e9, 1.184e9, 1.384e9, 1.584e9])
    assert freqs.mean() == pytest.approx(1.284e9)


def test_tracks_shape_order_and_antenna_convention():
    array = load_array("meerkat", antennas=6)
    t = uv_tracks(array, SETUP)
    nbl = 15
    assert t.n_times == 24 and t.nrow == 24 * nbl
    assert t.flag.shape == (t.nrow, 3)
    assert np.all(t.antenna1 < t.antenna2)
    # time-major rows: one time per block of baselines
    assert np.all(np.diff(t.time_mjd_s.reshape(24, nbl), axis=1) == 0)
    np.testing.assert_allclose(np.diff(t.time_mjd_s[::nbl]), 600.0)
    # symmetric about transit
    ha = t.hour_angle_h[::nbl]
    assert ha[0] == pytest.approx(-ha[-1], abs=1e-9)
    # |uvw| equals the baseline length (a rotation), and u, v follow ant2 - ant1
    lengths = np.linalg.norm(array.enu_m[t.antenna2] - array.enu_m[t.antenna1], axis=1)
    np.testing.assert_allclose(np.linalg.norm(t.uvw, axis=1), lengths, rtol=1e-12)


def test_uvw_geometry_special_cases():
    lat = -30.7
    # An east-west baseline at transit (H=0): u = length, v = w = 0.
    uvw = xyz_to_uvw(enu_to_xyz([100.0, 0, 0], lat), 0.0, np.radians(-45.0))
    np.testing.assert_allclose(uvw, [100.0, 0.0, 0.0], atol=1e-12)
    # A north-south baseline observing the zenith at transit: (0, 100, 0).
    uvw = xyz_to_uvw(enu_to_xyz([0, 100.0, 0], lat), 0.0, np.radians(lat))
    np.testing.assert_allclose(uvw, [0.0, 100.0, 0.0], atol=1e-12)
    # A vertical baseline pointing at the zenith is all w.
    uvw = xyz_to_uvw(enu_to_xyz([0, 0, 10.0], lat), 0.0, np.radians(lat))
    np.testing.assert_allclose(uvw, [0.0, 0.0, 10.0], atol=1e-12)


def test_elevation_limit_flags_low_samples():
    array = Array(names=("a", "b", "c"), enu_m=[[0, 0, 0], [50, 0, 0], [0, 60, 0]])
    # Dec +30 from latitude -30.7: transit at ~29 deg, so a 10 h track dips below 20 deg.
    setup = ObservationSetup(ra_deg=10.0, dec_deg=30.0, hours=10.0, dump_s=900.0, nchan=2,
                             elevation_limit_deg=20.0)  # fmt: skip
    t = uv_tracks(array, setup)
    low = t.elevation_deg < 20.0
    assert 0 < low.sum() < t.nrow
    np.testing.assert_array_equal(t.flag, np.repeat(low[:, None], 2, axis=1))
    assert t.elevation_deg.max() == pytest.approx(90 - abs(-30.711 - 30.0), abs=0.5)


def test_source_that_never_rises_raises_with_highest_elevation():
    array = load_array("meerkat", antennas=4)
    with pytest.raises(InputError, match=r"highest elevation is 9\.29 deg"):
        uv_tracks(array, dataclasses.replace(SETUP, dec_deg=50.0))
    with pytest.raises(InputError, match="whole track lies below"):
        uv_tracks(array, ObservationSetup(ra_deg=0, dec_deg=40.0, hours=1.0, ha_start_h=8.0,
                                          elevation_limit_deg=10.0))  # fmt: skip


def test_rfi_flags_whole_time_channel_cells_reproducibly():
    array = load_array("meerkat", antennas=5)
    setup = dataclasses.replace(SETUP, rfi_fraction=0.3, elevation_limit_deg=0.0, nchan=8)
    t = uv_tracks(array, setup)
    cells = t.flag.reshape(t.n_times, 10, 8)
    assert np.all(cells == cells[:, :1, :])  # every baseline of a (time, channel) cell
    assert 0.15 < cells[:, 0, :].mean() < 0.45
    np.testing.assert_array_equal(uv_tracks(array, setup).flag, t.flag)
    other = uv_tracks(array, dataclasses.replace(setup, seed=5)).flag
    assert not np.array_equal(other, t.flag)


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"hours": 0}, "hours"),
        ({"dump_s": -1}, "dump_s"),
        ({"nchan": 0}, "nchan"),
        ({"dec_deg": 95.0}, "dec_deg"),
        ({"ra_deg": None}, "ra_deg/dec_deg"),
        ({"rfi_fraction": 1.0}, "rfi_fraction"),
        ({"target_rms_jy": -1e-6}, "target_rms_jy"),
        ({"bandwidth_hz": 3e9}, "bandwidth_hz"),
        ({"seed": -1}, "seed"),
    ],
)
def test_setup_validation(changes, field):
    values = {"ra_deg": 150.0, "dec_deg": -30.0}
    values.update(changes)
    with pytest.raises(InputError) as err:
        ObservationSetup(**values)
    assert err.value.field == field


def test_setup_from_yaml_mapping_is_strict():
    setup = from_dict(ObservationSetup, {"hours": 2, "nchan": 4, "antennas": 16}, "obs.yaml")
    assert setup.hours == 2.0 and setup.antennas == 16
    with pytest.raises(InputError, match="unknown key"):
        from_dict(ObservationSetup, {"hour": 2}, "obs.yaml")
