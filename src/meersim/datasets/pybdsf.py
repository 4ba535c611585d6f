"""PyBDSF on simulated restored fields, beside the truth (dataset option ``pybdsf``).

MGCLS and MIGHTEE build their catalogs with PyBDSF (Knowles et al. 2022; Heywood et al.
2022) and the seed study regresses PyBDSF source counts (Lastufka et al. 2024). With
``pybdsf: {enabled: true}`` every simulated field's restored image is written to a
temporary FITS file (Jy/beam, BMAJ/BMIN/BPA, FREQ) and run through
``bdsf.process_image`` with the survey-style thresholds (island 3 sigma, peak 5 sigma);
the source list (srl) is matched to the truth:

- a detection matches the truth source whose position or one of whose components lies
  nearest within ``match_radius_beams`` x BMAJ (so both lobes of a double match it);
- completeness: the share of truth sources (peak S/N = apparent peak / field rms) with a
  match; reliability: the share of detections (S/N = Peak_flux / Isl_rms) with a match;
  flux bias: median over matched sources of (sum of matched Total_flux) / true flux - 1.

The store gets ``pybdsf.ecsv`` (one row per detection and crop it lies in, ``crop_id``
-1 for none), per-crop ``n_pybdsf`` beside ``n_sources`` and ``n_detectable``, and a
``pybdsf_detected`` flag on the truth sources. ``bdsf`` is the optional extra
``meersim[pybdsf]``.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.table import Table

from meersim.datasets.crops import CropTruthInputs, physical_sources, sources_in_crops
from meersim.errors import InputError
from meersim.grid import Grid
from meersim.io import write_image
from meersim.types import Beam

SNR_EDGES = (3.0, 5.0, 7.0, 10.0, 20.0, 50.0, np.inf)
TABLE = "pybdsf"


@dataclass
class PybdsfConfig:
    """PyBDSF in the dataset build (YAML key ``pybdsf``).

    enabled : run PyBDSF on every field's restored image.
    thresh_isl, thresh_pix : island and peak thresholds in sigma (PyBDSF's defaults,
        as the MeerKAT surveys use them).
    rms_box : PyBDSF ``rms_box`` [box, step] in pixels; None lets PyBDSF choose.
    match_radius_beams : match radius in units of the clean beam's BMAJ.
    """

    enabled: bool = False
    thresh_isl: float = 3.0
    thresh_pix: float = 5.0
    rms_box: list | None = None
    match_radius_beams: float = 1.0

    def __post_init__(self):
        if not isinstance(self.enabled, bool):
            raise InputError(
                "dataset config", "pybdsf.enabled", f"{self.enabled!r} is not true/false."
            )
        for name in ("thresh_isl", "thresh_pix", "match_radius_beams"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise InputError("dataset config", f"pybdsf.{name}", f"{value!r} must be > 0.")
        if self.rms_box is not None and (not isinstance(self.rms_box, (list, tuple))
                                         or len(self.rms_box) != 2):  # fmt: skip
            raise InputError("dataset config", "pybdsf.rms_box", "must be [box, step] pixels.")


def have_bdsf() -> bool:
    try:
        import bdsf  # noqa: F401
    except ImportError:
        return False
    return True


def run_pybdsf(image: np.ndarray, grid: Grid, beam: Beam, cfg: PybdsfConfig) -> Table:
    """PyBDSF source list (srl columns; RA/DEC deg, fluxes Jy) of a 2-D Jy/beam image."""
    try:
        import bdsf
    except ImportError:
        raise InputError("dataset config", "pybdsf.enabled", "needs the bdsf package.",
                         "pip install 'meersim[pybdsf]' (or bdsf).") from None  # fmt: skip
    one = grid.with_freqs((float(grid.freqs_hz[0]),))
    kwargs = {"thresh_isl": float(cfg.thresh_isl), "thresh_pix": float(cfg.thresh_pix),
              "quiet": True}  # fmt: skip
    if cfg.rms_box is not None:
        kwargs["rms_box"] = tuple(int(v) for v in cfg.rms_box)
    with tempfile.TemporaryDirectory(prefix="meersim-pybdsf-") as tmp:
        path = write_image(Path(tmp) / "restored.fits", image, one, "JY/BEAM", beam)
        with contextlib.redirect_stdout(io.StringIO()):
            result = bdsf.process_image(str(path), **kwargs)
            if not result.nsrc:
                return _empty_srl()
            out = Path(tmp) / "restored.srl.fits"
            result.write_catalog(outfile=str(out), format="fits", catalog_type="srl",
                                 clobber=True)  # fmt: skip
        table = Table.read(out)
    table.meta = {"FREQ0": table.meta.get("FREQ0")}
    return table


def _empty_srl() -> Table:
    names = ("Source_id", "RA", "DEC", "Total_flux", "Peak_flux", "Isl_rms")
    return Table({n: np.zeros(0, np.int64 if n == "Source_id" else float) for n in names})


def match_to_truth(srl: Table, truth: CropTruthInputs, grid: Grid, beam: Beam,
                   radius_beams: float = 1.0):  # fmt: skip
    """Match detections to truth sources (see the module docstring).

    Returns (detections Table with x, y, snr, matched_source_id, true_flux;
    phys: the truth sources of :func:`physical_sources` with ``peak``, ``matched_flux``
    and ``detected``).
    """
    phys = physical_sources(truth.components, truth.x, truth.y, truth.apparent_flux)
    nsrc = len(phys["source_id"])
    peak = np.zeros(nsrc)
    if truth.peak is not None and nsrc:
        np.maximum.at(peak, phys["index"], np.asarray(truth.peak, float))
    phys["peak"] = peak
    x, y = grid.world_to_pixel(np.asarray(srl["RA"], float), np.asarray(srl["DEC"], float))
    det = Table()
    det["det_id"] = np.arange(len(srl), dtype=np.int64)
    det["x"], det["y"] = x, y
    for name in ("RA", "DEC", "Total_flux", "Peak_flux", "Isl_rms", "Maj", "Min", "PA",
                 "DC_Maj", "DC_Min", "S_Code"):  # fmt: skip
        if name in srl.colnames:
            det[name] = srl[name]
    rms = np.asarray(srl["Isl_rms"], float)
    det["snr"] = np.asarray(srl["Peak_flux"], float) / np.where(rms > 0, rms, np.nan)
    # candidate points: each source's position and each of its components' positions
    px = np.concatenate([phys["x"], np.asarray(truth.x, float)])
    py = np.concatenate([phys["y"], np.asarray(truth.y, float)])
    owner = np.concatenate([np.arange(nsrc), phys["index"]])
    alive = np.concatenate([phys["flux"], np.asarray(truth.apparent_flux, float)]) > 0
    radius_pix = float(radius_beams) * beam.bmaj_arcsec / grid.cell_arcsec
    matched = np.full(len(det), -1, dtype=np.int64)
    if alive.any() and len(det):
        d2 = (x[:, None] - px[None, alive]) ** 2 + (y[:, None] - py[None, alive]) ** 2
        best = np.argmin(d2, axis=1)
        ok = d2[np.arange(len(det)), best] <= radius_pix**2
        matched = np.where(ok, owner[alive][best], -1)
    det["matched_source_id"] = np.where(matched >= 0, phys["source_id"][np.clip(matched, 0, None)]
                                        if nsrc else -1, -1)  # fmt: skip
    det["true_flux"] = np.where(matched >= 0, phys["flux"][np.clip(matched, 0, None)]
                                if nsrc else np.nan, np.nan)  # fmt: skip
    flux = np.asarray(det["Total_flux"], float)
    phys["matched_flux"] = np.bincount(matched[matched >= 0], weights=flux[matched >= 0],
                                       minlength=nsrc)[:nsrc]  # fmt: skip
    phys["detected"] = np.bincount(matched[matched >= 0], minlength=nsrc)[:nsrc] > 0
    return det, phys


def add_pybdsf(out, cfg: PybdsfConfig, grid: Grid, beam: Beam, restored: np.ndarray,
               truth: CropTruthInputs, crop_size: int) -> None:  # fmt: skip
    """Run PyBDSF on ``restored`` and attach its catalog and counts to the FieldResult ``out``."""
    srl = run_pybdsf(np.asarray(restored, np.float32), grid, beam, cfg)
    det, phys = match_to_truth(srl, truth, grid, beam, cfg.match_radius_beams)
    origins = np.stack([np.asarray(out.truth["x0"]), np.asarray(out.truth["y0"])], axis=1)
    d_idx, c_idx = sources_in_crops(np.asarray(det["x"]), np.asarray(det["y"]), origins,
                                    crop_size)  # fmt: skip
    out.truth["n_pybdsf"] = np.bincount(c_idx, minlength=len(origins)).astype(np.int64)
    rows = np.concatenate([d_idx, np.setdiff1d(np.arange(len(det)), d_idx)]).astype(np.int64)
    crops = np.concatenate([c_idx, np.full(len(rows) - len(c_idx), -1)]).astype(np.int64)
    table = det[rows]
    table["crop_id"] = crops
    table["field_id"] = np.full(len(table), out.field_id, dtype=np.int64)
    out.tables = {**(out.tables or {}), TABLE: table}
    if out.sources is not None and len(out.sources):
        detected = dict(zip(phys["source_id"].tolist(), phys["detected"].tolist(), strict=True))
        out.sources["pybdsf_detected"] = [detected.get(int(s), False)
                                          for s in out.sources["source_id"]]  # fmt: skip


def completeness_report(sources: Table, detections: Table, crops: Table,
                        edges=SNR_EDGES) -> dict:  # fmt: skip
    """Completeness, reliability and flux bias per S/N bin from a store's tables.

    sources : the store's source truth (``pybdsf_detected``, ``source_peak`` Jy/beam,
        ``source_flux`` Jy, field_id, source_id); detections : ``pybdsf.ecsv``;
    crops : the per-crop truth (``noise_rms`` of each field, Jy/beam).
    """
    rms_of = {int(f): float(r) for f, r in zip(crops["field_id"], crops["noise_rms"], strict=True)}
    src = _unique_rows(sources, ("field_id", "source_id"))
    src = src[np.asarray(src["source_flux"], float) > 0]
    snr = np.asarray(src["source_peak"], float) / np.array(
        [rms_of[int(f)] for f in src["field_id"]]
    )
    det = _unique_rows(detections, ("field_id", "det_id"))
    matched = np.asarray(det["matched_source_id"]) >= 0
    key = {(int(f), int(s)): i for i, (f, s) in enumerate(zip(src["field_id"], src["source_id"],
                                                              strict=True))}  # fmt: skip
    got = np.zeros(len(src))
    for f, s, flux in zip(
        det["field_id"], det["matched_source_id"], det["Total_flux"], strict=True
    ):
        if int(s) >= 0 and (int(f), int(s)) in key:
            got[key[(int(f), int(s))]] += float(flux)
    found = np.asarray(src["pybdsf_detected"], bool)
    ratio = np.where(found, got / np.asarray(src["source_flux"], float), np.nan)
    bins = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        s_in = (snr >= lo) & (snr < hi)
        d_in = (np.asarray(det["snr"], float) >= lo) & (np.asarray(det["snr"], float) < hi)
        bins.append({"snr_min": lo, "snr_max": hi, "n_true": int(s_in.sum()),
                     "completeness": _share(found[s_in]), "n_detected": int(d_in.sum()),
                     "reliability": _share(matched[d_in]),
                     "flux_bias": _median(ratio[s_in & found] - 1.0)})  # fmt: skip
    above = {f"completeness_above_{int(t)}sigma": _share(found[snr >= t]) for t in (5, 10)}
    return {"bins": bins, **above, "n_true": int(len(src)), "n_detected": int(len(det)),
            "reliability": _share(matched)}  # fmt: skip


def _unique_rows(table: Table, keys) -> Table:
    if len(table) == 0:
        return table
    pairs = np.stack([np.asarray(table[k], np.int64) for k in keys], axis=1)
    _, first = np.unique(pairs, axis=0, return_index=True)
    return table[np.sort(first)]


def _share(mask) -> float | None:
    return float(np.mean(mask)) if np.size(mask) else None


def _median(values) -> float | None:
    values = np.asarray(values, float)
    values = values[np.isfinite(values)]
    return float(np.median(values)) if values.size else None


REPORT = "pybdsf_report.json"


def store_report(store) -> dict:
    """:func:`completeness_report` of a finished store built with PyBDSF; also written to
    ``STORE/pybdsf_report.json``."""
    from meersim.io import read_ecsv, write_json

    path = Path(store.path) / f"{TABLE}.ecsv"
    if not path.is_file() or store.sources is None:
        raise InputError(str(store.path), f"{TABLE}.ecsv", "missing: built without PyBDSF.",
                         "Set pybdsf: {enabled: true} in the dataset config.")  # fmt: skip
    report = completeness_report(store.sources, read_ecsv(path), store.truth)
    write_json(Path(store.path) / REPORT, report)
    return report
