"""Evaluation of embeddings against per-crop truth, with two baselines on the same splits.

:func:`evaluate` is the pure function (arrays and a truth table in, a metrics dict out)
that sweeps call; :func:`evaluate_run` is the pipeline behind ``meersim eval``: it reads
an embeddings directory and its dataset, builds the baselines, evaluates, draws the
maps and attention plots, and writes ``metrics.json`` and ``index.html``.

Baselines (each probed exactly like the model, on the same folds):

- ``random_init``: the same backbone with random weights (``embed(..., random_init=True)``)
  -- what the architecture and the input scaling give without any training;
- ``raw_pca``: PCA of the raw pixels (the product, block-averaged to ``raw_size`` pixels a
  side, NaN -> 0, in Jy/beam), fitted on all crops without labels, keeping as many
  components as the model's embedding has dimensions (at most N - 1 and the pixel count).
"""

from __future__ import annotations

import html
import inspect
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from astropy.table import Table
from tqdm.auto import tqdm

from meersim.config import to_dict
from meersim.errors import InputError
from meersim.eval.plotting import save_figure
from meersim.eval.probes import (
    classification_scores,
    fit_predict_classification,
    fit_predict_regression,
    knn_fit_predict,
    make_splits,
    n_components_for_variance,
    out_of_fold,
    probe_components,
    regression_scores,
)
from meersim.eval.search import (
    DEFAULT_COUNT_BINS,
    build_index,
    precision_at_k_all,
    relevance_labels,
)

MODEL = "model"
RANDOM = "random_init"
RAW = "raw_pca"
FEATURE_SETS = (MODEL, RANDOM, RAW)


@dataclass
class EvalConfig:
    """Settings of :func:`evaluate` (all optional; YAML keys of the same names).

    n_folds : cross-validation folds, grouped by field.
    n_components : PCA size of the probes; None = the 99%-variance count on the
        standardised training features, capped at ``pca_cap``.
    ridge_alpha, logistic_C : regularisation of the linear probes.
    knn_k, knn_temperature : DINO kNN (k neighbours, votes weighted exp(cos / T)).
    precision_k : neighbours for precision@k.
    count_bins : left edges of the source-count bins used as labels for precision@k.
    flux_floor_jy : total fluxes are floored here (Jy) before log10 (empty crops).
    search_index : FAISS index for precision@k: ``flat`` (exact), ``ivf``, or ``auto``
        (flat up to 50 000 crops, IVF above).
    """

    n_folds: int = 5
    n_components: int | None = None
    pca_cap: int = 32
    ridge_alpha: float = 1.0
    logistic_C: float = 1.0
    knn_k: int = 20
    knn_temperature: float = 0.07
    precision_k: int = 8
    count_bins: list = field(default_factory=lambda: list(DEFAULT_COUNT_BINS))
    flux_floor_jy: float = 1e-6
    search_index: str = "auto"


# metric name -> (description, unit, better) for the report
METRIC_INFO = {
    "count_mse": ("source count: linear-probe MSE", "sources^2", "lower"),
    "count_r2": ("source count: linear-probe R^2", "", "higher"),
    "detected_count_mse": ("sources above 5 sigma: linear-probe MSE", "sources^2", "lower"),
    "detected_count_r2": ("sources above 5 sigma: linear-probe R^2", "", "higher"),
    "log_flux_mse": ("log10 total flux: linear-probe MSE", "dex^2", "lower"),
    "log_flux_r2": ("log10 total flux: linear-probe R^2", "", "higher"),
    "log_rms_mse": ("log10 noise rms: linear-probe MSE", "dex^2", "lower"),
    "log_rms_r2": ("log10 noise rms: linear-probe R^2", "", "higher"),
    "class_accuracy": ("dominant class: logistic-probe accuracy", "", "higher"),
    "class_macro_f1": ("dominant class: logistic-probe macro F1", "", "higher"),
    "knn_class_accuracy": ("dominant class: weighted kNN accuracy", "", "higher"),
    "precision_at_k_class": ("search precision@k, same dominant class", "", "higher"),
    "precision_at_k_count": ("search precision@k, same source-count bin", "", "higher"),
    "pca_components_99": ("PCA components for 99% of the variance", "", ""),
    "probe_pca_components": ("PCA size of the probes (mean over folds)", "", ""),
}


def _targets(truth: Table, cfg: EvalConfig) -> tuple[dict[str, np.ndarray], list[str]]:
    """Regression targets present in ``truth``, and notes on those skipped."""
    out, notes = {}, []
    if "n_sources" in truth.colnames:
        out["count"] = np.asarray(truth["n_sources"], float)
    else:
        notes.append("no n_sources column: count probe skipped")
    # The seed study's counts come from PyBDSF catalogs, i.e. detected sources
    # (Lastufka et al. 2024); n_detectable is their simulated analogue.
    if "n_detectable" in truth.colnames:
        out["detected_count"] = np.asarray(truth["n_detectable"], float)
    if "total_flux" in truth.colnames:
        out["log_flux"] = np.log10(
            np.maximum(np.asarray(truth["total_flux"], float), cfg.flux_floor_jy)
        )
    else:
        notes.append("no total_flux column: flux probe skipped")
    if "noise_rms" in truth.colnames:
        rms = np.asarray(truth["noise_rms"], float)
        if np.all(rms > 0):
            out["log_rms"] = np.log10(rms)
        else:
            notes.append("noise_rms not all positive: rms probe skipped")
    else:
        notes.append("no noise_rms column: rms probe skipped")
    return out, notes


def _field_ids(truth: Table) -> np.ndarray:
    if "field_id" in truth.colnames:
        return np.asarray(truth["field_id"], dtype=np.int64)
    return np.zeros(len(truth), dtype=np.int64)


def evaluate_features(
    features: np.ndarray, truth: Table, folds, cfg: EvalConfig, seed: int = 0
) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """All metrics for one feature set on the given folds.

    Returns the metrics {name: value} and the out-of-fold predictions {target: array}.
    """
    x = np.asarray(features, dtype=np.float64)
    n = len(truth)
    metrics: dict[str, float] = {}
    preds: dict[str, np.ndarray] = {}
    # one PCA size per fold, shared by every probe of this feature set
    sizes = [probe_components(x[s.train], cfg.n_components, cfg.pca_cap) for s in folds]

    def oof(fit_predict, dtype=np.float64, **kwargs):
        out = np.full(n, np.nan) if np.dtype(dtype).kind == "f" else np.empty(n, dtype=dtype)
        for split, size in zip(folds, sizes, strict=True):
            out[split.test] = fit_predict(x, split=split, n_components=size, seed=seed, **kwargs)[0]
        return out

    targets, _ = _targets(truth, cfg)
    for name, y in targets.items():
        pred = oof(fit_predict_regression, target=y, alpha=cfg.ridge_alpha)
        preds[name] = pred
        scores = regression_scores(y, pred)
        metrics[f"{name}_mse"], metrics[f"{name}_r2"] = scores["mse"], scores["r2"]
    if "dominant_class" in truth.colnames:
        labels = np.asarray(truth["dominant_class"]).astype(str)
        pred = oof(fit_predict_classification, labels.dtype, labels=labels, C=cfg.logistic_C)
        preds["class"] = pred
        scores = classification_scores(labels, pred)
        metrics["class_accuracy"], metrics["class_macro_f1"] = (
            scores["accuracy"],
            scores["macro_f1"],
        )
        knn = out_of_fold(
            knn_fit_predict,
            folds,
            n,
            dtype=labels.dtype,
            features=x,
            labels=labels,
            k=cfg.knn_k,
            temperature=cfg.knn_temperature,
        )
        metrics["knn_class_accuracy"] = float(np.mean(knn == labels))
    metrics["probe_pca_components"] = float(np.mean(sizes))
    kind = cfg.search_index
    if kind == "auto":
        kind = "flat" if n <= 50_000 else "ivf"
    index = build_index(x, kind=kind, seed=seed)
    k = int(min(cfg.precision_k, n - 1))
    if "dominant_class" in truth.colnames:
        labels = relevance_labels(truth, "dominant_class")
        metrics["precision_at_k_class"] = precision_at_k_all(x, labels, k, index)
    if "n_sources" in truth.colnames:
        labels = relevance_labels(truth, "n_sources", cfg.count_bins)
        metrics["precision_at_k_count"] = precision_at_k_all(x, labels, k, index)
    metrics["pca_components_99"] = n_components_for_variance(x)
    return metrics, preds


def evaluate(
    embeddings: np.ndarray,
    truth: Table,
    baselines: dict[str, np.ndarray] | None = None,
    seed: int = 0,
    config: EvalConfig | dict | None = None,
    progress: bool = False,
) -> dict:
    """Evaluate ``embeddings`` [N, D] against ``truth`` (N rows, same order), and baselines.

    Every feature set (the model and each ``baselines[name]`` [N, D_b]) is probed on the
    same field-grouped folds. Returns a JSON-serialisable dict::

        {"metrics": {metric: {"model": v, "random_init": v, "raw_pca": v, ...}},
         "split": {"note", "by_field", "n_folds", "n_fields"}, "n_crops", "dims",
         "config", "notes", "predictions" (not JSON; dropped by the writers)}

    Metrics: see :data:`METRIC_INFO`. Missing truth columns skip their metrics (noted).
    """
    from meersim.config import from_dict

    cfg = config if isinstance(config, EvalConfig) else from_dict(EvalConfig, config, "eval config")
    x = np.asarray(embeddings)
    if x.ndim != 2 or x.shape[0] != len(truth):
        raise InputError(
            "evaluate", "embeddings", f"shape {x.shape} does not match {len(truth)} truth rows."
        )
    if not np.all(np.isfinite(x)):
        raise InputError("evaluate", "embeddings", "contain NaN or inf.", "Re-run the embedding.")
    sets = {MODEL: x}
    for name, feats in (baselines or {}).items():
        if feats is None:
            continue
        feats = np.asarray(feats)
        if feats.ndim != 2 or feats.shape[0] != len(truth):
            raise InputError("evaluate", f"baseline {name}", f"shape {feats.shape} != [N, D].")
        sets[name] = feats
    fields = _field_ids(truth)
    folds, note = make_splits(fields, cfg.n_folds, seed)
    _, notes = _targets(truth, cfg)
    if "dominant_class" not in truth.colnames:
        notes.append("no dominant_class column: class probes and kNN skipped")
    metrics: dict[str, dict] = {}
    predictions = {}
    for name, feats in tqdm(sets.items(), desc="evaluate", unit="set", disable=not progress):
        values, preds = evaluate_features(feats, truth, folds, cfg, seed)
        predictions[name] = preds
        for metric, value in values.items():
            metrics.setdefault(metric, {})[name] = value
    return {
        "metrics": metrics,
        "split": {
            "note": note,
            "by_field": bool(folds[0].by_field),
            "n_folds": len(folds),
            "n_fields": int(np.unique(fields).size),
        },
        "n_crops": len(truth),
        "dims": {name: int(f.shape[1]) for name, f in sets.items()},
        "config": to_dict(cfg),
        "notes": notes,
        "seed": int(seed),
        "predictions": predictions,
    }


# ----------------------------------------------------------------------------------
# inputs: embeddings directories, truth, raw-pixel baseline
# ----------------------------------------------------------------------------------
def load_embedding_dir(path):
    """Read an embeddings directory (``embeddings.npy``, ``crop_ids.npy``, ``meta.json``,
    optional ``attention.npy``) with :func:`meersim.ssl.embed.load_embeddings`."""
    try:
        from meersim.ssl.embed import load_embeddings
    except ImportError:
        return read_embedding_dir(path)
    return load_embeddings(path)


@dataclass
class EmbeddingFiles:
    """What an embeddings directory holds (same fields as ``meersim.ssl.embed.Embeddings``)."""

    vectors: np.ndarray
    crop_ids: np.ndarray
    meta: dict
    attention: np.ndarray | None = None


def read_embedding_dir(path) -> EmbeddingFiles:
    """Read the embeddings directory files directly (vectors float32 [N, D], crop ids [N])."""
    root = Path(path)
    for name in ("embeddings.npy", "crop_ids.npy", "meta.json"):
        if not (root / name).exists():
            raise InputError(
                str(root),
                name,
                "missing: not an embeddings directory.",
                "Make one with `meersim embed`.",
            )
    vectors = np.load(root / "embeddings.npy").astype(np.float32, copy=False)
    crop_ids = np.load(root / "crop_ids.npy").astype(np.int64, copy=False)
    if vectors.ndim != 2 or crop_ids.shape != (vectors.shape[0],):
        raise InputError(
            str(root),
            "embeddings.npy",
            f"shape {vectors.shape} does not match crop_ids {crop_ids.shape}.",
        )
    meta = json.loads((root / "meta.json").read_text())
    att = root / "attention.npy"
    attention = np.load(att, mmap_mode="r") if att.exists() else None
    return EmbeddingFiles(vectors, crop_ids, meta, attention)


def truth_for(store, crop_ids: np.ndarray) -> Table:
    """Rows of the store's truth for ``crop_ids``, in that order."""
    crop_ids = np.asarray(crop_ids, dtype=np.int64)
    if crop_ids.size and (crop_ids.min() < 0 or crop_ids.max() >= store.n_crops):
        raise InputError(
            str(store.path),
            "crop_ids",
            f"outside 0..{store.n_crops - 1}.",
            "Are the embeddings from this dataset?",
        )
    return store.truth[crop_ids]


def align_to(crop_ids: np.ndarray, other_ids: np.ndarray, other_vectors: np.ndarray, source: str):
    """Reorder ``other_vectors`` so that its rows follow ``crop_ids``."""
    pos = {int(c): i for i, c in enumerate(np.asarray(other_ids))}
    missing = [int(c) for c in crop_ids if int(c) not in pos]
    if missing:
        raise InputError(
            source,
            "crop_ids",
            f"lacks {len(missing)} crops of the model's embeddings (e.g. {missing[:3]}).",
            "Embed the same dataset with --random-init.",
        )
    return np.asarray(other_vectors)[[pos[int(c)] for c in crop_ids]]


def block_average(crops: np.ndarray, size: int) -> np.ndarray:
    """Downsample [N, H, W] to [N, size, size] by averaging equal blocks (NaN -> 0 first).

    H and W are first trimmed to multiples of the block; crops smaller than ``size`` stay as they are.
    """
    x = np.nan_to_num(np.asarray(crops, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    n, h, w = x.shape
    by, bx = max(1, h // size), max(1, w // size)
    ny, nx = h // by, w // bx
    x = x[:, : ny * by, : nx * bx]
    return x.reshape(n, ny, by, nx, bx).mean(axis=(2, 4))


def raw_pixel_pca(
    store, crop_ids: np.ndarray, product: str, n_components: int, raw_size: int = 32, seed: int = 0
) -> np.ndarray:
    """PCA features of the raw ``product`` pixels (Jy/beam, block-averaged, NaN -> 0): [N, n]."""
    from sklearn.decomposition import PCA

    arr = store.array(product)
    rows = [block_average(np.asarray(arr[int(i)])[None], raw_size)[0] for i in crop_ids]
    pix = np.stack(rows).reshape(len(rows), -1).astype(np.float64)
    n = int(max(1, min(n_components, pix.shape[0] - 1, pix.shape[1])))
    return PCA(n_components=n, random_state=seed).fit_transform(pix).astype(np.float32)


# ----------------------------------------------------------------------------------
# the pipeline behind `meersim eval`
# ----------------------------------------------------------------------------------
def evaluate_run(
    emb_dir,
    out_dir,
    *,
    dataset=None,
    random_emb_dir=None,
    make_random: bool = False,
    raw_product: str | None = None,
    raw_size: int = 32,
    config: EvalConfig | dict | None = None,
    seed: int = 0,
    maps: bool = True,
    tsne: bool = True,
    attention: bool = True,
    attention_mask: str = "sky",
    attention_k_sigma: float = 3.0,
    n_attention_examples: int = 4,
    device: str | None = None,
    progress: bool = True,
) -> dict:
    """Evaluate an embeddings directory and write a report to ``out_dir``.

    Parameters
    ----------
    emb_dir : embeddings directory (``meersim embed``)
    out_dir : report directory (``metrics.json``, ``index.html``, PNGs)
    dataset : dataset store; default: the ``dataset`` path in the embeddings' meta.json
    random_emb_dir : embeddings of the same backbone with random weights
    make_random : when no ``random_emb_dir``, embed the dataset with random weights
        (needs the checkpoint named in meta.json) into ``out_dir/random_init_embeddings``
    raw_product : product for the raw-pixel PCA baseline (default: the first product
        in meta.json, else ``restored``); raw_size : block-averaged side (pixels)
    attention_mask : ``"sky"`` or ``"catalog"`` (see :mod:`meersim.eval.attention`)

    Returns the result of :func:`evaluate` plus ``report`` (paths) and ``attention``.
    """
    from meersim.simulate.store import open_store

    t0 = time.time()
    emb_dir, out_dir = Path(emb_dir), Path(out_dir)
    emb = load_embedding_dir(emb_dir)
    meta = dict(emb.meta or {})
    ds_path = dataset if dataset is not None else meta.get("dataset")
    if ds_path is None:
        raise InputError(
            str(emb_dir / "meta.json"), "dataset", "not recorded.", "Pass --dataset DIR."
        )
    store = open_store(ds_path)
    crop_ids = np.asarray(emb.crop_ids, dtype=np.int64)
    truth = truth_for(store, crop_ids)
    out_dir.mkdir(parents=True, exist_ok=True)
    notes = []

    baselines: dict[str, np.ndarray] = {}
    random_source = None
    if random_emb_dir is None and make_random:
        random_emb_dir = _make_random_embeddings(meta, emb_dir, ds_path, out_dir, device, progress)
    if random_emb_dir is not None:
        remb = load_embedding_dir(random_emb_dir)
        baselines[RANDOM] = align_to(crop_ids, remb.crop_ids, remb.vectors, str(random_emb_dir))
        random_source = str(random_emb_dir)
    else:
        notes.append("no random-init embeddings given: random_init baseline missing")
    products = meta.get("products") or []
    raw_product = raw_product or (products[0] if products else "restored")
    if raw_product in store.products:
        baselines[RAW] = raw_pixel_pca(
            store, crop_ids, raw_product, emb.vectors.shape[1], raw_size, seed
        )
    else:
        notes.append(f"product {raw_product!r} not in the dataset: raw_pca baseline missing")

    result = evaluate(emb.vectors, truth, baselines, seed=seed, config=config, progress=progress)
    result["notes"] = notes + result["notes"]
    result["inputs"] = {
        "embeddings": str(emb_dir),
        "dataset": str(ds_path),
        "random_init_embeddings": random_source,
        "raw_pca": {"product": raw_product, "size": raw_size},
        "meta": meta,
    }
    figures: list[tuple[str, str]] = []
    figures.append(("Metrics versus baselines", _plot_metric_bars(result, out_dir).name))
    if "count" in result["predictions"][MODEL]:
        figures.append(
            (
                "Source count: probe prediction vs truth",
                _plot_count_scatter(result, truth, out_dir).name,
            )
        )
    if maps:
        from meersim.eval.maps import write_maps

        sets = {MODEL: emb.vectors, **baselines}
        for name, feats in sets.items():
            for method, path in write_maps(feats, truth, out_dir, name, seed, tsne=tsne).items():
                figures.append((f"{method.upper()} map: {name}", path.name))
    result["attention"] = None
    if attention and emb.attention is not None:
        result["attention"] = _attention_section(
            emb,
            store,
            truth,
            out_dir,
            attention_mask,
            attention_k_sigma,
            n_attention_examples,
            figures,
            notes,
        )
    elif attention:
        notes.append("no attention.npy in the embeddings (not a ViT, or not saved)")
    result["report"] = {
        "dir": str(out_dir),
        "metrics": str(out_dir / "metrics.json"),
        "html": str(out_dir / "index.html"),
        "figures": [f for _, f in figures],
        "seconds": round(time.time() - t0, 2),
    }
    write_metrics(result, out_dir / "metrics.json")
    write_html(result, figures, out_dir / "index.html")
    return result


def _make_random_embeddings(meta, emb_dir, ds_path, out_dir, device, progress):
    checkpoint = meta.get("checkpoint")
    if not checkpoint:
        raise InputError(
            str(Path(emb_dir) / "meta.json"),
            "checkpoint",
            "not recorded; cannot make random-init embeddings.",
            "Pass --random EMB_DIR from `meersim embed --random-init`.",
        )
    try:
        from meersim.ssl.embed import embed
    except ImportError:
        raise InputError(
            "evaluation",
            "random_init",
            "meersim.ssl.embed is not available.",
            "Pass --random EMB_DIR.",
        ) from None
    target = Path(out_dir) / "random_init_embeddings"
    kwargs = {"random_init": True, "progress": progress}
    if meta.get("products"):
        kwargs["products"] = meta["products"]
    if device is not None:
        kwargs["device"] = device
    accepted = inspect.signature(embed).parameters
    if "random_init" not in accepted:
        raise InputError(
            "meersim.ssl.embed.embed",
            "random_init",
            "is not supported by this version.",
            "Pass --random EMB_DIR.",
        )
    embed(checkpoint, ds_path, target, **{k: v for k, v in kwargs.items() if k in accepted})
    return target


def _attention_section(emb, store, truth, out_dir, method, k_sigma, n_examples, figures, notes):
    from meersim.eval.attention import attention_overlap, plot_attention, plot_overlap, store_masks

    crop_ids = np.asarray(emb.crop_ids, dtype=np.int64)
    try:
        masks = store_masks(store, crop_ids, method=method, k_sigma=k_sigma)
    except InputError as exc:
        notes.append(f"attention overlap skipped: {exc}")
        return None
    att = np.asarray(emb.attention, dtype=np.float32)
    result = attention_overlap(att, masks)
    result.pop("overlap_per_crop")
    result["mask"] = {"method": method, "k_sigma": k_sigma if method == "sky" else None}
    figures.append(
        (
            "Attention on sources per head (vs chance)",
            plot_overlap(result, out_dir / "attention_overlap.png").name,
        )
    )
    product = (emb.meta or {}).get("products", ["restored"])[0]
    if product not in store.products:
        product = store.products[0]
    # examples: the crops with the most mask pixels (where overlap says most)
    order = np.argsort(-masks.sum(axis=(1, 2)))[:n_examples]
    for j in order:
        cid = int(crop_ids[j])
        image = np.asarray(store.array(product)[cid])
        title = f"crop {cid} ({product})"
        path = plot_attention(image, att[j], out_dir / f"attention_crop{cid}.png", masks[j], title)
        figures.append((f"Attention heads, crop {cid}", path.name))
    return result


# ----------------------------------------------------------------------------------
# writers
# ----------------------------------------------------------------------------------
def write_metrics(result: dict, path) -> Path:
    """Write the result (without predictions) as JSON; NaN/inf become null."""
    path = Path(path)
    clean = {k: v for k, v in result.items() if k != "predictions"}
    path.write_text(json.dumps(to_dict(clean, finite_only=True), indent=1))
    return path


def _fmt(value) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "&ndash;"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return f"{value:.4g}"


def write_html(result: dict, figures: list[tuple[str, str]], path) -> Path:
    """Self-contained HTML page: split, metrics table, notes, and the PNGs (relative <img>)."""
    sets = [s for s in FEATURE_SETS if s in result["dims"]] + [
        s for s in result["dims"] if s not in FEATURE_SETS
    ]
    rows = []
    for metric, values in result["metrics"].items():
        desc, unit, better = METRIC_INFO.get(metric, (metric, "", ""))
        cells = []
        finite = {s: v for s, v in values.items() if v is not None and math.isfinite(v)}
        best = None
        if better and finite:
            best = (min if better == "lower" else max)(finite, key=finite.get)
        for s in sets:
            text = _fmt(values.get(s))
            cells.append(f"<td><b>{text}</b></td>" if s == best else f"<td>{text}</td>")
        label = html.escape(
            desc + (f" [{unit}]" if unit else "") + (f" ({better} is better)" if better else "")
        )
        rows.append(f"<tr><th>{html.escape(metric)}</th><td>{label}</td>{''.join(cells)}</tr>")
    head = "".join(f"<th>{html.escape(s)} (D={result['dims'][s]})</th>" for s in sets)
    att = result.get("attention")
    att_html = ""
    if att:
        att_rows = "".join(
            f"<tr><td>{h}</td><td>{_fmt(o)}</td><td>{_fmt(lift)}</td></tr>"
            for h, (o, lift) in enumerate(zip(att["overlap"], att["lift"], strict=True))
        )
        att_html = (
            f"<h2>Attention on sources</h2><p>Mask: {html.escape(str(att['mask']))}; "
            f"{att['n_crops']} crops; chance level (mean mask area) {_fmt(att['chance'])}.</p>"
            f"<table><tr><th>head</th><th>share on sources</th><th>lift over chance</th></tr>{att_rows}</table>"
        )
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in result.get("notes", []))
    figs = "".join(
        f'<figure><img src="{html.escape(src)}" alt="{html.escape(title)}"><figcaption>{html.escape(title)}</figcaption></figure>'
        for title, src in figures
    )
    inputs = result.get("inputs", {})
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>meersim evaluation</title>
<style>
body {{ font-family: sans-serif; margin: 2em; max-width: 1400px; }}
table {{ border-collapse: collapse; margin: 1em 0; }}
td, th {{ border: 1px solid #ccc; padding: 3px 8px; font-size: 13px; text-align: left; }}
figure {{ margin: 1em 0; }} img {{ max-width: 100%; }}
figcaption {{ font-size: 12px; color: #555; }}
</style></head><body>
<h1>meersim evaluation</h1>
<p>Embeddings: <code>{html.escape(str(inputs.get("embeddings", "")))}</code>;
dataset: <code>{html.escape(str(inputs.get("dataset", "")))}</code>; {result["n_crops"]} crops.</p>
<p>Split: {html.escape(result["split"]["note"])}. Every feature set uses the same folds;
probe scores pool the out-of-fold predictions. Best value per row in bold.</p>
<table><tr><th>metric</th><th>meaning</th>{head}</tr>
{"".join(rows)}
</table>
{"<h2>Notes</h2><ul>" + notes + "</ul>" if notes else ""}
{att_html}
<h2>Figures</h2>
{figs}
</body></html>
"""
    path = Path(path)
    path.write_text(page)
    return path


def _plot_metric_bars(result: dict, out_dir: Path, dpi: int = 100) -> Path:
    """Grouped bars of the [0, 1]-scaled metrics per feature set (10 x 4 inches)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    names = [
        m
        for m in result["metrics"]
        if m.endswith(("_r2", "accuracy", "macro_f1")) or m.startswith("precision_at_k")
    ]
    sets = list(result["dims"])
    fig, ax = plt.subplots(figsize=(10, 4))
    width = 0.8 / max(1, len(sets))
    for i, s in enumerate(sets):
        vals = [result["metrics"][m].get(s) for m in names]
        vals = [np.nan if v is None else v for v in vals]
        ax.bar(np.arange(len(names)) + i * width, vals, width, label=s)
    ax.set_xticks(np.arange(len(names)) + 0.4 - width / 2)
    ax.set_xticklabels(names, rotation=25, ha="right", fontsize=7)
    ax.set_ylim(
        min(
            0.0,
            np.nanmin([[result["metrics"][m].get(s) or 0 for s in sets] for m in names] or [[0]]),
        ),
        1.0,
    )
    ax.axhline(0, color="k", lw=0.5)
    ax.legend(fontsize=7, frameon=False)
    fig.subplots_adjust(left=0.07, right=0.99, bottom=0.3, top=0.95)
    return save_figure(fig, out_dir / "metrics.png", dpi)


def _plot_count_scatter(result: dict, truth: Table, out_dir: Path, dpi: int = 100) -> Path:
    """Out-of-fold predicted versus true source count, one panel per feature set."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    y = np.asarray(truth["n_sources"], float)
    sets = list(result["predictions"])
    fig, axes = plt.subplots(1, len(sets), figsize=(3.2 * len(sets), 3.2), squeeze=False)
    hi = max(1.0, float(y.max()))
    for ax, s in zip(axes[0], sets, strict=True):
        ax.scatter(y, result["predictions"][s]["count"], s=5, alpha=0.6)
        ax.plot([0, hi], [0, hi], "k--", lw=0.7)
        r2 = result["metrics"]["count_r2"].get(s)
        ax.set_title(f"{s}: R2={_fmt(r2)}", fontsize=8)
        ax.set_xlabel("true count", fontsize=7)
        ax.set_ylabel("predicted", fontsize=7)
        ax.tick_params(labelsize=6)
    fig.subplots_adjust(left=0.1, right=0.98, bottom=0.16, top=0.88, wspace=0.35)
    return save_figure(fig, out_dir / "count_scatter.png", dpi)


__all__ = [
    "EvalConfig",
    "METRIC_INFO",
    "evaluate",
    "evaluate_features",
    "evaluate_run",
    "raw_pixel_pca",
    "block_average",
    "write_metrics",
    "write_html",
]
