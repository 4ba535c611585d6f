"""Dataset configuration: the YAML of ``meersim dataset`` and the per-field parameter draws.

Each field is computed from ``(config, seed, field_id)`` alone: the field's seeds come
from ``np.random.SeedSequence(seed).spawn(n_fields)[field_id]``, split again into the
parameter draws, the catalog, the observation noise and CLEAN (:func:`field_seeds`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any

import numpy as np

from meersim.catalogs.synthetic import SURVEYS, MorphologyModel
from meersim.clean.config import CleanConfig
from meersim.config import from_dict, load_yaml, to_dict
from meersim.datasets import distributions
from meersim.datasets.emulate import FastConfig
from meersim.datasets.pybdsf import PybdsfConfig
from meersim.datasets.rare import rare_from
from meersim.errors import InputError
from meersim.imaging.weighting import Weighting
from meersim.observe.uvcoverage import ObservationSetup
from meersim.sky.render import RENDERERS

SIM_PRODUCTS = ("sky", "dirty", "restored", "residual", "model")
MODES = ("image", "vis", "fast")
# CleanConfig keys that the emulated CLEAN of mode fast cannot honour (multiscale models)
FAST_REFUSED_CLEAN_KEYS = ("multiscale", "scales", "scale_bias", "image_plane_only")
# ObservationSetup keys the builder sets per field (pointing, noise seed, target rms)
RESERVED_SETUP_KEYS = ("ra_deg", "dec_deg", "seed", "target_rms_jy")


@dataclass
class FieldConfig:
    """The sky of each field. Any value may be a distribution (see :mod:`distributions`).

    survey : ``mightee`` (deep field) or ``mgcls`` (cluster field): source-count flux
        limit and default pointing of :func:`meersim.catalogs.synthesize`.
    npix : field size in pixels (square), at least ``crops.size``; even in ``vis`` mode
        (the gridder needs it; drawn values are rounded up to even there).
        cell_arcsec : pixel size (arcsec).
    ra_deg, dec_deg : pointing / phase centre (deg); None = the survey's field.
    flux_min_jy, flux_max_jy : flux range of the catalog (Jy at 1.284 GHz);
        flux_min None = the survey default (~5x its rms).
    faint_slope : slope of the Euclidean-normalised counts below 50 uJy.
    margin_arcsec : sources are drawn over the field plus this margin on each side
        (arcsec), so bright neighbours spill in through their sidelobes and extent.
    renderer : ``fast`` (compiled exponential/Sersic profiles) or ``galsim`` (the
        renderer of meersim before 2026-12, to rebuild older datasets' skies; docs/sky.md).
    """

    survey: Any = "mgcls"
    npix: Any = 512
    cell_arcsec: Any = 2.0
    ra_deg: Any = None
    dec_deg: Any = None
    flux_min_jy: Any = None
    flux_max_jy: Any = 1.0
    faint_slope: Any = 0.0
    margin_arcsec: Any = 60.0
    renderer: Any = "fast"


@dataclass
class CropConfig:
    """How fields are cut (the seed study used 256-pixel crops every 200 pixels).

    size, stride : crop size and step (pixels). max_nan : crops with a larger NaN
    fraction are dropped. psf_size : each field's PSF is centre-cropped to this many
    pixels. pb_cut : if set, every product is blanked (NaN) where the primary-beam
    gain is below it (as MGCLS products are); None keeps the whole field.
    """

    size: int = 256
    stride: int = 200
    max_nan: float = 0.3
    psf_size: int = 128
    pb_cut: Any = None


@dataclass
class DatasetConfig:
    """A simulated dataset (``meersim dataset --config ds.yaml``); docs/dataset.md lists every key.

    observation : keys of :class:`meersim.observe.uvcoverage.ObservationSetup`
        (e.g. hours, nchan, dump_s, antennas); each fixed or a distribution.
    weighting : ``{scheme, robust}`` of :class:`meersim.imaging.weighting.Weighting`.
    noise_rms_jy : target thermal rms of the image (Jy/beam); None = the radiometer
        noise of the setup.
    clean : keys of :class:`meersim.clean.major.CleanConfig`.
    morphology : keys of :class:`meersim.catalogs.synthetic.MorphologyModel` (class
        fractions and sizes of the synthetic sources, e.g. agn_compact_fraction,
        sfg_crossover_mjy); each fixed or a distribution. Empty = the defaults.
    pybdsf : :class:`meersim.datasets.pybdsf.PybdsfConfig` (PyBDSF on every restored field).
    rare : keys of :class:`meersim.datasets.rare.RareConfig` (injected rarities: rates
        per field of giant, bent, X-shaped radio galaxies, odd radio circles and
        off-field artefacts); each fixed or a distribution. Empty = none, no draws.
    mode : ``image`` or ``vis`` (observe, then CLEAN) or ``fast`` (image-plane
        observation and an emulated CLEAN, :mod:`meersim.datasets.emulate`).
    fast : :class:`meersim.datasets.emulate.FastConfig` (mode fast only).
    """

    n_fields: int = 4
    seed: int = 0
    mode: str = "image"
    field: FieldConfig = dc_field(default_factory=FieldConfig)
    morphology: dict = dc_field(default_factory=dict)
    observation: dict = dc_field(default_factory=dict)
    weighting: dict = dc_field(default_factory=lambda: {"scheme": "briggs", "robust": -0.5})
    noise_rms_jy: Any = None
    clean: dict = dc_field(default_factory=dict)
    products: list = dc_field(default_factory=lambda: list(SIM_PRODUCTS))
    crops: CropConfig = dc_field(default_factory=CropConfig)
    threads_per_field: int = 1
    pybdsf: PybdsfConfig = dc_field(default_factory=PybdsfConfig)
    rare: dict = dc_field(default_factory=dict)
    fast: FastConfig = dc_field(default_factory=FastConfig)

    def __post_init__(self):
        src = "dataset config"
        if not isinstance(self.n_fields, int) or self.n_fields < 1:
            raise InputError(src, "n_fields", f"must be a positive integer, got {self.n_fields!r}.")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise InputError(src, "seed", f"must be an integer >= 0, got {self.seed!r}.")
        if self.mode not in MODES:
            raise InputError(src, "mode", f"{self.mode!r} is unknown.", "Use image, vis or fast.")
        if isinstance(self.products, str):
            self.products = [self.products]
        bad = [p for p in self.products if p not in SIM_PRODUCTS]
        if bad or not self.products or len(set(self.products)) != len(self.products):
            raise InputError(
                src, "products", f"{self.products!r} invalid.", f"Choose from {SIM_PRODUCTS}."
            )
        c = self.crops
        if not (isinstance(c.size, int) and isinstance(c.stride, int) and c.size > 0 < c.stride):
            raise InputError(src, "crops.size/stride", "must be positive integers.")
        if not 0.0 <= float(c.max_nan) <= 1.0:
            raise InputError(src, "crops.max_nan", f"must lie in [0, 1], got {c.max_nan}.")
        if not isinstance(c.psf_size, int) or c.psf_size < 1:
            raise InputError(src, "crops.psf_size", "must be a positive integer.")
        _check_field(self, src)
        _check_fast(self, src)
        if not isinstance(self.threads_per_field, int) or self.threads_per_field < 1:
            raise InputError(src, "threads_per_field", "must be a positive integer.")
        for section, values in (
            ("field", to_dict(self.field)),
            ("observation", self.observation),
            ("weighting", self.weighting),
            ("clean", self.clean),
            ("morphology", self.morphology),
            ("crops", {"pb_cut": c.pb_cut}),
            ("rare", self.rare),
        ):
            if not isinstance(values, dict):
                raise InputError(src, section, f"must be a mapping, got {values!r}.")
            for key, value in values.items():
                distributions.check(value, src, f"{section}.{key}")
        distributions.check(self.noise_rms_jy, src, "noise_rms_jy")
        reserved = sorted(set(self.observation) & set(RESERVED_SETUP_KEYS))
        if reserved:
            raise InputError(
                src,
                "observation." + ", observation.".join(reserved),
                "is set by the builder for each field.",
                "Use field.ra_deg/field.dec_deg, seed and noise_rms_jy instead.",
            )


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _plain_values(value) -> list:
    """Values to check of a fixed value or a distribution: itself, the range ends, the choices."""
    if not distributions.is_distribution(value):
        return [value]
    kind, args = next(iter(value.items()))
    if kind == "choice":
        return list(args)
    return list(args[2:4]) if kind == "normal" else list(args[:2])


def _check_field(config: DatasetConfig, src: str) -> None:
    """Plausible field values (fixed, range ends of a distribution, or each choice)."""
    f, size = config.field, config.crops.size
    for name in ("npix", "cell_arcsec", "ra_deg", "dec_deg", "flux_min_jy", "flux_max_jy",
                 "faint_slope", "margin_arcsec"):  # fmt: skip
        value = getattr(f, name)
        if isinstance(value, str):  # YAML reads 1e-3 (no dot) as text
            try:
                setattr(f, name, float(value))
            except ValueError:
                raise InputError(src, f"field.{name}", f"must be a number, got {value!r}.",
                                 "Write a number without quotes.") from None  # fmt: skip
    rules = (
        ("survey", lambda v: v in SURVEYS, f"one of {', '.join(SURVEYS)}"),
        ("npix", lambda v: _number(v) and v >= size,
         f"a pixel count >= crops.size ({size}), or a field gives no crop"),
        ("cell_arcsec", lambda v: _number(v) and v > 0, "> 0 arcsec"),
        ("ra_deg", lambda v: v is None or _number(v), "a number (deg) or null"),
        ("dec_deg", lambda v: v is None or (_number(v) and -90 <= v <= 90),
         "within [-90, 90] deg, or null"),
        ("flux_min_jy", lambda v: v is None or (_number(v) and v > 0), "> 0 Jy, or null"),
        ("flux_max_jy", lambda v: _number(v) and v > 0, "> 0 Jy"),
        ("faint_slope", _number, "a number"),
        ("margin_arcsec", lambda v: _number(v) and v >= 0, ">= 0 arcsec"),
        ("renderer", lambda v: v in RENDERERS, f"one of {', '.join(RENDERERS)}"),
    )  # fmt: skip
    for name, ok, must in rules:
        for value in _plain_values(getattr(f, name)):
            if not ok(value):
                raise InputError(src, f"field.{name}", f"must be {must}, got {value!r}.")
    if config.mode == "vis" and not distributions.is_distribution(f.npix) and round(f.npix) % 2:
        raise InputError(src, "field.npix", f"{f.npix} is odd; vis mode grids visibilities and "
                         "the gridder needs an even image size.", f"Use {round(f.npix) + 1}.")  # fmt: skip


def _check_fast(config: DatasetConfig, src: str) -> None:
    """Options the emulated CLEAN of mode fast cannot honour are errors, not silently ignored."""
    if config.mode != "fast":
        if to_dict(config.fast) != to_dict(FastConfig()):
            raise InputError(src, "fast", f"is set but mode is {config.mode!r}.",
                             "Remove the fast section, or use mode: fast.")  # fmt: skip
        return
    if not isinstance(config.clean, dict):
        return
    for key in FAST_REFUSED_CLEAN_KEYS:
        if key in config.clean and not (key == "multiscale" and config.clean[key] is False):
            raise InputError(src, f"clean.{key}", "mode fast emulates a Högbom CLEAN and has "
                             "no multiscale or image-plane-only option.",
                             f"Remove clean.{key}, or use mode: vis or image.")  # fmt: skip
    clean = config.clean
    if clean.get("threshold_sigma", 3.0) is None and not clean.get("threshold"):
        raise InputError(src, "clean.threshold_sigma", "mode fast emulates CLEAN down to a "
                         "level, and none is set.",
                         "Set clean.threshold_sigma (e.g. 3) or clean.threshold (Jy/beam).")  # fmt: skip


def load_config(path) -> DatasetConfig:
    """Read a dataset YAML (strict keys) and check it by drawing field 0's parameters."""
    config = from_dict(DatasetConfig, load_yaml(path), str(path))
    validate(config, str(path))
    return config


def validate(config: DatasetConfig, source: str = "dataset config") -> None:
    """Check the pass-through sections against the stage dataclasses (unknown keys fail)."""
    params = draw_field_params(config, 0)
    setup_from({**params["observation"], "seed": 0}, source)
    clean_config_from(params["clean"], source)
    morphology_from(params["morphology"], source)
    rare_from(params["rare"], source)
    try:
        Weighting(**params["weighting"])
    except TypeError as exc:
        raise InputError(source, "weighting", str(exc), "Keys: scheme, robust.") from None


# ----------------------------------------------------------------------------------
# per-field seeds and parameters
# ----------------------------------------------------------------------------------
def field_seeds(seed: int, field_id: int) -> dict[str, np.random.SeedSequence]:
    """Independent seed sequences of one field (params, catalog, observe, clean).

    ``SeedSequence(seed, spawn_key=(field_id,))`` is what ``SeedSequence(seed).spawn``
    hands field ``field_id``, without spawning the others.
    """
    base = np.random.SeedSequence(seed, spawn_key=(int(field_id),))
    params, catalog, observe, clean = base.spawn(4)
    return {"params": params, "catalog": catalog, "observe": observe, "clean": clean}


def int_seed(seq: np.random.SeedSequence) -> int:
    return int(
        seq.generate_state(2, np.uint32).astype(np.uint64) @ np.array([1, 2**32], np.uint64)
        >> np.uint64(1)
    )


def draw_field_params(config: DatasetConfig, field_id: int) -> dict[str, Any]:
    """Every parameter value of field ``field_id`` (distributions drawn, others as given).

    Returns ``{"field": {...}, "observation": {...}, "weighting": {...}, "clean": {...},
    "morphology": {...}, "noise_rms_jy": x, "pb_cut": x, "rare": {...},
    "varied": {"section.key": value}}``.
    Sections are drawn in that order and keys in sorted order, so an empty section
    (the usual morphology) consumes no random numbers.
    """
    rng = np.random.default_rng(field_seeds(config.seed, field_id)["params"])
    out: dict[str, Any] = {"varied": {}}
    for section, values in (
        ("field", to_dict(config.field)),
        ("observation", config.observation),
        ("weighting", config.weighting),
        ("clean", config.clean),
        ("morphology", config.morphology),
    ):
        drawn = {}
        for key in sorted(values):
            value = values[key]
            drawn[key] = distributions.draw(value, rng)
            if distributions.is_distribution(value):
                out["varied"][f"{section}.{key}"] = drawn[key]
        out[section] = drawn
    for name, value in (("noise_rms_jy", config.noise_rms_jy), ("pb_cut", config.crops.pb_cut)):
        out[name] = distributions.draw(value, rng)
        if distributions.is_distribution(value):
            out["varied"][name] = out[name]
    # drawn last: rarities leave every other draw of the field as it was
    out["rare"] = {}
    for key in sorted(config.rare):
        out["rare"][key] = distributions.draw(config.rare[key], rng)
        if distributions.is_distribution(config.rare[key]):
            out["varied"][f"rare.{key}"] = out["rare"][key]
    npix = int(round(out["field"]["npix"]))
    out["field"]["npix"] = npix + npix % 2 if config.mode == "vis" else npix
    return out


def param_column(name: str) -> str:
    """Truth-table column of a varied parameter: ``observation.hours`` -> ``param_observation_hours``."""
    return "param_" + name.replace(".", "_")


# ----------------------------------------------------------------------------------
# stage configs from drawn values
# ----------------------------------------------------------------------------------
def setup_from(values: dict, source: str) -> ObservationSetup:
    """The :class:`ObservationSetup` of drawn ``observation`` values (unknown keys fail)."""
    return from_dict(ObservationSetup, dict(values), f"{source}: observation")


def morphology_from(values: dict, source: str) -> MorphologyModel | None:
    """The :class:`MorphologyModel` of drawn ``morphology`` values; None when none are set."""
    if not values:
        return None
    return from_dict(MorphologyModel, dict(values), f"{source}: morphology")


def clean_config_from(values: dict, source: str) -> CleanConfig:
    """The :class:`CleanConfig` of drawn ``clean`` values (unknown keys fail)."""
    return from_dict(CleanConfig, dict(values), f"{source}: clean")
