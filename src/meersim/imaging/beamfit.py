"""Clean-beam fit to the PSF main lobe, and Gaussian beam images/convolution.

Orientation: images are indexed ``[y, x]`` with y north and x increasing to
the WEST (CDELT1 < 0). For a pixel offset (dx, dy) the sky offsets are
``east = -dx``, ``north = +dy``. Position angles are east of north (from +y
towards -x), as in FITS BPA.
"""

from __future__ import annotations

import numpy as np
import scipy.fft
from scipy import ndimage, optimize

from meersim.errors import InputError
from meersim.types import Beam

FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))
#: convolve_with_beam cuts the beam at this many FWHM (major axis) from its centre.
BEAM_KERNEL_FWHM = 8.0
PSF_CUTOFF = 0.35  # CASA tclean psfcutoff default: fit pixels above 35% of the peak


def _gaussian(dx, dy, sigma_major, sigma_minor, pa_rad):
    """Peak-1 elliptical Gaussian at pixel offsets (dx, dy), sigmas in pixels, PA east of north."""
    east, north = -dx, dy
    s, c = np.sin(pa_rad), np.cos(pa_rad)
    along_major = east * s + north * c
    along_minor = east * c - north * s
    return np.exp(-0.5 * ((along_major / sigma_major) ** 2 + (along_minor / sigma_minor) ** 2))


def _normalise(sigma_a, sigma_b, pa_rad):
    """Make sigma_a the major axis and PA lie in (-90, 90] deg."""
    sigma_a, sigma_b = abs(sigma_a), abs(sigma_b)
    if sigma_b > sigma_a:
        sigma_a, sigma_b = sigma_b, sigma_a
        pa_rad += np.pi / 2
    pa_deg = (np.degrees(pa_rad) + 90.0) % 180.0 - 90.0
    if pa_deg == -90.0:
        pa_deg = 90.0
    return sigma_a, sigma_b, pa_deg


def _main_lobe(
    psf: np.ndarray, peak_yx: tuple[int, int], cutoff: float
) -> tuple[np.ndarray, tuple[int, int]]:
    """Pixels above ``cutoff`` x peak connected to the peak: a boolean window and its corner (y0, x0).

    Labels a window around the peak, doubled until the lobe no longer touches
    its edge (the main lobe is a few pixels; labelling a 4k x 4k PSF is slow).
    """
    ny, nx = psf.shape
    py, px = peak_yx
    level = cutoff * psf[peak_yx]
    half = 32
    while True:
        y0, y1 = max(py - half, 0), min(py + half + 1, ny)
        x0, x1 = max(px - half, 0), min(px + half + 1, nx)
        labels, _ = ndimage.label(psf[y0:y1, x0:x1] >= level)
        lobe = labels == labels[py - y0, px - x0]
        whole = y0 == 0 and x0 == 0 and y1 == ny and x1 == nx
        touches = (
            (lobe[0].any() and y0 > 0)
            or (lobe[-1].any() and y1 < ny)
            or (lobe[:, 0].any() and x0 > 0)
            or (lobe[:, -1].any() and x1 < nx)
        )
        if whole or not touches:
            return lobe, (y0, x0)
        half *= 2


def fit_clean_beam(psf: np.ndarray, cell_arcsec: float, cutoff: float = PSF_CUTOFF) -> Beam:
    """Least-squares elliptical Gaussian fitted to the PSF main lobe.

    Parameters
    ----------
    psf : array [ny, nx]
        PSF with its peak at (or near) the centre; only its main lobe is used.
    cell_arcsec : float
        Pixel size in arcsec.
    cutoff : float
        Fraction of the peak above which main-lobe pixels enter the fit
        (CASA ``psfcutoff``, 0.35). The fit box is the bounding box of those
        pixels connected to the peak; the Gaussian is centred on the peak with
        amplitude fixed to the peak, as CASA and WSClean do.

    Returns
    -------
    Beam with FWHM in arcsec and BPA in degrees east of north, in (-90, 90].
    """
    psf = np.asarray(psf)  # kept in its own precision: only the fit box is promoted to float64
    if psf.ndim == 3 and psf.shape[0] == 1:
        psf = psf[0]
    if psf.ndim != 2 or not np.all(np.isfinite(psf)):
        raise InputError("psf", "data", "must be a finite 2-D image to fit a clean beam.")
    if not 0.0 < cutoff < 1.0:
        raise InputError("fit_clean_beam", "cutoff", f"must lie in (0, 1), got {cutoff}.")
    ny, nx = psf.shape
    # Search for the peak near the centre: distant sidelobes of a poor PSF can be high.
    cy, cx = ny // 2, nx // 2
    ry, rx = max(ny // 8, 2), max(nx // 8, 2)
    window = psf[cy - ry : cy + ry + 1, cx - rx : cx + rx + 1]
    wy, wx = np.unravel_index(np.argmax(window), window.shape)
    py, px = int(cy - ry + wy), int(cx - rx + wx)
    peak = float(psf[py, px])
    if not peak > 0:
        raise InputError("psf", "peak", "is not positive; cannot fit a clean beam.")
    lobe, (wy0, wx0) = _main_lobe(psf, (py, px), cutoff)
    ys, xs = np.nonzero(lobe)
    ys, xs = ys + wy0, xs + wx0
    if ys.size < 3 or ys.min() == 0 or xs.min() == 0 or ys.max() == ny - 1 or xs.max() == nx - 1:
        raise InputError(
            "psf",
            "main lobe",
            f"has {ys.size} pixels or touches the image edge; the beam is not sampled.",
            "Use a smaller cell (3-5 pixels across the beam) or a larger image.",
        )
    # Fit box: bounding box of the main lobe, one pixel of margin.
    y0, y1 = ys.min() - 1, ys.max() + 2
    x0, x1 = xs.min() - 1, xs.max() + 2
    box_lobe = np.zeros((y1 - y0, x1 - x0), dtype=bool)
    box_lobe[ys - y0, xs - x0] = True
    yy, xx = np.mgrid[y0:y1, x0:x1]
    dx = (xx - px)[box_lobe].astype(float)
    dy = (yy - py)[box_lobe].astype(float)
    values = psf[y0:y1, x0:x1][box_lobe].astype(np.float64) / peak

    # Initial guess from second moments of the lobe (east/north frame).
    wts = np.clip(values, 1e-6, None)
    east, north = -dx, dy
    cov = np.cov(np.vstack([east, north]), aweights=wts)
    evals, evecs = np.linalg.eigh(cov)
    major_vec = evecs[:, 1]
    pa0 = np.arctan2(major_vec[0], major_vec[1])
    # A Gaussian truncated at level c has second moment < sigma^2: inflate a little.
    s_major0 = max(np.sqrt(max(evals[1], 1e-3)) * 1.5, 0.5)
    s_minor0 = max(np.sqrt(max(evals[0], 1e-3)) * 1.5, 0.5)

    def residuals(p):
        return _gaussian(dx, dy, p[0], p[1], p[2]) - values

    fit = optimize.least_squares(residuals, x0=[s_major0, s_minor0, pa0], method="lm")
    s_major, s_minor, pa_deg = _normalise(fit.x[0], fit.x[1], fit.x[2])
    return Beam(
        bmaj_arcsec=float(s_major * FWHM_PER_SIGMA * cell_arcsec),
        bmin_arcsec=float(s_minor * FWHM_PER_SIGMA * cell_arcsec),
        bpa_deg=float(pa_deg),
    )


def gaussian_beam_image(beam: Beam, shape: tuple[int, int], cell_arcsec: float) -> np.ndarray:
    """Peak-1 image float32 [ny, nx] of ``beam`` centred on pixel (ny//2, nx//2)."""
    ny, nx = shape
    dy = np.arange(ny)[:, None] - ny // 2
    dx = np.arange(nx)[None, :] - nx // 2
    return _gaussian(
        dx.astype(float),
        dy.astype(float),
        beam.bmaj_arcsec / FWHM_PER_SIGMA / cell_arcsec,
        beam.bmin_arcsec / FWHM_PER_SIGMA / cell_arcsec,
        np.radians(beam.bpa_deg),
    ).astype(np.float32)


def convolve_centred(image: np.ndarray, kernel: np.ndarray, *, workers: int | None = None):
    """Exact linear convolution of ``image`` [..., ny, nx] with a centred kernel [2ny, 2nx].

    The kernel's origin is pixel (ny, nx) (the PSF convention), so it covers
    every offset between two pixels of the image. Both are zero-padded to
    [2ny, 2nx]; output is float32 [..., ny, nx].
    """
    image = np.asarray(image)
    ny, nx = image.shape[-2:]
    if kernel.shape != (2 * ny, 2 * nx):
        raise InputError(
            "convolve", "kernel", f"shape {kernel.shape} must be twice the image ({ny}, {nx})."
        )
    # Move the kernel origin (ny, nx) to (0, 0): pixel offsets wrap modulo 2n.
    kernel_ft = scipy.fft.rfft2(
        np.fft.ifftshift(np.asarray(kernel, dtype=np.float64)), workers=workers
    )
    padded = np.zeros(image.shape[:-2] + (2 * ny, 2 * nx), dtype=np.float64)
    padded[..., :ny, :nx] = image
    out = scipy.fft.irfft2(
        scipy.fft.rfft2(padded, workers=workers) * kernel_ft, s=(2 * ny, 2 * nx), workers=workers
    )
    return out[..., :ny, :nx].astype(np.float32)


def convolve_with_beam(
    image: np.ndarray, beam: Beam, cell_arcsec: float, *, workers: int | None = None
) -> np.ndarray:
    """Convolve ``image`` (Jy/pixel, [..., ny, nx]) with the peak-1 ``beam``: result in Jy/beam.

    Linear (zero-padded FFT) convolution: nothing wraps around the edges.
    """
    image = np.asarray(image, dtype=np.float32)
    ny, nx = image.shape[-2:]
    # The peak-1 Gaussian is exp(-4 ln2 r^2 / FWHM^2): below 1e-70 beyond BEAM_KERNEL_FWHM
    # FWHM, 0 in float32, so a kernel cut there gives the full convolution; evaluating and
    # transforming [2ny, 2nx] instead took 3 s for a 2048^2 image.
    half = min(int(np.ceil(BEAM_KERNEL_FWHM * beam.bmaj_arcsec / cell_arcsec)), max(ny, nx))
    kernel = gaussian_beam_image(beam, (2 * half + 1, 2 * half + 1), cell_arcsec)
    shape = (scipy.fft.next_fast_len(ny + 2 * half, True),
             scipy.fft.next_fast_len(nx + 2 * half, True))  # fmt: skip
    spectrum = scipy.fft.rfft2(image.astype(np.float64), s=shape, workers=workers)
    spectrum *= scipy.fft.rfft2(kernel.astype(np.float64), s=shape, workers=workers)
    out = scipy.fft.irfft2(spectrum, s=shape, workers=workers)
    return out[..., half : half + ny, half : half + nx].astype(np.float32)
