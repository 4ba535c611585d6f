"""Injected rarities: the ``rare:`` section of a dataset config and their per-crop truth.

Each field gets, on top of its normal synthetic population, Poisson-many rare sources
of each class (:mod:`meersim.catalogs.rare`) drawn from the field's fifth seed stream
(``SeedSequence(seed, spawn_key=(field_id, 4))``, beside the four of
:func:`meersim.datasets.config.field_seeds`), so adding rarities changes neither the
normal catalog nor any other draw of the field. An empty section draws nothing.

Per-crop truth (columns added to ``crops.ecsv`` when the section is set):

* ``n_rare``: rare objects visible in the crop. A rare source is in a crop when its
  flux-weighted centre lies on the crop (the ``n_sources`` rule) or at least
  :data:`RARE_SHARE` of its apparent flux falls on the crop's pixels (a giant's lobe
  shows in a crop its centre misses). The field's off-field bright sources count as
  one object in every crop where the rms of their noise-free sidelobes exceeds
  :data:`ARTEFACT_RMS_RATIO` times the field's thermal rms (predicted from the
  weights; the residual's own rms includes the sidelobes): the rings then dominate
  the crop's noise.
* ``has_rare``: ``n_rare > 0``.
* ``rare_class``: class of the rare source with most flux on the crop (a source counted
  by its centre alone, with none of its flux there, still names it); ``artefact`` when
  only sidelobes are there; ``none`` otherwise.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from astropy.table import QTable, vstack

from meersim.catalogs.rare import NOT_RARE, RARE_CLASSES, rare_sources
from meersim.config import from_dict
from meersim.datasets.crops import CropTruthInputs
from meersim.errors import InputError

#: Share of a rare source's apparent flux that puts it in a crop its centre misses.
RARE_SHARE = 0.25
#: Sidelobe rms over thermal rms that marks a crop as showing an artefact.
ARTEFACT_RMS_RATIO = 3.0
RARE_COLUMNS = ("n_rare", "has_rare", "rare_class")


@dataclass(frozen=True)
class RareConfig:
    """Keys of the ``rare:`` section (each fixed or a distribution drawn per field).

    grg, bent, xshaped, orc, artefact : expected number of each class per field
        (Poisson mean; 0 = none). Shapes and sources: :mod:`meersim.catalogs.rare`.
    flux_scale : multiplies the classes' flux ranges (Jy).
    artefact_offset_arcsec : off-field bright sources lie 10" to this far outside an
        edge of the field (arcsec).
    artefact_flux_jy : their flux (Jy at 1.284 GHz); None = log-uniform 20-200 mJy.
    """

    grg: float = 0.0
    bent: float = 0.0
    xshaped: float = 0.0
    orc: float = 0.0
    artefact: float = 0.0
    flux_scale: float = 1.0
    artefact_offset_arcsec: float = 300.0
    artefact_flux_jy: float | None = None

    def __post_init__(self):
        for name, value in asdict(self).items():
            if name == "artefact_flux_jy" and value is None:
                continue
            try:
                number = float(value)
            except (TypeError, ValueError):
                number = float("nan")
            positive = name in ("flux_scale", "artefact_offset_arcsec", "artefact_flux_jy")
            if not np.isfinite(number) or number < 0 or (positive and number == 0):
                need = "a positive number" if positive else "a number >= 0 (mean per field)"
                raise InputError(
                    "dataset config", f"rare.{name}", f"must be {need}, got {value!r}."
                )

    def rates(self) -> dict[str, float]:
        return {kind: float(getattr(self, kind)) for kind in RARE_CLASSES}


def rare_from(values: dict, source: str = "dataset config") -> RareConfig | None:
    """The :class:`RareConfig` of drawn ``rare`` values; None when the section is empty."""
    if not values:
        return None
    return from_dict(RareConfig, dict(values), f"{source}: rare")


def rare_seed(seed: int, field_id: int) -> np.random.SeedSequence:
    """The field's stream for rarities (the fifth child beside :func:`field_seeds`' four)."""
    return np.random.SeedSequence(int(seed), spawn_key=(int(field_id), 4))


def field_rarities(values: dict, seed: int, field_id: int, ra_deg: float, dec_deg: float,
                   side_arcsec: float, first_source_id: int) -> QTable | None:  # fmt: skip
    """The rare sources of one field (canonical catalog + ``rare_class``), or None."""
    config = rare_from(values)
    if config is None:
        return None
    rng = np.random.default_rng(rare_seed(seed, field_id))
    counts = {kind: int(rng.poisson(rate)) for kind, rate in config.rates().items()}
    return rare_sources(
        counts, rng, ra_deg, dec_deg, side_arcsec, flux_scale=config.flux_scale,
        artefact_offset_arcsec=config.artefact_offset_arcsec,
        artefact_flux_jy=config.artefact_flux_jy, first_source_id=first_source_id,
    )  # fmt: skip


def with_rarities(catalog: QTable, rare: QTable | None) -> tuple[QTable, QTable | None]:
    """The field catalog with the rare rows appended (``rare_class`` = none for the
    others), and the off-field sources (artefacts) that ``observe`` predicts directly."""
    if rare is None:
        return catalog, None
    catalog = QTable(catalog, copy=True)
    catalog["rare_class"] = np.full(len(catalog), NOT_RARE, dtype="U12")
    merged = vstack([catalog, rare], metadata_conflicts="silent")
    outside = rare[np.asarray(rare["rare_class"]) == "artefact"]
    return merged, (outside if len(outside) else None)


def rare_crop_truth(inputs: CropTruthInputs, origins: np.ndarray, size: int, noise_rms: float,
                    outside_dirty: np.ndarray | None,
                    blank: np.ndarray | None = None) -> dict[str, np.ndarray]:  # fmt: skip
    """``n_rare``, ``has_rare``, ``rare_class`` per crop (module docstring has the rules).

    ``inputs`` are the field's components in pixels with apparent fluxes (Jy),
    ``origins`` the crops' (x0, y0), ``outside_dirty`` the noise-free image of the
    off-field sources (Jy/beam, or None), ``noise_rms`` the field's thermal rms (Jy/beam),
    ``blank`` the field's blanked pixels (True = NaN): components there cannot be seen
    and carry no flux here.
    """
    n = len(origins)
    counts = np.zeros(n, np.int64)
    # flux on the crop of the class chosen so far; -1: none yet, so that a source whose
    # centre lies on the crop but none of its flux (a giant between its lobes) names it
    best = np.full(n, -1.0)
    classes = np.full(n, NOT_RARE, dtype="U12")
    comps = inputs.components
    if "rare_class" in comps.colnames:
        kinds = np.asarray(comps["rare_class"]).astype(str)
        ids = np.asarray(comps["source_id"])
        flux = np.asarray(inputs.apparent_flux, float)
        x, y = np.asarray(inputs.x, float), np.asarray(inputs.y, float)
        if blank is not None:
            ny, nx = blank.shape
            ix, iy = np.rint(x).astype(int), np.rint(y).astype(int)
            on = (ix >= 0) & (ix < nx) & (iy >= 0) & (iy < ny)
            hidden = np.zeros(len(x), bool)
            hidden[on] = np.asarray(blank, bool)[iy[on], ix[on]]
            flux = np.where(hidden, 0.0, flux)
        for sid in np.unique(ids[(kinds != NOT_RARE) & (kinds != "artefact")]):
            sel = ids == sid
            on = _flux_on_crops(x[sel], y[sel], flux[sel], origins, size)
            total = flux[sel].sum()
            if total <= 0:
                continue
            cx, cy = (flux[sel] @ x[sel]) / total, (flux[sel] @ y[sel]) / total
            centre = _inside(np.array([cx]), np.array([cy]), origins, size)[:, 0]
            hit = centre | (on >= RARE_SHARE * total)
            counts += hit
            better = hit & (on > best)
            best[better], classes[better] = on[better], kinds[sel][0]
    if outside_dirty is not None:
        art = np.array([np.sqrt(np.mean(np.square(outside_dirty[y0 : y0 + size, x0 : x0 + size],
                                                  dtype=np.float64)))
                        for x0, y0 in origins]) if n else np.zeros(0)  # fmt: skip
        hit = art > ARTEFACT_RMS_RATIO * float(noise_rms)
        counts += hit
        classes[hit & (classes == NOT_RARE)] = "artefact"
    return {"n_rare": counts, "has_rare": counts > 0, "rare_class": classes}


def _inside(x, y, origins, size) -> np.ndarray:
    """bool [n_crops, n_points]: point on a crop pixel (the rule of datasets.crops)."""
    x0, y0 = origins[:, :1], origins[:, 1:2]
    return (x >= x0 - 0.5) & (x < x0 + size - 0.5) & (y >= y0 - 0.5) & (y < y0 + size - 0.5)


def _flux_on_crops(x, y, flux, origins, size) -> np.ndarray:
    """Apparent flux (Jy) of the components whose position lies on each crop."""
    return _inside(x, y, origins, size) @ flux
