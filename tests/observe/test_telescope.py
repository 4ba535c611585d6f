import numpy as np
import pytest

from meersim.errors import InputError
from meersim.observe.telescope import (
    MEERKAT_LAT_DEG,
    Array,
    ecef_to_enu,
    load_array,
    read_layout,
)


def test_meerkat_has_64_dishes_and_its_published_baseline_range():
    array = load_array("meerkat")
    pairs, lengths = array.baselines()
    assert array.n_antennas == 64 and array.dish_diameter_m == 13.5
    assert pairs.shape == (2016, 2) and len(lengths) == 2016
    assert 25.0 < lengths.min() < 35.0  # SARAO: 29 m
    assert 7500.0 < lengths.max() < 8000.0  # SARAO: 7.7 km
    assert array.lat_deg == pytest.approx(-30.711056, abs=1e-6)
    assert array.lon_deg == pytest.approx(21.443889, abs=1e-6)


def test_subarray_by_count_and_by_name():
    array = load_array("meerkat", antennas=8)
    assert array.names == tuple(f"m{k:03d}" for k in range(8))
    sub = load_array("meerkat", antennas=["m063", "m000", "m010"])
    assert sub.names == ("m063", "m000", "m010")
    full = load_array()
    np.testing.assert_array_equal(sub.enu_m[0], full.enu_m[63])
    assert load_array("meerkat", antennas="m001, m002").n_antennas == 2
    with pytest.raises(InputError, match="no antenna named"):
        load_array("meerkat", antennas=["m000", "x99"])
    with pytest.raises(InputError, match="asked for 65"):
        load_array("meerkat", antennas=65)


def test_enu_layout_file_with_centre_line(tmp_path):
    path = tmp_path / "mini.txt"
    path.write_text(
        "# a tiny array\n# centre: -30.0 21.0 1000\n"
        "a0, 0, 0, 0, 12\n a1 100 0 0 12\n\na2 0 50 1 12 # comment\n"
    )
    array = load_array(path)
    assert array.names == ("a0", "a1", "a2")
    assert array.dish_diameter_m == 12.0
    assert (array.lat_deg, array.lon_deg, array.height_m) == (-30.0, 21.0, 1000.0)
    assert sorted(np.round(array.baselines()[1], 3)) == [50.01, 100.0, 111.808]


def test_ecef_layout_round_trips_to_the_same_baselines(tmp_path):
    meerkat = load_array("meerkat", antennas=10)
    ecef = meerkat.ecef_m()
    path = tmp_path / "itrf.txt"
    path.write_text(
        "".join(
            f"{n} {x:.4f} {y:.4f} {z:.4f}\n"
            for n, (x, y, z) in zip(meerkat.names, ecef, strict=True)
        )
    )
    array = read_layout(path)  # auto-detects ECEF, centre = mean position
    assert array.meta["frame"] == "ecef"
    assert array.lat_deg == pytest.approx(MEERKAT_LAT_DEG, abs=0.01)
    np.testing.assert_allclose(array.baselines()[1], meerkat.baselines()[1], atol=1e-3)
    # about a given centre the ENU positions themselves come back
    again = read_layout(path, centre=(meerkat.lat_deg, meerkat.lon_deg, meerkat.height_m))
    np.testing.assert_allclose(again.enu_m, meerkat.enu_m, atol=1e-3)
    np.testing.assert_allclose(
        ecef_to_enu(ecef, meerkat.lat_deg, meerkat.lon_deg, meerkat.height_m),
        meerkat.enu_m,
        atol=1e-3,
    )


@pytest.mark.parametrize(
    "text, match",
    [
        ("a0 0 0\na1 1 1\n", "columns"),
        ("a0 0 0 zero\na1 1 1 1\n", "not numbers"),
        ("a0 0 0 0\n", "need >= 2"),
        ("a0 0 0 0 13.5\na1 10 0 0 12\n", "one dish type"),
        ("a0 0 0 0\na0 10 0 0\n", "not unique"),
    ],
)
def test_malformed_layout_files_raise_input_error(tmp_path, text, match):
    path = tmp_path / "bad.txt"
    path.write_text(text)
    with pytest.raises(InputError, match=match):
        load_array(path)


def test_unknown_array_name_and_bad_frame(tmp_path):
    with pytest.raises(InputError, match="neither a known array"):
        load_array("vla")
    path = tmp_path / "enu.txt"
    path.write_text("a 0 0 0\nb 10 0 0\n")
    with pytest.raises(InputError, match="frame is ECEF"):
        read_layout(path, frame="ecef")
    with pytest.raises(InputError, match="at least 2"):
        Array(names=("a",), enu_m=[[0, 0, 0]])
