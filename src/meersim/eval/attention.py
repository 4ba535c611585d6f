"""ViT attention maps per head, and how much of each head's attention falls on true sources.

The attention stored with the embeddings (``attention.npy``, float16 [N, heads, h, w]) is
the last block's CLS-token attention over the h x w patches, as DINO visualises it.

**Overlap score.** Each head's map is upsampled (nearest: every pixel takes its patch's
value) to the crop's H x W pixels and normalised to sum 1. Its overlap with a crop is the
share of that attention on source pixels, ``sum(A * M)``, where M is the source mask.
A head that ignored content would score the mask's area fraction ``mean(M)`` on average
(chance level), so we report per head the mean overlap, the mean area fraction over the
same crops and their ratio (lift; > 1 means the head looks at sources).

**Source mask** (two definitions):

- ``"sky"`` (default): pixels of the ``sky`` product (true sky convolved with the clean
  beam, Jy/beam, no noise) above ``k_sigma`` times the crop's ``noise_rms`` -- emission
  that would stand out of the noise.
- ``"catalog"``: discs of radius HWHM = bmaj / 2 (clean-beam major axis, converted to
  pixels with the dataset's cell size) around each source component of ``sources.ecsv``
  in the crop (pixel ``x - x0, y - y0``). Use it for stores without a ``sky`` product.

Crops whose mask is empty are left out of the averages (overlap is undefined there).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from meersim.errors import InputError
from meersim.eval.plotting import display_stretch, new_figure, save_figure


def upsample_attention(attention: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Nearest-patch upsampling of [..., h, w] maps to [..., H, W] (pixel -> its patch)."""
    a = np.asarray(attention, dtype=np.float32)
    h, w = a.shape[-2:]
    H, W = int(shape[0]), int(shape[1])
    iy = (np.arange(H) * h) // H
    ix = (np.arange(W) * w) // W
    return a[..., iy[:, None], ix[None, :]]


def attention_overlap(attention: np.ndarray, masks: np.ndarray) -> dict:
    """Per-head share of attention on source pixels versus the chance level.

    Parameters
    ----------
    attention : [N, heads, h, w] non-negative attention over patches
    masks : bool [N, H, W] source masks

    Returns
    -------
    dict with ``overlap`` (list, per head: mean over crops of sum(A*M)), ``chance`` (mean
    mask area fraction), ``lift`` (overlap / chance per head), ``overlap_per_crop``
    (float [n_used, heads]), ``n_crops`` (crops with a non-empty mask).
    """
    attention = np.asarray(attention, dtype=np.float32)
    masks = np.asarray(masks, dtype=bool)
    if attention.ndim != 4 or masks.ndim != 3 or attention.shape[0] != masks.shape[0]:
        raise InputError(
            "attention",
            "shape",
            f"need attention [N, heads, h, w] and masks [N, H, W], got {attention.shape} "
            f"and {masks.shape}.",
        )
    used = np.flatnonzero(masks.any(axis=(1, 2)))
    heads = attention.shape[1]
    per_crop = np.zeros((used.size, heads))
    area = np.zeros(used.size)
    for j, i in enumerate(used):
        up = upsample_attention(np.clip(attention[i], 0, None), masks.shape[1:])
        total = up.sum(axis=(1, 2))
        on = (up * masks[i]).sum(axis=(1, 2))
        per_crop[j] = np.where(total > 0, on / np.where(total > 0, total, 1), np.nan)
        area[j] = masks[i].mean()
    if used.size == 0:
        return {
            "overlap": [None] * heads,
            "chance": None,
            "lift": [None] * heads,
            "overlap_per_crop": per_crop,
            "n_crops": 0,
        }
    overlap = np.nanmean(per_crop, axis=0)
    chance = float(area.mean())
    return {
        "overlap": [float(v) for v in overlap],
        "chance": chance,
        "lift": [float(v / chance) for v in overlap],
        "overlap_per_crop": per_crop,
        "n_crops": int(used.size),
    }


# ----------------------------------------------------------------------------------
# source masks
# ----------------------------------------------------------------------------------
def sky_masks(sky: np.ndarray, noise_rms: np.ndarray, k_sigma: float = 3.0) -> np.ndarray:
    """Masks ``sky > k_sigma * noise_rms`` for crops [N, H, W] (Jy/beam) and rms [N] (Jy/beam)."""
    sky = np.nan_to_num(np.asarray(sky, dtype=np.float32))
    rms = np.asarray(noise_rms, dtype=np.float64).reshape(-1, 1, 1)
    return sky > k_sigma * rms


def catalog_masks(
    sources,
    crop_ids: np.ndarray,
    origins: np.ndarray,
    shape: tuple[int, int],
    radius_px: np.ndarray,
) -> np.ndarray:
    """Disc masks around source components of each crop.

    Parameters
    ----------
    sources : Table with ``crop_id``, ``x``, ``y`` (field pixels, 0-based)
    crop_ids : int [N] the crops wanted; origins : int [N, 2] their (x0, y0) in field pixels
    shape : (H, W) crop size; radius_px : float [N] disc radius per crop (pixels)
    """
    for col in ("crop_id", "x", "y"):
        if col not in sources.colnames:
            raise InputError("sources.ecsv", col, "column missing; cannot build catalog masks.")
    H, W = shape
    yy, xx = np.mgrid[0:H, 0:W]
    masks = np.zeros((len(crop_ids), H, W), dtype=bool)
    src_crop = np.asarray(sources["crop_id"], dtype=np.int64)
    sx, sy = np.asarray(sources["x"], float), np.asarray(sources["y"], float)
    order = np.argsort(src_crop, kind="stable")
    sorted_ids = src_crop[order]
    for j, cid in enumerate(np.asarray(crop_ids, dtype=np.int64)):
        lo, hi = np.searchsorted(sorted_ids, [cid, cid + 1])
        r2 = max(float(radius_px[j]), 1.0) ** 2
        for s in order[lo:hi]:
            px, py = sx[s] - origins[j, 0], sy[s] - origins[j, 1]
            masks[j] |= (xx - px) ** 2 + (yy - py) ** 2 <= r2
    return masks


def _cell_arcsec(store) -> float | None:
    """Pixel size (arcsec) from the dataset config in the manifest, if fixed there."""
    cfg = store.manifest.get("config") or {}
    value = (cfg.get("field") or {}).get("cell_arcsec") if isinstance(cfg, dict) else None
    return float(value) if isinstance(value, (int, float)) else None


def store_masks(store, crop_ids, method: str = "sky", k_sigma: float = 3.0, cell_arcsec=None):
    """Source masks bool [N, H, W] for ``crop_ids`` of a :class:`CropStore` (see module doc)."""
    crop_ids = np.asarray(crop_ids, dtype=np.int64)
    truth = store.truth
    if method == "sky":
        if "sky" not in store.products:
            raise InputError(
                str(store.path), "sky", "product missing for the sky mask.", "Use method='catalog'."
            )
        if "noise_rms" not in truth.colnames:
            raise InputError(str(store.path) + "/crops.ecsv", "noise_rms", "column missing.")
        sky = np.stack([np.asarray(store.array("sky")[int(i)]) for i in crop_ids])
        return sky_masks(sky, np.asarray(truth["noise_rms"], float)[crop_ids], k_sigma)
    if method == "catalog":
        sources = store.sources
        if sources is None:
            raise InputError(str(store.path), "sources.ecsv", "missing for the catalog mask.")
        for col in ("x0", "y0", "bmaj"):
            if col not in truth.colnames:
                raise InputError(str(store.path) + "/crops.ecsv", col, "column missing.")
        cell = np.full(len(crop_ids), np.nan)
        for col in ("param_field_cell_arcsec", "cell_arcsec"):
            if col in truth.colnames:
                cell = np.asarray(truth[col], float)[crop_ids]
                break
        else:
            value = cell_arcsec if cell_arcsec is not None else _cell_arcsec(store)
            if value is None:
                raise InputError(
                    str(store.path),
                    "cell_arcsec",
                    "pixel size unknown for the catalog mask.",
                    "Pass cell_arcsec.",
                )
            cell[:] = float(value)
        radius = 0.5 * np.asarray(truth["bmaj"], float)[crop_ids] / cell
        radius = np.where(np.isfinite(radius), radius, 1.0)
        origins = np.column_stack(
            [np.asarray(truth["x0"])[crop_ids], np.asarray(truth["y0"])[crop_ids]]
        ).astype(float)
        return catalog_masks(sources, crop_ids, origins, store.crop_size, radius)
    raise InputError("attention", "mask method", f"unknown {method!r}.", "Use 'sky' or 'catalog'.")


# ----------------------------------------------------------------------------------
# plots
# ----------------------------------------------------------------------------------
def plot_attention(
    image: np.ndarray,
    attention: np.ndarray,
    out_png,
    mask: np.ndarray | None = None,
    title: str = "",
    ncols: int = 5,
    panel_inches: float = 2.2,
    dpi: int = 100,
) -> Path:
    """PNG grid: the crop (mask contour if given), then each head's map upsampled to the crop.

    Figure size ``ncols * panel_inches`` by ``nrows * panel_inches`` inches at ``dpi``.
    """
    heads = attention.shape[0]
    up = upsample_attention(attention, image.shape)
    n = heads + 1
    ncols = max(1, min(ncols, n))
    nrows = int(np.ceil(n / ncols))
    fig, axes = new_figure((ncols * panel_inches, nrows * panel_inches), nrows, ncols)
    for ax in axes.ravel():
        ax.axis("off")
    ax0 = axes.ravel()[0]
    ax0.imshow(display_stretch(image), origin="lower", cmap="gray")
    if mask is not None and mask.any():
        ax0.contour(mask.astype(float), levels=[0.5], colors="C1", linewidths=0.6, origin="lower")
    ax0.set_title(title or "crop", fontsize=7)
    for h in range(heads):
        ax = axes.ravel()[h + 1]
        top = float(up[h].max()) if up[h].max() > 0 else 1.0
        ax.imshow(up[h], origin="lower", cmap="magma", vmin=0.0, vmax=top)
        if mask is not None and mask.any():
            ax.contour(mask.astype(float), levels=[0.5], colors="cyan", linewidths=0.4)
        ax.set_title(f"head {h}", fontsize=7)
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=0.9, wspace=0.05, hspace=0.2)
    return save_figure(fig, out_png, dpi)


def plot_overlap(result: dict, out_png, dpi: int = 100) -> Path:
    """Bar chart of per-head overlap with the chance level as a line (6 x 3 inches)."""
    overlap = np.array([np.nan if v is None else v for v in result["overlap"]], float)
    fig, ax = new_figure((6, 3), squeeze=True)
    ax.bar(np.arange(overlap.size), overlap, color="C0", label="attention on sources")
    if result["chance"] is not None:
        ax.axhline(result["chance"], color="C3", ls="--", label="chance (mask area)")
    ax.set_xlabel("head")
    ax.set_ylabel("share of attention")
    ax.set_xticks(np.arange(overlap.size))
    ax.legend(fontsize=7, frameon=False)
    fig.subplots_adjust(left=0.12, right=0.98, bottom=0.16, top=0.95)
    return save_figure(fig, out_png, dpi)
