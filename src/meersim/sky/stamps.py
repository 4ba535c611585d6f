"""Postage stamps of single components, integrated over square pixels (Jy/pixel, unit flux).

Extended components (gaussian, exponential, sersic) are drawn by galsim,
convolved with the square pixel, on a stamp that :func:`add_stamp` adds into
the full cube. Gaussians (minor FWHM >= ``FAST_GAUSSIAN_MIN_MINOR_PIX``) and small
exponentials take a faster route: the same pixel integral by Gauss-Legendre
quadrature (error < 2e-5 of the peak). Point sources are deposited with
cloud-in-cell weights (:func:`deposit_points`). Sizes are FWHM in pixels, angles
in radians counter-clockwise from +x (see :mod:`meersim.sky.render`).
"""

from __future__ import annotations

import functools
import math
import warnings

import galsim
import numpy as np
from scipy.special import gammaincinv

from meersim.catalogs.schema import sersic_scale_radius

#: Sersic profiles are truncated at this radius, in units of the FWHM along the same
#: axis (galsim ``trunc``, with ``flux`` the flux inside it). 7 FWHM keeps all but
#: 0.1% of an n=1 (exponential) profile: (1 + x) e^-x = 1e-3 at x = 9.23 r0 = 6.66 FWHM.
SERSIC_TRUNCATION_FWHM = 7.0
#: Floor on the axis ratio minor/major (schema: minor may be 0 for sources
#: resolved along one axis only).
MIN_AXIS_RATIO = 0.05
#: Stamps cover this fraction of each profile's flux; the rest (and anything cut
#: by the stamp cap) is folded back by renormalising the stamp to unit flux.
STAMP_ENCLOSED_FRACTION = 0.999
#: Largest stamp half-width in pixels (stamp side <= 2 * cap + 1).
MAX_STAMP_HALF_WIDTH = 2048
#: Extra pixels around each stamp for the pixel convolution.
STAMP_MARGIN_PIX = 2
#: Real-space pixel integration costs about this many FFT k-samples per stamp pixel.
REAL_SPACE_COST_PER_PIXEL = 60.0

#: Gaussians with a minor-axis FWHM of at least this many pixels are drawn by
#: quadrature (:func:`_gaussian_stamp`) instead of galsim.
FAST_GAUSSIAN_MIN_MINOR_PIX = 0.1
#: ... and only while the quadrature grid (stamp side x nodes)^2 stays this small.
FAST_GAUSSIAN_MAX_SAMPLES = 2**22

#: Exponentials are drawn by quadrature (:func:`_exponential_stamp`) when the
#: minor FWHM is at least this many pixels and the node grid has at most
#: FAST_EXPONENTIAL_MAX_SAMPLES points; larger discs go through galsim.
FAST_EXPONENTIAL_MIN_MINOR_PIX = 0.3
FAST_EXPONENTIAL_MAX_SAMPLES = 2**17

_GSPARAMS = galsim.GSParams(folding_threshold=1e-3, maximum_fft_size=16384)
_PIXEL = galsim.Pixel(1.0, gsparams=_GSPARAMS)


def _drawn_as_gaussian(shape: str, n: float) -> bool:
    return shape == "gaussian" or (shape == "sersic" and n == 0.5)


def enclosed_radius_factor(shape: str, n: float) -> float:
    """Radius, in FWHM along the same axis, enclosing STAMP_ENCLOSED_FRACTION of the flux.

    From the Sersic enclosed-light fraction gamma(2n, (r/r0)^(1/n)) / Gamma(2n)
    (Graham & Driver 2005, PASA 22, 118, eq. 2) with r0 = FWHM / (2 (ln 2)^n).
    """
    if _drawn_as_gaussian(shape, n):
        n = 0.5
    elif shape == "exponential":
        n = 1.0
    else:
        # The drawn Sersic is truncated and normalised inside the truncation.
        return SERSIC_TRUNCATION_FWHM
    return float(gammaincinv(2 * n, STAMP_ENCLOSED_FRACTION) ** n / (2.0 * np.log(2.0) ** n))


def _galsim_profile(shape: str, fwhm_pix: float, q: float, beta_rad: float, n: float):
    """Unit-flux galsim profile of circularised FWHM ``fwhm_pix`` (pixels), axis ratio q."""
    if _drawn_as_gaussian(shape, n):
        prof = galsim.Gaussian(fwhm=fwhm_pix, gsparams=_GSPARAMS)
    elif shape == "exponential":
        prof = galsim.Exponential(
            scale_radius=sersic_scale_radius(fwhm_pix, 1.0), gsparams=_GSPARAMS
        )
    else:
        prof = galsim.Sersic(
            n,
            scale_radius=sersic_scale_radius(fwhm_pix, n),
            trunc=SERSIC_TRUNCATION_FWHM * fwhm_pix,
            gsparams=_GSPARAMS,
        )
    if q < 1.0:
        # shear(q, beta) keeps the area: a circle of FWHM f becomes an ellipse with
        # axes f/sqrt(q) and f*sqrt(q), i.e. major and minor when f = sqrt(major*minor).
        prof = prof.shear(q=q, beta=beta_rad * galsim.radians)
    return prof


def _pixel_convolved(prof, stamp_pixels: int, truncated: bool):
    """``prof`` convolved with the pixel, by FFT or in real space.

    Truncated (hard-edged) profiles always go through real space: their FFT draw
    rings badly (5-50% errors measured for truncated Sersic n=2-4), as galsim itself
    warns. Smooth profiles take whichever route is cheaper.

    FFT cost grows with (2 maxk / stepk)^2 k-samples (large for profiles narrower
    than a pixel, whose k-image galsim builds far beyond Nyquist and wraps);
    real-space cost with the number of stamp pixels, each an adaptive 2-D integral.
    Both are exact pixel integrals (agree to ~1e-3 of the peak); the crossover
    (one real-space pixel ~ 60 k-samples) was timed on galsim 2.8.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Doing convolution of 2 objects", galsim.GalSimWarning)
        warnings.filterwarnings("ignore", ".*real.space", galsim.GalSimWarning)
        in_real_space = galsim.Convolve(prof, _PIXEL, real_space=True, gsparams=_GSPARAMS)
        if truncated:
            return in_real_space
        by_fft = galsim.Convolve(prof, _PIXEL, real_space=False, gsparams=_GSPARAMS)
        k_samples = (2.0 * by_fft.maxk / by_fft.stepk) ** 2
        return in_real_space if REAL_SPACE_COST_PER_PIXEL * stamp_pixels < k_samples else by_fft


def stamp_half_width(shape: str, major_pix: float, n: float) -> int:
    half = math.ceil(enclosed_radius_factor(shape, n) * major_pix) + STAMP_MARGIN_PIX
    return min(half, MAX_STAMP_HALF_WIDTH)


@functools.lru_cache(maxsize=64)
def _gauss_legendre(m: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes and weights on [-1, 1]."""
    return np.polynomial.legendre.leggauss(m)


def _gauss_legendre_nodes(minor_pix: float) -> int:
    """Gauss-Legendre nodes per pixel axis for a Gaussian of minor FWHM ``minor_pix`` (px).

    Measured against the exact (erf) pixel integral of axis-aligned Gaussians:
    ceil(4 / minor) nodes keep the error below 1e-5 of the peak for minor >= 0.1 px.
    """
    return int(min(max(math.ceil(4.0 / minor_pix), 4), 40))


def _gaussian_stamp(x, y, half, major_pix, minor_pix, beta_rad) -> np.ndarray:
    """Pixel-integrated elliptical Gaussian on the stamp ``[iy-half, iy+half] x [ix-half, ix+half]``.

    Each pixel's integral is an m x m Gauss-Legendre sum of the profile
    exp(-Q/2), Q = a dx^2 + 2 b dx dy + c dy^2, evaluated on the tensor grid of nodes.
    Sizes are FWHM in pixels, ``beta_rad`` the major axis angle counter-clockwise
    from +x. Returns float64 [2 half + 1, 2 half + 1], unnormalised.
    """
    m = _gauss_legendre_nodes(minor_pix)
    t, w = _gauss_legendre(m)
    t, w = 0.5 * t, 0.5 * w  # nodes and weights on [-1/2, 1/2]
    offsets = np.arange(-half, half + 1, dtype=np.float64)
    dx = ((round(x) - x) + offsets)[:, None] + t[None, :]  # [stamp, node]
    dy = ((round(y) - y) + offsets)[:, None] + t[None, :]
    fwhm_to_sigma = 1.0 / (2.0 * math.sqrt(2.0 * math.log(2.0)))
    inv_a2 = (major_pix * fwhm_to_sigma) ** -2
    inv_b2 = (minor_pix * fwhm_to_sigma) ** -2
    c, s = math.cos(beta_rad), math.sin(beta_rad)
    a = c * c * inv_a2 + s * s * inv_b2
    b = c * s * (inv_a2 - inv_b2)
    cc = s * s * inv_a2 + c * c * inv_b2
    dx, dy = dx.reshape(-1), dy.reshape(-1)
    # The whole quadratic form in one exponent: split into factors, the cross
    # term of a thin tilted ellipse overflows far from the centre.
    q = (0.5 * a * dx * dx)[None, :] + np.outer(b * dy, dx)
    q += (0.5 * cc * dy * dy)[:, None]
    values = np.exp(-q, out=q)
    side = 2 * half + 1
    return np.einsum("iajb,a,b->ij", values.reshape(side, m, side, m), w, w)


def _exponential_axis_nodes(centre, first_edge, npix, minor_pix):
    """Quadrature nodes along one stamp axis for an exponential centred at ``centre`` (px).

    The pixel holding the cusp is split at it, so no segment has the cusp inside;
    the cusp pixel and its two neighbours each side get 8 nodes per segment, the
    others ceil(8 / minor) (3 to 8). Returns (positions, weights, pixel index).
    """
    far = int(min(max(math.ceil(8.0 / minor_pix), 3), 8))
    cusp = math.floor(centre - first_edge)
    pos, wts, pixels = [], [], []
    for j in range(npix):
        a, b = first_edge + j, first_edge + j + 1
        t, w = _gauss_legendre(8 if abs(j - cusp) <= 2 else far)
        for s0, s1 in ((a, centre), (centre, b)) if a < centre < b else ((a, b),):
            h = 0.5 * (s1 - s0)
            pos.append(s0 + (t + 1.0) * h)
            wts.append(w * h)
            pixels.append(np.full(t.size, j))
    return np.concatenate(pos), np.concatenate(wts), np.concatenate(pixels)


def _exponential_stamp(x, y, half, major_pix, minor_pix, beta_rad) -> np.ndarray:
    """Pixel-integrated elliptical exponential exp(-r) on the stamp around (round x, round y).

    r^2 = (u / r0_major)^2 + (v / r0_minor)^2 with r0 = FWHM / (2 ln 2) along each
    axis (as galsim's sheared Exponential). Gauss-Legendre quadrature on segments
    split at the cusp: within 2e-5 of the peak of the exact pixel integral.
    Returns float64 [2 half + 1, 2 half + 1], unnormalised.
    """
    side = 2 * half + 1
    xs, wx, px = _exponential_axis_nodes(x, round(x) - half - 0.5, side, minor_pix)
    ys, wy, py = _exponential_axis_nodes(y, round(y) - half - 0.5, side, minor_pix)
    dx, dy = xs - x, ys - y
    inv_a2 = sersic_scale_radius(major_pix, 1.0) ** -2
    inv_b2 = sersic_scale_radius(minor_pix, 1.0) ** -2
    c, s = math.cos(beta_rad), math.sin(beta_rad)
    a = c * c * inv_a2 + s * s * inv_b2
    b = c * s * (inv_a2 - inv_b2)
    cc = s * s * inv_a2 + c * c * inv_b2
    q = (a * dx * dx)[None, :] + np.outer(2.0 * b * dy, dx)
    q += (cc * dy * dy)[:, None]
    np.maximum(q, 0.0, out=q)
    np.sqrt(q, out=q)
    np.negative(q, out=q)
    np.exp(q, out=q)
    q *= wy[:, None]
    q *= wx[None, :]
    by_column = np.add.reduceat(q, np.flatnonzero(np.diff(px, prepend=-1)), axis=1)
    return np.add.reduceat(by_column, np.flatnonzero(np.diff(py, prepend=-1)), axis=0)


def _exponential_samples(half, minor_pix) -> int:
    far = int(min(max(math.ceil(8.0 / minor_pix), 3), 8))
    per_axis = (2 * half + 1) * far + 6 * 8 + 8
    return per_axis * per_axis


def _use_fast_gaussian(shape, n, half, minor_pix) -> bool:
    if not _drawn_as_gaussian(shape, n) or minor_pix < FAST_GAUSSIAN_MIN_MINOR_PIX:
        return False
    return ((2 * half + 1) * _gauss_legendre_nodes(minor_pix)) ** 2 <= FAST_GAUSSIAN_MAX_SAMPLES


def _use_fast_exponential(shape, half, minor_pix) -> bool:
    # Quadrature wins while the stamp is small (measured: 1.5 ms against galsim's
    # 5-50 ms for minor FWHM < 1 px; galsim's FFT is faster for large discs).
    return (
        shape == "exponential"
        and minor_pix >= FAST_EXPONENTIAL_MIN_MINOR_PIX
        and _exponential_samples(half, minor_pix) <= FAST_EXPONENTIAL_MAX_SAMPLES
    )


def draw_component_stamp(shape, x, y, major_pix, minor_pix, beta_rad, n=np.nan):
    """Draw one extended component at unit flux on a stamp around pixel (x, y).

    ``major_pix``/``minor_pix`` are the FWHM axes in pixels, ``beta_rad`` the galsim
    angle (rad, counter-clockwise from +x) of the major axis, ``n`` the Sersic index.
    Returns ``(stamp[ny, nx] float64, x0, y0)`` with the stamp's lower-left pixel
    ``(x0, y0)`` on the full grid; the stamp sums to 1 (flux beyond it folded back).
    """
    major_pix = max(float(major_pix), 1e-6)
    minor_pix = min(max(float(minor_pix), MIN_AXIS_RATIO * major_pix), major_pix)
    half = stamp_half_width(shape, major_pix, n)
    ix, iy = int(round(x)), int(round(y))
    if _use_fast_gaussian(shape, n, half, minor_pix):
        stamp = _gaussian_stamp(x, y, half, major_pix, minor_pix, beta_rad)
        return stamp / stamp.sum(), ix - half, iy - half
    if _use_fast_exponential(shape, half, minor_pix):
        stamp = _exponential_stamp(x, y, half, major_pix, minor_pix, beta_rad)
        return stamp / stamp.sum(), ix - half, iy - half
    image = galsim.ImageD(galsim.BoundsI(ix - half, ix + half, iy - half, iy + half), scale=1.0)
    fwhm = math.sqrt(major_pix * minor_pix)
    prof = _galsim_profile(shape, fwhm, minor_pix / major_pix, beta_rad, n)
    truncated = not _drawn_as_gaussian(shape, n) and shape == "sersic"
    prof = _pixel_convolved(prof, (2 * half + 1) ** 2, truncated)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=galsim.GalSimWarning)
        prof.drawImage(image=image, center=galsim.PositionD(float(x), float(y)), method="no_pixel")
    # FFT drawing rings at ~1e-5 of the peak; a sky model has no negative flux.
    stamp = np.maximum(image.array, 0.0)
    total = stamp.sum()
    if total > 0:
        stamp /= total  # fold the flux beyond the stamp back in
    return stamp, ix - half, iy - half


def add_stamp(cube, stamp, x0, y0, channel_flux) -> bool:
    """Add ``stamp * channel_flux[c]`` into each channel; False when it misses the grid."""
    _, ny, nx = cube.shape
    sy, sx = stamp.shape
    gx0, gx1 = max(x0, 0), min(x0 + sx, nx)
    gy0, gy1 = max(y0, 0), min(y0 + sy, ny)
    if gx0 >= gx1 or gy0 >= gy1:
        return False
    cut = stamp[gy0 - y0 : gy1 - y0, gx0 - x0 : gx1 - x0]
    for c, f in enumerate(channel_flux):
        cube[c, gy0:gy1, gx0:gx1] += (cut * f).astype(np.float32)
    return True


def deposit_points(cube, x, y, channel_flux) -> tuple[np.ndarray, np.ndarray]:
    """Cloud-in-cell deposit; returns masks (any part on grid, all four pixels on grid)."""
    _, ny, nx = cube.shape
    fx, fy = np.floor(x), np.floor(y)
    ix, iy = fx.astype(np.int64), fy.astype(np.int64)
    wx, wy = x - fx, y - fy
    any_on = np.zeros(len(x), bool)
    all_on = np.ones(len(x), bool)
    flat = cube.reshape(cube.shape[0], -1)
    for dx, dy in ((0, 0), (1, 0), (0, 1), (1, 1)):
        px, py = ix + dx, iy + dy
        w = (wx if dx else 1.0 - wx) * (wy if dy else 1.0 - wy)
        inside = (px >= 0) & (px < nx) & (py >= 0) & (py < ny)
        any_on |= inside & (w > 0)
        all_on &= inside | (w == 0)
        idx = py[inside] * nx + px[inside]
        for c in range(cube.shape[0]):
            np.add.at(flat[c], idx, (w[inside] * channel_flux[inside, c]).astype(np.float32))
    return any_on, all_on
