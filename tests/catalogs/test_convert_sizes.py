"""``convert`` keeps measured and deconvolved sizes apart; implausible FREQ0 warns."""

import astropy.units as u
import numpy as np
import pytest
from astropy.table import QTable, Table

from meersim.catalogs import read_catalog
from meersim.catalogs.writers import convert_catalog


def _srl(freq0=1.3e9):
    t = Table()
    t["Source_id"] = [0, 1]
    t["Isl_id"] = [0, 1]
    t["RA"] = [150.1, 150.2] * u.deg
    t["DEC"] = [2.1, 2.2] * u.deg
    t["Total_flux"] = [1e-3, 2e-4] * u.Jy
    t["Maj"] = [12 / 3600, 8 / 3600] * u.deg
    t["Min"] = [9 / 3600, 7 / 3600] * u.deg
    t["PA"] = [30.0, 10.0] * u.deg
    t["DC_Maj"] = [6 / 3600, 0.0] * u.deg
    t["DC_Min"] = [3 / 3600, 0.0] * u.deg
    t["DC_PA"] = [35.0, 0.0] * u.deg
    t.meta["FREQ0"] = freq0
    return t


@pytest.mark.parametrize("suffix", ["fits", "csv"])
def test_convert_keeps_measured_and_deconvolved_sizes(tmp_path, suffix):
    src = tmp_path / f"field.pybdsf.srl.{suffix}"
    t = _srl()
    if suffix == "csv":
        lines = ["# Reference frequency of the detection (\"ch0\") image: 1.30000e+09 Hz",
                 "# " + ", ".join(t.colnames)]  # fmt: skip
        for row in t:
            lines.append(", ".join(str(float(getattr(v, "value", v))) for v in row))
        src.write_text("\n".join(lines) + "\n")
    else:
        t.write(src)
    out, _ = convert_catalog(src, tmp_path / "out.fits")
    written = QTable.read(out)
    np.testing.assert_allclose(written["Maj"].to_value(u.deg), [12 / 3600, 8 / 3600])
    np.testing.assert_allclose(written["Min"].to_value(u.deg), [9 / 3600, 7 / 3600])
    np.testing.assert_allclose(written["PA"].to_value(u.deg), [30.0, 10.0])
    np.testing.assert_allclose(written["DC_Maj"].to_value(u.deg), [6 / 3600, 0.0])
    np.testing.assert_allclose(written["DC_PA"].to_value(u.deg), [35.0, 0.0])
    # and the canonical sizes read back from the converted file are the deconvolved ones
    again = read_catalog(out)
    np.testing.assert_allclose(again["major"].to_value(u.arcsec), [6.0, 0.0], atol=1e-9)


def test_truth_catalog_written_with_intrinsic_sizes_as_measured(tmp_path):
    from meersim.catalogs import synthesize, write_catalog

    cat = synthesize(0.05, seed=1, flux_min_jy=1e-3)
    written = QTable.read(write_catalog(cat, tmp_path / "truth.fits"))
    np.testing.assert_allclose(written["Maj"].to_value(u.arcsec), cat["major"].to_value(u.arcsec))


def test_implausible_freq0_warns_and_is_not_used(tmp_path):
    path = tmp_path / "ref.pybdsf.srl.fits"
    _srl(freq0=23.5).write(path)
    with pytest.warns(UserWarning, match="FREQ0 = 23.5 Hz is not a radio frequency"):
        cat = read_catalog(path)
    assert cat.meta["ref_freq_origin"].startswith("default")
    np.testing.assert_allclose(cat["ref_freq"].to_value(u.Hz), 1.284e9)
