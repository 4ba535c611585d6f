"""Image meersim's Measurement Set with WSClean and compare with meersim's own dirty image and PSF.

Needs python-casacore (the ``ms`` extra, also in ``dev``) and the ``wsclean``
program (Debian package ``wsclean``); skipped where either is missing.
"""

import shutil
import subprocess

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from meersim.grid import Grid
from meersim.imaging.beamfit import fit_clean_beam
from meersim.imaging.weighting import Weighting
from meersim.observe.export import write_ms
from meersim.observe.observe import observe
from meersim.observe.uvcoverage import ObservationSetup
from meersim.types import Sky

pytest.importorskip("casacore.tables")
WSCLEAN = shutil.which("wsclean")
pytestmark = [
    pytest.mark.skipif(WSCLEAN is None, reason="wsclean is not installed"),
    # astropy notes that WSClean's header gives DATE-OBS but no MJD-OBS
    pytest.mark.filterwarnings("ignore::astropy.wcs.FITSFixedWarning"),
]

NPIX, CELL = 256, 2.0
GRID = Grid(NPIX, NPIX, CELL, 150.0, -30.0, (1.284e9,))
# (x, y, Jy): one source at the phase centre, two far off it in both directions.
SOURCES = [(128, 128, 1.0), (48, 181, 0.5), (203, 40, 0.8)]
SETUP = ObservationSetup(hours=2.0, dump_s=600.0, nchan=4, noise=False, seed=3)


def _observe_and_image(tmp_path, weighting: Weighting, wsclean_weight: list[str]):
    data = np.zeros(GRID.shape, np.float32)
    for x, y, flux in SOURCES:
        data[0, y, x] = flux
    obs = observe(Sky(data, GRID), SETUP, weighting, mode="vis")
    ms = write_ms(obs.vis, tmp_path / "sim.ms", SETUP)
    name = str(tmp_path / "ws")
    command = [WSCLEAN, "-size", str(NPIX), str(NPIX), "-scale", f"{CELL}asec",
               *wsclean_weight, "-niter", "0", "-make-psf", "-pol", "I",
               "-use-wgridder", "-no-update-model-required", "-name", name, str(ms)]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True, timeout=300)
    dirty = fits.open(name + "-dirty.fits")[0]
    psf = fits.open(name + "-psf.fits")[0]
    return obs, dirty.data[0, 0], WCS(dirty.header).celestial, psf


def _peak_near(image, x, y, half=4):
    box = image[y - half : y + half + 1, x - half : x + half + 1]
    dy, dx = np.unravel_index(np.argmax(box), box.shape)
    return x - half + int(dx), y - half + int(dy), float(box[dy, dx])


def test_natural_weighting_dirty_image_matches_wsclean(tmp_path):
    obs, ws_dirty, ws_wcs, ws_psf = _observe_and_image(
        tmp_path, Weighting("natural"), ["-weight", "natural"]
    )
    ws_psf = ws_psf.data[0, 0]
    peak = float(np.abs(obs.dirty).max())
    difference = np.abs(ws_dirty - obs.dirty)
    inner = difference[NPIX // 4 : -NPIX // 4, NPIX // 4 : -NPIX // 4]
    print(f"\nnatural: max |WSClean - meersim| / peak {difference.max() / peak:.2e} "
          f"(inner half {inner.max() / peak:.2e})")  # fmt: skip
    # Same data, same gridder family: the images agree pixel by pixel.
    assert difference.max() < 2e-3 * peak
    assert inner.max() < 2e-4 * peak
    for x, y, _ in SOURCES:
        mx, my, m_peak = _peak_near(obs.dirty, x, y)
        wx, wy, w_peak = _peak_near(ws_dirty, x, y)
        assert (mx, my) == (x, y) == (wx, wy)
        # The same pixel is the same sky position: WSClean's header differs from
        # meersim's only by the ICRS/FK5 J2000 frame bias (~0.02").
        separation = ws_wcs.pixel_to_world(wx, wy).separation(
            GRID.wcs.celestial.pixel_to_world(mx, my)
        )
        print(f"  source at ({x}, {y}): same pixel, {separation.arcsec:.3f} arcsec apart, "
              f"peak {m_peak:.5f} (meersim) {w_peak:.5f} (WSClean)")  # fmt: skip
        assert separation.arcsec < 0.1 * CELL
        assert w_peak == pytest.approx(m_peak, rel=1e-3)
    psf_difference = np.abs(ws_psf - _psf_centre(obs.psf)).max()
    print(f"  PSF max difference {psf_difference:.2e}")
    assert psf_difference < 2e-3


def _psf_centre(psf):
    """The [NPIX, NPIX] centre of meersim's [2 NPIX, 2 NPIX] PSF, on WSClean's pixels."""
    return psf[NPIX // 2 : NPIX // 2 + NPIX, NPIX // 2 : NPIX // 2 + NPIX]


def test_briggs_weighting_close_to_wsclean(tmp_path):
    # padding 1: WSClean then grids the weights on the image's own uv grid, as meersim does.
    briggs = ["-weight", "briggs", "-0.5", "-padding", "1.0"]
    obs, ws_dirty, _, psf_hdu = _observe_and_image(tmp_path, Weighting("briggs", -0.5), briggs)
    ws_psf = psf_hdu.data[0, 0]
    print("\nbriggs -0.5:")
    for x, y, _ in SOURCES:
        _, _, m_peak = _peak_near(obs.dirty, x, y)
        _, _, w_peak = _peak_near(ws_dirty, x, y)
        print(f"  source at ({x}, {y}): peak {m_peak:.4f} (meersim) {w_peak:.4f} (WSClean)")
        assert w_peak == pytest.approx(m_peak, rel=0.01)
    psf_difference = np.abs(ws_psf - _psf_centre(obs.psf)).max()
    # meersim's clean-beam fit of WSClean's PSF matches its fit of its own PSF.
    ours = obs.beam
    theirs = fit_clean_beam(ws_psf, CELL)
    print(f"  PSF max difference {psf_difference:.2e}; meersim's fit: own PSF "
          f"{ours.bmaj_arcsec:.2f} x {ours.bmin_arcsec:.2f} arcsec PA {ours.bpa_deg:.1f}, "
          f"WSClean's PSF {theirs.bmaj_arcsec:.2f} x {theirs.bmin_arcsec:.2f} PA "
          f"{theirs.bpa_deg:.1f}; WSClean's own fit {psf_hdu.header['BMAJ'] * 3600:.2f} x "
          f"{psf_hdu.header['BMIN'] * 3600:.2f} PA {psf_hdu.header['BPA']:.1f}")  # fmt: skip
    assert psf_difference < 0.02
    assert theirs.bmaj_arcsec == pytest.approx(ours.bmaj_arcsec, rel=0.02)
    assert theirs.bmin_arcsec == pytest.approx(ours.bmin_arcsec, rel=0.02)
    assert theirs.bpa_deg == pytest.approx(ours.bpa_deg, abs=2.0)
