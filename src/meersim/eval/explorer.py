"""The state behind ``meersim explore``: embeddings, truth, search index, anomaly scores,
thumbnails and the user's relabels, with the operations the web page asks for.

:class:`Explorer` is plain Python (no HTTP), so every answer of the JSON API can be
checked directly; :mod:`meersim.eval.explore` serves it.

* Search: cosine similarity on L2-normalised embeddings (:mod:`meersim.eval.search`):
  an exact ``IndexFlatIP`` up to :data:`~meersim.eval.anomaly.EXACT_SEARCH_LIMIT`
  crops, FAISS ``IndexIVFFlat`` above.
* Anomaly score: the kNN cosine distance of :mod:`meersim.eval.anomaly` on that
  index, or a column of a ``scores.csv`` written by ``meersim anomaly``.
* Relabels ("interesting" / "not") live in ``relabels.csv`` beside the embeddings,
  rewritten atomically on every change; :func:`meersim.eval.active.refit_ranking`
  turns them into the ``relevance`` ranking.
* Thumbnails: the crop with :func:`meersim.eval.plotting.display_stretch` and the
  inferno colour map, made on first request and cached as PNG files.
"""

from __future__ import annotations

import io
import threading
from pathlib import Path

import numpy as np
from astropy.table import Table
from matplotlib import colormaps
from matplotlib.image import imsave

from meersim.datasets.embeddings import check_pairing, load_embeddings
from meersim.datasets.store import open_store
from meersim.errors import InputError
from meersim.eval.active import reduced_features, refit_ranking
from meersim.eval.anomaly import EXACT_SEARCH_LIMIT
from meersim.eval.attention import upsample_attention
from meersim.eval.baselines import truth_for
from meersim.eval.plotting import display_stretch
from meersim.eval.search import build_index, relevance_labels, search
from meersim.io import atomic_write, read_image
from meersim.ssl.embed import embed_image

LABELS_FILE = "relabels.csv"
LABELS = ("interesting", "not")
FITS_SUFFIXES = (".fits", ".fit", ".fts")
OPS = ("eq", "ne", "lt", "le", "gt", "ge", "contains")
ANOMALY, RELEVANCE = "anomaly", "relevance"


class NotFound(InputError):
    """An unknown crop id (HTTP 404)."""


class Forbidden(InputError):
    """A path outside the folders the server was started with (HTTP 403)."""


def _plain(value):
    """A truth cell as a JSON value (NaN -> None)."""
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer, int)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return float(value) if np.isfinite(value) else None
    return str(value)


def png_bytes(rgb: np.ndarray) -> bytes:
    """PNG of an image [H, W] in [0, 1] (inferno) or [H, W, 3|4] in [0, 1], origin lower."""
    buf = io.BytesIO()
    imsave(buf, np.asarray(rgb)[::-1], format="png", cmap="inferno", vmin=0.0, vmax=1.0)
    return buf.getvalue()


class Explorer:
    """Everything ``meersim explore`` serves, for one embeddings directory."""

    def __init__(self, emb_dir, *, dataset=None, product: str | None = None, fits_dirs=(),
                 scores_csv=None, cache_dir=None, knn_k: int = 10, nprobe: int = 16,
                 exact_limit: int = EXACT_SEARCH_LIMIT, device: str | None = None,
                 seed: int = 0):  # fmt: skip
        self.emb_dir = Path(emb_dir)
        emb = _load(self.emb_dir)
        self.vectors = emb.vectors
        self.crop_ids = np.asarray(emb.crop_ids, dtype=np.int64)
        self.meta, self.attention = dict(emb.meta or {}), emb.attention
        ds = dataset if dataset is not None else self.meta.get("dataset")
        if ds is None:
            raise InputError(str(self.emb_dir / "meta.json"), "dataset", "not recorded.",
                             "Pass --dataset DIR.")  # fmt: skip
        self.store = open_store(ds)
        check_pairing(emb, self.store, str(self.emb_dir))
        self.truth = truth_for(self.store, self.crop_ids)
        products = self.meta.get("products") or []
        self.product = product or (products[0] if products else self.store.products[0])
        if self.product not in self.store.products:
            raise InputError(str(ds), "product", f"{self.product!r} not in the dataset.",
                             f"Use one of {self.store.products}.")  # fmt: skip
        self.row_of = {int(c): i for i, c in enumerate(self.crop_ids)}
        self.fits_dirs = [Path(d).expanduser().resolve() for d in fits_dirs]
        self.cache_dir = Path(cache_dir) if cache_dir else self.emb_dir / "explore_thumbs"
        self.device, self.seed, self.knn_k = device, int(seed), int(knn_k)
        kind = "flat" if len(self.vectors) <= exact_limit else "ivf"
        self.index = build_index(self.vectors, kind=kind, nprobe=nprobe, seed=seed)
        self.lock = threading.Lock()
        self.columns = self._columns()
        self.scores = self._anomaly_scores(scores_csv)
        self.labels_path = self.emb_dir / LABELS_FILE
        self.labels = self._read_labels()
        self._reduced = None

    # -- loading ------------------------------------------------------------------------
    def _columns(self) -> dict[str, np.ndarray]:
        cols = {"crop_id": self.crop_ids}
        for name in self.truth.colnames:
            values = np.asarray(self.truth[name])
            if values.ndim == 1 and name != "crop_id":
                cols[name] = values
        return cols

    def _anomaly_scores(self, scores_csv) -> np.ndarray:
        if scores_csv is None:
            k = int(min(self.knn_k, len(self.vectors) - 1))
            sim, rows = search(self.vectors, np.arange(len(self.vectors)), k, index=self.index)
            return 1.0 - np.nanmean(np.where(rows >= 0, sim, np.nan).astype(np.float64), axis=1)
        try:
            table = Table.read(str(scores_csv), format="ascii.csv")
        except (OSError, ValueError) as exc:
            raise InputError(str(scores_csv), "scores", f"cannot be read ({exc}).") from None
        if "crop_id" not in table.colnames or "knn" not in table.colnames:
            raise InputError(str(scores_csv), "crop_id/knn", "columns missing.",
                             "Use the scores.csv of `meersim anomaly`.")  # fmt: skip
        by_id = dict(zip(np.asarray(table["crop_id"]).tolist(), np.asarray(table["knn"], float),
                         strict=True))  # fmt: skip
        missing = [c for c in self.crop_ids[:5] if int(c) not in by_id]
        if missing:
            raise InputError(str(scores_csv), "crop_id", f"lacks crops {missing}.",
                             "Score the same embeddings.")  # fmt: skip
        return np.array([by_id[int(c)] for c in self.crop_ids])

    def _read_labels(self) -> dict[int, str]:
        if not self.labels_path.exists():
            return {}
        try:
            table = Table.read(str(self.labels_path), format="ascii.csv")
        except (OSError, ValueError) as exc:
            raise InputError(str(self.labels_path), "labels", f"cannot be read ({exc}).",
                             "Fix or move the file.") from None  # fmt: skip
        out = {}
        for cid, label in zip(table["crop_id"], table["label"], strict=True):
            if str(label) in LABELS and int(cid) in self.row_of:
                out[int(cid)] = str(label)
        return out

    # -- lookups -----------------------------------------------------------------------
    def row(self, crop_id) -> int:
        try:
            cid = int(crop_id)
        except (TypeError, ValueError):
            raise InputError("explore", "crop", f"{crop_id!r} is not a crop id.") from None
        if cid not in self.row_of:
            raise NotFound("explore", "crop", f"crop {cid} has no embedding.",
                           f"Crop ids run over {len(self.crop_ids)} embedded crops.")  # fmt: skip
        return self.row_of[cid]

    def record(self, row: int) -> dict:
        """One crop: its truth, anomaly score and relabel."""
        out = {name: _plain(col[row]) for name, col in self.columns.items()}
        out[ANOMALY] = _plain(self.scores[row])
        out["label"] = self.labels.get(int(self.crop_ids[row]))
        return out

    def info(self) -> dict:
        kinds = {n: ("number" if c.dtype.kind in "iufb" else "text")
                 for n, c in self.columns.items()}  # fmt: skip
        label = "dominant_class" if "dominant_class" in self.columns else None
        return {
            "n": len(self.crop_ids), "dim": int(self.vectors.shape[1]), "columns": kinds,
            "product": self.product, "index": self.index.kind,
            "attention": self.attention is not None,
            "checkpoint": bool(self.meta.get("checkpoint")),
            "fits_dirs": [str(d) for d in self.fits_dirs], "default_label": label,
            "labels": len(self.labels), "sort_keys": [ANOMALY, RELEVANCE, *self.columns],
        }  # fmt: skip

    # -- listing -----------------------------------------------------------------------
    def _key(self, name: str) -> np.ndarray:
        if name == ANOMALY:
            return self.scores
        if name == RELEVANCE:
            return self.relevance()
        if name not in self.columns:
            raise InputError("explore", "sort/filter", f"unknown column {name!r}.",
                             "Use a truth column, anomaly or relevance.")  # fmt: skip
        return self.columns[name]

    def select(self, filters=()) -> np.ndarray:
        """Rows passing every ``(column, op, value)`` filter (op in :data:`OPS`)."""
        keep = np.ones(len(self.crop_ids), bool)
        for column, op, value in filters:
            values = self._key(column)
            if op not in OPS:
                raise InputError("explore", "filter", f"unknown operator {op!r}.", f"Use {OPS}.")
            if op == "contains":
                keep &= np.char.find(values.astype(str), str(value)) >= 0
                continue
            if values.dtype.kind in "iufb":
                try:
                    target = (
                        float(value) if values.dtype.kind != "b" else value in ("1", "true", "True")
                    )
                except ValueError:
                    raise InputError(
                        "explore", "filter", f"{column} needs a number, got {value!r}."
                    ) from None
                values = values.astype(float)
            else:
                values, target = values.astype(str), str(value)
            keep &= {"eq": np.equal, "ne": np.not_equal, "lt": np.less, "le": np.less_equal,
                     "gt": np.greater, "ge": np.greater_equal}[op](values, target)  # fmt: skip
        return np.flatnonzero(keep)

    def crops(self, sort: str = ANOMALY, descending: bool = True, filters=(), offset: int = 0,
              limit: int = 60) -> dict:  # fmt: skip
        """A page of crops (records), filtered and sorted; ``total`` counts all that pass."""
        rows = self.select(filters)
        key = self._key(sort)[rows]
        order = np.argsort(key, kind="stable")
        if descending:
            order = order[::-1]
        page = rows[order][max(0, int(offset)) : max(0, int(offset)) + max(1, min(int(limit), 500))]
        return {"total": int(rows.size), "offset": int(offset), "sort": sort,
                "crops": [self.record(int(r)) for r in page]}  # fmt: skip

    # -- search ------------------------------------------------------------------------
    def neighbours(self, crop_id, k: int = 8, label: str | None = None) -> dict:
        """The ``k`` most cosine-similar crops of a crop, with truth and precision@k."""
        row = self.row(crop_id)
        with self.lock:
            sim, rows = search(self.vectors, np.array([row]), int(k), index=self.index)
        out = self._answer(sim[0], rows[0], label)
        labels = out.pop("_labels")
        if labels is not None:
            hits = [labels[r] == labels[row] for r in rows[0] if r >= 0]
            out["precision_at_k"] = float(np.mean(hits)) if hits else None
            out["query_label"] = str(labels[row])
        out["query"] = self.record(row)
        return out

    def _answer(self, sim, rows, label) -> dict:
        label = label or self.info()["default_label"]
        labels = relevance_labels(self.truth, label) if label else None
        items = []
        for s, r in zip(sim, rows, strict=True):
            if r < 0:
                continue
            item = self.record(int(r))
            item["similarity"] = float(s)
            item["relevance_label"] = None if labels is None else str(labels[r])
            items.append(item)
        return {"neighbours": items, "label": label, "precision_at_k": None, "_labels": labels}

    def query_fits(self, path, k: int = 8, label: str | None = None) -> dict:
        """Embed a FITS image under one of ``fits_dirs`` with the run's checkpoint; search."""
        target = self.allowed_path(path)
        checkpoint = self.meta.get("checkpoint")
        if not checkpoint:
            raise InputError(str(self.emb_dir / "meta.json"), "checkpoint",
                             "not recorded, so images cannot be embedded.",
                             "Embed with `meersim embed`, which records it.")  # fmt: skip
        plane = np.asarray(read_image(target).data[0], dtype=np.float32)
        vector = np.asarray(embed_image(checkpoint, plane, device=self.device), np.float32)
        with self.lock:
            sim, rows = search(self.vectors, vector.reshape(1, -1), int(k), index=self.index)
        out = self._answer(sim[0], rows[0], label)
        out.pop("_labels")
        out["query"] = {"path": str(target)}
        return out

    def allowed_path(self, path) -> Path:
        """``path`` resolved (links followed); refused unless it is a FITS file under a fits dir."""
        text = str(path or "").strip()
        if not text or "\x00" in text:
            raise InputError("explore", "path", "is empty.", "Type the path of a FITS image.")
        if not self.fits_dirs:
            raise Forbidden("explore", "path", "no FITS folder was given at start.",
                            "Restart with --fits-dir DIR.")  # fmt: skip
        candidate = Path(text).expanduser()
        if not candidate.is_absolute():
            candidate = self.fits_dirs[0] / candidate
        resolved = candidate.resolve()
        if not any(resolved.is_relative_to(d) for d in self.fits_dirs):
            raise Forbidden(text, "path", "lies outside the folders the server was started with.",
                            f"Use a file under {', '.join(map(str, self.fits_dirs))}.")  # fmt: skip
        if resolved.suffix.lower() not in FITS_SUFFIXES or not resolved.is_file():
            raise InputError(text, "path", "is not an existing FITS file (.fits/.fit/.fts).")
        return resolved

    # -- relabels and the re-fitted ranking --------------------------------------------
    def set_label(self, crop_id, label: str | None) -> dict:
        """Record ``interesting``/``not`` (None or "" clears) and rewrite the CSV atomically."""
        row = self.row(crop_id)
        cid = int(self.crop_ids[row])
        if label not in (None, "", *LABELS):
            raise InputError("explore", "label", f"{label!r} unknown.", f"Use {LABELS} or ''.")
        with self.lock:
            if label:
                self.labels[cid] = str(label)
            else:
                self.labels.pop(cid, None)
            table = Table({"crop_id": np.array(sorted(self.labels), dtype=np.int64),
                           "label": [self.labels[c] for c in sorted(self.labels)]})  # fmt: skip
            with atomic_write(self.labels_path, "w") as fh:
                table.write(fh, format="ascii.csv")
        return {"crop_id": cid, "label": self.labels.get(cid), "labels": len(self.labels)}

    def relevance(self, blend: float = 0.5) -> np.ndarray:
        """The anomaly ranking re-fitted to the relabels (:mod:`meersim.eval.active`)."""
        with self.lock:
            labelled = {self.row_of[c]: lab == "interesting" for c, lab in self.labels.items()}
        if self._reduced is None and labelled:
            self._reduced = reduced_features(self.vectors, seed=self.seed)
        return refit_ranking(self._reduced, self.scores, labelled, blend, self.seed)

    def anomalies(self, top: int = 50, refit: bool = False) -> dict:
        score = self.relevance() if refit else self.scores
        rows = np.argsort(-score, kind="stable")[: max(1, int(top))]
        return {
            "ranking": RELEVANCE if refit else ANOMALY,
            "crops": [dict(self.record(int(r)), score=_plain(score[r])) for r in rows],
        }

    # -- pictures ----------------------------------------------------------------------
    def thumbnail(self, crop_id) -> bytes:
        """PNG of the crop (display stretch), cached on disk after the first request."""
        row = self.row(crop_id)
        cid = int(self.crop_ids[row])
        path = self.cache_dir / self.product / f"{cid}.png"
        if path.is_file():
            return path.read_bytes()
        data = png_bytes(display_stretch(np.asarray(self.store.array(self.product)[cid])))
        with atomic_write(path) as fh:
            fh.write(data)
        return data

    def attention_png(self, crop_id) -> bytes:
        """PNG: the crop, then each head's attention upsampled to it (one panel each)."""
        row = self.row(crop_id)
        if self.attention is None:
            raise NotFound("explore", "attention", "these embeddings have no attention.npy.",
                           "Embed a ViT with --attention.")  # fmt: skip
        image = np.asarray(self.store.array(self.product)[int(self.crop_ids[row])])
        att = upsample_attention(np.asarray(self.attention[row], np.float32), image.shape)
        panels = [colormaps["inferno"](display_stretch(image))]
        for head in att:
            span = float(head.max() - head.min())
            panels.append(
                colormaps["viridis"]((head - head.min()) / span if span > 0 else head * 0)
            )
        gap = np.ones((image.shape[0], 2, 4))
        return png_bytes(np.concatenate([p for q in panels for p in (q, gap)][:-1], axis=1))


def _load(emb_dir: Path):
    """The embeddings, with one clear error for a missing or unreadable directory."""
    if not emb_dir.is_dir():
        raise InputError(str(emb_dir), "embeddings", "is not a directory.",
                         "Pass the output of `meersim embed`.")  # fmt: skip
    try:
        emb = load_embeddings(emb_dir)
    except InputError:
        raise
    except (OSError, ValueError, EOFError) as exc:
        raise InputError(str(emb_dir), "embeddings", f"cannot be read ({exc}).",
                         "Re-run `meersim embed`.") from None  # fmt: skip
    if len(emb.vectors) < 2 or not np.all(np.isfinite(emb.vectors)):
        raise InputError(str(emb_dir), "embeddings.npy", "holds fewer than 2 rows or NaN/inf.",
                         "Re-run `meersim embed`.")  # fmt: skip
    return emb
