"""Observation products on disk: dirty image (basic/enhanced), PSF, primary beam, visibilities.

Products (as MGCLS publishes them, Knowles et al. 2022, A&A 657, A56):
``basic`` is the apparent image (attenuated by the primary beam); ``enhanced``
is primary-beam corrected, ``image / pb``, blanked (NaN) where ``pb < pb_cut``.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from meersim import __version__
from meersim.config import to_dict
from meersim.errors import InputError
from meersim.grid import Grid
from meersim.imaging.weighting import Weighting
from meersim.io import make_dirs, read_image, read_json, save_npz, write_image, write_json
from meersim.types import Beam, Observation, Visibilities

PRODUCTS = ("basic", "enhanced")
DEFAULT_PB_CUT = 0.2  # MGCLS enhanced products are blanked below 20% of the beam peak


def enhanced(image: np.ndarray, primary_beam: np.ndarray, pb_cut: float = DEFAULT_PB_CUT):
    """Primary-beam corrected image ``image / pb``, NaN where ``pb < pb_cut`` (float32).

    ``image`` in Jy/beam (apparent), ``primary_beam`` the gain (1 at the pointing
    centre), both [..., ny, nx].
    """
    if not 0.0 < pb_cut <= 1.0:
        raise InputError("enhanced", "pb_cut", f"must lie in (0, 1], got {pb_cut}.", "e.g. 0.2.")
    image = np.asarray(image, dtype=np.float32)
    pb = np.asarray(primary_beam, dtype=np.float32)
    out = np.full(np.broadcast_shapes(image.shape, pb.shape), np.nan, dtype=np.float32)
    keep = np.broadcast_to(pb >= pb_cut, out.shape)
    np.divide(image, pb, out=out, where=keep)
    return out


def image_products(obs: Observation, names=None, pb_cut: float | None = None) -> dict:
    """The requested products of ``obs.dirty`` as ``{name: float32 [ny, nx]}`` (Jy/beam)."""
    names = tuple(names or obs.meta.get("products", PRODUCTS))
    pb_cut = float(obs.meta.get("pb_cut", DEFAULT_PB_CUT) if pb_cut is None else pb_cut)
    out = {}
    for name in names:
        if name == "basic":
            out[name] = obs.dirty
        elif name == "enhanced":
            out[name] = enhanced(obs.dirty, obs.primary_beam, pb_cut)
        else:
            raise InputError("observe", "products", f"{name!r} is unknown.", "Use basic, enhanced.")
    return out


OBSERVATION_JSON = "observation.json"
VIS_FILE = "vis.npz"


def _header_cards(obs: Observation) -> dict:
    weighting = Weighting.from_any(obs.weighting)
    return {
        "NOISERMS": (float(obs.noise_rms_measured), "[Jy/beam] 1.4826 MAD of the image"),
        "PREDRMS": (float(obs.noise_rms_predicted), "[Jy/beam] thermal rms from weights"),
        "WEIGHT": (weighting.scheme.upper(), "imaging weighting scheme"),
        "ROBUST": (weighting.robust, "Briggs robust (if WEIGHT=BRIGGS)"),
        "WNORM": (float(obs.norm), "[Jy^-2] sum of imaging weights"),
        "OBSMODE": (
            str(obs.meta.get("mode", "vis")),
            "vis or image (image-plane mode)",
        ),
    }


def psf_grid(grid: Grid) -> Grid:
    """Grid of the PSF: twice the image size, same cell and centre (peak at pixel (ny, nx))."""
    return Grid(
        2 * grid.npix_x, 2 * grid.npix_y, grid.cell_arcsec, grid.ra_deg, grid.dec_deg, grid.freqs_hz
    )


def save_observation(obs: Observation, outdir, *, save_vis: bool = True) -> dict[str, Path]:
    """Write an observation to ``outdir``; returns ``{product: path}``.

    Files: ``dirty.fits`` (basic, Jy/beam), ``dirty_enhanced.fits`` (if that
    product was asked for), ``pb.fits`` (gain), ``psf.fits`` (twice the image
    size, same cell), ``vis.npz`` (visibilities and imaging weights, vis mode
    only) and ``observation.json`` (setup, weighting, norm, beam, rms), which
    :func:`load_observation` reads back.
    """
    outdir = make_dirs(outdir)
    cards = _header_cards(obs)
    written = {}
    products = image_products(obs)
    names = {"basic": "dirty.fits", "enhanced": "dirty_enhanced.fits"}
    for name, data in products.items():
        extra = dict(cards, PRODUCT=(name, "basic=apparent, enhanced=PB-corrected"))
        if name == "enhanced":
            extra["PBCUT"] = (
                float(obs.meta.get("pb_cut", DEFAULT_PB_CUT)),
                "blanked where PB gain is below",
            )
        written[name] = write_image(
            outdir / names[name], data, obs.grid, "JY/BEAM", obs.beam, extra
        )
    if "basic" not in written:  # the dirty image is always needed to restore an Observation
        written["basic"] = write_image(
            outdir / "dirty.fits", obs.dirty, obs.grid, "JY/BEAM", obs.beam, cards
        )
    written["psf"] = write_image(
        outdir / "psf.fits", obs.psf, psf_grid(obs.grid), "JY/BEAM", obs.beam, cards
    )
    written["pb"] = write_image(
        outdir / "pb.fits",
        obs.primary_beam,
        obs.grid,
        "",
        extra={"BTYPE": "Beam gain", "PRODUCT": "primary beam"},
    )
    if save_vis and obs.vis is not None:
        v = obs.vis
        arrays = {
            "uvw": v.uvw,
            "freqs": v.freqs,
            "vis": v.vis,
            "weight": v.weight,
            "flag": v.flag,
            "antenna1": v.antenna1,
            "antenna2": v.antenna2,
            "time_mjd_s": v.time_mjd_s,
            "channel_width_hz": np.float64(v.channel_width_hz),
            "integration_s": np.float64(v.integration_s),
        }
        if obs.imaging_weight is not None:
            arrays["imaging_weight"] = obs.imaging_weight
        path = save_npz(outdir / VIS_FILE, **arrays)
        written["vis"] = path
    meta = {
        "meersim_version": __version__,
        "grid": to_dict(obs.grid),
        "beam": to_dict(obs.beam),
        "norm": float(obs.norm),
        "weighting": Weighting.from_any(obs.weighting).as_dict(),
        "noise_rms_predicted_jy": float(obs.noise_rms_predicted),
        "noise_rms_measured_jy": float(obs.noise_rms_measured),
        "files": {k: p.name for k, p in written.items()},
        "meta": to_dict(obs.meta),
    }
    written["json"] = write_json(outdir / OBSERVATION_JSON, meta, indent=2)
    return written


def _load_vis(path: Path) -> tuple[Visibilities, np.ndarray | None]:
    """Visibilities and imaging weights from ``vis.npz``; a damaged file is an InputError."""
    try:
        with np.load(path, allow_pickle=False) as data:
            vis = Visibilities(
                uvw=data["uvw"],
                freqs=data["freqs"],
                vis=data["vis"],
                weight=data["weight"],
                flag=data["flag"],
                antenna1=data["antenna1"],
                antenna2=data["antenna2"],
                time_mjd_s=data["time_mjd_s"],
                channel_width_hz=float(data["channel_width_hz"]),
                integration_s=float(data["integration_s"]),
            )
            weight = data["imaging_weight"] if "imaging_weight" in data else None
    except (zipfile.BadZipFile, ValueError, KeyError, OSError, EOFError) as exc:
        raise InputError(
            str(path), "vis", f"is truncated or damaged ({type(exc).__name__}: {exc}).",
            "Re-run `meersim observe`, or clean from the PSF alone with --image-plane.",
        ) from None  # fmt: skip
    return vis, weight


def load_observation(outdir, *, load_vis: bool = True) -> Observation:
    """Read an observation written by :func:`save_observation` (the vis too, if present)."""
    outdir = Path(outdir)
    json_path = outdir / OBSERVATION_JSON
    if not json_path.is_file():
        raise InputError(
            str(outdir),
            OBSERVATION_JSON,
            "is missing: not an observation directory.",
            "Run `meersim observe SKY.fits -o DIR` first.",
        )
    meta = read_json(json_path)
    files = meta.get("files", {})
    dirty = read_image(outdir / files.get("basic", "dirty.fits"))
    psf = read_image(outdir / files.get("psf", "psf.fits"))
    pb = read_image(outdir / files.get("pb", "pb.fits"))
    try:
        keys = ("npix_x", "npix_y", "cell_arcsec", "ra_deg", "dec_deg", "freqs_hz")
        grid = Grid(**{k: meta["grid"][k] for k in keys})
    except (KeyError, TypeError):
        raise InputError(str(json_path), "grid", "is missing or incomplete.",
                         "Re-run `meersim observe`.") from None  # fmt: skip
    vis, imaging_weight = None, None
    vis_path = outdir / files.get("vis", VIS_FILE)
    if load_vis and "vis" in files:
        if not vis_path.is_file():
            raise InputError(
                str(vis_path), "vis", f"is listed in {OBSERVATION_JSON} but missing, so CLEAN "
                "cannot compute exact residuals from the visibilities.",
                "Restore the file or re-run `meersim observe`; or clean from the PSF alone with "
                "--image-plane.",
            )  # fmt: skip
        vis, imaging_weight = _load_vis(vis_path)
    return Observation(
        grid=grid,
        dirty=dirty.data[0],
        psf=psf.data[0],
        beam=Beam(**meta["beam"]),
        primary_beam=pb.data[0],
        noise_rms_predicted=float(meta["noise_rms_predicted_jy"]),
        noise_rms_measured=float(meta["noise_rms_measured_jy"]),
        vis=vis,
        imaging_weight=imaging_weight,
        norm=float(meta["norm"]),
        weighting=dict(meta["weighting"]),
        meta=dict(meta.get("meta", {})),
    )
