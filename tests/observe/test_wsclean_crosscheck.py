"""Image meersim's Measurement Set with WSClean and compare with meersim's own dirty image and PSF.

Needs python-casacore (the ``ms`` extra, also in ``dev``) and the ``wsclean``
program (Debian package ``wsclean``); skipped where either is missing. Two
fields: three point sources on 256^2 pixels, and a realistic synthetic
MIGHTEE field (>1000 components) on 950^2 pixels imaged with natural, uniform
and Briggs -0.5 weighting, where WSClean's per-visibility imaging weights are
compared too.
"""

import shutil
import subprocess

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from meersim.catalogs import synthesize
from meersim.grid import Grid
from meersim.imaging.beamfit import fit_clean_beam
from meersim.imaging.images import make_dirty
from meersim.imaging.weighting import Weighting, imaging_weights
from meersim.observe.export import write_ms
from meersim.observe.observe import observe
from meersim.observe.uvcoverage import ObservationSetup
from meersim.sky.render import render_sky
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


def _run_wsclean(ms, name, npix, cell, weight_args, *extra):
    command = [WSCLEAN, "-size", str(npix), str(npix), "-scale", f"{cell}asec",
               *weight_args, "-niter", "0", "-pol", "I", "-use-wgridder",
               "-no-update-model-required", "-name", name, *extra, str(ms)]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True, timeout=300)


def _observe_and_image(tmp_path, weighting: Weighting, wsclean_weight: list[str]):
    data = np.zeros(GRID.shape, np.float32)
    for x, y, flux in SOURCES:
        data[0, y, x] = flux
    obs = observe(Sky(data, GRID), SETUP, weighting, mode="vis")
    ms = write_ms(obs.vis, tmp_path / "sim.ms", SETUP)
    name = str(tmp_path / "ws")
    _run_wsclean(ms, name, NPIX, CELL, wsclean_weight, "-make-psf")
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


def test_briggs_weighting_matches_wsclean(tmp_path):
    # WSClean's default padding (1.2) and rank filter: meersim's density grid follows them.
    briggs = ["-weight", "briggs", "-0.5"]
    obs, ws_dirty, _, psf_hdu = _observe_and_image(tmp_path, Weighting("briggs", -0.5), briggs)
    ws_psf = psf_hdu.data[0, 0]
    print("\nbriggs -0.5:")
    for x, y, _ in SOURCES:
        _, _, m_peak = _peak_near(obs.dirty, x, y)
        _, _, w_peak = _peak_near(ws_dirty, x, y)
        print(f"  source at ({x}, {y}): peak {m_peak:.5f} (meersim) {w_peak:.5f} (WSClean)")
        assert w_peak == pytest.approx(m_peak, rel=1e-3)
    psf_difference = np.abs(ws_psf - _psf_centre(obs.psf)).max()
    # meersim's clean-beam fit of WSClean's PSF matches its fit of its own PSF.
    ours = obs.beam
    theirs = fit_clean_beam(ws_psf, CELL)
    print(f"  PSF max difference {psf_difference:.2e}; meersim's fit: own PSF "
          f"{ours.bmaj_arcsec:.2f} x {ours.bmin_arcsec:.2f} arcsec PA {ours.bpa_deg:.1f}, "
          f"WSClean's PSF {theirs.bmaj_arcsec:.2f} x {theirs.bmin_arcsec:.2f} PA "
          f"{theirs.bpa_deg:.1f}; WSClean's own fit {psf_hdu.header['BMAJ'] * 3600:.2f} x "
          f"{psf_hdu.header['BMIN'] * 3600:.2f} PA {psf_hdu.header['BPA']:.1f}")  # fmt: skip
    assert psf_difference < 2e-3
    assert theirs.bmaj_arcsec == pytest.approx(ours.bmaj_arcsec, rel=0.005)
    assert theirs.bmin_arcsec == pytest.approx(ours.bmin_arcsec, rel=0.005)
    assert theirs.bpa_deg == pytest.approx(ours.bpa_deg, abs=0.5)


# A realistic field: a synthetic MIGHTEE catalog of 0.05 deg^2 on 950^2 pixels of
# 1.5", 32 antennas, 2 channels, 2 h of 300 s dumps, 5 % RFI flags, no noise.
FIELD_NPIX, FIELD_CELL = 950, 1.5
FIELD_SETUP = ObservationSetup(
    antennas=32, hours=2.0, dump_s=300.0, nchan=2, rfi_fraction=0.05, noise=False, seed=5
)
FIELD_WEIGHTINGS = {
    "natural": (Weighting("natural"), ["-weight", "natural"]),
    "uniform": (Weighting("uniform"), ["-weight", "uniform"]),
    "briggs": (Weighting("briggs", -0.5), ["-weight", "briggs", "-0.5"]),
}


@pytest.fixture(scope="module")
def realistic_field(tmp_path_factory):
    """meersim's visibilities of the field, its MS, and the positions of its 10 brightest peaks."""
    from casacore.tables import table

    catalog = synthesize(0.05, "mightee", seed=1)
    assert len(catalog) >= 100
    grid = Grid(FIELD_NPIX, FIELD_NPIX, FIELD_CELL, 150.1, 2.2, (1.284e9,))
    obs = observe(render_sky(catalog, grid), FIELD_SETUP, Weighting("natural"), mode="vis")
    folder = tmp_path_factory.mktemp("field")
    ms = write_ms(obs.vis, folder / "field.ms", FIELD_SETUP)
    images = {}
    for label, (_, args) in FIELD_WEIGHTINGS.items():
        # -no-small-inversion: WSClean otherwise grids at the Nyquist pixel size and
        # upsamples, which alone costs ~1e-3 in correlation; with it, the images agree
        # to ~1e-6 of the peak, and what is left to compare is the weighting.
        _run_wsclean(ms, str(folder / label), FIELD_NPIX, FIELD_CELL, args,
                     "-store-imaging-weights", "-no-small-inversion")  # fmt: skip
        with table(str(ms), ack=False) as t:
            stored = t.getcol("IMAGING_WEIGHT_SPECTRUM")[:, :, 0]  # (nrow, nchan), XX
        images[label] = (fits.getdata(str(folder / label) + "-dirty.fits")[0, 0], stored)
    # The brightest local maxima, at least 8 pixels apart.
    work = images["natural"][0].copy()
    peaks = []
    for _ in range(10):
        y, x = np.unravel_index(np.argmax(work), work.shape)
        peaks.append((int(y), int(x)))
        work[max(0, y - 8) : y + 9, max(0, x - 8) : x + 9] = -np.inf
    return obs, images, peaks


@pytest.mark.parametrize("label", list(FIELD_WEIGHTINGS))
def test_realistic_field_matches_wsclean(realistic_field, label):
    obs, images, peaks = realistic_field
    vis = obs.vis
    weighting = FIELD_WEIGHTINGS[label][0]
    weights = imaging_weights(vis, obs.grid, weighting)
    dirty, _ = make_dirty(vis, obs.grid, weights)
    ws_dirty, ws_correction = images[label]
    a = dirty.astype(np.float64) - dirty.mean(dtype=np.float64)
    b = ws_dirty.astype(np.float64) - ws_dirty.mean(dtype=np.float64)
    correlation = float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))
    ratios = np.array([ws_dirty[y, x] / dirty[y, x] for y, x in peaks])
    # WSClean stores the density correction (1 for natural) per sample; meersim's
    # weight is the natural weight times it, so their ratio is one constant.
    used = ~vis.flag & (weights > 0)
    ratio = ws_correction[used] / (weights[used] / vis.weight[used])
    spread = float(ratio.std() / ratio.mean())
    print(f"\n{weighting.describe()}: 1 - correlation {1 - correlation:.1e}, peak ratio "
          f"WSClean/meersim {ratios.min():.6f}-{ratios.max():.6f} ({len(peaks)} brightest "
          f"peaks), weight ratio spread {spread:.1e}")  # fmt: skip
    assert (weights[~used] == 0).all() and used.sum() > 0.9 * (~vis.flag).sum()
    assert spread < 1e-5
    assert correlation > 0.99999
    np.testing.assert_allclose(ratios, 1.0, atol=1e-3)
