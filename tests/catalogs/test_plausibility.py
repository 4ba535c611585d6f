"""Implausible catalogs get a clear error or warning; written formats follow the extension;
synthetic catalogs have a size guard."""

import warnings

import numpy as np
import pytest
from click.testing import CliRunner

from meersim.catalogs import read_catalog, synthesize, write_catalog
from meersim.cli import main
from meersim.errors import InputError

PYBDSF_HEADER = "# Source_id, RA, DEC, Total_flux, DC_Maj, DC_Min, DC_PA"


def _pybdsf_csv(path, rows, header=PYBDSF_HEADER, comments=()):
    lines = [f"# {c}" for c in comments] + [header]
    lines += [", ".join(str(v) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def _rows(n=20, ids=None, dec=-30.0, flux=1e-3, size=1e-3, spread_deg=0.1, seed=0):
    rng = np.random.default_rng(seed)
    ids = np.arange(n) if ids is None else ids
    ra = 150.0 + rng.uniform(-spread_deg, spread_deg, n)
    decs = dec + rng.uniform(-spread_deg, spread_deg, n)
    return [(int(i), r, d, flux, size, size / 2, 10.0) for i, r, d in zip(ids, ra, decs,
                                                                         strict=True)]  # fmt: skip


def _read_warnings(path, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = read_catalog(path, **kwargs)
    return table, [str(w.message) for w in caught]


def test_plausible_catalog_reads_without_warnings(tmp_path):
    table, messages = _read_warnings(_pybdsf_csv(tmp_path / "ok.csv", _rows()))
    assert len(table) == 20 and messages == []


def test_dec_outside_90_is_an_error(tmp_path):
    rows = _rows()
    rows[3] = (*rows[3][:2], 102.0, *rows[3][3:])
    with pytest.raises(InputError, match=r"dec: 1 row\(s\) outside \[-90, 90\] deg \(e.g. 102\)"):
        read_catalog(_pybdsf_csv(tmp_path / "dec.csv", rows))


def test_negative_sizes_are_an_error(tmp_path):
    rows = _rows()
    rows[5] = (*rows[5][:4], -2e-3, *rows[5][5:])
    with pytest.raises(InputError, match=r"major: 1 row\(s\) have a negative size"):
        read_catalog(_pybdsf_csv(tmp_path / "neg.csv", rows))


def test_unitless_fluxes_in_mjy_warn(tmp_path):
    table, messages = _read_warnings(_pybdsf_csv(tmp_path / "mjy.csv", _rows(flux=50.0)))
    assert any("Total_flux has no unit" in m and "median is 50 Jy" in m for m in messages)
    assert table["flux"].to_value("Jy")[0] == 50.0  # read as given, with the warning


def test_shared_source_ids_over_the_field_warn(tmp_path):
    rows = _rows(ids=np.zeros(20, int), spread_deg=0.2)  # 20 sources, one Source_id
    _, messages = _read_warnings(_pybdsf_csv(tmp_path / "ids.csv", rows))
    assert any("1 source id(s)" in m and "20 components" in m for m in messages)
    compact = _rows(ids=np.repeat(np.arange(10), 2), spread_deg=0.01)  # pairs within 1.2'
    _, messages = _read_warnings(_pybdsf_csv(tmp_path / "pairs.csv", compact))
    assert not any("source id" in m for m in messages)


def test_reference_frequency_outside_radio_range_warns(tmp_path):
    path = _pybdsf_csv(tmp_path / "freq.csv", _rows(), comments=["Reference frequency: 1400 Hz"])
    table, messages = _read_warnings(path)
    assert table["ref_freq"].to_value("Hz")[0] == 1.284e9  # ignored, never extrapolated from
    assert any("1400 Hz" in m and "10 MHz - 100 GHz" in m for m in messages)


@pytest.mark.parametrize("ext, magic", [(".fits", b"SIMPLE"), (".csv", b"# MEERSIM"),
                                        (".ecsv", b"# %ECSV")])  # fmt: skip
def test_written_format_follows_the_extension_and_reads_back_exactly(tmp_path, ext, magic):
    table = synthesize(0.01, survey="mgcls", seed=3)
    path = write_catalog(table, tmp_path / f"cat{ext}")
    assert path.read_bytes().startswith(magic)
    back = read_catalog(path)
    assert back.meta["format"] == "meersim"
    for name in ("ra", "dec", "flux", "major", "minor", "pa", "ref_freq", "shape", "source_id"):
        a, b = table[name], back[name]
        assert np.array_equal(
            np.asarray(getattr(a, "value", a)), np.asarray(getattr(b, "value", b))
        )


def test_cli_refuses_an_unknown_extension_and_converts_by_extension(tmp_path):
    runner = CliRunner()
    bad = runner.invoke(main, ["catalog", "synth", "--area", "0.001", "-o",
                               str(tmp_path / "cat.txt")])  # fmt: skip
    assert bad.exit_code == 1 and "'.txt' is not a catalog format" in bad.output
    assert not (tmp_path / "cat.txt").exists()
    ok = runner.invoke(main, ["catalog", "synth", "--area", "0.001", "-o", str(tmp_path / "c.csv")])
    assert ok.exit_code == 0 and (tmp_path / "c.csv").read_bytes().startswith(b"# MEERSIM")
    conv = runner.invoke(main, ["catalog", "convert", str(tmp_path / "c.csv"),
                                str(tmp_path / "c.ecsv")])  # fmt: skip
    assert conv.exit_code == 0 and (tmp_path / "c.ecsv").read_bytes().startswith(b"# %ECSV")
    refused = runner.invoke(main, ["catalog", "convert", str(tmp_path / "c.csv"),
                                   str(tmp_path / "c.dat")])  # fmt: skip
    assert refused.exit_code == 1 and "Name the file .fits, .ecsv or .csv" in refused.output


def test_synth_area_has_a_size_guard():
    with pytest.raises(InputError, match=r"~.* sources, more than the 2,000,000"):
        synthesize(10000.0)
    with pytest.raises(InputError, match="exceeds the whole sky"):
        synthesize(50000.0)
