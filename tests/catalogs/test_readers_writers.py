"""Readers (PyBDSF FITS/CSV srl+gaul, MIGHTEE, MGCLS, meersim) and the writer round trip."""

import warnings

import astropy.units as u
import numpy as np
import pytest
from astropy.io import fits
from astropy.table import QTable, Table

from meersim.catalogs import read_catalog, synthesize, write_catalog
from meersim.catalogs.readers import deconvolve_gaussian
from meersim.catalogs.schema import CANONICAL_COLUMNS, OPTIONAL_COLUMNS
from meersim.errors import InputError

ALL_COLUMNS = list(CANONICAL_COLUMNS) + list(OPTIONAL_COLUMNS)


def assert_same_columns(a, b, names=ALL_COLUMNS):
    for name in names:
        col_a, col_b = a[name], b[name]
        if hasattr(col_a, "unit") and col_a.unit is not None:
            assert col_a.unit == col_b.unit, name
        assert np.array_equal(np.asarray(col_a), np.asarray(col_b)), name
        assert np.asarray(col_a).dtype == np.asarray(col_b).dtype, name


# ----------------------------------------------------------------------------- round trip
def test_round_trip_keeps_every_canonical_column_exactly(tmp_path):
    table = synthesize(0.3, seed=4, flux_min_jy=2e-4)
    assert set(table["shape"]) == {"point", "gaussian", "exponential"}
    path = write_catalog(table, tmp_path / "cat.fits")
    back = read_catalog(path)
    assert back.meta["format"] == "meersim"
    assert len(back) == len(table)
    assert_same_columns(table, back)
    assert back.meta["SEED"] == 4 and back.meta["AREA"] == 0.3
    # a second round trip through the file read back is also exact
    again = read_catalog(write_catalog(back, tmp_path / "cat2.fits"))
    assert_same_columns(table, again)


def test_written_file_is_pybdsf_srl_form(tmp_path):
    table = synthesize(0.3, seed=4, flux_min_jy=2e-4)
    path = write_catalog(table, tmp_path / "cat.fits")
    with fits.open(path) as hdul:
        header, cols = hdul[1].header, hdul[1].columns
        assert header["FREQ0"] == pytest.approx(1.284e9)
        units = dict(zip(cols.names, cols.units, strict=True))
        for name in (
            "Source_id",
            "RA",
            "DEC",
            "Total_flux",
            "Maj",
            "Min",
            "PA",
            "DC_Maj",
            "S_Code",
        ):
            assert name in cols.names
        assert units["RA"] == "deg" and units["Total_flux"] == "Jy" and units["DC_Maj"] == "deg"
        data = hdul[1].data
        np.testing.assert_allclose(data["DC_Maj"] * 3600, table["major"].value, rtol=1e-14)
        multi = np.asarray(table["morph_class"]) == "fr1"
        assert set(data["S_Code"][multi]) == {"M"}
    # PyBDSF reader (forced) reads it as a plain PyBDSF catalog, sizes within rounding
    as_pybdsf = read_catalog(path, format="pybdsf")
    np.testing.assert_allclose(as_pybdsf["major"].value, table["major"].value, rtol=1e-12)


def test_round_trip_of_a_survey_catalog_keeps_original_columns(tmp_path):
    path = _mightee_file(tmp_path)
    with pytest.warns(UserWarning):
        first = read_catalog(path)
    back = read_catalog(write_catalog(first, tmp_path / "out.fits"))
    assert_same_columns(first, back)
    assert "NAME" in back.colnames and "S_PEAK" in back.colnames
    assert list(back["NAME"]) == list(first["NAME"])


# ----------------------------------------------------------------------------- PyBDSF
def _pybdsf_srl_table():
    t = Table()
    t["Source_id"] = [0, 1, 2]
    t["Isl_id"] = [0, 1, 2]
    t["RA"] = [150.10, 150.20, 150.30] * u.deg
    t["DEC"] = [2.10, 2.20, 2.30] * u.deg
    t["Total_flux"] = [1e-3, 2e-4, 5e-5] * u.Jy
    t["Peak_flux"] = [8e-4, 2e-4, 5e-5] * u.Jy / u.beam
    t["Maj"] = [12 / 3600, 8 / 3600, 8 / 3600] * u.deg
    t["Min"] = [9 / 3600, 8 / 3600, 8 / 3600] * u.deg
    t["PA"] = [30.0, 0.0, 0.0] * u.deg
    t["DC_Maj"] = [6 / 3600, 0.0, 2 / 3600] * u.deg
    t["DC_Min"] = [3 / 3600, 0.0, 0.0] * u.deg
    t["DC_PA"] = [35.0, 0.0, 190.0] * u.deg
    t["S_Code"] = ["S", "S", "C"]
    return t


def test_pybdsf_srl_fits(tmp_path):
    t = _pybdsf_srl_table()
    t.meta["FREQ0"] = 1.3e9
    t.write(tmp_path / "img.pybdsf.srl.fits")
    cat = read_catalog(tmp_path / "img.pybdsf.srl.fits")
    assert cat.meta["format"] == "pybdsf" and cat.meta["catalog_type"] == "srl"
    assert cat["ra"].unit == u.deg and cat["flux"].unit == u.Jy and cat["major"].unit == u.arcsec
    np.testing.assert_allclose(cat["major"].value, [6.0, 0.0, 2.0])
    np.testing.assert_allclose(cat["minor"].value, [3.0, 0.0, 0.0])
    np.testing.assert_allclose(cat["pa"].value, [35.0, 0.0, 10.0])  # folded into [0, 180)
    assert list(cat["shape"]) == ["gaussian", "point", "gaussian"]
    assert set(cat["morph_class"]) == {"unknown"}
    np.testing.assert_allclose(cat["ref_freq"].value, 1.3e9)
    np.testing.assert_allclose(cat["spectral_index"], -0.7)
    assert "Peak_flux" in cat.colnames and "S_Code" in cat.colnames  # originals kept


def test_pybdsf_gaul_fits_groups_gaussians_by_source(tmp_path):
    t = _pybdsf_srl_table()
    t["Gaus_id"] = [0, 1, 2]
    t["Source_id"] = [0, 0, 1]
    t.write(tmp_path / "img.gaul.fits")
    cat = read_catalog(tmp_path / "img.gaul.fits")
    assert cat.meta["catalog_type"] == "gaul"
    assert list(cat["source_id"]) == [0, 0, 1]
    assert cat.meta["ref_freq_origin"].startswith("default")
    np.testing.assert_allclose(cat["ref_freq"].value, 1.284e9)


PYBDSF_CSV = """\
# PyBDSF Source catalogue (srl) for image file field.fits
# Generated by PyBDSF v1.10.3
# Reference frequency of the detection ("ch0") image: 1.28400e+09 Hz
# Equinox : 2000.0

# Source_id, Isl_id, RA, E_RA, DEC, E_DEC, Total_flux, E_Total_flux, Peak_flux, E_Peak_flux, Maj, E_Maj, Min, E_Min, PA, E_PA, DC_Maj, E_DC_Maj, DC_Min, E_DC_Min, DC_PA, E_DC_PA, Isl_rms, S_Code
0, 0, 150.100000, 1e-05, 2.200000, 1e-05, 0.0012, 1e-05, 0.0010, 1e-05, 0.0035, 1e-05, 0.0025, 1e-05, 45.0, 1.0, 0.0020, 1e-05, 0.0010, 1e-05, 50.0, 1.0, 2e-06, S
1, 1, 150.200000, 1e-05, 2.300000, 1e-05, 0.0004, 1e-05, 0.0004, 1e-05, 0.0023, 1e-05, 0.0022, 1e-05, 10.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2e-06, S
2, 2, 150.300000, 1e-05, 2.400000, 1e-05, nan, 1e-05, 0.0004, 1e-05, 0.0023, 1e-05, 0.0022, 1e-05, 10.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2e-06, S
3, 3, 150.400000, 1e-05, 2.500000, 1e-05, -0.0001, 1e-05, 0.0004, 1e-05, 0.0023, 1e-05, 0.0022, 1e-05, 10.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2e-06, S
"""


def test_pybdsf_csv_with_comment_header_and_bad_rows(tmp_path):
    path = tmp_path / "field.pybdsf.srl.csv"
    path.write_text(PYBDSF_CSV)
    with pytest.warns(UserWarning, match="dropped 2 of 4 rows"):
        cat = read_catalog(path)
    assert cat.meta["format"] == "pybdsf"
    assert cat.meta["n_dropped"] == 2 and "NaN or negative" in cat.meta["dropped_reason"]
    assert list(cat["source_id"]) == [0, 1]
    np.testing.assert_allclose(cat["major"].value, [7.2, 0.0])
    np.testing.assert_allclose(cat["minor"].value, [3.6, 0.0])
    np.testing.assert_allclose(cat["flux"].value, [1.2e-3, 4e-4])
    np.testing.assert_allclose(cat["ref_freq"].value, 1.284e9)
    assert cat.meta["ref_freq_origin"] == "header FREQ0"
    assert list(cat["shape"]) == ["gaussian", "point"]


def test_pybdsf_ascii_whitespace(tmp_path):
    lines = PYBDSF_CSV.splitlines()
    text = "\n".join(ln.replace(", ", " ") for ln in lines[:8]) + "\n"
    path = tmp_path / "field.srl"
    path.write_text(text)
    cat = read_catalog(path)
    assert len(cat) == 2 and cat.meta["format"] == "pybdsf"


# ----------------------------------------------------------------------------- MIGHTEE
def _mightee_file(tmp_path, size_unit="DEG", extra_header=None, flux_unit="JY", with_dc=False):
    scale = 1 / 3600 if size_unit == "DEG" else 1.0
    columns = [
        fits.Column("NAME", "20A", array=np.array(["MGTC J100024+021200", "MGTC J100048+021800"])),
        fits.Column("RA", "D", unit="DEG", array=[150.10, 150.20]),
        fits.Column("DEC", "D", unit="DEG", array=[2.20, 2.30]),
        fits.Column("S_INT", "D", unit=flux_unit, array=[3e-4, 5e-5]),
        fits.Column("S_PEAK", "D", unit="JY/BEAM", array=[2e-4, 5e-5]),
        fits.Column("NU_EFF", "D", unit="HZ", array=[1.2806e9, 1.2806e9]),
        fits.Column("IM_MAJ", "D", unit=size_unit, array=np.array([10.0, 8.5]) * scale),
        fits.Column("IM_MIN", "D", unit=size_unit, array=np.array([8.0, 8.0]) * scale),
        fits.Column("IM_PA", "D", unit="DEG", array=[0.0, 20.0]),
        fits.Column("RESOLVED", "L", array=[True, False]),
    ]
    if with_dc:
        columns.append(fits.Column("DC_MAJ", "D", unit=size_unit, array=np.array([5.0, 0]) * scale))
        columns.append(fits.Column("DC_MIN", "D", unit=size_unit, array=np.array([2.0, 0]) * scale))
        columns.append(fits.Column("DC_PA", "D", unit="DEG", array=[12.0, 0.0]))
    hdu = fits.BinTableHDU.from_columns(columns)
    for key, value in (extra_header or {}).items():
        hdu.header[key] = value
    path = tmp_path / f"mightee_{size_unit}_{flux_unit.replace('/', '')}.fits"
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path, overwrite=True)
    return path


@pytest.mark.parametrize("size_unit", ["DEG", "ARCSEC"])
def test_mightee_upper_case_units_and_beam_deconvolution(tmp_path, size_unit):
    path = _mightee_file(tmp_path, size_unit, {"BMAJ": 8 / 3600, "BMIN": 8 / 3600, "BPA": 0.0})
    cat = read_catalog(path)
    assert cat.meta["format"] == "mightee"
    np.testing.assert_allclose(cat["flux"].to_value(u.Jy), [3e-4, 5e-5])
    np.testing.assert_allclose(cat["ref_freq"].value, 1.2806e9)  # per-row NU_EFF
    # 10x8" image size through an 8" beam: sqrt(100 - 64) = 6" x 0"; row 2 unresolved
    np.testing.assert_allclose(cat["major"].value, [6.0, 0.0], atol=1e-9)
    np.testing.assert_allclose(cat["minor"].value, [0.0, 0.0], atol=1e-6)
    assert list(cat["shape"]) == ["gaussian", "point"]
    assert list(cat["NAME"]) == ["MGTC J100024+021200", "MGTC J100048+021800"]
    assert cat["S_PEAK"].unit == u.Jy / u.beam


def test_mightee_prefers_deconvolved_columns(tmp_path):
    cat = read_catalog(_mightee_file(tmp_path, "ARCSEC", with_dc=True))
    np.testing.assert_allclose(cat["major"].value, [5.0, 0.0])
    np.testing.assert_allclose(cat["minor"].value, [2.0, 0.0])
    np.testing.assert_allclose(cat["pa"].value, [12.0, 0.0])


def test_mightee_without_beam_warns_sizes_include_beam(tmp_path):
    with pytest.warns(UserWarning, match="include the restoring beam"):
        cat = read_catalog(_mightee_file(tmp_path))
    np.testing.assert_allclose(cat["major"].value, [10.0, 0.0])
    cat = read_catalog(_mightee_file(tmp_path), beam_arcsec=(8.0, 8.0, 0.0))
    np.testing.assert_allclose(cat["major"].value, [6.0, 0.0])


def test_deconvolution_of_rotated_ellipse():
    # a 6"x3" source at PA 40 convolved with a 5"x4" beam at PA 100, then deconvolved
    def moments(a, b, t):
        t = np.radians(t)
        c, s = np.cos(t), np.sin(t)
        return np.array([[a * a * c * c + b * b * s * s, (a * a - b * b) * s * c],
                         [(a * a - b * b) * s * c, a * a * s * s + b * b * c * c]])  # fmt: skip

    total = moments(6, 3, 40) + moments(5, 4, 100)
    evals, evecs = np.linalg.eigh(total)
    pa = np.degrees(np.arctan2(evecs[1, 1], evecs[0, 1])) % 180
    major, minor, out_pa = deconvolve_gaussian(
        np.sqrt(evals[1]), np.sqrt(evals[0]), pa, 5.0, 4.0, 100.0
    )
    assert (
        major == pytest.approx(6.0)
        and minor == pytest.approx(3.0)
        and out_pa == pytest.approx(40.0)
    )


# ----------------------------------------------------------------------------- MGCLS
def test_mgcls_csv_mjy_and_size_columns(tmp_path):
    path = tmp_path / "mgcls_compact.csv"
    path.write_text(
        "Source_name,Field,RA_deg,Dec_deg,Stot_mJy,Stot_err_mJy,DC_Maj_arcsec,DC_Min_arcsec,DC_PA_deg\n"
        "MGCLS J065830-555600,Bullet,104.625,-55.9333,1.5,0.1,4.0,2.0,120.0\n"
        "MGCLS J065900-555700,Bullet,104.75,-55.95,0.05,0.01,0.0,0.0,0.0\n"
    )
    cat = read_catalog(path)
    assert cat.meta["format"] == "mgcls"
    np.testing.assert_allclose(cat["flux"].to_value(u.Jy), [1.5e-3, 5e-5])
    np.testing.assert_allclose(cat["major"].value, [4.0, 0.0])
    np.testing.assert_allclose(cat["pa"].value, [120.0, 0.0])
    assert list(cat["Field"]) == ["Bullet", "Bullet"]
    assert list(cat["source_id"]) == [0, 1]


def test_mgcls_fits_without_sizes(tmp_path):
    t = Table()
    t["Source_name"] = ["a", "b"]
    t["Field"] = ["Abell 209", "Abell 209"]
    t["RA_deg"] = [22.97, 22.98]
    t["Dec_deg"] = [-13.6, -13.61]
    t["Stot_mJy"] = [0.2, 0.3]
    t.write(tmp_path / "mgcls.fits")
    cat = read_catalog(tmp_path / "mgcls.fits")
    assert list(cat["shape"]) == ["point", "point"]
    np.testing.assert_allclose(cat["flux"].value, [2e-4, 3e-4])


# ----------------------------------------------------------------------------- errors
def test_missing_column_names_file_and_column(tmp_path):
    t = _pybdsf_srl_table()
    t.remove_column("Total_flux")
    t["S_INT"] = [1.0, 2.0, 3.0] * u.Jy
    t.remove_column("DEC")
    t.write(tmp_path / "broken.fits")
    with pytest.raises(InputError) as err:
        read_catalog(tmp_path / "broken.fits", format="mightee")
    assert "broken.fits" in str(err.value) and "DEC" in str(err.value) and "Fix:" in str(err.value)


def test_unknown_format_lists_expected(tmp_path):
    path = tmp_path / "other.csv"
    path.write_text("x,y,z\n1,2,3\n")
    with pytest.raises(InputError, match="Total_flux.*S_INT.*Stot_mJy"):
        read_catalog(path)
    with pytest.raises(InputError, match="unknown format"):
        read_catalog(path, format="nvss")
    with pytest.raises(InputError, match="does not exist"):
        read_catalog(tmp_path / "missing.fits")


def test_flux_in_degrees_is_impossible(tmp_path):
    path = _mightee_file(tmp_path, flux_unit="DEG")
    with pytest.raises(InputError, match="S_INT.*impossible"):
        read_catalog(path)


def test_size_in_jansky_is_impossible(tmp_path):
    t = _pybdsf_srl_table()
    t["DC_Maj"] = t["DC_Maj"].value * u.Jy
    t.write(tmp_path / "bad_size.fits")
    with pytest.raises(InputError, match="DC_Maj"):
        read_catalog(tmp_path / "bad_size.fits")


def test_all_rows_bad_is_an_error(tmp_path):
    t = _pybdsf_srl_table()
    t["Total_flux"] = [np.nan, -1.0, np.nan] * u.Jy
    t.write(tmp_path / "allbad.fits")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(InputError, match="no usable rows"):
            read_catalog(tmp_path / "allbad.fits")


def test_canonical_qtable_written_directly_is_read(tmp_path):
    table = synthesize(0.02, seed=1)
    QTable(table).write(tmp_path / "plain.fits")
    back = read_catalog(tmp_path / "plain.fits")
    assert back.meta["format"] == "meersim"
    assert_same_columns(table, back)


def test_write_rejects_non_catalog(tmp_path):
    with pytest.raises(InputError, match="dec: canonical column missing"):
        write_catalog(QTable({"ra": [1.0] * u.deg}), tmp_path / "x.fits")
    bad = synthesize(0.02, seed=1)
    bad["flux"][0] = -1 * u.Jy
    with pytest.raises(InputError, match="flux"):
        write_catalog(bad, tmp_path / "y.fits")
