"""Simulated crop datasets: config → fields (catalog → sky → observe → clean) → crops → store.

Each field is computed from ``(config, seed, field_id)`` alone: the field's seeds come
from ``np.random.SeedSequence(seed).spawn(n_fields)[field_id]`` (split again into the
parameter draws, the catalog, the observation noise and CLEAN), and every field runs
with a fixed number of gridder threads (``threads_per_field``), so the same seed gives
bit-identical data whatever the worker count or completion order. Fields run inline
(``workers <= 1``) or on dask.distributed; the driver stages each finished field and
appends fields to the store in field order (:class:`meersim.simulate.store.FieldWriter`),
so an interrupted build resumes where it stopped.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field as dc_field
from pathlib import Path
from typing import Any

import numpy as np
from astropy.table import Table

from meersim.config import from_dict, load_yaml, to_dict
from meersim.errors import InputError
from meersim.simulate import distributions
from meersim.simulate.crops import (
    CropTruthInputs,
    centre_crop,
    component_peak,
    crop_grid,
    crop_truth_tables,
    cut,
    nan_fractions,
    robust_rms,
)
from meersim.simulate.store import FieldResult, open_field_writer, open_store

SIM_PRODUCTS = ("sky", "dirty", "restored", "residual", "model")
MODES = ("image", "vis")
STAGES = ("synth", "render", "observe", "clean", "crop")
# ObservationSetup keys the builder sets per field (pointing, noise seed, target rms)
RESERVED_SETUP_KEYS = ("ra_deg", "dec_deg", "seed", "target_rms_jy")


# ----------------------------------------------------------------------------------
# configuration
# ----------------------------------------------------------------------------------
@dataclass
class FieldConfig:
    """The sky of each field. Any value may be a distribution (see :mod:`distributions`).

    survey : ``mightee`` (deep field) or ``mgcls`` (cluster field): source-count flux
        limit and default pointing of :func:`meersim.catalogs.synthesize`.
    npix : field size in pixels (square). cell_arcsec : pixel size (arcsec).
    ra_deg, dec_deg : pointing / phase centre (deg); None = the survey's field.
    flux_min_jy, flux_max_jy : flux range of the catalog (Jy at 1.284 GHz);
        flux_min None = the survey default (~5x its rms).
    faint_slope : slope of the Euclidean-normalised counts below 50 uJy.
    margin_arcsec : sources are drawn over the field plus this margin on each side
        (arcsec), so bright neighbours spill in through their sidelobes and extent.
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

    observation : keys of :class:`meersim.simulate.uvcoverage.ObservationSetup`
        (e.g. hours, nchan, dump_s, antennas); each fixed or a distribution.
    weighting : ``{scheme, robust}`` of :class:`meersim.simulate.imaging.Weighting`.
    noise_rms_jy : target thermal rms of the image (Jy/beam); None = the radiometer
        noise of the setup.
    clean : keys of :class:`meersim.simulate.clean.CleanConfig`.
    morphology : keys of :class:`meersim.catalogs.synthetic.MorphologyModel` (class
        fractions and sizes of the synthetic sources, e.g. agn_compact_fraction,
        sfg_crossover_mjy); each fixed or a distribution. Empty = the defaults.
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

    def __post_init__(self):
        src = "dataset config"
        if not isinstance(self.n_fields, int) or self.n_fields < 1:
            raise InputError(src, "n_fields", f"must be a positive integer, got {self.n_fields!r}.")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise InputError(src, "seed", f"must be an integer >= 0, got {self.seed!r}.")
        if self.mode not in MODES:
            raise InputError(src, "mode", f"{self.mode!r} is unknown.", "Use image or vis.")
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
        if not isinstance(self.threads_per_field, int) or self.threads_per_field < 1:
            raise InputError(src, "threads_per_field", "must be a positive integer.")
        for section, values in (
            ("field", to_dict(self.field)),
            ("observation", self.observation),
            ("weighting", self.weighting),
            ("clean", self.clean),
            ("morphology", self.morphology),
            ("crops", {"pb_cut": c.pb_cut}),
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


def load_config(path) -> DatasetConfig:
    """Read a dataset YAML (strict keys) and check it by drawing field 0's parameters."""
    config = from_dict(DatasetConfig, load_yaml(path), str(path))
    validate(config, str(path))
    return config


def validate(config: DatasetConfig, source: str = "dataset config") -> None:
    """Check the pass-through sections against the stage dataclasses (unknown keys fail)."""
    params = draw_field_params(config, 0)
    _setup_from({**params["observation"], "seed": 0}, source, config)
    _clean_config_from(params["clean"], source)
    _morphology_from(params["morphology"], source)
    from meersim.simulate.imaging import Weighting

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


def _int_seed(seq: np.random.SeedSequence) -> int:
    return int(
        seq.generate_state(2, np.uint32).astype(np.uint64) @ np.array([1, 2**32], np.uint64)
        >> np.uint64(1)
    )


def draw_field_params(config: DatasetConfig, field_id: int) -> dict[str, Any]:
    """Every parameter value of field ``field_id`` (distributions drawn, others as given).

    Returns ``{"field": {...}, "observation": {...}, "weighting": {...}, "clean": {...},
    "morphology": {...}, "noise_rms_jy": x, "pb_cut": x, "varied": {"section.key": value}}``.
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
    for key in ("npix",):
        out["field"][key] = int(round(out["field"][key]))
    return out


def param_column(name: str) -> str:
    """Truth-table column of a varied parameter: ``observation.hours`` -> ``param_observation_hours``."""
    return "param_" + name.replace(".", "_")


# ----------------------------------------------------------------------------------
# stage adapters
# ----------------------------------------------------------------------------------
def _setup_from(values: dict, source: str, config: DatasetConfig):
    from meersim.simulate.uvcoverage import ObservationSetup

    return from_dict(ObservationSetup, dict(values), f"{source}: observation")


def _morphology_from(values: dict, source: str):
    """The :class:`MorphologyModel` of drawn ``morphology`` values; None when none are set."""
    from meersim.catalogs.synthetic import MorphologyModel

    if not values:
        return None
    return from_dict(MorphologyModel, dict(values), f"{source}: morphology")


def _clean_config_from(values: dict, source: str):
    from meersim.simulate.clean import CleanConfig

    return from_dict(CleanConfig, dict(values), f"{source}: clean")


@contextlib.contextmanager
def _gridder_threads(n: int):
    """Run the block with ``MEERSIM_NTHREADS=n`` (bit-identical results need a fixed count)."""
    old = os.environ.get("MEERSIM_NTHREADS")
    os.environ["MEERSIM_NTHREADS"] = str(int(n))
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("MEERSIM_NTHREADS", None)
        else:
            os.environ["MEERSIM_NTHREADS"] = old


# ----------------------------------------------------------------------------------
# one field
# ----------------------------------------------------------------------------------
def simulate_field(config: DatasetConfig, field_id: int) -> FieldResult:
    """Compute every crop and the truth of one field (pure function of config and id)."""
    with _gridder_threads(config.threads_per_field):
        return _simulate_field(config, int(field_id))


def _simulate_field(config: DatasetConfig, field_id: int) -> FieldResult:
    from meersim.catalogs import synthesize
    from meersim.catalogs.synthetic import SURVEYS
    from meersim.simulate.beamfit import convolve_with_beam
    from meersim.simulate.clean import clean
    from meersim.simulate.grid import Grid
    from meersim.simulate.imaging import Weighting
    from meersim.simulate.observe import observe
    from meersim.simulate.sky import render_sky
    from meersim.simulate.uvcoverage import channel_freqs

    timings = dict.fromkeys(STAGES, 0.0)
    tick = time.perf_counter()
    seeds = field_seeds(config.seed, field_id)
    params = draw_field_params(config, field_id)
    fp = params["field"]
    survey = str(fp["survey"])
    if survey not in SURVEYS:
        raise InputError(
            "dataset config", "field.survey", f"{survey!r} unknown.", f"Use {tuple(SURVEYS)}."
        )
    ra = SURVEYS[survey].ra_deg if fp["ra_deg"] is None else float(fp["ra_deg"])
    dec = SURVEYS[survey].dec_deg if fp["dec_deg"] is None else float(fp["dec_deg"])
    npix, cell = int(fp["npix"]), float(fp["cell_arcsec"])
    side_deg = (npix * cell + 2.0 * float(fp["margin_arcsec"])) / 3600.0
    catalog = synthesize(
        side_deg**2,
        survey=survey,
        seed=_int_seed(seeds["catalog"]),
        ra_deg=ra,
        dec_deg=dec,
        flux_min_jy=fp["flux_min_jy"],
        flux_max_jy=float(fp["flux_max_jy"]),
        faint_slope=float(fp["faint_slope"]),
        morphology=_morphology_from(params["morphology"], "dataset config"),
    )
    timings["synth"] = time.perf_counter() - tick

    tick = time.perf_counter()
    setup_values = dict(params["observation"])
    setup_values.update(ra_deg=ra, dec_deg=dec, seed=_int_seed(seeds["observe"]))
    if params["noise_rms_jy"] is not None:
        setup_values["target_rms_jy"] = float(params["noise_rms_jy"])
    setup = _setup_from(setup_values, "dataset config", config)
    freqs = tuple(float(f) for f in np.atleast_1d(channel_freqs(setup)))
    grid = Grid(npix, npix, cell, ra, dec, freqs)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # components beyond the field (the margin) are expected
        sky = render_sky(catalog, grid)
    timings["render"] = time.perf_counter() - tick

    tick = time.perf_counter()
    obs = observe(
        sky,
        setup,
        Weighting(**params["weighting"]),
        mode=config.mode,
        products=("basic",),
        nthreads=config.threads_per_field,
    )
    timings["observe"] = time.perf_counter() - tick

    tick = time.perf_counter()
    clean_config = _clean_config_from(params["clean"], "dataset config")
    result = clean(obs, clean_config)
    timings["clean"] = time.perf_counter() - tick

    tick = time.perf_counter()
    pb = np.asarray(obs.primary_beam, dtype=np.float32)
    images = {}
    if "sky" in config.products:
        # apparent MFS sky: channel mean (equal shares) x band primary beam, then the clean beam
        apparent = sky.data.mean(axis=0) * pb
        images["sky"] = convolve_with_beam(apparent, obs.beam, cell)
    images["dirty"] = obs.dirty
    images["restored"] = result.restored
    images["residual"] = result.residual
    images["model"] = result.model
    images = {p: np.asarray(images[p], dtype=np.float32) for p in config.products}
    blank = np.zeros((npix, npix), bool)
    if params["pb_cut"] is not None:
        blank = pb < float(params["pb_cut"])
        for data in images.values():
            data[blank] = np.nan
    size = config.crops.size
    origins = crop_grid((npix, npix), size, config.crops.stride)
    nanfrac = nan_fractions(blank, origins, size)
    keep = nanfrac <= float(config.crops.max_nan)
    kept = origins[keep]

    # truth: components on the field grid, apparent flux at the image frequency
    freq0 = float(obs.grid.freqs_hz[0])
    comp_ra = np.asarray(catalog["ra"].to_value("deg"))
    comp_dec = np.asarray(catalog["dec"].to_value("deg"))
    x, y = grid.world_to_pixel(comp_ra, comp_dec)
    ix = np.clip(np.rint(x).astype(int), 0, npix - 1)
    iy = np.clip(np.rint(y).astype(int), 0, npix - 1)
    on = (x > -0.5) & (x < npix - 0.5) & (y > -0.5) & (y < npix - 0.5)
    flux = catalog["flux"].to_value("Jy") * (
        freq0 / catalog["ref_freq"].to_value("Hz")
    ) ** np.asarray(catalog["spectral_index"])
    apparent_flux = np.where(on, flux * pb[iy, ix], 0.0)
    peak = component_peak(
        apparent_flux,
        catalog["major"].to_value("arcsec"),
        catalog["minor"].to_value("arcsec"),
        obs.beam,
    )
    rms = float(result.noise_rms)
    stats, sources = crop_truth_tables(
        CropTruthInputs(catalog, x, y, apparent_flux, peak), kept, size, rms
    )
    sources["field_id"] = np.full(len(sources), field_id, dtype=np.int64)

    truth = Table()
    n = len(kept)
    truth["field_id"] = np.full(n, field_id, dtype=np.int64)
    truth["x0"] = kept[:, 0]
    truth["y0"] = kept[:, 1]
    centre_ra, centre_dec = grid.pixel_to_world(
        kept[:, 0] + (size - 1) / 2.0, kept[:, 1] + (size - 1) / 2.0
    )
    truth["ra"] = np.asarray(centre_ra) % 360.0
    truth["dec"] = np.asarray(centre_dec)
    truth["ra"].unit = truth["dec"].unit = "deg"
    truth["nan_fraction"] = nanfrac[keep]
    for name in stats.colnames:
        truth[name] = stats[name]
    truth["noise_rms"] = np.full(n, rms)
    truth["noise_rms_predicted"] = np.full(n, float(obs.noise_rms_predicted))
    crops = {p: cut(images[p], kept, size) for p in config.products}
    ref = crops["residual"] if "residual" in crops else crops[config.products[0]]
    truth["crop_rms"] = np.array([robust_rms(c) for c in ref], dtype=np.float64)
    for col in ("noise_rms", "noise_rms_predicted", "crop_rms"):
        truth[col].unit = "Jy/beam"
    truth["bmaj"] = np.full(n, obs.beam.bmaj_arcsec)
    truth["bmin"] = np.full(n, obs.beam.bmin_arcsec)
    truth["bpa"] = np.full(n, obs.beam.bpa_deg)
    truth["bmaj"].unit = truth["bmin"].unit = "arcsec"
    truth["bpa"].unit = "deg"
    truth["freq"] = np.full(n, freq0)
    truth["freq"].unit = "Hz"
    truth["survey"] = np.full(n, survey)
    for name, value in params["varied"].items():
        truth[param_column(name)] = np.full(n, value)
    psf = centre_crop(np.asarray(obs.psf, np.float32), config.crops.psf_size)
    timings["crop"] = time.perf_counter() - tick
    record = {
        "varied": params["varied"],
        "ra_deg": ra,
        "dec_deg": dec,
        "n_components": len(catalog),
        "noise_rms_jy": rms,
        "beam": to_dict(obs.beam),
        "clean_stop": result.stop_reason,
    }
    return FieldResult(field_id, crops, truth, psf, sources, record, timings)


# ----------------------------------------------------------------------------------
# the driver
# ----------------------------------------------------------------------------------
def _manifest_for(config: DatasetConfig) -> dict:
    return {
        "kind": "simulated",
        "config": to_dict(config),
        "seed": config.seed,
        "seeds": {
            "master": config.seed,
            "field_seeds": "SeedSequence(master, spawn_key=(field_id,)).spawn(4) -> "
            "params, catalog, observe, clean",
        },
        "stride": config.crops.stride,
        "max_nan": config.crops.max_nan,
        "mode": config.mode,
    }


def build_dataset(
    config: DatasetConfig,
    output,
    *,
    workers: int = 1,
    scheduler: str | None = None,
    overwrite: bool = False,
    progress: bool = True,
    on_field: Callable[[int], None] | None = None,
):
    """Build (or resume) a simulated dataset in ``output``; returns its :class:`CropStore`.

    Parameters
    ----------
    workers : int
        Fields computed in parallel on a local dask cluster (one process and one
        thread each); 0 or 1 runs inline without dask.
    scheduler : str, optional
        Address of an existing dask scheduler (``tcp://host:8786``); overrides ``workers``.
    overwrite : bool
        Start again even if ``output`` holds a (partial) dataset of another config.
    on_field : callable, optional
        Called with each field id once it is staged (safe on disk).
    """
    from tqdm.auto import tqdm

    output = Path(output)
    writer = open_field_writer(
        output,
        list(config.products),
        (config.crops.size, config.crops.size),
        config.n_fields,
        _manifest_for(config),
        resume=not overwrite,
    )
    todo = writer.todo()
    done = config.n_fields - len(todo)
    bar = tqdm(
        total=config.n_fields, initial=done, desc="fields", unit="field", disable=not progress
    )
    n_crops = int(writer.manifest["n_crops"])
    bar.set_postfix(crops=n_crops)

    def accept(result: FieldResult) -> None:
        nonlocal n_crops
        writer.stage(result)
        writer.flush()
        n_crops += len(result.truth)
        bar.update(1)
        bar.set_postfix(crops=n_crops)
        if on_field is not None:
            on_field(result.field_id)

    try:
        if todo and scheduler is None and workers <= 1:
            for fid in todo:
                accept(simulate_field(config, fid))
        elif todo:
            _run_distributed(config, todo, workers, scheduler, accept)
    finally:
        bar.close()
    writer.finalize()
    return open_store(output)


def _run_distributed(config, todo, workers, scheduler, accept) -> None:
    from dask.distributed import Client, LocalCluster, as_completed

    cluster = None
    if scheduler is None:
        # each worker process computes one field at a time with threads_per_field threads
        os.environ.setdefault("OMP_NUM_THREADS", "1")
        cluster = LocalCluster(
            n_workers=int(workers),
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
            silence_logs=logging.ERROR,
        )
        client = Client(cluster)
    else:
        client = Client(scheduler)
    try:
        futures = [
            client.submit(simulate_field, config, fid, key=f"meersim-field-{fid}", pure=False)
            for fid in todo
        ]
        for future in as_completed(futures):
            result = future.result()
            future.release()
            accept(result)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def build_from_yaml(path, output, **kwargs):
    """:func:`build_dataset` for a YAML config file (``seed`` kwarg overrides the file's)."""
    config = load_config(path)
    seed = kwargs.pop("seed", None)
    if seed is not None:
        config.seed = int(seed)
    return build_dataset(config, output, **kwargs)


def example_config_path() -> Path:
    """The shipped MGCLS-like example config."""
    from importlib import resources

    return Path(str(resources.files("meersim") / "data" / "example_mgcls_small.yaml"))
