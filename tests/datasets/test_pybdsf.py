"""PyBDSF in the dataset build: the pipeline catalog beside the truth, per-crop n_pybdsf,
completeness / reliability / flux bias against truth. Skipped where bdsf is missing."""

import json

import numpy as np
import pytest
import yaml
from astropy.table import Table
from click.testing import CliRunner

from meersim.config import from_dict
from meersim.datasets.build import DatasetConfig, example_config_path
from meersim.datasets.crops import CropTruthInputs
from meersim.datasets.pybdsf import (
    PybdsfConfig,
    completeness_report,
    have_bdsf,
    match_to_truth,
    run_pybdsf,
)
from meersim.datasets.store import open_store
from meersim.errors import InputError
from meersim.grid import Grid
from meersim.types import Beam

needs_bdsf = pytest.mark.skipif(not have_bdsf(), reason="bdsf (meersim[pybdsf]) not installed")


def test_completeness_report_known_answer():
    sources = Table({"field_id": [0, 0, 0, 0, 0, 1], "source_id": [1, 1, 2, 3, 4, 1],
                     "source_peak": [60e-6, 60e-6, 30e-6, 8e-6, 0.0, 200e-6],
                     "source_flux": [1e-4, 1e-4, 3e-5, 8e-6, 0.0, 2e-4],
                     "pybdsf_detected": [True, True, True, False, False, True]})  # fmt: skip
    crops = Table({"field_id": [0, 1], "noise_rms": [1e-6, 2e-6]})
    det = Table({"field_id": [0, 0, 0, 1, 1], "det_id": [0, 1, 2, 0, 0],
                 "matched_source_id": [1, 2, -1, 1, 1], "snr": [55.0, 28.0, 6.0, 90.0, 90.0],
                 "Total_flux": [1.1e-4, 2.7e-5, 9e-6, 2e-4, 2e-4]})  # fmt: skip
    rep = completeness_report(sources, det, crops)
    # true S/N: 60, 30, 8 (field 0); 100 (field 1); the zero-flux source is left out
    assert rep["n_true"] == 4 and rep["n_detected"] == 4  # duplicate crop rows counted once
    assert rep["completeness_above_5sigma"] == 0.75 and rep["completeness_above_10sigma"] == 1.0
    assert rep["reliability"] == 0.75
    by = {b["snr_min"]: b for b in rep["bins"]}
    assert by[7.0]["completeness"] == 0.0 and by[50.0]["completeness"] == 1.0
    assert by[5.0]["reliability"] == 0.0 and by[5.0]["n_detected"] == 1
    assert by[50.0]["flux_bias"] == pytest.approx(0.05)  # median of +0.10 and 0.00
    assert by[20.0]["flux_bias"] == pytest.approx(-0.1)


def test_config_checks():
    with pytest.raises(InputError, match="thresh_pix"):
        PybdsfConfig(thresh_pix=0)
    with pytest.raises(InputError, match="rms_box"):
        PybdsfConfig(rms_box=[10])
    with pytest.raises(InputError, match="enabled"):
        PybdsfConfig(enabled="yes")


@needs_bdsf
def test_run_and_match_on_known_sources():
    grid = Grid(192, 192, 2.0, 150.0, -30.0, (1.284e9,))
    beam = Beam(8.0, 8.0, 0.0)
    rng = np.random.default_rng(0)
    rms = 1e-5
    image = rng.normal(0, rms, (192, 192))
    yy, xx = np.mgrid[:192, :192]
    sigma = 4.0 / 2.3548  # 8" FWHM on 2" pixels
    srcs = [(50.0, 60.0, 50 * rms), (140.0, 100.0, 20 * rms), (100.0, 160.0, 2 * rms)]
    for x, y, amp in srcs:
        image += amp * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma**2))
    srl = run_pybdsf(image.astype(np.float32), grid, beam, PybdsfConfig())
    comps = Table({"source_id": [10, 11, 12]})
    x = np.array([s[0] for s in srcs])
    y = np.array([s[1] for s in srcs])
    flux = np.array([s[2] for s in srcs])  # point sources: flux (Jy) = peak (Jy/beam)
    det, phys = match_to_truth(srl, CropTruthInputs(comps, x, y, flux, flux), grid, beam)
    assert list(phys["detected"]) == [True, True, False]
    assert sorted(det["matched_source_id"]) == [10, 11]
    np.testing.assert_allclose(np.sort(phys["matched_flux"][:2]), np.sort(flux[:2]), rtol=0.15)
    np.testing.assert_allclose(np.sort(det["snr"]), [20, 50], rtol=0.25)


@needs_bdsf
def test_dataset_with_pybdsf(tmp_path):
    from meersim.cli import main

    config = yaml.safe_load(example_config_path().read_text())
    config.update(n_fields=1, seed=3, mode="image", products=["restored"])
    config["field"].update(npix=160, cell_arcsec=10.0, margin_arcsec=0.0, flux_min_jy=2e-4,
                           flux_max_jy=0.05)  # fmt: skip
    config["observation"] = {"hours": 1.0, "dump_s": 900.0, "nchan": 1, "antennas": 16}
    config["clean"] = {"niter": 300, "max_major": 3, "threshold_sigma": 3.0}
    config["crops"].update(size=64, stride=48, psf_size=16, pb_cut=None)
    config["pybdsf"] = {"enabled": True}
    from_dict(DatasetConfig, config, "test")  # valid
    path = tmp_path / "ds.yaml"
    path.write_text(yaml.safe_dump(config))
    res = CliRunner().invoke(main, ["dataset", "--config", str(path), "-o", str(tmp_path / "o"),
                                    "--no-progress", "--workers", "0"])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "PyBDSF:" in res.output and "above 5 sigma" in res.output
    store = open_store(tmp_path / "o")
    det = Table.read(tmp_path / "o" / "pybdsf.ecsv", format="ascii.ecsv")
    counts = np.bincount(np.asarray(det["crop_id"])[det["crop_id"] >= 0], minlength=store.n_crops)
    np.testing.assert_array_equal(store.truth["n_pybdsf"], counts)
    assert {"n_sources", "n_detectable", "n_pybdsf"} <= set(store.truth.colnames)
    assert "pybdsf_detected" in store.sources.colnames
    report = json.loads((tmp_path / "o" / "pybdsf_report.json").read_text())
    assert report["n_detected"] > 3
    assert report["completeness_above_10sigma"] > 0.7 and report["reliability"] > 0.7
