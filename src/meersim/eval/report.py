"""The report behind ``meersim eval``: metrics against truth and baselines, maps,
attention, ``metrics.json`` and ``index.html``.

Stages of :func:`evaluate_run`: read the embeddings and their dataset's truth;
build the baselines (:mod:`meersim.eval.baselines`); evaluate every feature set on
the same folds (:func:`meersim.eval.metrics.evaluate`); draw the figures; write
the report.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.table import Table

from meersim.datasets.embeddings import Embeddings, check_pairing, load_embeddings
from meersim.datasets.store import CropStore, open_store
from meersim.errors import InputError
from meersim.eval import pages
from meersim.eval.anomaly_report import anomaly_section, without_scores
from meersim.eval.anomaly_report import section_html as anomaly_html
from meersim.eval.attention import attention_overlap, plot_attention, plot_overlap, store_masks
from meersim.eval.baselines import (
    RANDOM,
    RAW,
    align_to,
    make_random_embeddings,
    raw_pixel_pca,
    truth_for,
)
from meersim.eval.maps import map_structure, pca_2d, write_maps
from meersim.eval.metrics import FEATURE_SETS, METRIC_INFO, MODEL, EvalConfig, evaluate
from meersim.eval.pages import fmt, fmt_pm
from meersim.eval.plotting import new_figure, save_figure
from meersim.io import make_dirs, write_json

PRETRAINED = "pretrained"


@dataclass
class _Inputs:
    emb_dir: Path
    emb: Embeddings
    meta: dict
    ds_path: str
    store: CropStore
    crop_ids: np.ndarray
    truth: Table


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
    labels=(),
    baseline=None,
    baseline_backbone: str | None = None,
    baseline_size: int = 224,
    anomaly_config=None,
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
    labels : truth columns to probe too (``COL``, ``COL:cat``, ``COL:num``)
    baseline : a pretrained checkpoint (seed-study / DINO ImageNet weights or a meersim
        checkpoint) embedded into ``out_dir/pretrained_embeddings`` as feature set
        ``pretrained``; baseline_backbone, baseline_size: its architecture (None: from
        the weights) and input side in pixels
    anomaly_config : :class:`meersim.eval.anomaly.AnomalyConfig` (or its keys) of the
        anomaly section, written when the truth has rare labels (``has_rare``)

    Returns the result of :func:`evaluate` plus ``report`` (paths) and ``attention``.
    """
    t0 = time.time()
    out_dir = Path(out_dir)
    if int(raw_size) < 1:
        raise InputError("eval", "raw_size", f"must be >= 1 pixel, got {raw_size}.")
    inputs = _read_inputs(emb_dir, dataset)
    make_dirs(out_dir)
    if random_emb_dir is None and make_random:
        random_emb_dir = make_random_embeddings(inputs.meta, inputs.emb_dir, inputs.ds_path,
                                                out_dir, device, progress)  # fmt: skip
    baselines, notes = _baselines(inputs, random_emb_dir, raw_product, raw_size, seed)
    if baseline is not None:
        baselines[PRETRAINED] = _pretrained(inputs, baseline, baseline_backbone, baseline_size,
                                            out_dir, device, progress)  # fmt: skip
    result = evaluate(inputs.emb.vectors, inputs.truth, baselines, seed=seed, config=config,
                      progress=progress, labels=labels)  # fmt: skip
    result["notes"] = notes + result["notes"]
    if "n_sources" in inputs.truth.colnames:
        counts = np.asarray(inputs.truth["n_sources"], dtype=np.float64)
        sets = {MODEL: inputs.emb.vectors, **baselines}
        result["metrics"]["pca_map_count_structure"] = {
            name: map_structure(pca_2d(feats, seed), counts) for name, feats in sets.items()
        }
    result["inputs"] = {
        "embeddings": str(inputs.emb_dir),
        "dataset": str(inputs.ds_path),
        "random_init_embeddings": None if random_emb_dir is None else str(random_emb_dir),
        "pretrained": None if baseline is None else str(baseline),
        "raw_pca": {"product": _raw_product(inputs, raw_product), "size": raw_size},
        "meta": inputs.meta,
    }
    figures = _figures(result, inputs, baselines, out_dir, seed, maps, tsne)
    section = anomaly_section({MODEL: inputs.emb.vectors, **baselines}, inputs.truth, out_dir,
                              figures, store=inputs.store, crop_ids=inputs.crop_ids,
                              product=_raw_product(inputs, raw_product), config=anomaly_config,
                              seed=seed)  # fmt: skip
    result["anomaly"] = without_scores({"anomaly": section})["anomaly"]
    result["attention"] = None
    if attention and inputs.emb.attention is not None:
        result["attention"] = _attention_section(
            inputs.emb, inputs.store, inputs.truth, out_dir, attention_mask, attention_k_sigma,
            n_attention_examples, figures, notes,
        )  # fmt: skip
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


def _read_inputs(emb_dir, dataset) -> _Inputs:
    """The embeddings, their dataset store and the truth rows in embedding order."""
    emb_dir = Path(emb_dir)
    emb = load_embeddings(emb_dir)
    meta = dict(emb.meta or {})
    ds_path = dataset if dataset is not None else meta.get("dataset")
    if ds_path is None:
        raise InputError(
            str(emb_dir / "meta.json"), "dataset", "not recorded.", "Pass --dataset DIR."
        )
    store = open_store(ds_path)
    check_pairing(emb, store, str(emb_dir))  # refuses another dataset's or reordered ids
    crop_ids = np.asarray(emb.crop_ids, dtype=np.int64)
    return _Inputs(emb_dir, emb, meta, ds_path, store, crop_ids, truth_for(store, crop_ids))


def _raw_product(inputs: _Inputs, raw_product: str | None) -> str:
    products = inputs.meta.get("products") or []
    return raw_product or (products[0] if products else "restored")


def _baselines(inputs: _Inputs, random_emb_dir, raw_product, raw_size: int, seed: int):
    """The random-init and raw-pixel PCA features, aligned to the model's rows, and notes."""
    baselines: dict[str, np.ndarray] = {}
    notes = []
    if random_emb_dir is not None:
        remb = load_embeddings(random_emb_dir)
        check_pairing(remb, inputs.store, str(random_emb_dir))
        baselines[RANDOM] = align_to(inputs.crop_ids, remb.crop_ids, remb.vectors,
                                     str(random_emb_dir))  # fmt: skip
    else:
        notes.append("no random-init embeddings given: random_init baseline missing")
    product = _raw_product(inputs, raw_product)
    if product in inputs.store.products:
        baselines[RAW] = raw_pixel_pca(inputs.store, inputs.crop_ids, product,
                                       inputs.emb.vectors.shape[1], raw_size, seed)  # fmt: skip
    else:
        notes.append(f"product {product!r} not in the dataset: raw_pca baseline missing")
    return baselines, notes


def _pretrained(inputs: _Inputs, checkpoint, backbone, size, out_dir, device, progress):
    """Features of the pretrained-checkpoint baseline, in the model's row order."""
    from meersim.ssl.pretrained import embed_pretrained

    target = embed_pretrained(checkpoint, inputs.ds_path, Path(out_dir) / "pretrained_embeddings",
                              backbone=backbone, img_size=size,
                              product=_raw_product(inputs, None), device=device,
                              progress=progress)  # fmt: skip
    emb = load_embeddings(target)
    return align_to(inputs.crop_ids, emb.crop_ids, emb.vectors, str(target))


def _figures(result, inputs: _Inputs, baselines, out_dir: Path, seed, maps, tsne) -> list:
    """(caption, file name) of the metric bars, the count scatter and the maps."""
    figures = [("Metrics versus baselines", _plot_metric_bars(result, out_dir).name)]
    if "count" in result["predictions"][MODEL]:
        path = _plot_count_scatter(result, inputs.truth, out_dir)
        figures.append(("Source count: probe prediction vs truth", path.name))
    if maps:
        for name, feats in {MODEL: inputs.emb.vectors, **baselines}.items():
            for method, path in write_maps(feats, inputs.truth, out_dir, name, seed,
                                           tsne=tsne).items():  # fmt: skip
                figures.append((f"{method.upper()} map: {name}", path.name))
    return figures


def _attention_section(emb, store, truth, out_dir, method, k_sigma, n_examples, figures, notes):
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
    return write_json(path, {k: v for k, v in result.items() if k != "predictions"})


def write_html(result: dict, figures: list[tuple[str, str]], path) -> Path:
    """Self-contained HTML page: split, metrics table, notes, and the PNGs (relative <img>)."""
    sets = [s for s in FEATURE_SETS if s in result["dims"]] + [
        s for s in result["dims"] if s not in FEATURE_SETS
    ]
    rows = []
    spread = result.get("spread", {})
    floor = result.get("mean_predictor", {})
    for metric, values in result["metrics"].items():
        desc, unit, better = METRIC_INFO.get(metric, (metric, "", ""))
        finite = {s: v for s, v in values.items() if v is not None and np.isfinite(v)}
        best = None
        if better and finite:
            best = (min if better == "lower" else max)(finite, key=finite.get)
        label = desc + (f" [{unit}]" if unit else "") + (f" ({better} is better)" if better else "")
        spreads = spread.get(metric, {})
        cells = [fmt_pm(values.get(s), spreads.get(s)) for s in sets]
        cells = [f"<b>{c}</b>" if s == best else c for s, c in zip(sets, cells, strict=True)]
        rows.append([pages.esc(metric), pages.esc(label), *cells, fmt(floor.get(metric))])
    header = ["metric", "meaning", *(f"{s} (D={result['dims'][s]})" for s in sets),
              "training mean"]  # fmt: skip
    inputs = result.get("inputs", {})
    body = (
        f"<p>Embeddings: <code>{pages.esc(inputs.get('embeddings', ''))}</code>; dataset: "
        f"<code>{pages.esc(inputs.get('dataset', ''))}</code>; {result['n_crops']} crops.</p>"
        f"<p>Split: {pages.esc(result['split']['note'])}. Every feature set uses the same folds; "
        "probe and kNN scores are means over the folds &plusmn; their standard deviation over "
        "folds; 'training mean' scores predicting each fold's training mean. Best value per "
        "row in bold.</p>" + pages.table(header, rows)
    )
    if result.get("notes"):
        body += "<h2>Notes</h2>" + pages.bullet_list(result["notes"])
    att = result.get("attention")
    if att:
        att_rows = [[str(h), fmt(o), fmt(lift)]
                    for h, (o, lift) in enumerate(zip(att["overlap"], att["lift"], strict=True))]  # fmt: skip
        body += (
            f"<h2>Attention on sources</h2><p>Mask: {pages.esc(att['mask'])}; {att['n_crops']} "
            f"crops; chance level (mean mask area) {fmt(att['chance'])}.</p>"
            + pages.table(["head", "share on sources", "lift over chance"], att_rows)
        )
    if result.get("anomaly"):
        body += anomaly_html(result["anomaly"])
    body += "<h2>Figures</h2>" + pages.figures(figures)
    return pages.write_page(path, "meersim evaluation", body, max_width_px=1400)


def _plot_metric_bars(result: dict, out_dir: Path, dpi: int = 100) -> Path:
    """Grouped bars of the [0, 1]-scaled metrics per feature set (10 x 4 inches)."""
    names = [
        m
        for m in result["metrics"]
        if m.endswith(("_r2", "accuracy", "macro_f1")) or m.startswith("precision_at_k")
    ]
    sets = list(result["dims"])
    fig, ax = new_figure((10, 4), squeeze=True)
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
    y = np.asarray(truth["n_sources"], float)
    sets = list(result["predictions"])
    fig, axes = new_figure((3.2 * len(sets), 3.2), 1, len(sets))
    hi = max(1.0, float(y.max()))
    for ax, s in zip(axes[0], sets, strict=True):
        ax.scatter(y, result["predictions"][s]["count"], s=5, alpha=0.6)
        ax.plot([0, hi], [0, hi], "k--", lw=0.7)
        r2 = result["metrics"]["count_r2"].get(s)
        ax.set_title(f"{s}: R2={fmt(r2)}", fontsize=8)
        ax.set_xlabel("true count", fontsize=7)
        ax.set_ylabel("predicted", fontsize=7)
        ax.tick_params(labelsize=6)
    fig.subplots_adjust(left=0.1, right=0.98, bottom=0.16, top=0.88, wspace=0.35)
    return save_figure(fig, out_dir / "count_scatter.png", dpi)
