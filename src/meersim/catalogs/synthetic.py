"""Synthetic MIGHTEE/MGCLS-like catalogs with full per-component truth.

Recipe (docs/catalogs.md has the long form):

* Number of sources: Poisson(area x integral of dN/dS), counts from
  :mod:`meersim.catalogs.source_counts` (Hopkins et al. 2003, scaled to ``ref_freq_hz``).
* Positions: uniform on the sphere inside a RA/Dec box (or a circular cap) of the
  requested area.
* Sizes: Windhorst et al. (1990, ApJ 365, 471): theta_med = 2" (S_1.4/mJy)^0.30 and
  h(>theta) = exp[-ln2 (theta/theta_med)^0.62] (integral size distribution).
* Spectral index per source: N(-0.7, 0.2), shared by all its components.
* Classes, by 1.4 GHz flux (see :class:`MorphologyModel`): star-forming galaxies
  ('sfg', exponential discs) dominate below ~0.1-0.2 mJy and AGN above; AGN are
  compact ('point') or extended FRI ('fr1') / FRII ('fr2') with the FRII share rising
  with flux.
* FRI/FRII geometry after T-RECS (Bonaldi et al. 2019, MNRAS 482, 2): hotspot-separation
  fraction r ~ N(0.17, 0.11) for FRI and N(0.62, 0.18) for FRII (fraction of the
  total size between the two brightest regions).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

import numpy as np
from astropy.table import QTable

from meersim.catalogs import source_counts
from meersim.catalogs.readers import read_catalog
from meersim.catalogs.schema import CANONICAL_COLUMNS, OPTIONAL_COLUMNS
from meersim.catalogs.writers import catalog_write_format, write_catalog
from meersim.errors import InputError


@dataclass(frozen=True)
class SurveyPreset:
    """Defaults that make a catalog look like one survey (fluxes Jy, angles deg)."""

    name: str
    flux_min_jy: float  # faintest source drawn: ~5 x the survey's rms
    rms_jy: float  # typical image rms (Jy/beam)
    ra_deg: float  # default field centre
    dec_deg: float
    field: str


SURVEYS = {
    # MIGHTEE Early Science/DR1: rms ~1.3-2.7 uJy/beam at ~8" (Heywood et al. 2022;
    # Hale et al. 2025). 5 x 2 uJy.
    "mightee": SurveyPreset("mightee", 10e-6, 2e-6, 150.1, 2.2, "MIGHTEE COSMOS"),
    # MGCLS: rms ~3-5 uJy/beam at ~8" (Knowles et al. 2022). 5 x 4 uJy. Centre: the
    # Bullet Cluster (1E 0657-56), one of the MGCLS targets.
    "mgcls": SurveyPreset("mgcls", 20e-6, 4e-6, 104.63, -55.95, "MGCLS Bullet Cluster"),
}


@dataclass(frozen=True)
class MorphologyModel:
    """Class fractions and shape parameters of synthetic sources.

    Fluxes are 1.4 GHz flux densities in mJy, sizes in arcsec.

    * P(sfg | S) = 1 / (1 + (S / sfg_crossover_mjy)^sfg_slope): SFG and AGN counts
      cross near 0.1-0.2 mJy at 1.4 GHz (Padovani 2016, A&ARv 24, 13; Smolcic et al.
      2017, A&A 602, A6: SFGs dominate below ~0.1 mJy, AGN above ~1 mJy).
    * Among AGN, a fraction ``agn_compact_fraction`` is compact (one point
      component: radio-quiet and core-dominated AGN); the rest are extended, with
      P(fr2 | extended AGN, S) = 1 / (1 + fr2_crossover_mjy / S) (FRII dominate the
      bright end, e.g. 3CRR; FRI the fainter AGN).
    * Disc axis ratio from a random inclination: q = sqrt(cos^2 i (1 - q0^2) + q0^2)
      with intrinsic thickness q0 = ``disc_thickness``.
    """

    sfg_crossover_mjy: float = 0.15
    sfg_slope: float = 1.0
    agn_compact_fraction: float = 0.35
    fr2_crossover_mjy: float = 30.0
    disc_thickness: float = 0.2
    sfg_max_size_arcsec: float = 60.0
    agn_max_size_arcsec: float = 900.0
    windhorst_theta0_arcsec: float = 2.0  # theta_med at 1 mJy (Windhorst et al. 1990)
    windhorst_slope: float = 0.30
    windhorst_shape: float = 0.62

    def __post_init__(self):
        # (lowest allowed, lowest included, highest) per field; the rest are positive numbers.
        bounds = {"agn_compact_fraction": (0.0, True, 1.0), "disc_thickness": (0.0, False, 1.0)}
        for name, value in asdict(self).items():
            low, low_included, high = bounds.get(name, (0.0, False, np.inf))
            try:
                number = float(value)
            except (TypeError, ValueError):
                number = float("nan")
            above = number >= low if low_included else number > low
            if not (np.isfinite(number) and above and number <= high):
                allowed = (f"in {'[' if low_included else '('}{low:g}, {high:g}]"
                           if np.isfinite(high) else "a positive number")  # fmt: skip
                raise InputError(
                    "morphology", name, f"must be {allowed}, got {value!r}.",
                    f"e.g. the default {getattr(MorphologyModel, name)}.",
                )  # fmt: skip

    def class_probabilities(self, flux_1p4_jy) -> dict[str, np.ndarray]:
        """P(point), P(sfg), P(fr1), P(fr2) for 1.4 GHz fluxes in Jy."""
        s_mjy = np.asarray(flux_1p4_jy, dtype=float) * 1e3
        p_sfg = 1.0 / (1.0 + (s_mjy / self.sfg_crossover_mjy) ** self.sfg_slope)
        p_agn = 1.0 - p_sfg
        p_fr2_ext = 1.0 / (1.0 + self.fr2_crossover_mjy / s_mjy)
        extended = p_agn * (1.0 - self.agn_compact_fraction)
        return {
            "point": p_agn * self.agn_compact_fraction,
            "sfg": p_sfg,
            "fr1": extended * (1.0 - p_fr2_ext),
            "fr2": extended * p_fr2_ext,
        }

    def median_size_arcsec(self, flux_1p4_jy) -> np.ndarray:
        """Windhorst et al. (1990) median angular size (arcsec) for 1.4 GHz flux in Jy."""
        s_mjy = np.asarray(flux_1p4_jy, dtype=float) * 1e3
        return self.windhorst_theta0_arcsec * s_mjy**self.windhorst_slope

    def draw_sizes(self, rng: np.random.Generator, flux_1p4_jy) -> np.ndarray:
        """Angular sizes (arcsec) from h(>theta) = exp[-ln2 (theta/theta_med)^0.62]."""
        u01 = 1.0 - rng.random(np.shape(flux_1p4_jy))  # in (0, 1]
        ratio = (-np.log(u01) / np.log(2.0)) ** (1.0 / self.windhorst_shape)
        return self.median_size_arcsec(flux_1p4_jy) * ratio


CLASS_ORDER = ("point", "sfg", "fr1", "fr2")


# ----------------------------------------------------------------------------- geometry
def offset_position(ra_deg, dec_deg, pa_deg, sep_arcsec):
    """Move (ra, dec) in deg by ``sep_arcsec`` along position angle ``pa_deg`` (east of north).

    Exact spherical offset; returns (ra, dec) in deg with ra in [0, 360).
    """
    ra1, dec1 = np.radians(ra_deg), np.radians(dec_deg)
    theta, delta = np.radians(pa_deg), np.radians(np.asarray(sep_arcsec) / 3600.0)
    sin_dec2 = np.sin(dec1) * np.cos(delta) + np.cos(dec1) * np.sin(delta) * np.cos(theta)
    dec2 = np.arcsin(np.clip(sin_dec2, -1.0, 1.0))
    dra = np.arctan2(
        np.sin(theta) * np.sin(delta) * np.cos(dec1), np.cos(delta) - np.sin(dec1) * sin_dec2
    )
    return np.degrees(ra1 + dra) % 360.0, np.degrees(dec2)


def sample_positions(rng, n, area_deg2, ra_deg, dec_deg, footprint="box"):
    """Uniform positions on the sphere (deg) in a box or cap of ``area_deg2`` around a centre.

    ``box``: Dec within +-sqrt(area)/2 of the centre, RA width chosen so the spherical
    area is exact. ``circle``: a cap of that area. Returns (ra, dec) in deg.
    """
    area_sr = area_deg2 * source_counts.SR_PER_DEG2
    if footprint == "box":
        half = 0.5 * np.sqrt(area_deg2)
        if abs(dec_deg) + half >= 90.0:
            raise InputError(
                "synthesize", "dec_deg", "box footprint crosses a pole.", "use footprint='circle'."
            )
        s1, s2 = np.sin(np.radians(dec_deg - half)), np.sin(np.radians(dec_deg + half))
        width_deg = np.degrees(area_sr / (s2 - s1))
        if width_deg >= 360.0:
            raise InputError(
                "synthesize", "area_deg2", "box wider than 360 deg in RA.", "use a smaller area."
            )
        dec = np.degrees(np.arcsin(rng.uniform(s1, s2, n)))
        ra = (ra_deg + (rng.random(n) - 0.5) * width_deg) % 360.0
        return ra, dec
    if footprint == "circle":
        cos_rho = 1.0 - area_sr / (2.0 * np.pi)
        if cos_rho <= -1.0:
            raise InputError("synthesize", "area_deg2", "larger than the whole sky.")
        sep_arcsec = np.degrees(np.arccos(rng.uniform(cos_rho, 1.0, n))) * 3600.0
        return offset_position(ra_deg, dec_deg, rng.uniform(0.0, 360.0, n), sep_arcsec)
    raise InputError("synthesize", "footprint", f"unknown '{footprint}'.", "use 'box' or 'circle'.")


# ----------------------------------------------------------------------------- components
def _components_fr(rng, kind, ids, ra, dec, flux, alpha, size):
    """Core + jets/lobes (+ hotspots for FRII) of radio-loud AGN; arrays of components."""
    n = len(ids)
    axis = rng.uniform(0.0, 360.0, n)  # direction of side 1, deg east of north
    bend = rng.normal(0.0, 10.0, (n, 2))  # mild bending per side, deg
    sides = np.stack([axis, axis + 180.0], axis=1) + bend
    half = 0.5 * size
    if kind == "fr1":
        r = np.clip(rng.normal(0.17, 0.11, n), 0.05, 0.45)  # T-RECS FRI
        core_frac = rng.uniform(0.05, 0.30, n)
    else:
        r = np.clip(rng.normal(0.62, 0.18, n), 0.25, 0.95)  # T-RECS FRII
        core_frac = rng.uniform(0.01, 0.10, n)
    side_split = rng.uniform(0.35, 0.65, n)  # flux share of side 1 (Doppler / environment)
    side_flux = (1.0 - core_frac)[:, None] * np.stack([side_split, 1.0 - side_split], axis=1)
    rows = []

    def add(role, shape, frac_flux, dist, pa_dir, major, minor, sersic):
        cra, cdec = offset_position(ra[:, None], dec[:, None], pa_dir, dist)
        rows.append(
            dict(
                source_id=np.broadcast_to(ids[:, None], dist.shape),
                ra=cra,
                dec=cdec,
                flux=frac_flux,
                major=major,
                minor=minor,
                pa=np.where(major > 0, pa_dir % 180.0, 0.0),
                shape=np.full(dist.shape, shape),
                component=np.full(dist.shape, role),
                sersic_n=np.full(dist.shape, sersic),
                spectral_index=np.broadcast_to(alpha[:, None], dist.shape),
            )
        )

    zeros1 = np.zeros((n, 1))
    add("core", "point", (flux * core_frac)[:, None], zeros1, np.zeros((n, 1)), zeros1, zeros1, 0.0)
    h2 = half[:, None] * np.ones((1, 2))
    r2 = r[:, None] * np.ones((1, 2))
    if kind == "fr1":
        # jet: brightest near r*half from the core; plume: fainter, out to the edge
        jet_frac = rng.uniform(0.4, 0.7, (n, 2))
        jet_major = np.maximum(r2 * h2 * 2.0, 0.25 * h2)
        jet_minor = jet_major * rng.uniform(0.2, 0.4, (n, 2))
        add("jet", "gaussian", flux[:, None] * side_flux * jet_frac, r2 * h2, sides,
            jet_major, jet_minor, 0.5)  # fmt: skip
        plume_major = (1.0 - r2) * h2
        plume_minor = plume_major * rng.uniform(0.4, 0.8, (n, 2))
        add("lobe", "gaussian", flux[:, None] * side_flux * (1.0 - jet_frac),
            0.5 * (1.0 + r2) * h2, sides, plume_major, plume_minor, 0.5)  # fmt: skip
    else:
        # hotspots at the hotspot separation r*size; lobes filling out to the edge
        hot_frac = rng.uniform(0.2, 0.5, (n, 2))
        hot_major = 0.05 * h2 * 2.0
        hot_minor = hot_major * rng.uniform(0.6, 1.0, (n, 2))
        add("hotspot", "gaussian", flux[:, None] * side_flux * hot_frac, r2 * h2, sides,
            hot_major, hot_minor, 0.5)  # fmt: skip
        lobe_major = 0.8 * h2
        lobe_minor = lobe_major * rng.uniform(0.3, 0.6, (n, 2))
        add("lobe", "gaussian", flux[:, None] * side_flux * (1.0 - hot_frac), 0.55 * h2,
            sides, lobe_major, lobe_minor, 0.5)  # fmt: skip
    return {key: np.concatenate([row[key] for row in rows], axis=1) for key in rows[0]}, 5


# ----------------------------------------------------------------------------- public
def synthesize(
    area_deg2: float,
    survey: str = "mightee",
    seed: int = 0,
    ra_deg: float | None = None,
    dec_deg: float | None = None,
    flux_min_jy: float | None = None,
    flux_max_jy: float = 1.0,
    ref_freq_hz: float = 1.284e9,
    alpha_mean: float = source_counts.DEFAULT_ALPHA,
    alpha_std: float = 0.2,
    faint_slope: float = 0.0,
    footprint: str = "box",
    morphology: MorphologyModel | None = None,
) -> QTable:
    """Draw a synthetic canonical catalog (one row per component).

    Parameters
    ----------
    area_deg2 : sky area in deg^2.
    survey : 'mightee' or 'mgcls': default flux limit and field centre (:data:`SURVEYS`).
    seed : everything is drawn from ``np.random.default_rng(seed)``.
    ra_deg, dec_deg : field centre in deg (default: the survey's field).
    flux_min_jy, flux_max_jy : source flux range in Jy at ``ref_freq_hz``
        (default minimum: ~5 x the survey rms).
    ref_freq_hz : frequency (Hz) of the ``flux`` column; counts scaled from 1.4 GHz
        with alpha = -0.7.
    alpha_mean, alpha_std : spectral-index distribution.
    faint_slope : slope of the Euclidean-normalised counts below 50 uJy (0 = flat).
    footprint : 'box' (RA/Dec box) or 'circle' (cap).
    morphology : class fractions and shape parameters (default :class:`MorphologyModel`).

    Returns
    -------
    QTable with canonical + optional columns; ``meta`` holds the parameters
    (SURVEY, SEED, AREA deg^2, RA_CEN, DEC_CEN, FLUXMIN, FLUXMAX Jy, FOOTPRNT, NSOURCE).
    """
    preset = _survey_preset(survey)
    if not np.isfinite(area_deg2) or area_deg2 <= 0:
        raise InputError("synthesize", "area_deg2", f"must be > 0, got {area_deg2}.")
    ra_deg = preset.ra_deg if ra_deg is None else float(ra_deg)
    dec_deg = preset.dec_deg if dec_deg is None else float(dec_deg)
    if not -90.0 <= dec_deg <= 90.0:
        raise InputError("synthesize", "dec_deg", f"{dec_deg} is outside [-90, 90].")
    flux_min_jy = preset.flux_min_jy if flux_min_jy is None else float(flux_min_jy)
    if not 0 < flux_min_jy < flux_max_jy:
        raise InputError(
            "synthesize",
            "flux_min_jy",
            f"need 0 < flux_min ({flux_min_jy}) < flux_max ({flux_max_jy}) in Jy.",
        )
    if ref_freq_hz <= 0:
        raise InputError("synthesize", "ref_freq_hz", "must be > 0 Hz.")
    model = morphology or MorphologyModel()
    rng = np.random.default_rng(seed)

    expected = source_counts.expected_number(
        flux_min_jy, flux_max_jy, area_deg2, ref_freq_hz, faint_slope=faint_slope
    )
    _check_size(expected, area_deg2, flux_min_jy)
    sources = _draw_sources(rng, model, int(rng.poisson(expected)), area_deg2, ra_deg, dec_deg,
                            flux_min_jy, flux_max_jy, ref_freq_hz, faint_slope, footprint,
                            alpha_mean, alpha_std)  # fmt: skip
    parts = [_point_components(sources), _disc_components(rng, model, sources)]
    for kind in ("fr1", "fr2"):
        parts.append(_agn_components(rng, model, sources, kind))
    table = _canonical_table(parts, sources["morph"], ref_freq_hz)
    table.meta.update(
        SURVEY=survey,
        FIELD=preset.field if (ra_deg, dec_deg) == (preset.ra_deg, preset.dec_deg) else "custom",
        SEED=int(seed),
        AREA=float(area_deg2),
        RA_CEN=ra_deg,
        DEC_CEN=dec_deg,
        FLUXMIN=flux_min_jy,
        FLUXMAX=float(flux_max_jy),
        FOOTPRNT=footprint,
        NSOURCE=len(sources["ids"]),
        NEXPECT=float(expected),
        MORPHMOD=repr(asdict(model)) if morphology is not None else "default",
    )
    return table


# Size guard: a catalog of this many sources takes minutes and gigabytes to draw and
# write (~100 bytes per component, several components per AGN); more is a typo.
MAX_SOURCES = 2_000_000
WHOLE_SKY_DEG2 = 41252.96


def _check_size(expected: float, area_deg2: float, flux_min_jy: float) -> None:
    if area_deg2 > WHOLE_SKY_DEG2:
        raise InputError("synthesize", "area_deg2", f"{area_deg2:g} deg^2 exceeds the whole sky "
                         f"({WHOLE_SKY_DEG2:.0f} deg^2).", "Give the area in deg^2.")  # fmt: skip
    if expected > MAX_SOURCES:
        raise InputError(
            "synthesize", "area_deg2",
            f"{area_deg2:g} deg^2 above {flux_min_jy:.3g} Jy holds ~{expected:.3g} sources, more "
            f"than the {MAX_SOURCES:,} meersim draws in one catalog.",
            "Use a smaller --area (a MeerKAT field is ~1 deg^2) or a higher --flux-min.",
        )  # fmt: skip


def _survey_preset(survey: str) -> SurveyPreset:
    if survey not in SURVEYS:
        raise InputError("synthesize", "survey", f"unknown '{survey}'.", f"use {tuple(SURVEYS)}.")
    return SURVEYS[survey]


def _draw_sources(rng, model, n, area_deg2, ra_deg, dec_deg, flux_min_jy, flux_max_jy,
                  ref_freq_hz, faint_slope, footprint, alpha_mean, alpha_std) -> dict:  # fmt: skip
    """Per-source fluxes (Jy at ref_freq), positions (deg), classes, sizes (arcsec), alphas."""
    flux = source_counts.sample_fluxes(
        rng, n, flux_min_jy, flux_max_jy, ref_freq_hz, faint_slope=faint_slope
    )
    ra, dec = sample_positions(rng, n, area_deg2, ra_deg, dec_deg, footprint)
    flux_1p4 = (
        flux * (source_counts.COUNT_MODEL_FREQ_HZ / ref_freq_hz) ** source_counts.DEFAULT_ALPHA
    )
    probs = model.class_probabilities(flux_1p4)
    cumulative = np.cumsum(np.stack([probs[c] for c in CLASS_ORDER]), axis=0)
    class_index = (rng.random(n)[None, :] > cumulative).sum(axis=0).clip(0, len(CLASS_ORDER) - 1)
    morph = np.array(CLASS_ORDER)[class_index]
    size = model.draw_sizes(rng, flux_1p4)
    alpha = rng.normal(alpha_mean, alpha_std, n)
    ids = np.arange(n, dtype=np.int64)
    return {"ids": ids, "ra": ra, "dec": dec, "flux": flux, "morph": morph, "size": size,
            "alpha": alpha}  # fmt: skip


def _point_components(src: dict) -> dict:
    """Compact AGN: one point component each."""
    sel = src["morph"] == "point"
    m = int(sel.sum())
    return dict(
        source_id=src["ids"][sel],
        ra=src["ra"][sel],
        dec=src["dec"][sel],
        flux=src["flux"][sel],
        major=np.zeros(m),
        minor=np.zeros(m),
        pa=np.zeros(m),
        shape=np.full(m, "point"),
        component=np.full(m, "point"),
        sersic_n=np.zeros(m),
        spectral_index=src["alpha"][sel],
        order=np.zeros(m, dtype=int),
    )


def _disc_components(rng, model: MorphologyModel, src: dict) -> dict:
    """Star-forming galaxies: exponential discs, axis ratio from a random inclination."""
    sel = src["morph"] == "sfg"
    m = int(sel.sum())
    cos_i = rng.random(m)
    q0 = model.disc_thickness
    q = np.sqrt(cos_i**2 * (1.0 - q0**2) + q0**2)
    disc_major = np.minimum(src["size"][sel], model.sfg_max_size_arcsec)
    return dict(
        source_id=src["ids"][sel],
        ra=src["ra"][sel],
        dec=src["dec"][sel],
        flux=src["flux"][sel],
        major=disc_major,
        minor=disc_major * q,
        pa=rng.uniform(0.0, 180.0, m),
        shape=np.full(m, "exponential"),
        component=np.full(m, "disc"),
        sersic_n=np.ones(m),
        spectral_index=src["alpha"][sel],
        order=np.zeros(m, dtype=int),
    )


def _agn_components(rng, model: MorphologyModel, src: dict, kind: str) -> dict:
    """Extended AGN of class ``kind`` (fr1/fr2): core, lobes and hotspots."""
    sel = src["morph"] == kind
    agn_size = np.minimum(src["size"][sel], model.agn_max_size_arcsec)
    comps, ncomp = _components_fr(rng, kind, src["ids"][sel], src["ra"][sel], src["dec"][sel],
                                  src["flux"][sel], src["alpha"][sel], agn_size)  # fmt: skip
    comps = {k: np.asarray(v).ravel() for k, v in comps.items()}
    comps["order"] = np.tile(np.arange(ncomp), int(sel.sum()))
    return comps


def _canonical_table(parts: list[dict], morph: np.ndarray, ref_freq_hz: float) -> QTable:
    """Components of every part, sorted by source then component, as the canonical QTable."""
    merged = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    order = np.lexsort((merged["order"], merged["source_id"]))
    table = QTable()
    values = {
        **{k: merged[k][order] for k in merged if k != "order"},
        "ref_freq": np.full(len(order), float(ref_freq_hz)),
        "morph_class": morph[merged["source_id"][order]],
    }
    for name, (unit, dtype, description) in {**CANONICAL_COLUMNS, **OPTIONAL_COLUMNS}.items():
        column = np.asarray(values[name]).astype(dtype)
        table[name] = column * unit if unit is not None else column
        table[name].info.description = description
    return table


# ----------------------------------------------------------------------------- default
DEFAULT_CATALOG_FILE = "default_catalog.fits"
#: Parameters of the shipped default catalog: a 0.16 deg^2 (24' x 24') box in MIGHTEE
#: COSMOS, sources above 50 uJy at 1284 MHz (a few hundred sources).
DEFAULT_CATALOG_PARAMS = dict(
    area_deg2=0.16, survey="mightee", seed=1284, ra_deg=150.1, dec_deg=2.2, flux_min_jy=5e-5
)


def default_catalog_path() -> Path:
    """Path of the shipped default catalog (package data)."""
    return Path(str(resources.files("meersim") / "data" / DEFAULT_CATALOG_FILE))


def default_catalog() -> QTable:
    """The shipped MIGHTEE-COSMOS-like synthetic catalog (see DEFAULT_CATALOG_PARAMS)."""
    path = default_catalog_path()
    if not path.exists():
        raise InputError(
            str(path),
            "file",
            "default catalog missing from the installation.",
            "Reinstall meersim, or call meersim.catalogs.synthetic.regenerate_default_catalog().",
        )
    return read_catalog(path)


def regenerate_default_catalog(path=None) -> Path:
    """Re-create the default catalog file from DEFAULT_CATALOG_PARAMS; returns its path."""
    return write_catalog(synthesize(**DEFAULT_CATALOG_PARAMS), path or default_catalog_path())


def synthesize_to_file(output, area_deg2: float, **kwargs) -> tuple[Path, QTable]:
    """:func:`synthesize` a catalog of ``area_deg2`` deg^2 and write it to ``output``
    (:func:`meersim.catalogs.write_catalog`); returns the path and the table."""
    catalog_write_format(output)  # refuse an unknown extension before drawing
    table = synthesize(area_deg2, **kwargs)
    return write_catalog(table, output), table
