"""Similarity search over embeddings with FAISS, precision@k, and neighbour grids.

Vectors are L2-normalised, so inner product = cosine similarity. ``IndexFlatIP`` is
exact; ``IndexIVFFlat`` (an inverted file over ``nlist`` k-means cells, ``nprobe`` of
them searched per query) trades a little recall for speed on large sets.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from meersim.datasets.embeddings import check_pairing, load_embeddings
from meersim.datasets.store import open_store
from meersim.errors import InputError
from meersim.eval.plotting import display_stretch, new_figure, save_figure
from meersim.eval.probes import l2_normalise
from meersim.io import read_image
from meersim.ssl.embed import embed_image

DEFAULT_COUNT_BINS = (0, 1, 2, 4, 8, 16, 32)
DEFAULT_LABEL = "dominant_class"


@dataclass
class SearchIndex:
    """A FAISS index over L2-normalised embeddings.

    Attributes
    ----------
    index : faiss.Index
    kind : ``"flat"`` or ``"ivf"``
    n : number of vectors
    dim : vector dimension
    """

    index: faiss.Index
    kind: str
    n: int
    dim: int


def build_index(
    vectors: np.ndarray,
    kind: str = "flat",
    nlist: int | None = None,
    nprobe: int = 8,
    seed: int = 0,
) -> SearchIndex:
    """Index ``vectors`` [N, D] (normalised here) for cosine search.

    ``kind="ivf"`` builds ``IndexIVFFlat`` with ``nlist`` cells (default ~4 sqrt(N), at
    most N/39 so each cell gets FAISS's 39 training points) trained by k-means on the
    vectors themselves; ``nprobe`` cells are visited per query.
    """
    x = np.ascontiguousarray(l2_normalise(vectors))
    if x.ndim != 2 or x.shape[0] == 0:
        raise InputError("search", "vectors", f"need a non-empty [N, D] array, got {x.shape}.")
    n, d = x.shape
    if kind == "flat":
        index = faiss.IndexFlatIP(d)
    elif kind == "ivf":
        if nlist is None:
            nlist = int(max(1, min(4 * np.sqrt(n), n // 39)))
        nlist = int(max(1, min(nlist, n)))
        quantizer = faiss.IndexFlatIP(d)
        index = faiss.IndexIVFFlat(quantizer, d, nlist, faiss.METRIC_INNER_PRODUCT)
        index.cp.seed = int(seed)
        index.train(x)
        index.nprobe = int(max(1, min(nprobe, nlist)))
    else:
        raise InputError("search", "kind", f"unknown index kind {kind!r}.", "Use 'flat' or 'ivf'.")
    index.add(x)
    return SearchIndex(index=index, kind=kind, n=n, dim=d)


def search(
    vectors: np.ndarray,
    queries,
    k: int = 8,
    index: SearchIndex | None = None,
    exclude_self: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest rows of ``vectors`` (cosine) for each query.

    Parameters
    ----------
    vectors : float [N, D]
        The database (e.g. ``Embeddings.vectors``).
    queries : int array [Q] of row indices, or float array [Q, D] (or [D]) of vectors
        Row queries skip themselves when ``exclude_self``.
    index : SearchIndex, optional
        A prebuilt index over ``vectors`` (default: exact flat index).

    Returns
    -------
    similarity : float32 [Q, k] cosine similarities, descending
    rows : int64 [Q, k] row indices into ``vectors`` (-1 where fewer than k exist)
    """
    if index is None:
        index = build_index(vectors)
    q = np.asarray(queries)
    by_row = q.dtype.kind in "iu"
    if by_row:
        q = np.atleast_1d(q).astype(np.int64)
        if q.size and (q.min() < 0 or q.max() >= index.n):
            raise InputError("search", "query", f"row ids must lie in 0..{index.n - 1}.")
        qv = l2_normalise(np.asarray(vectors)[q])
    else:
        qv = l2_normalise(np.atleast_2d(q))
        if qv.shape[1] != index.dim:
            raise InputError(
                "search", "query", f"vector dimension {qv.shape[1]} != index dimension {index.dim}."
            )
    extra = 1 if (by_row and exclude_self) else 0
    kk = int(min(k + extra, index.n))
    sim, rows = index.index.search(np.ascontiguousarray(qv), kk)
    if extra:
        keep_sim = np.full((len(q), k), -np.inf, dtype=np.float32)
        keep_rows = np.full((len(q), k), -1, dtype=np.int64)
        for i in range(len(q)):
            mask = rows[i] != q[i]
            r, s = rows[i][mask][:k], sim[i][mask][:k]
            keep_rows[i, : r.size], keep_sim[i, : s.size] = r, s
        return keep_sim, keep_rows
    if kk < k:
        pad = k - kk
        sim = np.pad(sim, ((0, 0), (0, pad)), constant_values=-np.inf)
        rows = np.pad(rows, ((0, 0), (0, pad)), constant_values=-1)
    return sim.astype(np.float32), rows.astype(np.int64)


def relevance_labels(
    truth, by: str = "dominant_class", count_bins=DEFAULT_COUNT_BINS
) -> np.ndarray:
    """Per-crop labels that define relevance for precision@k.

    ``by`` is a truth column; for ``n_sources`` (or any numeric column when ``count_bins``
    is given) the value is binned with ``count_bins`` as left bin edges (bin i holds
    ``edges[i] <= v < edges[i+1]``, the last bin is open).
    """
    if by not in truth.colnames:
        raise InputError("truth", by, "no such column.", "Use e.g. dominant_class or n_sources.")
    values = np.asarray(truth[by])
    if values.dtype.kind in "USO" or by == "dominant_class":
        return values.astype(str)
    edges = np.asarray(count_bins, dtype=float)
    return np.searchsorted(edges, values.astype(float), side="right") - 1


def precision_at_k(labels: np.ndarray, neighbour_rows: np.ndarray, query_rows: np.ndarray) -> float:
    """Mean share of each query's neighbours that carry the query's label.

    ``neighbour_rows`` [Q, k] (-1 = missing, counted as not relevant), ``query_rows`` [Q].
    """
    labels = np.asarray(labels)
    nb = np.asarray(neighbour_rows)
    valid = nb >= 0
    hits = (labels[np.where(valid, nb, 0)] == labels[np.asarray(query_rows)][:, None]) & valid
    return float(hits.mean()) if hits.size else float("nan")


def precision_at_k_all(
    vectors: np.ndarray, labels: np.ndarray, k: int = 8, index: SearchIndex | None = None
) -> float:
    """Precision@k with every row as a query against all others (itself excluded)."""
    n = len(labels)
    rows = np.arange(n)
    _, nb = search(vectors, rows, k=k, index=index, exclude_self=True)
    return precision_at_k(labels, nb, rows)


# ----------------------------------------------------------------------------------
# neighbour grid
# ----------------------------------------------------------------------------------
def plot_neighbour_grid(
    query_image: np.ndarray,
    query_title: str,
    neighbour_images: list[np.ndarray],
    neighbour_titles: list[str],
    out_png,
    ncols: int = 5,
    panel_inches: float = 2.4,
    dpi: int = 100,
) -> Path:
    """Write a PNG grid: the query first, then its neighbours with their titles.

    The figure is ``ncols * panel_inches`` wide and ``nrows * panel_inches`` high (inches),
    so the PNG is that times ``dpi`` pixels.
    """
    images = [query_image, *neighbour_images]
    titles = [query_title, *neighbour_titles]
    ncols = max(1, min(ncols, len(images)))
    nrows = int(np.ceil(len(images) / ncols))
    fig, axes = new_figure((ncols * panel_inches, nrows * panel_inches), nrows, ncols)
    for ax in axes.ravel():
        ax.axis("off")
    for i, (img, title) in enumerate(zip(images, titles, strict=True)):
        ax = axes.ravel()[i]
        ax.imshow(display_stretch(img), origin="lower", cmap="inferno")
        ax.set_title(title, fontsize=7, color="C3" if i == 0 else "black")
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=0.92, wspace=0.05, hspace=0.25)
    return save_figure(fig, out_png, dpi)


def crop_label(truth_row) -> str:
    """Short title for a crop: id, class, source count and field (those present)."""
    parts = [f"#{int(truth_row['crop_id'])}"] if "crop_id" in truth_row.colnames else []
    if "dominant_class" in truth_row.colnames:
        parts.append(str(truth_row["dominant_class"]))
    if "n_sources" in truth_row.colnames:
        parts.append(f"n={int(truth_row['n_sources'])}")
    if "field_id" in truth_row.colnames:
        parts.append(f"f{int(truth_row['field_id'])}")
    return " ".join(parts)


# ----------------------------------------------------------------------------------
# the pipeline behind `meersim search`
# ----------------------------------------------------------------------------------
def _embed_fits(path: Path, meta: dict, device: str | None):
    """Embed the Stokes-I plane 0 of a FITS image with the checkpoint named in meta.json."""
    checkpoint = meta.get("checkpoint")
    if not checkpoint:
        raise InputError(
            str(path),
            "query",
            "the embeddings' meta.json names no checkpoint to embed it with.",
            "Query by crop id instead.",
        )
    plane = np.asarray(read_image(path).data[0], dtype=np.float32)
    vector = embed_image(checkpoint, plane, device=device)
    return plane, np.asarray(vector, dtype=np.float32).reshape(1, -1)


def search_run(
    emb_dir,
    query,
    k: int = 8,
    out_png=None,
    *,
    dataset=None,
    product: str | None = None,
    label: str = DEFAULT_LABEL,
    count_bins=DEFAULT_COUNT_BINS,
    kind: str = "flat",
    nlist: int | None = None,
    nprobe: int = 8,
    device: str | None = None,
) -> dict:
    """Find the ``k`` nearest crops to a query and optionally draw them.

    ``query`` is a crop id (int, or a string of digits) or a FITS image path (embedded
    with the checkpoint in meta.json). Returns ``{"query", "crop_ids", "similarity",
    "labels", "precision_at_k" (crop queries only), "grid"}``.
    """
    if isinstance(k, bool) or int(k) < 1:
        raise InputError("search", "k", f"must be >= 1 neighbour, got {k}.")
    emb = load_embeddings(emb_dir)
    crop_ids = np.asarray(emb.crop_ids, dtype=np.int64)
    ds_path = dataset if dataset is not None else (emb.meta or {}).get("dataset")
    store = open_store(ds_path) if ds_path is not None else None
    products = (emb.meta or {}).get("products") or []
    if store is not None:
        check_pairing(emb, store, str(emb_dir))
        if label not in store.truth.colnames and label != DEFAULT_LABEL:
            raise InputError(str(store.path / "crops.ecsv"), "label", f"{label!r} is not a truth "
                             "column.", f"Use one of {', '.join(store.truth.colnames)}.")  # fmt: skip
        product = product or (products[0] if products else store.products[0])
    index = build_index(emb.vectors, kind=kind, nlist=nlist, nprobe=nprobe)
    text = str(query)
    if text.lstrip("-").isdigit():
        qid = int(text)
        where = np.flatnonzero(crop_ids == qid)
        if where.size == 0:
            raise InputError(str(emb_dir), "query", f"crop {qid} has no embedding.")
        row = int(where[0])
        sim, rows = search(emb.vectors, np.array([row]), k, index=index, exclude_self=True)
        query_image = None if store is None else np.asarray(store.array(product)[qid])
        query_title = f"query #{qid}"
    else:
        path = Path(text)
        if not path.exists():
            raise InputError(text, "query", "is neither a crop id nor an existing FITS file.")
        query_image, vec = _embed_fits(path, emb.meta or {}, device)
        sim, rows = search(emb.vectors, vec, k, index=index)
        row, qid, query_title = None, None, f"query {path.name}"
    rows, sim = rows[0], sim[0]
    valid = rows >= 0
    neighbours = crop_ids[rows[valid]]
    out = {
        "query": qid if qid is not None else text,
        "crop_ids": neighbours.tolist(),
        "similarity": sim[valid].astype(float).tolist(),
        "labels": None,
        "precision_at_k": None,
        "grid": None,
    }
    if store is not None:
        truth = store.truth
        if label in truth.colnames:  # the default label may be absent (real crops)
            labels = relevance_labels(truth, label, count_bins)
            out["labels"] = [str(v) for v in labels[neighbours]]
            if qid is not None and len(neighbours):
                out["precision_at_k"] = float(np.mean(labels[neighbours] == labels[qid]))
        if out_png is not None:
            if qid is not None:
                query_title = f"query: {crop_label(truth[qid])}"
            titles = [
                f"{crop_label(truth[int(c)])}\ncos={s:.3f}"
                for c, s in zip(neighbours, sim[valid], strict=True)
            ]
            images = [np.asarray(store.array(product)[int(c)]) for c in neighbours]
            out["grid"] = str(
                plot_neighbour_grid(query_image, query_title, images, titles, out_png)
            )
    elif out_png is not None:
        raise InputError(
            str(emb_dir), "dataset", "unknown, so no images to draw.", "Pass --dataset DIR."
        )
    return out
