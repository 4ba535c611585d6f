"""A NaN or infinite sky pixel is refused (it used to give all-zero images with NOISERMS 0),
and an odd image size in vis mode is a clear error, not a ducc0 traceback."""

import numpy as np
import pytest
from click.testing import CliRunner

from meersim.catalogs import synthesize
from meersim.cli import main
from meersim.errors import InputError
from meersim.grid import Grid
from meersim.imaging.gridder import vis_to_image
from meersim.io import write_image
from meersim.observe import ObservationSetup, observe
from meersim.sky import render_sky
from meersim.types import Sky

SETUP = ObservationSetup(antennas=8, hours=0.5, dump_s=900.0, nchan=1, noise=False)


def _sky(npix=32, bad=None):
    grid = Grid(npix, npix, 10.0, 30.0, -40.0)
    data = np.zeros(grid.shape, np.float32)
    data[0, npix // 2, npix // 2] = 1.0
    if bad is not None:
        data[0, 3, 4] = bad
    return Sky(data, grid)


@pytest.mark.parametrize("mode", ["vis", "image"])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_observe_refuses_a_non_finite_sky_pixel(mode, bad):
    with pytest.raises(
        InputError, match=r"pixels: 1 are NaN or infinite \(first at \[chan, y, x\] = \[0, 3, 4\]\)"
    ):
        observe(_sky(bad=bad), SETUP, mode=mode)
    good = observe(_sky(), SETUP, mode=mode)  # the same sky without the bad pixel works
    assert good.dirty.max() == pytest.approx(1.0, abs=0.05) and good.noise_rms_measured > 0


def test_cli_observe_names_the_file_of_a_nan_sky(tmp_path):
    sky = _sky(bad=np.nan)
    write_image(tmp_path / "sky.fits", sky.data, sky.grid, "JY/PIXEL")
    result = CliRunner().invoke(main, ["observe", str(tmp_path / "sky.fits"), "--antennas", "8",
                                       "--hours", "0.5", "--dump", "900", "--nchan", "1",
                                       "-o", str(tmp_path / "obs"), "--no-progress"])  # fmt: skip
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert f"{tmp_path / 'sky.fits'}: pixels: 1 are NaN" in result.output
    assert not (tmp_path / "obs").exists()


@pytest.mark.filterwarnings("ignore:overflow encountered")
def test_render_refuses_fluxes_that_overflow_the_cube():
    table = synthesize(0.002, survey="mgcls", seed=2)
    table["flux"][0] = 1e45 * table["flux"].unit  # beyond float32
    grid = Grid(64, 64, 4.0, float(table["ra"][0].value), float(table["dec"][0].value))
    with pytest.raises(InputError, match="render_sky: catalog fluxes: pixels"):
        render_sky(table, grid)


def test_odd_image_size_in_vis_mode_is_a_clear_error():
    with pytest.raises(InputError, match="33x33 pixels; vis mode .* even size"):
        observe(_sky(npix=33), SETUP, mode="vis")
    with pytest.raises(InputError, match="gridder: npix: 33x32 pixels.*Use 34x32"):
        vis_to_image(np.ones((4, 1), np.complex64), np.zeros((4, 3)), np.array([1.3e9]), 33, 32,
                     1e-5)  # fmt: skip
    assert observe(_sky(npix=33), SETUP, mode="image").dirty.shape == (33, 33)
