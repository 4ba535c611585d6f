"""CLEAN products on disk: model, residual and restored images, components and history."""

from __future__ import annotations

from pathlib import Path

from meersim.clean.config import CleanConfig
from meersim.clean.major import CleanResult, clean
from meersim.io import atomic_write, make_dirs, write_ecsv, write_image
from meersim.observe.products import load_observation
from meersim.types import Observation


def _header_cards(result: CleanResult, obs: Observation) -> dict:
    c = result.config
    return {
        "NOISERMS": (float(result.noise_rms), "[Jy/beam] 1.4826 MAD of the residual"),
        "PREDRMS": (float(obs.noise_rms_predicted), "[Jy/beam] thermal rms from the weights"),
        "CLALGO": ("MULTISCALE" if c.multiscale else "HOGBOM", "CLEAN minor-cycle algorithm"),
        "CLMODE": (
            "IMAGE" if result.image_plane else "VIS",
            "residual from: VIS = visibilities, IMAGE = PSF",
        ),
        "CLGAIN": (c.gain, "minor-cycle loop gain"),
        "CLMGAIN": (c.mgain, "major-cycle gain"),
        "CLNITER": (c.niter, "iteration limit"),
        "CLTHRESH": (float(c.threshold), "[Jy/beam] absolute threshold asked for"),
        "CLTHSIG": (
            float(c.threshold_sigma) if c.threshold_sigma is not None else 0.0,
            "sigma threshold asked for (0 = none)",
        ),
        "CLAMASK": (
            float(c.auto_mask_sigma) if c.auto_mask_sigma is not None else 0.0,
            "auto-mask sigma (0 = none)",
        ),
        "CLTHRUSE": (float(result.threshold_jy), "[Jy/beam] final stopping level used"),
        "CLSCALES": (",".join(f"{s:.3g}" for s in result.scales_px), "[pix] multiscale sizes"),
        "CLSBIAS": (c.scale_bias, "multiscale scale bias"),
        "CLNMAJOR": (result.n_major, "major cycles done"),
        "CLNMINOR": (result.n_iterations, "minor iterations done"),
        "CLSTOP": (result.stop_reason[:60], "why cleaning stopped"),
        "CLINTERR": (bool(result.interrupted), "stopped by Ctrl-C"),
    }


def write_clean_products(result: CleanResult, obs: Observation, outdir) -> dict[str, Path]:
    """Write model.fits (JY/PIXEL), residual.fits, restored.fits (JY/BEAM),
    components.ecsv and history.csv to ``outdir``; returns ``{product: path}``."""
    outdir = make_dirs(outdir)
    cards = _header_cards(result, obs)
    written = {
        "model": write_image(
            outdir / "model.fits", result.model, obs.grid, "JY/PIXEL", result.beam, cards
        ),
        "residual": write_image(
            outdir / "residual.fits", result.residual, obs.grid, "JY/BEAM", result.beam, cards
        ),
        "restored": write_image(
            outdir / "restored.fits", result.restored, obs.grid, "JY/BEAM", result.beam, cards
        ),
    }
    components = result.components.copy()
    components.meta.update(
        {
            "stop_reason": result.stop_reason,
            "interrupted": bool(result.interrupted),
            "config": {
                k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(result.config).items()
            },
            "bmaj_arcsec": result.beam.bmaj_arcsec,
            "bmin_arcsec": result.beam.bmin_arcsec,
            "bpa_deg": result.beam.bpa_deg,
        }
    )
    written["components"] = write_ecsv(components, outdir / "components.ecsv")
    with atomic_write(outdir / "history.csv", "w") as fh:
        result.history.write(fh, format="ascii.csv")
    written["history"] = outdir / "history.csv"
    return written


def clean_directory(
    obs_dir, config: CleanConfig, output=None, *, progress: bool = False, callback=None
) -> tuple[CleanResult, dict[str, Path]]:
    """Clean the observation directory ``obs_dir`` (``meersim observe``) and write the
    products to ``output`` (default: ``obs_dir``); returns the result and ``{product: path}``.

    With ``config.image_plane_only`` the visibilities are not read; otherwise an
    observation made in vis mode whose ``vis.npz`` is missing or damaged is an error
    (never a silent switch to image-plane residuals)."""
    obs = load_observation(obs_dir, load_vis=not config.image_plane_only)
    result = clean(obs, config, progress=progress, callback=callback)
    return result, write_clean_products(result, obs, output or obs_dir)
