"""Rare sources the synthetic population lacks, built from the catalog's own shapes.

Each rare source is a set of canonical components (points and Gaussians, many of them
along a curve or a ring where the shape needs it), so it is rendered, observed and
cleaned like every other source. Every component carries ``rare_class``; the
physical class goes in ``morph_class``. Sizes are total angular extents (arcsec),
fluxes totals in Jy at ``ref_freq_hz``. The shapes follow:

* ``grg`` -- giant radio galaxy: an FRII-like double larger than 4' (Dabhade et al.
  2020, A&A 635, A5: GRGs are radio galaxies of >= 0.7 Mpc, mostly FRII, with lobes
  of low surface brightness and often unequal arms): core, two lobes as chains of
  broad Gaussians, a compact hotspot at the end of each arm, arm-length ratio 1-1.4.
* ``bent`` -- bent / head-tail AGN (Miley 1980, ARA&A 18, 165; O'Dea & Owen 1985,
  AJ 90, 927): a bright head (the core) and two jets that leave it in opposite
  directions and are swept back into tails by the motion through the cluster gas;
  the final half-opening angle 0-45 deg goes from a narrow-angle (head-tail, tails
  merging) to a wide-angle tail. Tails fade and widen with distance.
* ``xshaped`` -- X-shaped radio galaxy (Leahy & Williams 1984, MNRAS 210, 929):
  an FRII-like pair of active lobes with hotspots plus a second pair of diffuse
  wings without hotspots through the core, at 30-90 deg to the lobes, each wing at
  least 0.8 of the active lobe's length (the selection rule of Cheung 2007,
  AJ 133, 2097).
* ``orc`` -- odd radio circle (Norris et al. 2021, PASA 38, e003: edge-brightened
  circular discs about 1' across, of low surface brightness, some with a central
  compact source): a ring of overlapping Gaussians (spacing below half their FWHM,
  so the ring is smooth), diameter 50-100", ring width 15-30 % of the radius, a
  brightness modulation along the ring, faint interior emission and, for half of
  them, a central point source.
* ``artefact`` -- a bright compact source (20-200 mJy, 10^4-10^5 times a MeerKAT
  field's thermal rms) *outside* the field. It is not drawn on the sky grid;
  :func:`meersim.observe.observe` predicts its visibilities directly (``outside=``),
  so its PSF sidelobes, which CLEAN cannot remove, cross the field as arcs centred
  on it. MeerKAT's far sidelobes stay near 2e-3 of the peak (rms) out to 16' (64
  antennas, 4 h, Briggs -0.5, measured here), so such a source marks most of a
  field; fainter ones (``flux_scale``, ``artefact_flux_jy``) only the crops nearest it.
"""

from __future__ import annotations

import numpy as np
from astropy.table import QTable

from meersim.catalogs.schema import CANONICAL_COLUMNS, DEFAULT_REF_FREQ_HZ, OPTIONAL_COLUMNS
from meersim.catalogs.synthetic import offset_position
from meersim.errors import InputError

RARE_CLASSES = ("grg", "bent", "xshaped", "orc", "artefact")
NOT_RARE = "none"
#: Physical class of each rare class (``morph_class``); ORCs' nature is unknown.
MORPH_CLASS = {"grg": "fr2", "bent": "fr1", "xshaped": "fr2", "orc": "unknown",
               "artefact": "point"}  # fmt: skip
#: Total flux range (Jy at 1.284 GHz), drawn log-uniformly per source.
FLUX_RANGE_JY = {"grg": (5e-3, 0.1), "bent": (2e-3, 0.05), "xshaped": (5e-3, 0.1),
                 "orc": (1e-3, 1e-2), "artefact": (0.02, 0.2)}  # fmt: skip
#: Total angular extent (arcsec), drawn log-uniformly per source (ORCs: diameter).
SIZE_RANGE_ARCSEC = {"grg": (240.0, 600.0), "bent": (60.0, 240.0), "xshaped": (60.0, 180.0),
                     "orc": (50.0, 100.0), "artefact": (0.0, 0.0)}  # fmt: skip
RARE_CLASS_COLUMN = (None, "U12", "Injected rarity: grg|bent|xshaped|orc|artefact|none")

# One component per row of a shape, in a local frame: x east, y north (arcsec).
_FIELDS = ("dx", "dy", "flux", "major", "minor", "pa", "shape", "component")


def _loguniform(rng, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi)))) if hi > lo else float(lo)


def _direction(angle_deg):
    """Unit vector (east, north) of a position angle east of north (deg)."""
    a = np.radians(angle_deg)
    return np.sin(a), np.cos(a)


def _comp(rows, dx, dy, flux, major, minor, pa, shape, role):
    for values in np.broadcast(dx, dy, flux, major, minor, pa):
        rows.append((*map(float, values), shape, role))


def _chain(rows, points, fluxes, widths, role):
    """Gaussians along a path (points [n, 2] arcsec): long axis along the path."""
    points = np.asarray(points, float)
    step = np.gradient(points, axis=0) if len(points) > 1 else np.array([[0.0, 1.0]])
    pa = np.degrees(np.arctan2(step[:, 0], step[:, 1])) % 180.0
    spacing = np.hypot(step[:, 0], step[:, 1])
    major = np.maximum(widths, 2.0 * spacing)
    _comp(rows, points[:, 0], points[:, 1], fluxes, major, widths, pa, "gaussian", role)


def _frii_arm(
    rows, rng, axis_deg, length, flux, n_lobe=5, hotspot=True, width_frac=(0.12, 0.2), role="lobe"
):
    """One lobe of a double: a chain of broad Gaussians, a compact hotspot at its end."""
    ex, ey = _direction(axis_deg + rng.normal(0.0, 4.0))
    hot_share = rng.uniform(0.15, 0.35) if hotspot else 0.0
    t = np.linspace(0.35, 0.9, n_lobe)
    widths = length * rng.uniform(*width_frac) * np.ones(n_lobe)
    _chain(rows, np.stack([t * length * ex, t * length * ey], 1),
           np.full(n_lobe, flux * (1.0 - hot_share) / n_lobe), widths, role)  # fmt: skip
    if hotspot:
        size = max(0.03 * length, 4.0)
        r = length  # the hotspot marks the end of the arm
        _comp(rows, r * ex, r * ey, flux * hot_share, size, size * rng.uniform(0.6, 1.0),
              axis_deg % 180.0, "gaussian", "hotspot")  # fmt: skip


def _grg(rng, size, flux):
    rows = []
    core = flux * rng.uniform(0.02, 0.1)
    _comp(rows, 0.0, 0.0, core, 0.0, 0.0, 0.0, "point", "core")
    ratio = rng.uniform(1.0, 1.4)  # arm-length ratio
    arms = (size * ratio / (1.0 + ratio), size / (1.0 + ratio))
    split = rng.uniform(0.4, 0.6)
    axis = rng.uniform(0.0, 360.0)
    for side, (length, share) in enumerate(zip(arms, (split, 1.0 - split), strict=True)):
        _frii_arm(rows, rng, axis + 180.0 * side, length, (flux - core) * share, n_lobe=6)
    return rows


def _tail_path(rng, length, side, final_deg, n):
    """Points of a jet leaving the head across the motion and bending into the tail (+y)."""
    bend = rng.uniform(0.05, 0.2) * length
    s = np.linspace(0.0, length, 8 * n)
    angle = np.radians(final_deg + (90.0 - final_deg) * np.exp(-s / bend))  # from the tail axis
    ds = s[1] - s[0]
    x = side * np.cumsum(np.sin(angle)) * ds
    y = -np.cumsum(np.cos(angle)) * ds
    pick = np.linspace(0, s.size - 1, n + 1).astype(int)[1:]
    return np.stack([x[pick], y[pick]], 1), s[pick]


def _bent(rng, size, flux):
    rows = []
    head = flux * rng.uniform(0.1, 0.3)
    _comp(rows, 0.0, 0.0, head, 0.0, 0.0, 0.0, "point", "core")
    final = rng.uniform(0.0, 45.0)  # half-opening angle of the tails (deg)
    n = 10
    for side in (-1.0, 1.0):
        path, s = _tail_path(rng, size, side, final, n)
        fade = np.exp(-s / (0.5 * size))
        widths = size * (0.03 + 0.09 * s / size)
        _chain(rows, path, (flux - head) / 2.0 * fade / fade.sum(), widths, "jet")
    return _rotated(rows, rng.uniform(0.0, 360.0))


def _xshaped(rng, size, flux):
    rows = []
    core = flux * rng.uniform(0.02, 0.08)
    _comp(rows, 0.0, 0.0, core, 0.0, 0.0, 0.0, "point", "core")
    wing_share = rng.uniform(0.2, 0.4)
    axis = rng.uniform(0.0, 360.0)
    offset = rng.uniform(30.0, 90.0) * rng.choice([-1.0, 1.0])
    arm = size / 2.0
    wing = arm * rng.uniform(0.8, 1.2)
    for side in (0.0, 180.0):
        _frii_arm(rows, rng, axis + side, arm, (flux - core) * (1.0 - wing_share) / 2.0, n_lobe=4)
        _frii_arm(rows, rng, axis + offset + side, wing, (flux - core) * wing_share / 2.0,
                  n_lobe=4, hotspot=False, width_frac=(0.2, 0.3), role="wing")  # fmt: skip
    return rows


def _orc(rng, size, flux):
    rows = []
    radius = size / 2.0
    width = radius * rng.uniform(0.15, 0.3)
    q = rng.uniform(0.8, 1.0)
    central = flux * rng.uniform(0.05, 0.15) if rng.random() < 0.5 else 0.0
    interior = flux * rng.uniform(0.1, 0.25)
    ring = flux - central - interior
    n = int(np.ceil(2.0 * np.pi * radius / (0.5 * width)))
    phi = np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)
    bright = 1.0 + rng.uniform(0.0, 0.5) * np.cos(phi - rng.uniform(0.0, 2.0 * np.pi))
    x, y = radius * np.sin(phi), q * radius * np.cos(phi)
    tangent = np.degrees(np.arctan2(np.cos(phi), -q * np.sin(phi))) % 180.0
    _comp(rows, x, y, ring * bright / bright.sum(), width, width, tangent, "gaussian", "ring")
    _comp(rows, 0.0, 0.0, interior, 1.2 * radius, 1.2 * q * radius, 0.0, "gaussian", "disc")
    if central > 0:
        _comp(rows, 0.0, 0.0, central, 0.0, 0.0, 0.0, "point", "core")
    return _rotated(rows, rng.uniform(0.0, 180.0))


def _rotated(rows, angle_deg):
    """Rotate a shape by ``angle_deg`` east of north (its components' PAs too)."""
    a = np.radians(angle_deg)
    out = []
    for dx, dy, flux, major, minor, pa, shape, role in rows:
        x = dx * np.cos(a) + dy * np.sin(a)
        y = -dx * np.sin(a) + dy * np.cos(a)
        out.append((x, y, flux, major, minor, (pa + angle_deg) % 180.0 if major else 0.0,
                    shape, role))  # fmt: skip
    return out


SHAPES = {"grg": _grg, "bent": _bent, "xshaped": _xshaped, "orc": _orc}


def rare_shape(kind: str, rng: np.random.Generator, size_arcsec: float, flux_jy: float) -> list:
    """Components of one rare source in a local frame: rows of (dx, dy arcsec east/north,
    flux Jy, major, minor arcsec, pa deg, shape, component role); fluxes sum to ``flux_jy``."""
    if kind not in SHAPES:
        raise InputError(
            "rare sources", "class", f"{kind!r} has no shape.", f"Use {tuple(SHAPES)}."
        )
    return SHAPES[kind](rng, float(size_arcsec), float(flux_jy))


def _artefact_position(rng, ra_deg, dec_deg, side_arcsec, max_offset_arcsec):
    """A position beyond one edge of a square field, 10" to ``max_offset_arcsec`` outside it."""
    half = side_arcsec / 2.0
    out = half + rng.uniform(10.0, max(10.0, max_offset_arcsec))
    along = rng.uniform(-half, half)
    edge = int(rng.integers(4))
    dx, dy = [(out, along), (-out, along), (along, out), (along, -out)][edge]
    return offset_position(ra_deg, dec_deg, np.degrees(np.arctan2(dx, dy)), np.hypot(dx, dy))


def rare_sources(
    counts: dict[str, int],
    rng: np.random.Generator,
    ra_deg: float,
    dec_deg: float,
    side_arcsec: float,
    *,
    flux_scale: float = 1.0,
    artefact_offset_arcsec: float = 300.0,
    artefact_flux_jy: float | None = None,
    first_source_id: int = 0,
    ref_freq_hz: float = DEFAULT_REF_FREQ_HZ,
) -> QTable:
    """A canonical catalog of ``counts[kind]`` rare sources of each kind around a field centre.

    Sources other than artefacts are centred uniformly within the central 80 % of the
    square field of ``side_arcsec`` (arcsec) at (``ra_deg``, ``dec_deg``) (deg); artefacts
    lie 10" to ``artefact_offset_arcsec`` outside one of its edges. Fluxes are drawn
    log-uniformly in :data:`FLUX_RANGE_JY` times ``flux_scale`` (an artefact's is
    ``artefact_flux_jy`` when given), sizes in :data:`SIZE_RANGE_ARCSEC`; spectral
    index N(-0.7, 0.2) per source. Source ids start at ``first_source_id``.
    """
    records = []
    sid = int(first_source_id)
    for kind in RARE_CLASSES:
        for _ in range(int(counts.get(kind, 0))):
            flux = _loguniform(rng, *FLUX_RANGE_JY[kind]) * float(flux_scale)
            alpha = rng.normal(-0.7, 0.2)
            if kind == "artefact":
                ra, dec = _artefact_position(rng, ra_deg, dec_deg, side_arcsec,
                                             artefact_offset_arcsec)  # fmt: skip
                if artefact_flux_jy is not None:
                    flux = float(artefact_flux_jy)
                rows = [(0.0, 0.0, flux, 0.0, 0.0, 0.0, "point", "point")]
            else:
                dx, dy = rng.uniform(-0.4, 0.4, 2) * side_arcsec
                ra, dec = offset_position(ra_deg, dec_deg, np.degrees(np.arctan2(dx, dy)),
                                          np.hypot(dx, dy))  # fmt: skip
                rows = rare_shape(kind, rng, _loguniform(rng, *SIZE_RANGE_ARCSEC[kind]), flux)
            records.append((kind, sid, float(ra), float(dec), alpha, rows))
            sid += 1
    return _table(records, ref_freq_hz)


def _table(records, ref_freq_hz: float) -> QTable:
    """The canonical QTable (plus ``rare_class``) of (kind, id, ra, dec, alpha, rows) records."""
    cols = {k: [] for k in (*_FIELDS, "ra", "dec", "source_id", "spectral_index", "morph_class",
                            "rare_class")}  # fmt: skip
    for kind, sid, ra, dec, alpha, rows in records:
        for row in rows:
            for key, value in zip(_FIELDS, row, strict=True):
                cols[key].append(value)
        dx, dy = np.array([r[0] for r in rows]), np.array([r[1] for r in rows])
        cra, cdec = offset_position(ra, dec, np.degrees(np.arctan2(dx, dy)), np.hypot(dx, dy))
        cols["ra"] += list(np.atleast_1d(cra))
        cols["dec"] += list(np.atleast_1d(cdec))
        cols["source_id"] += [sid] * len(rows)
        cols["spectral_index"] += [alpha] * len(rows)
        cols["morph_class"] += [MORPH_CLASS[kind]] * len(rows)
        cols["rare_class"] += [kind] * len(rows)
    n = len(cols["ra"])
    shape = np.asarray(cols["shape"], dtype="U12")
    values = dict(cols, ref_freq=np.full(n, float(ref_freq_hz)),
                  sersic_n=np.where(shape == "point", 0.0, 0.5))  # fmt: skip
    table = QTable()
    for name, (unit, dtype, description) in {
        **CANONICAL_COLUMNS, **OPTIONAL_COLUMNS, "rare_class": RARE_CLASS_COLUMN
    }.items():  # fmt: skip
        column = np.asarray(values[name]).astype(dtype) if n else np.zeros(0, dtype)
        table[name] = column * unit if unit is not None else column
        table[name].info.description = description
    return table
