"""Compiled renderer for exponential and Sersic components (the default ``renderer="fast"``).

Each pixel holds the profile I = exp[-rho^(1/n)] integrated over its square
area (the same pixel integral galsim's ``Convolve(profile, Pixel(1))`` draws),
where rho^2 = (u / r0_major)^2 + (v / r0_minor)^2 in the component's axes and
r0 = FWHM / (2 (ln 2)^n) (``meersim.catalogs.schema.sersic_scale_radius``).
Sersic rows are cut at rho = SERSIC_TRUNCATION_FWHM x 2 (ln 2)^n, i.e.
7 FWHM along each axis, as galsim's ``trunc``.

The integral is Gauss-Legendre quadrature per pixel with an order chosen from
how much the profile changes across that pixel (``_order``): one node where the
profile is nearly flat, up to ``MAX_ORDER`` x ``MAX_ORDER`` near the centre.
Pixels crossed by the lines through the centre are split along them, and the
nodes are graded towards the centre side (x = x_near + L s^k, k = max(2, 2n)),
which makes the cusp of exp(-rho^(1/n)) smooth in s. Pixels whose brightest
point holds less than ``NEGLIGIBLE`` of the component's flux take the value at
their centre. The stamp is then normalised to the component's flux, so the
light beyond it is folded back (as the galsim path does). Accuracy against
galsim's own drawing: ``tests/sky/test_render.py``; method: ``docs/sky.md``.
"""

from __future__ import annotations

import math

import numba
import numpy as np

#: Largest Gauss-Legendre order per axis (near the centre of a component).
MAX_ORDER = 10
#: Gauss-Legendre order per axis in pixels crossed by a Sersic truncation edge.
EDGE_ORDER = 6
#: Pixels whose peak value times their area is below this fraction of the
#: component's total flux are taken at their centre value.
NEGLIGIBLE = 1e-7


def _gauss_legendre_table(max_order: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights on [0, 1] for orders 1..max_order, as rows of [max_order + 1, max_order]."""
    nodes = np.zeros((max_order + 1, max_order))
    weights = np.zeros((max_order + 1, max_order))
    for m in range(1, max_order + 1):
        t, w = np.polynomial.legendre.leggauss(m)
        nodes[m, :m] = 0.5 * (t + 1.0)
        weights[m, :m] = 0.5 * w
    return nodes, weights


_NODES, _WEIGHTS = _gauss_legendre_table(MAX_ORDER)


@numba.njit(cache=True, inline="always")
def _profile(rho2, inv_n, rho_t2):
    """exp(-rho^(1/n)) for rho^2 = ``rho2``, 0 beyond the truncation ``rho_t2``."""
    if rho2 > rho_t2:
        return 0.0
    if inv_n == 1.0:
        return math.exp(-math.sqrt(rho2))
    if rho2 <= 0.0:
        return 1.0
    return math.exp(-math.exp(0.5 * inv_n * math.log(rho2)))


@numba.njit(cache=True)
def _order(change):
    """Gauss-Legendre nodes per axis for a profile whose log changes by ``change`` across a pixel."""
    if change < 0.05:
        return 1
    if change < 0.4:
        return 2
    if change < 1.2:
        return 3
    if change < 2.5:
        return 4
    if change < 4.5:
        return 6
    if change < 8.0:
        return 8
    return MAX_ORDER


@numba.njit(cache=True)
def _segment(lo, hi, m, graded, power, nodes, weights, pos, wts):
    """Nodes in [lo, hi] (graded towards ``lo`` when asked), appended from index 0; returns count."""
    length = hi - lo
    for i in range(m):
        s = nodes[m, i]
        if graded:
            sp = s ** (power - 1.0)
            pos[i] = lo + length * sp * s
            wts[i] = abs(weights[m, i] * power * sp * length)
        else:
            pos[i] = lo + length * s
            wts[i] = abs(weights[m, i] * length)
    return m


@numba.njit(cache=True)
def _graded(lo, hi, m, power_lo, power_hi, nodes, weights, pos, wts):
    """Nodes on [lo, hi] graded towards each end with a power > 0 (both: split in the middle)."""
    if power_lo > 0.0 and power_hi > 0.0:
        mid = 0.5 * (lo + hi)
        k = _segment(lo, mid, m, True, power_lo, nodes, weights, pos, wts)
        return k + _segment(hi, mid, m, True, power_hi, nodes, weights, pos[k:], wts[k:])
    if power_hi > 0.0:
        return _segment(hi, lo, m, True, power_hi, nodes, weights, pos, wts)
    return _segment(lo, hi, m, power_lo > 0.0, max(power_lo, 1.0), nodes, weights, pos, wts)


@numba.njit(cache=True)
def _axis_nodes(a, b, m, graded, power, nodes, weights, pos, wts):
    """Nodes over the pixel edge interval [a, b] (offsets from the centre, px).

    Split at 0 when the interval contains it; graded towards the end nearer 0.
    """
    if a < 0.0 < b:
        k = _segment(0.0, a, m, True, power, nodes, weights, pos, wts)
        k2 = _segment(0.0, b, m, True, power, nodes, weights, pos[k:], wts[k:])
        return k + k2
    if abs(a) <= abs(b):
        return _segment(a, b, m, graded, power, nodes, weights, pos, wts)
    return _segment(b, a, m, graded, power, nodes, weights, pos, wts)


@numba.njit(cache=True)
def _edge_pixel(dx, dy, qa, qb, qc, inv_n, rho_t2, m, graded, power, nodes, weights, xs, wx, ys,
                wy):  # fmt: skip
    """Integral over the pixel centred (dx, dy) px from the component, inside the truncation.

    For each x node the part of the pixel column inside rho <= rho_t is an exact
    interval (a chord of the ellipse), integrated by Gauss-Legendre in y, so the
    hard edge of a truncated Sersic costs no accuracy.
    """
    # x range of the ellipse: the chord length goes as sqrt(x - x_edge) at its
    # tangent points, which a grading towards them (power 2) makes smooth
    x_edge = math.sqrt(rho_t2 * qc / (qa * qc - qb * qb))
    xa, xb = max(dx - 0.5, -x_edge), min(dx + 0.5, x_edge)
    if xb <= xa:
        return 0.0
    pa = 2.0 if dx - 0.5 < -x_edge else (power if xa == 0.0 else 0.0)
    pb = 2.0 if dx + 0.5 > x_edge else 0.0
    if xa < 0.0 < xb:
        k = _graded(xa, 0.0, m, pa, power, nodes, weights, xs, wx)
        kx = k + _graded(0.0, xb, m, power, pb, nodes, weights, xs[k:], wx[k:])
    else:
        if graded and pa == 0.0 and pb == 0.0:  # grade towards the side nearer the centre
            pa, pb = (power, 0.0) if abs(xa) <= abs(xb) else (0.0, power)
        kx = _graded(xa, xb, m, pa, pb, nodes, weights, xs, wx)
    value = 0.0
    for a in range(kx):
        px = xs[a]
        disc = (qb * px) ** 2 - qc * (qa * px * px - rho_t2)
        if disc <= 0.0:
            continue
        root = math.sqrt(disc)
        lo = max((-qb * px - root) / qc, dy - 0.5)
        hi = min((-qb * px + root) / qc, dy + 0.5)
        if hi <= lo:
            continue
        ky = _axis_nodes(lo, hi, m, graded, power, nodes, weights, ys, wy)
        column = 0.0
        for b in range(ky):
            py = ys[b]
            r2 = qa * px * px + 2.0 * qb * px * py + qc * py * py
            column += wy[b] * _profile(min(r2, rho_t2), inv_n, rho_t2)
        value += wx[a] * column
    return value


@numba.njit(cache=True)
def _draw_stamp(stamp, fx, fy, half, qa, qb, qc, inv_n, rho_t2, flux_norm, half_diag, nodes,
                weights):  # fmt: skip
    """Fill ``stamp`` [2 half + 1]^2 with pixel integrals; its centre pixel lies (fx, fy) px
    from the component's centre.

    ``qa, qb, qc``: rho^2 = qa dx^2 + 2 qb dx dy + qc dy^2 (px^-2); ``flux_norm`` the
    profile's total integral (px^2), ``half_diag`` the pixel's half-diagonal in rho.
    Returns the stamp's sum.
    """
    side = 2 * half + 1
    power = max(2.0, 2.0 / inv_n)
    xs = np.empty(4 * MAX_ORDER)
    wx = np.empty(4 * MAX_ORDER)
    ys = np.empty(2 * MAX_ORDER)
    wy = np.empty(2 * MAX_ORDER)
    total = 0.0
    for j in range(side):
        dy = fy + (j - half)
        for i in range(side):
            dx = fx + (i - half)
            rho2 = qa * dx * dx + 2.0 * qb * dx * dy + qc * dy * dy
            rho_c = math.sqrt(max(rho2, 0.0))
            rho_min = rho_c - half_diag
            if rho_min > 0.0:
                peak = _profile(rho_min * rho_min, inv_n, rho_t2)
                if peak < NEGLIGIBLE * flux_norm:
                    value = _profile(rho2, inv_n, rho_t2)
                    stamp[j, i] = value
                    total += value
                    continue
                # d ln I / d rho = rho^(1/n - 1) / n: largest at rho_min for n >= 1
                slope = inv_n * max(rho_min ** (inv_n - 1.0), (rho_c + half_diag) ** (inv_n - 1.0))
                m = _order(slope * 2.0 * half_diag)
                graded = m >= 4
            else:
                m = MAX_ORDER
                graded = True
            if rho_c + half_diag > math.sqrt(rho_t2):
                # the truncation edge may cross the pixel: integrate each column's chord
                value = _edge_pixel(dx, dy, qa, qb, qc, inv_n, rho_t2, max(m, EDGE_ORDER),
                                    graded, power, nodes, weights, xs, wx, ys, wy)  # fmt: skip
                stamp[j, i] = value
                total += value
                continue
            kx = _axis_nodes(dx - 0.5, dx + 0.5, m, graded, power, nodes, weights, xs, wx)
            ky = _axis_nodes(dy - 0.5, dy + 0.5, m, graded, power, nodes, weights, ys, wy)
            value = 0.0
            for b in range(ky):
                py = ys[b]
                row = 0.0
                for a in range(kx):
                    px = xs[a]
                    r2 = qa * px * px + 2.0 * qb * px * py + qc * py * py
                    row += wx[a] * _profile(r2, inv_n, rho_t2)
                value += wy[b] * row
            stamp[j, i] = value
            total += value
    return total


@numba.njit(cache=True)
def _render_all(cube, x, y, ix, iy, half, r0a, r0b, beta, inv_n, rho_t2, flux_norm,
                channel_flux, nodes, weights):  # fmt: skip
    """Draw every component and add ``stamp / sum * channel_flux[k, c]`` into ``cube`` (Jy/pixel)."""
    nchan, ny, nx = cube.shape
    biggest = 2 * half.max() + 1
    stamp = np.empty((biggest, biggest))
    for k in range(x.size):
        h = half[k]
        side = 2 * h + 1
        c, s = math.cos(beta[k]), math.sin(beta[k])
        ia, ib = 1.0 / (r0a[k] * r0a[k]), 1.0 / (r0b[k] * r0b[k])
        qa = c * c * ia + s * s * ib
        qb = c * s * (ia - ib)
        qc = s * s * ia + c * c * ib
        half_diag = math.sqrt(0.5) / r0b[k]  # r0b <= r0a: the steepest axis
        view = stamp[:side, :side]
        total = _draw_stamp(view, ix[k] - x[k], iy[k] - y[k], h, qa, qb, qc, inv_n[k],
                            rho_t2[k], flux_norm[k], half_diag, nodes, weights)  # fmt: skip
        if not total > 0.0:
            continue
        x0 = ix[k] - h
        y0 = iy[k] - h
        for j in range(max(0, -y0), min(side, ny - y0)):
            for i in range(max(0, -x0), min(side, nx - x0)):
                v = view[j, i] / total
                for ch in range(nchan):
                    cube[ch, y0 + j, x0 + i] += np.float32(v * channel_flux[k, ch])


def profile_integral(r0a, r0b, n, rho_t):
    """Integral (px^2) of exp(-rho^(1/n)) over the ellipse rho <= rho_t (inf: the whole plane).

    2 pi r0a r0b n gamma(2n, rho_t^(1/n)) (Graham & Driver 2005, PASA 22, 118, eq. 2).
    """
    from scipy.special import gamma, gammainc

    n = np.asarray(n, dtype=np.float64)
    cut = np.where(np.isfinite(rho_t), gammainc(2 * n, np.asarray(rho_t) ** (1.0 / n)), 1.0)
    return 2.0 * np.pi * r0a * r0b * n * gamma(2 * n) * cut


def render_profiles(cube, x, y, half, major_pix, minor_pix, beta_rad, n, truncate_fwhm,
                    channel_flux) -> None:  # fmt: skip
    """Add exponential/Sersic components into ``cube`` [nchan, ny, nx] (Jy/pixel), in place.

    ``x``, ``y`` pixel positions, ``half`` stamp half-widths (px), ``major_pix`` /
    ``minor_pix`` FWHM (px, minor <= major), ``beta_rad`` the major axis angle
    counter-clockwise from +x, ``n`` Sersic indices, ``truncate_fwhm`` the
    truncation radius in FWHM (inf for none), ``channel_flux`` [k, nchan] in Jy.
    """
    if len(x) == 0:
        return
    n = np.asarray(n, dtype=np.float64)
    ln2n = np.log(2.0) ** n
    r0a = np.asarray(major_pix, np.float64) / (2.0 * ln2n)
    r0b = np.asarray(minor_pix, np.float64) / (2.0 * ln2n)
    rho_t = np.asarray(truncate_fwhm, np.float64) * 2.0 * ln2n
    rho_t2 = np.where(np.isfinite(rho_t), rho_t * rho_t, np.inf)
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    _render_all(cube, x, y, np.round(x).astype(np.int64), np.round(y).astype(np.int64),
                np.asarray(half, np.int64), r0a, r0b, np.asarray(beta_rad, np.float64),
                1.0 / n, rho_t2, profile_integral(r0a, r0b, n, rho_t),
                np.ascontiguousarray(channel_flux, dtype=np.float64), _NODES, _WEIGHTS)  # fmt: skip
