"""Compiled renderer for Gaussian, exponential and Sersic components (the default ``renderer="fast"``).

Each pixel holds the profile I = exp[-rho^(1/n)] integrated over its square
area (the same pixel integral galsim's ``Convolve(profile, Pixel(1))`` draws),
where rho^2 = (u / r0_major)^2 + (v / r0_minor)^2 in the component's axes and
r0 = FWHM / (2 (ln 2)^n) (``meersim.catalogs.schema.sersic_scale_radius``).
Sersic rows are cut at rho = SERSIC_TRUNCATION_FWHM x 2 (ln 2)^n, i.e.
7 FWHM along each axis, as galsim's ``trunc``. A Gaussian is the untruncated
n = 1/2 profile exp(-rho^2).

The integral is Gauss-Legendre quadrature per pixel. Its order comes from the
exact range of rho over the pixel: the fewest nodes that integrate exp(-D t),
D the change of ln I across the pixel, to ``PIXEL_TOLERANCE`` of the
component's flux (``_order_table``); one node where the profile is nearly flat.
Pixels in the core (ln of peak over value < ``CORE``) take ``MAX_ORDER`` nodes,
split along the lines through the centre and graded towards it (x = x_near +
L s^k, k = max(2, 2n)), which makes the cusp of exp(-rho^(1/n)) smooth in s.
Pixels crossed by a Sersic truncation edge integrate each node column's exact
chord of the truncation ellipse. Pixels whose brightest point is below
``PIXEL_TOLERANCE`` of the flux take the value at their centre. The stamp is then normalised to the component's flux, so the
light beyond it is folded back (as the galsim path does). Accuracy against
galsim's own drawing: ``tests/sky/test_render.py``; method: ``docs/sky.md``.
"""

from __future__ import annotations

import math

import numba
import numpy as np

#: Largest Gauss-Legendre order per axis (near the centre of a component).
MAX_ORDER = 16
#: Most Gauss-Legendre nodes per axis for tilted nodes; more curved pixels go polar.
TILT_MAX_ORDER = 6
#: Gauss-Legendre nodes per arc (between corner angles) of a pixel integrated in polar
#: coordinates (the pixel holding the centre, and pixels too curved for tilted nodes).
POLAR_ORDER = 12
#: Gauss-Legendre order per axis in pixels crossed by a Sersic truncation edge.
EDGE_ORDER = 6
#: Pixels whose brightest point is below this fraction of the component's flux
#: (per px^2) take the profile at their centre.
PIXEL_TOLERANCE = 1e-7
#: Pixels entirely beyond the radius holding all but this fraction of the flux are 0.
CUT_FRACTION = 1e-5
#: Target relative error of every other pixel's integral; relaxed for faint
#: pixels to an absolute error of STAMP_TOLERANCE x flux / (pixels in the stamp).
REL_TOLERANCE = 1e-4
STAMP_TOLERANCE = 1e-4
#: Pixels whose brightest point lies within this of the cusp (in rho^(1/n), i.e.
#: ln of the peak over the value) take MAX_ORDER nodes graded towards it.
CORE = 1.0


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
_DECADES = 12


def _order_table(nodes, weights) -> np.ndarray:
    """[MAX_ORDER + 1, _DECADES]: the largest ln-change D across a pixel for which m nodes
    integrate exp(-D t) over [0, 1] to a relative error below 10^-k."""
    table = np.zeros((MAX_ORDER + 1, _DECADES))
    for m in range(1, MAX_ORDER + 1):
        for k in range(_DECADES):
            lo, hi = 0.0, 200.0
            for _ in range(60):
                d = 0.5 * (lo + hi)
                exact = -np.expm1(-d) / d
                approx = float(np.sum(weights[m, :m] * np.exp(-d * nodes[m, :m])))
                if abs(approx / exact - 1.0) < 10.0**-k:
                    lo = d
                else:
                    hi = d
            table[m, k] = lo
    return table


_ORDER_TABLE = _order_table(_NODES, _WEIGHTS)


@numba.njit(cache=True, inline="always")
def _profile(rho2, inv_n, rho_t2):
    """exp(-rho^(1/n)) for rho^2 = ``rho2``, 0 beyond the truncation ``rho_t2``."""
    if rho2 > rho_t2:
        return 0.0
    if inv_n == 1.0:
        return math.exp(-math.sqrt(rho2))
    if inv_n == 2.0:  # Gaussian
        return math.exp(-rho2)
    if rho2 <= 0.0:
        return 1.0
    return math.exp(-math.exp(0.5 * inv_n * math.log(rho2)))


@numba.njit(cache=True)
def _order(change, rel_tol, table):
    """Fewest nodes per axis that integrate a profile whose ln changes by ``change`` across
    the pixel to ``rel_tol`` (plain Gauss-Legendre, from ``_order_table``)."""
    k = min(max(int(-math.log10(rel_tol)), 0), _DECADES - 1)
    for m in range(1, MAX_ORDER + 1):
        if table[m, k] >= change:
            return m
    return MAX_ORDER


@numba.njit(cache=True, inline="always")
def _edge_min(qa, qb, qc, x0, y0, x1, y1):
    """Smallest rho^2 on the segment (x0, y0)-(x1, y1)."""
    ex, ey = x1 - x0, y1 - y0
    a = qa * ex * ex + 2.0 * qb * ex * ey + qc * ey * ey
    b = qa * x0 * ex + qb * (x0 * ey + y0 * ex) + qc * y0 * ey
    t = 0.0 if a <= 0.0 else min(max(-b / a, 0.0), 1.0)
    x, y = x0 + t * ex, y0 + t * ey
    return qa * x * x + 2.0 * qb * x * y + qc * y * y


@numba.njit(cache=True)
def _rho2_range(qa, qb, qc, xa, ya, xb, yb):
    """Smallest and largest rho^2 over the rectangle [xa, xb] x [ya, yb] not holding the centre."""
    lo = min(
        min(_edge_min(qa, qb, qc, xa, ya, xb, ya), _edge_min(qa, qb, qc, xa, yb, xb, yb)),
        min(_edge_min(qa, qb, qc, xa, ya, xa, yb), _edge_min(qa, qb, qc, xb, ya, xb, yb)),
    )
    hi = 0.0
    for x in (xa, xb):
        for y in (ya, yb):
            hi = max(hi, qa * x * x + 2.0 * qb * x * y + qc * y * y)
    return lo, hi


@numba.njit(cache=True)
def _segment(lo, hi, m, graded, power, nodes, weights, pos, wts):
    """Nodes in [lo, hi] (graded towards ``lo`` when asked), appended from index 0; returns count."""
    length = hi - lo
    # the Jacobian power s^(power - 1) must itself be integrated exactly: 2m > power - 1
    graded = graded and 2 * m >= power
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


@numba.njit(cache=True, inline="always")
def value_slope(rho, inv_n):
    """d rho^(1/n) / d rho."""
    if inv_n == 1.0:
        return 1.0
    return inv_n * math.exp((inv_n - 1.0) * math.log(rho))


@numba.njit(cache=True, inline="always")
def _tilt(g):
    """sinh(g/2) / (g/2), and E[t], E[t^2] of t on [-1/2, 1/2] with density ~ exp(g t)."""
    a = 0.5 * g
    if abs(g) < 0.5:
        a2, g2 = a * a, g * g
        sinhc = 1.0 + a2 * (1.0 / 6.0 + a2 * (1.0 / 120.0 + a2 / 5040.0))
        return (
            sinhc,
            g * (1.0 / 12.0 - g2 * (1.0 / 720.0 - g2 / 30240.0)),
            1.0 / 12.0 + g2 * (1.0 / 360.0 - g2 / 15120.0),
        )
    if abs(a) < 300.0:  # sinh and tanh from one exponential
        e = math.exp(abs(a))
        sinh = math.copysign(0.5 * (e - 1.0 / e), a)
        tanh = sinh / (0.5 * (e + 1.0 / e))
    else:
        sinh, tanh = math.sinh(a), math.tanh(a)
    mean = 0.5 / tanh - 1.0 / g
    return sinh / a, mean, 0.25 - 2.0 * mean / g


@numba.njit(cache=True)
def _one_node(value, rho2, dx, dy, qa, qb, qc, inv_n):
    """Pixel integral from the profile ``value`` at the pixel centre (dx, dy) px: the gradient
    of ln I integrated exactly (sinh x / x per axis) and its curvature to first order.

    ln I = g . t + t^T H t / 2 over the pixel; the integral is value x M(g) x
    (1 + E_g[t^T H t] / 2), E_g under the density exp(g . t) / M(g), so the error is
    second order in H (H = 0 leaves the exact integral of exp(g . t)).
    """
    rho = math.sqrt(rho2)
    ux = (qa * dx + qb * dy) / rho  # gradient of rho
    uy = (qb * dx + qc * dy) / rho
    # d ln I / d rho = -d1 and d2 ln I / d rho2 = -d2 for ln I = -rho^(1/n)
    if inv_n == 1.0:
        d1, d2 = 1.0, 0.0
    elif inv_n == 2.0:
        d1, d2 = 2.0 * rho, 2.0
    else:
        d1 = value_slope(rho, inv_n)
        d2 = inv_n * (inv_n - 1.0) * math.exp((inv_n - 2.0) * math.log(rho))
    gx, gy = -d1 * ux, -d1 * uy
    # Hessian of ln I: -d1 (Q - u u^T) / rho - d2 u u^T
    hxx = -d1 * (qa - ux * ux) / rho - d2 * ux * ux
    hyy = -d1 * (qc - uy * uy) / rho - d2 * uy * uy
    hxy = -d1 * (qb - ux * uy) / rho - d2 * ux * uy
    cx, mx, sx = _tilt(gx)
    cy, my, sy = _tilt(gy)
    second = 1.0 + 0.5 * (hxx * sx + hyy * sy + 2.0 * hxy * mx * my)
    return value * cx * cy * second


@numba.njit(cache=True)
def _tilted_nodes(centre, rate, m, nodes, weights, pos, wts):
    """Nodes on [centre - 1/2, centre + 1/2] for f(t) = exp(rate (t - centre)) g(t), g smooth.

    The substitution that turns exp(rate t) into a uniform density leaves only g
    to Gauss-Legendre; the returned weights include exp(-rate (t - centre)), so
    sum(wts * f(pos)) integrates f.
    """
    if abs(rate) < 1e-6:
        return _segment(centre - 0.5, centre + 0.5, m, False, 1.0, nodes, weights, pos, wts)
    lo = math.exp(-0.5 * rate)
    span = math.exp(0.5 * rate) - lo
    for i in range(m):
        t = math.log(lo + nodes[m, i] * span) / rate
        pos[i] = centre + t
        wts[i] = weights[m, i] * span / (rate * math.exp(rate * t))
    return m


@numba.njit(cache=True)
def _tilted_pixel(dx, dy, qa, qb, qc, inv_n, rho_t2, lo2, rel_tol, nodes, weights, table, xs,
                  wx, ys, wy):  # fmt: skip
    """Integral over the pixel centred (dx, dy) px, away from the core and any truncation edge.

    ln I is nearly linear across such a pixel: its gradient at the centre is
    taken out exactly by :func:`_tilted_nodes`; the order is set by what is
    left, the curvature of ln I over the pixel (~ |Hessian| / 8). Returns -1
    when that needs MAX_ORDER nodes or more.
    """
    rho2 = qa * dx * dx + 2.0 * qb * dx * dy + qc * dy * dy
    rho = math.sqrt(rho2)
    # ln I = -rho^(1/n): gradient and the scale of its second derivative (px^-2)
    d1 = inv_n * rho ** (inv_n - 1.0)
    gx = -d1 * (qa * dx + qb * dy) / rho
    gy = -d1 * (qb * dx + qc * dy) / rho
    lam = 0.5 * (qa + qc) + math.sqrt(0.25 * (qa - qc) ** 2 + qb * qb)  # largest eigenvalue
    rho_lo = math.sqrt(lo2)
    curvature = inv_n * rho_lo ** (inv_n - 1.0) * lam / rho_lo
    curvature += abs(inv_n * (inv_n - 1.0)) * rho_lo ** (inv_n - 2.0) * lam
    m = _order(0.25 * curvature, rel_tol, table)
    if m > TILT_MAX_ORDER:
        return -1.0  # too curved for one tilt: the caller splits and grades instead
    if m == 1:  # the exact integral of exp(g . t), corrected for the curvature
        return _one_node(_profile(rho2, inv_n, rho_t2), rho2, dx, dy, qa, qb, qc, inv_n)
    kx = _tilted_nodes(dx, gx, m, nodes, weights, xs, wx)
    ky = _tilted_nodes(dy, gy, m, nodes, weights, ys, wy)
    value = 0.0
    for b in range(ky):
        py = ys[b]
        row = 0.0
        for a in range(kx):
            px = xs[a]
            row += wx[a] * _profile(qa * px * px + 2.0 * qb * px * py + qc * py * py, inv_n, rho_t2)
        value += wy[b] * row
    return value


@numba.njit(cache=True, inline="always")
def _enclosed(t, inv_n, rho_t, whole):
    """F(t) = integral_0^t exp(-s^(1/n)) s ds (with s capped at the truncation ``rho_t``).

    Analytic for n = 1 and n = 1/2. Otherwise s = u^n turns it into n gamma(2n, x),
    x = t^(1/n), the lower incomplete gamma function: its power series below x = 2n + 1,
    else ``whole`` - n Gamma(2n, x) from the continued fraction (Abramowitz & Stegun
    6.5.29, and the even contraction of 6.5.31), both to double precision;
    ``whole`` = n Gamma(2n).
    """
    t = min(t, rho_t)
    if t <= 0.0:
        return 0.0
    if inv_n == 1.0:
        return -math.expm1(-t) - t * math.exp(-t)
    if inv_n == 2.0:  # Gaussian
        return -0.5 * math.expm1(-t * t)
    n = 1.0 / inv_n
    a = 2.0 * n
    ln_x = inv_n * math.log(t)
    x = math.exp(ln_x)
    prefactor = n * math.exp(a * ln_x - x)  # n x^a e^-x
    if x < a + 1.0:
        term = 1.0 / a
        total = term
        denominator = a
        for _ in range(400):
            denominator += 1.0
            term *= x / denominator
            total += term
            if term < 1e-17 * total:
                break
        return prefactor * total
    # modified Lentz evaluation of Gamma(a, x) e^x x^-a = 1/(x+1-a- 1(1-a)/(x+3-a- ...))
    tiny = 1e-300
    b = x + 1.0 - a
    c = 1.0 / tiny
    d = 1.0 / b
    h = d
    for i in range(1, 400):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        step = d * c
        h *= step
        if abs(step - 1.0) < 1e-16:
            break
    return whole - prefactor * h


@numba.njit(cache=True)
def _polar_pixel(x0, x1, y0, y1, ca, sa, r0a, r0b, inv_n, rho_t, nodes, weights):
    """Integral (px^2) of the profile over [x0, x1] x [y0, y1] (px from the centre) in
    elliptical polar coordinates: r0a r0b int dtheta [F(rho_out) - F(rho_in)], F from
    :func:`_enclosed` and rho_in/out where the ray at angle theta enters and leaves the
    pixel. The theta range is split at the corners' angles, so each arc's integrand is
    smooth; exact in the radius, it handles any cusp, size or axis ratio.
    """
    angles = np.empty(4)
    k = 0
    for cx in (x0, x1):
        for cy in (y0, y1):
            angles[k] = math.atan2((-cx * sa + cy * ca) / r0b, (cx * ca + cy * sa) / r0a)
            k += 1
    core = x0 < 0.0 < x1 and y0 < 0.0 < y1
    if core:
        angles.sort()
        bounds = np.empty(5)
        bounds[:4] = angles
        bounds[4] = angles[0] + 2.0 * math.pi
    else:
        mx, my = 0.5 * (x0 + x1), 0.5 * (y0 + y1)
        ref = math.atan2((-mx * sa + my * ca) / r0b, (mx * ca + my * sa) / r0a)
        for q in range(4):
            angles[q] = (angles[q] - ref + math.pi) % (2.0 * math.pi) - math.pi + ref
        angles.sort()
        bounds = angles
    m = POLAR_ORDER
    whole = 0.0 if inv_n == 1.0 or inv_n == 2.0 else math.exp(math.lgamma(2.0 / inv_n)) / inv_n
    total = 0.0
    for arc in range(bounds.size - 1):
        a, b = bounds[arc], bounds[arc + 1]
        if b <= a:
            continue
        for i in range(m):
            theta = a + (b - a) * nodes[m, i]
            ct, st = math.cos(theta), math.sin(theta)
            ex = r0a * ct * ca - r0b * st * sa
            ey = r0a * ct * sa + r0b * st * ca
            t_in, t_out = 0.0, math.inf
            if ex != 0.0:
                t1, t2 = x0 / ex, x1 / ex
                t_in, t_out = max(t_in, min(t1, t2)), min(t_out, max(t1, t2))
            elif not x0 <= 0.0 <= x1:
                continue
            if ey != 0.0:
                t1, t2 = y0 / ey, y1 / ey
                t_in, t_out = max(t_in, min(t1, t2)), min(t_out, max(t1, t2))
            elif not y0 <= 0.0 <= y1:
                continue
            if t_out > t_in:
                f_out = _enclosed(t_out, inv_n, rho_t, whole)
                f_in = _enclosed(t_in, inv_n, rho_t, whole)
                total += weights[m, i] * (b - a) * (f_out - f_in)
    return r0a * r0b * total


@numba.njit(cache=True)
def _draw_stamp(stamp, fx, fy, half, ca, sa, r0a, r0b, inv_n, rho_t2, rho_cut2, flux_norm,
                nodes, weights, table):  # fmt: skip
    """Fill ``stamp`` [2 half + 1]^2 with pixel integrals; its centre pixel lies (fx, fy) px
    from the component's centre.

    ``ca, sa``: cos, sin of the major axis angle; ``r0a, r0b`` scale radii (px);
    rho^2 = qa dx^2 + 2 qb dx dy + qc dy^2 (px^-2); ``flux_norm`` the
    profile's total integral (px^2). Pixels entirely beyond rho^2 = ``rho_cut2`` are 0.
    Returns the stamp's sum.
    """
    side = 2 * half + 1
    ia, ib = 1.0 / (r0a * r0a), 1.0 / (r0b * r0b)
    qa = ca * ca * ia + sa * sa * ib
    qb = ca * sa * (ia - ib)
    qc = sa * sa * ia + ca * ca * ib
    rho_t = math.sqrt(rho_t2)
    lam = 0.5 * (qa + qc) + math.sqrt(0.25 * (qa - qc) ** 2 + qb * qb)  # largest eigenvalue
    skip2 = (
        math.sqrt(rho_cut2) + math.sqrt(0.5 * lam)
    ) ** 2  # rho_c beyond it: pixel beyond the cut
    abs_tol = STAMP_TOLERANCE * flux_norm / (side * side)
    reach = math.sqrt(0.5 * lam)  # the largest change of rho from a pixel's centre to its edge
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
            if qa * dx * dx + 2.0 * qb * dx * dy + qc * dy * dy > skip2:
                stamp[j, i] = 0.0
                continue
            rho2 = qa * dx * dx + 2.0 * qb * dx * dy + qc * dy * dy
            rho_lo = math.sqrt(rho2) - reach  # rho is at least this over the pixel
            # (rho_lo + 2 reach)^2 = rho2 + reach (2 rho_lo + 3 reach): the pixel's largest rho
            if (
                rho_lo > 0.0
                and rho_lo * rho_lo < rho_cut2
                and rho2 + reach * (2.0 * rho_lo + 3.0 * reach) < rho_t2
            ):
                ln_lo = rho_lo if inv_n == 1.0 else math.exp(inv_n * math.log(rho_lo))
                peak = math.exp(-ln_lo)
                value = _profile(rho2, inv_n, rho_t2)
                if peak < PIXEL_TOLERANCE * flux_norm:
                    stamp[j, i] = value
                    total += value
                    continue
                # ln I = -rho^(1/n) is nearly quadratic over the pixel when its curvature
                # (~ |Hessian| / 4 over the pixel) is small: one corrected node suffices
                if inv_n == 1.0:
                    curvature = lam / rho_lo
                else:
                    curvature = inv_n * lam * (ln_lo / (rho_lo * rho_lo)) * (1.0 + abs(inv_n - 1.0))
                if (0.25 * curvature) ** 2 < 24.0 * max(REL_TOLERANCE, abs_tol / peak):
                    value = _one_node(value, rho2, dx, dy, qa, qb, qc, inv_n)
                    stamp[j, i] = value
                    total += value
                    continue
            polar = abs(dx) < 0.5 and abs(dy) < 0.5  # the pixel holding the centre
            if not polar:
                lo2, hi2 = _rho2_range(qa, qb, qc, dx - 0.5, dy - 0.5, dx + 0.5, dy + 0.5)
                if lo2 > rho_t2 or lo2 > rho_cut2:
                    stamp[j, i] = 0.0
                    continue
                ln_lo = math.exp(0.5 * inv_n * math.log(lo2)) if lo2 > 0.0 else 0.0
                peak = math.exp(-ln_lo)
                if peak < PIXEL_TOLERANCE * flux_norm:
                    rho2 = qa * dx * dx + 2.0 * qb * dx * dy + qc * dy * dy
                    value = _profile(rho2, inv_n, rho_t2)
                    stamp[j, i] = value
                    total += value
                    continue
                if ln_lo < CORE or abs(dx) < 0.5 or abs(dy) < 0.5:
                    polar = True  # near the cusp, or crossed by a line through the centre
                elif hi2 <= rho_t2:
                    rel_tol = max(REL_TOLERANCE, abs_tol / peak)
                    value = _tilted_pixel(dx, dy, qa, qb, qc, inv_n, rho_t2, lo2, rel_tol, nodes,
                                          weights, table, xs, wx, ys, wy)  # fmt: skip
                    polar = value < 0.0  # too curved for tilted nodes
                else:
                    # the truncation edge crosses the pixel: integrate each column's chord
                    change = math.exp(0.5 * inv_n * math.log(rho_t2)) - ln_lo
                    m = max(_order(change, REL_TOLERANCE, table), EDGE_ORDER)
                    value = _edge_pixel(dx, dy, qa, qb, qc, inv_n, rho_t2, m, True, power, nodes,
                                        weights, xs, wx, ys, wy)  # fmt: skip
            if polar:
                value = _polar_pixel(dx - 0.5, dx + 0.5, dy - 0.5, dy + 0.5, ca, sa, r0a, r0b,
                                     inv_n, rho_t, nodes, weights)  # fmt: skip
            stamp[j, i] = value
            total += value
    return total


@numba.njit(cache=True)
def _render_all(cube, x, y, ix, iy, half, r0a, r0b, beta, inv_n, rho_t2, rho_cut2, flux_norm,
                channel_flux, nodes, weights, table):  # fmt: skip
    """Draw every component and add ``stamp / sum * channel_flux[k, c]`` into ``cube`` (Jy/pixel)."""
    nchan, ny, nx = cube.shape
    biggest = 2 * half.max() + 1
    stamp = np.empty((biggest, biggest))
    for k in range(x.size):
        h = half[k]
        side = 2 * h + 1
        c, s = math.cos(beta[k]), math.sin(beta[k])
        view = stamp[:side, :side]
        total = _draw_stamp(view, ix[k] - x[k], iy[k] - y[k], h, c, s, r0a[k], r0b[k],
                            inv_n[k], rho_t2[k], rho_cut2[k], flux_norm[k], nodes, weights,
                            table)  # fmt: skip
        if not total > 0.0:
            continue
        x0 = ix[k] - h
        y0 = iy[k] - h
        for j in range(max(0, -y0), min(side, ny - y0)):
            for i in range(max(0, -x0), min(side, nx - x0)):
                v = view[j, i] / total
                for ch in range(nchan):
                    cube[ch, y0 + j, x0 + i] += np.float32(v * channel_flux[k, ch])


def cut_radius(n):
    """rho beyond which an untruncated exp(-rho^(1/n)) holds CUT_FRACTION of its flux."""
    from scipy.special import gammainccinv

    n = np.asarray(n, dtype=np.float64)
    return gammainccinv(2 * n, CUT_FRACTION) ** n


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
                1.0 / n, rho_t2, cut_radius(n) ** 2, profile_integral(r0a, r0b, n, rho_t),
                np.ascontiguousarray(channel_flux, dtype=np.float64), _NODES, _WEIGHTS,
                _ORDER_TABLE)  # fmt: skip
