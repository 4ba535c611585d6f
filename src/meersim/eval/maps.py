"""2-D maps of embeddings (PCA and t-SNE) coloured by per-crop truth, as PNGs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE
from sklearn.neighbors import NearestNeighbors
from sklearn.preprocessing import StandardScaler

from meersim.eval.plotting import colour, new_figure, save_figure
from meersim.eval.probes import l2_normalise

# (truth column, colour-bar label, log10 the values?)
MAP_COLOURS = (
    ("n_sources", "sources per crop", False),
    ("total_flux", "log10 total flux / Jy", True),
    ("dominant_class", "dominant class", False),
    ("noise_rms", "log10 noise rms / (Jy/beam)", True),
    ("field_id", "field", False),
)


def pca_2d(features: np.ndarray, seed: int = 0) -> np.ndarray:
    """First two principal components of the standardised features, float64 [N, 2]."""
    x = StandardScaler().fit_transform(np.asarray(features, dtype=np.float64))
    n_comp = min(2, x.shape[1], x.shape[0])
    coords = PCA(n_components=n_comp, random_state=seed).fit_transform(x)
    if coords.shape[1] < 2:
        coords = np.column_stack([coords, np.zeros(len(coords))])
    return coords


def map_structure(coords: np.ndarray, values: np.ndarray, k: int = 10) -> float:
    """How much of ``values``' variance a 2-D map's neighbourhoods explain: the R² of
    predicting each point by the mean of its ``k`` nearest other points on the map.

    About 0 when the map is unrelated to the values (a random colouring), near 1 when
    they vary smoothly across it; the number behind "visible structure" in a map.
    """
    coords = np.asarray(coords, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    n = len(values)
    if n < k + 2 or not np.isfinite(values).all() or values.var() == 0:
        return float("nan")
    # without query points, kneighbors leaves each point out of its own neighbours
    idx = NearestNeighbors(n_neighbors=k).fit(coords).kneighbors(return_distance=False)
    predicted = values[idx].mean(axis=1)
    return float(1.0 - ((values - predicted) ** 2).sum() / ((values - values.mean()) ** 2).sum())


def tsne_2d(features: np.ndarray, seed: int = 0, perplexity: float = 30.0) -> np.ndarray:
    """t-SNE of the L2-normalised features (cosine geometry), float64 [N, 2].

    Perplexity is capped at (N - 1) / 3 so small sets work; PCA initialisation.
    """
    x = l2_normalise(features).astype(np.float64)
    n = x.shape[0]
    perp = float(max(1.0, min(perplexity, (n - 1) / 3.0)))
    tsne = TSNE(n_components=2, perplexity=perp, init="pca", random_state=seed, metric="euclidean")
    return tsne.fit_transform(x)


def _colour_values(truth, column: str, log: bool, flux_floor: float):
    values = np.asarray(truth[column])
    if values.dtype.kind in "USO":
        classes, idx = np.unique(values.astype(str), return_inverse=True)
        return idx, list(classes)
    values = values.astype(float)
    if log:
        values = np.log10(np.maximum(values, flux_floor))
    return values, None


def plot_map(
    coords: np.ndarray,
    truth,
    out_png,
    title: str,
    columns=MAP_COLOURS,
    panel_inches: float = 3.2,
    dpi: int = 100,
    floor: float = 1e-6,
) -> Path:
    """One row of scatter panels, one per truth column present, written to ``out_png``.

    The figure is ``n_panels * panel_inches`` by ``panel_inches + 0.4`` inches; log
    columns are floored at ``floor`` (Jy or Jy/beam) before log10.
    """
    present = [c for c in columns if c[0] in truth.colnames]
    if not present:
        present = [("_none", "", False)]
    n = len(present)
    fig, axes = new_figure((n * panel_inches, panel_inches + 0.4), 1, n)
    for ax, (column, label, log) in zip(axes[0], present, strict=True):
        if column == "_none":
            ax.scatter(coords[:, 0], coords[:, 1], s=4)
            ax.set_title("no truth columns", fontsize=8)
            continue
        values, classes = _colour_values(truth, column, log, floor)
        if classes is not None:
            for i, name in enumerate(classes):
                sel = values == i
                ax.scatter(
                    coords[sel, 0], coords[sel, 1], s=4, color=colour("tab10", i), label=name
                )
            ax.legend(fontsize=6, markerscale=2, loc="best", frameon=False)
        else:
            sc = ax.scatter(coords[:, 0], coords[:, 1], s=4, c=values, cmap="viridis")
            fig.colorbar(sc, ax=ax, fraction=0.046, pad=0.02).ax.tick_params(labelsize=6)
        ax.set_title(label, fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title, fontsize=9)
    fig.subplots_adjust(left=0.02, right=0.97, bottom=0.03, top=0.82, wspace=0.25)
    return save_figure(fig, out_png, dpi)


def write_maps(
    features: np.ndarray,
    truth,
    out_dir,
    name: str = "model",
    seed: int = 0,
    tsne: bool = True,
    perplexity: float = 30.0,
    max_points: int = 5000,
) -> dict[str, Path]:
    """PCA (and t-SNE) maps of ``features`` coloured by truth; returns {method: png path}.

    Sets larger than ``max_points`` are subsampled (seeded) before mapping, to keep
    t-SNE and the scatter plots readable and fast.
    """
    out_dir = Path(out_dir)
    features = np.asarray(features)
    if len(features) > max_points:
        keep = np.sort(np.random.default_rng(seed).choice(len(features), max_points, replace=False))
        features, truth = features[keep], truth[keep]
    paths = {
        "pca": plot_map(
            pca_2d(features, seed), truth, out_dir / f"map_pca_{name}.png", f"PCA map: {name}"
        )
    }
    if tsne and len(features) >= 5:
        paths["tsne"] = plot_map(
            tsne_2d(features, seed, perplexity),
            truth,
            out_dir / f"map_tsne_{name}.png",
            f"t-SNE map: {name}",
        )
    return paths
