"""read_image picks the STOKES plane by its world value (CRVAL), not its position."""

import numpy as np
import pytest
from astropy.io import fits

from meersim.errors import InputError
from meersim.io import read_image


def _cube(path, crval4, cdelt4=1.0, nstokes=2):
    data = np.stack([np.full((1, 8, 8), 10.0 * (k + 1), np.float32) for k in range(nstokes)])
    h = fits.Header()
    for i, (ctype, crval, cdelt) in enumerate(
        [("RA---SIN", 150.0, -1 / 3600), ("DEC--SIN", 2.0, 1 / 3600),
         ("FREQ", 1.284e9, 1e6), ("STOKES", crval4, cdelt4)], start=1):  # fmt: skip
        h[f"CTYPE{i}"], h[f"CRVAL{i}"], h[f"CDELT{i}"], h[f"CRPIX{i}"] = ctype, crval, cdelt, 1.0
    h["CRPIX1"] = h["CRPIX2"] = 5.0
    fits.PrimaryHDU(data, header=h).writeto(path)
    return path


def test_stokes_first_plane_q_is_not_taken_for_i(tmp_path):
    path = _cube(tmp_path / "iq.fits", crval4=2.0, cdelt4=-1.0)  # planes Q, I
    assert float(read_image(path).data[0, 0, 0]) == 20.0  # I is the second plane
    assert float(read_image(path, stokes="Q").data[0, 0, 0]) == 10.0


def test_stokes_default_i_and_missing_plane_refused(tmp_path):
    path = _cube(tmp_path / "qu.fits", crval4=2.0)  # planes Q, U
    with pytest.raises(InputError, match=r"no I.*--stokes"):
        read_image(path)
    assert float(read_image(path, stokes="u").data[0, 0, 0]) == 20.0
    standard = _cube(tmp_path / "iq2.fits", crval4=1.0)
    assert float(read_image(standard).data[0, 0, 0]) == 10.0
    with pytest.raises(InputError, match="unknown"):
        read_image(standard, stokes="W")


def test_crops_cli_stokes_option(tmp_path):
    from click.testing import CliRunner

    from meersim.cli import main
    from meersim.datasets import open_store

    path = _cube(tmp_path / "qi.fits", crval4=2.0, cdelt4=-1.0)  # planes Q, I
    runner = CliRunner()
    for stokes, value in (("I", 20.0), ("Q", 10.0)):
        out = tmp_path / f"crops_{stokes}"
        res = runner.invoke(main, ["crops", str(path), "--size", "8", "--stride", "8",
                                   "--stokes", stokes, "-o", str(out), "--no-progress"])  # fmt: skip
        assert res.exit_code == 0, res.output
        assert float(open_store(out).array("restored")[0, 0, 0]) == value
