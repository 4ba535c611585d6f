"""`meersim catalog synth / info / convert` through click's test runner."""

import numpy as np
import pytest
from click.testing import CliRunner

from meersim.catalogs import read_catalog
from meersim.cli import main


def test_synth_info_convert(tmp_path):
    runner = CliRunner()
    out = tmp_path / "cat.fits"
    result = runner.invoke(
        main,
        ["catalog", "synth", "--survey", "mgcls", "--area", "0.05", "--seed", "9",
         "--ra", "10.0", "--dec", "-30.0", "--flux-min", "1e-4", "-o", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "sources" in result.output and "deg^2" in result.output
    table = read_catalog(out)
    assert table.meta["SURVEY"] == "mgcls" and table.meta["SEED"] == 9
    assert np.all(np.abs(table["dec"].value + 30.0) < 0.2)
    n_sources = len(np.unique(table["source_id"]))
    assert f"sources      {n_sources}" in result.output

    result = runner.invoke(main, ["catalog", "info", str(out)])
    assert result.exit_code == 0, result.output
    assert "format meersim" in result.output and f"{n_sources}" in result.output

    csv = tmp_path / "mgcls.csv"
    csv.write_text(
        "Source_name,Field,RA_deg,Dec_deg,Stot_mJy\n"
        "a,Bullet,104.6,-55.9,1.0\nb,Bullet,104.7,-55.95,nan\n"
    )
    converted = tmp_path / "converted.fits"
    with pytest.warns(UserWarning, match="dropped 1 of 2 rows"):
        result = runner.invoke(main, ["catalog", "convert", str(csv), str(converted)])
    assert result.exit_code == 0, result.output
    assert "(mgcls)" in result.output and "1 rows dropped" in result.output
    assert len(read_catalog(converted)) == 1


def test_errors_are_one_line(tmp_path):
    runner = CliRunner()
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    result = runner.invoke(main, ["catalog", "info", str(bad)])
    assert result.exit_code != 0
    assert "unknown catalog format" in result.output and "Traceback" not in result.output
    result = runner.invoke(
        main, ["catalog", "synth", "--area", "-1", "-o", str(tmp_path / "x.fits")]
    )
    assert result.exit_code != 0 and "area_deg2" in result.output
