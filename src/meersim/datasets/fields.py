"""One simulated field: catalog -> sky -> observation -> CLEAN -> crops with truth.

:func:`simulate_field` is a pure function of ``(config, field_id)``: every random
draw comes from the field's own seeds (:func:`meersim.datasets.config.field_seeds`)
and the gridder runs on a fixed number of threads (``threads_per_field``), so the
same seed gives bit-identical crops whatever the worker count or completion order.
"""

from __future__ import annotations

import contextlib
import os
import time
import warnings
from dataclasses import dataclass

import numpy as np
from astropy.table import QTable

from meersim.catalogs.synthetic import SURVEYS, synthesize
from meersim.clean.major import CleanResult, clean
from meersim.config import to_dict
from meersim.datasets.config import (
    DatasetConfig,
    clean_config_from,
    draw_field_params,
    field_seeds,
    int_seed,
    morphology_from,
    param_column,
    setup_from,
)
from meersim.datasets.crops import (
    CropTruthInputs,
    centre_crop,
    component_peak,
    crop_grid,
    crop_table,
    crop_truth_tables,
    cut,
    nan_fractions,
)
from meersim.datasets.emulate import beam_kernel, emulate_clean
from meersim.datasets.field_writer import FieldResult
from meersim.datasets.pybdsf import add_pybdsf
from meersim.datasets.rare import field_rarities, rare_crop_truth, with_rarities
from meersim.errors import InputError
from meersim.grid import Grid
from meersim.imaging.beamfit import convolve_with_beam
from meersim.imaging.fftconv import FFTOps
from meersim.imaging.weighting import Weighting
from meersim.observe.fast import observe_parts
from meersim.observe.observe import observe
from meersim.observe.uvcoverage import channel_freqs
from meersim.sky.render import render_sky
from meersim.types import Observation, Sky

STAGES = ("synth", "render", "observe", "clean", "crop")


@dataclass
class _Pointing:
    survey: str
    ra_deg: float
    dec_deg: float
    npix: int
    cell_arcsec: float


class _StageTimer:
    """Wall seconds per stage: ``with timer("render"): ...``."""

    def __init__(self):
        self.seconds = dict.fromkeys(STAGES, 0.0)

    @contextlib.contextmanager
    def __call__(self, stage: str):
        tick = time.perf_counter()
        yield
        self.seconds[stage] = time.perf_counter() - tick


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


def simulate_field(config: DatasetConfig, field_id: int, device: str | None = None) -> FieldResult:
    """Compute every crop and the truth of one field (pure function of config and id).

    ``device`` (mode fast only) overrides ``config.fast.device`` for the FFTs and noise.
    """
    field_id = int(field_id)
    timer = _StageTimer()
    with _gridder_threads(config.threads_per_field):
        with timer("synth"):
            seeds = field_seeds(config.seed, field_id)
            params = draw_field_params(config, field_id)
            pointing = _pointing(params)
            catalog = _field_catalog(params, pointing, seeds)
            catalog, outside = with_rarities(catalog, _field_rarities(config, field_id, params,
                                                                      pointing, catalog))  # fmt: skip
        with timer("render"):
            setup, sky = _field_sky(params, pointing, catalog, seeds)
        if config.mode == "fast":
            ops = FFTOps(device or config.fast.device, config.threads_per_field)
            with timer("observe"):
                parts = observe_parts(sky, setup, Weighting(**params["weighting"]),
                                      nthreads=config.threads_per_field, outside=outside,
                                      ops=ops)  # fmt: skip
            with timer("clean"):
                obs, result = emulate_clean(parts, clean_config_from(params["clean"], "dataset config"),
                                            config.fast, ops)  # fmt: skip
        else:
            ops = None
            with timer("observe"):
                obs = observe(sky, setup, Weighting(**params["weighting"]), mode=config.mode,
                              products=("basic",), nthreads=config.threads_per_field,
                              outside=outside)  # fmt: skip
            with timer("clean"):
                result = clean(obs, clean_config_from(params["clean"], "dataset config"))
        with timer("crop"):
            out = _cut_field(config, field_id, params, pointing, catalog, sky, obs, result, ops)
        if config.pybdsf.enabled:  # the survey catalog beside the truth (datasets.pybdsf)
            with timer("pybdsf"):
                add_pybdsf(out, config.pybdsf, obs.grid, obs.beam, result.restored,
                           _apparent_components(catalog, sky.grid, obs), config.crops.size)  # fmt: skip
    out.timings = timer.seconds
    return out


def field_sky(config: DatasetConfig, field_id: int):
    """What :func:`simulate_field` observes: ``(params, catalog, outside, setup, sky)``.

    The drawn parameters, the catalog (rarities included), the off-field sources (or
    None), the :class:`ObservationSetup` and the rendered sky (Jy/pixel), for benches
    that observe or clean one field in several ways.
    """
    seeds = field_seeds(config.seed, int(field_id))
    params = draw_field_params(config, int(field_id))
    pointing = _pointing(params)
    catalog = _field_catalog(params, pointing, seeds)
    rarities = _field_rarities(config, int(field_id), params, pointing, catalog)
    catalog, outside = with_rarities(catalog, rarities)
    setup, sky = _field_sky(params, pointing, catalog, seeds)
    return params, catalog, outside, setup, sky


def _pointing(params: dict) -> _Pointing:
    fp = params["field"]
    survey = str(fp["survey"])
    if survey not in SURVEYS:
        raise InputError(
            "dataset config", "field.survey", f"{survey!r} unknown.", f"Use {tuple(SURVEYS)}."
        )
    ra = SURVEYS[survey].ra_deg if fp["ra_deg"] is None else float(fp["ra_deg"])
    dec = SURVEYS[survey].dec_deg if fp["dec_deg"] is None else float(fp["dec_deg"])
    return _Pointing(survey, ra, dec, int(fp["npix"]), float(fp["cell_arcsec"]))


def _field_catalog(params: dict, pointing: _Pointing, seeds) -> QTable:
    """Synthetic sources over the field plus its margin (so neighbours spill in)."""
    fp = params["field"]
    side_deg = (pointing.npix * pointing.cell_arcsec + 2.0 * float(fp["margin_arcsec"])) / 3600.0
    return synthesize(
        side_deg**2,
        survey=pointing.survey,
        seed=int_seed(seeds["catalog"]),
        ra_deg=pointing.ra_deg,
        dec_deg=pointing.dec_deg,
        flux_min_jy=fp["flux_min_jy"],
        flux_max_jy=float(fp["flux_max_jy"]),
        faint_slope=float(fp["faint_slope"]),
        morphology=morphology_from(params["morphology"], "dataset config"),
    )


def _field_rarities(config, field_id, params, pointing: _Pointing, catalog: QTable):
    """The field's injected rare sources (None without a ``rare`` section)."""
    first_id = int(np.max(catalog["source_id"])) + 1 if len(catalog) else 0
    return field_rarities(params["rare"], config.seed, field_id, pointing.ra_deg, pointing.dec_deg,
                          pointing.npix * pointing.cell_arcsec, first_id)  # fmt: skip


def _field_sky(params: dict, pointing: _Pointing, catalog: QTable, seeds):
    """The observation setup and the rendered sky cube (Jy/pixel) on its channels."""
    setup_values = dict(params["observation"])
    setup_values.update(ra_deg=pointing.ra_deg, dec_deg=pointing.dec_deg,
                        seed=int_seed(seeds["observe"]))  # fmt: skip
    if params["noise_rms_jy"] is not None:
        setup_values["target_rms_jy"] = float(params["noise_rms_jy"])
    setup = setup_from(setup_values, "dataset config")
    freqs = tuple(float(f) for f in np.atleast_1d(channel_freqs(setup)))
    grid = Grid(pointing.npix, pointing.npix, pointing.cell_arcsec, pointing.ra_deg,
                pointing.dec_deg, freqs)  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # components beyond the field (the margin) are expected
        sky = render_sky(catalog, grid, renderer=params["field"]["renderer"])
    return setup, sky


def _field_images(config: DatasetConfig, sky: Sky, obs: Observation, result: CleanResult, ops=None):
    """The requested products, float32 [npix, npix] (Jy/beam; model Jy/pixel)."""
    pb = np.asarray(obs.primary_beam, dtype=np.float32)
    images = {}
    if "sky" in config.products:
        # apparent MFS sky: channel mean (equal shares) x band primary beam, then the clean beam
        apparent = sky.data.mean(axis=0) * pb
        if ops is None:
            images["sky"] = convolve_with_beam(apparent, obs.beam, obs.grid.cell_arcsec)
        else:  # mode fast: the same convolution on a kernel cut at 4 BMAJ, in float32
            kernel = beam_kernel(obs.beam, obs.grid.cell_arcsec, min(apparent.shape))
            images["sky"] = ops.convolve_small(apparent, kernel)
    images["dirty"] = obs.dirty
    images["restored"] = result.restored
    images["residual"] = result.residual
    images["model"] = result.model
    return {p: np.asarray(images[p], dtype=np.float32) for p in config.products}


def _apparent_components(catalog: QTable, grid: Grid, obs: Observation) -> CropTruthInputs:
    """Component pixel positions and apparent fluxes (Jy at the image frequency, x PB)."""
    npix = grid.npix_x
    pb = np.asarray(obs.primary_beam, dtype=np.float32)
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
    peak = component_peak(apparent_flux, catalog["major"].to_value("arcsec"),
                          catalog["minor"].to_value("arcsec"), obs.beam)  # fmt: skip
    return CropTruthInputs(catalog, x, y, apparent_flux, peak)


def _cut_field(
    config, field_id, params, pointing, catalog, sky, obs, result, ops=None
) -> FieldResult:
    """Blank, tile and cut the products; per-crop and per-source truth."""
    grid, npix, size = sky.grid, pointing.npix, config.crops.size
    images = _field_images(config, sky, obs, result, ops)
    blank = np.zeros((npix, npix), bool)
    if params["pb_cut"] is not None:
        blank = np.asarray(obs.primary_beam, dtype=np.float32) < float(params["pb_cut"])
        for data in images.values():
            data[blank] = np.nan
    origins = crop_grid((npix, npix), size, config.crops.stride)
    nanfrac = nan_fractions(blank, origins, size)
    keep = nanfrac <= float(config.crops.max_nan)
    kept = origins[keep]
    rms = float(result.noise_rms)
    components = _apparent_components(catalog, grid, obs)
    stats, sources = crop_truth_tables(components, kept, size, rms, blank=blank)
    if params["rare"]:
        thermal = float(obs.noise_rms_predicted)
        rare = rare_crop_truth(components, kept, size, thermal, obs.outside_dirty, blank)
        for name, values in rare.items():
            stats[name] = values
    sources["field_id"] = np.full(len(sources), field_id, dtype=np.int64)
    crops = {p: cut(images[p], kept, size) for p in config.products}
    centre_ra, centre_dec = grid.pixel_to_world(
        kept[:, 0] + (size - 1) / 2.0, kept[:, 1] + (size - 1) / 2.0
    )
    ref = crops["residual"] if "residual" in crops else crops[config.products[0]]
    truth = crop_table(field_id, kept, size, centre_ra, centre_dec, nanfrac[keep], stats, rms,
                       ref, obs.beam)  # fmt: skip
    n = len(kept)
    truth["noise_rms_predicted"] = np.full(n, float(obs.noise_rms_predicted))
    truth["noise_rms_predicted"].unit = "Jy/beam"
    truth["freq"] = np.full(n, float(obs.grid.freqs_hz[0]))
    truth["freq"].unit = "Hz"
    truth["survey"] = np.full(n, pointing.survey)
    for name, value in params["varied"].items():
        truth[param_column(name)] = np.full(n, value)
    psf = centre_crop(np.asarray(obs.psf, np.float32), config.crops.psf_size)
    record = {
        "varied": params["varied"],
        "ra_deg": pointing.ra_deg,
        "dec_deg": pointing.dec_deg,
        "n_components": len(catalog),
        "noise_rms_jy": rms,
        "beam": to_dict(obs.beam),
        "clean_stop": result.stop_reason,
    }
    return FieldResult(field_id, crops, truth, psf, sources, record)
