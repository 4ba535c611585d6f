"""``meersim anomaly`` and the anomaly section of ``meersim eval``.

:func:`anomaly_section` scores every feature set (the model and its baselines) with
every scorer of :mod:`meersim.eval.anomaly`, runs the active-learning simulation of
:mod:`meersim.eval.active` and draws the figures; :func:`anomaly_run` is the whole
report (``anomaly.json``, ``scores.csv``, ``index.html``, PNGs).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from astropy.table import Table

from meersim.datasets.embeddings import check_pairing, load_embeddings
from meersim.datasets.store import open_store
from meersim.errors import InputError
from meersim.eval import pages
from meersim.eval.active import simulate
from meersim.eval.anomaly import SCORERS, anomaly_scores, config_of, evaluate_anomaly, rare_labels
from meersim.eval.baselines import (
    RANDOM,
    RAW,
    align_to,
    make_random_embeddings,
    raw_pixel_pca,
    truth_for,
)
from meersim.eval.pages import fmt
from meersim.eval.plotting import colour, display_stretch, new_figure, save_figure
from meersim.io import atomic_write, write_json

MODEL = "model"
REPORT_FILES = ("anomaly.json", "scores.csv", "index.html")


def anomaly_section(feature_sets: dict, truth: Table, out_dir, figures: list, *, store=None,
                    crop_ids=None, product: str | None = None, config=None,
                    seed: int = 0) -> dict | None:  # fmt: skip
    """Metrics, active-learning curves and figures for truth with rare labels (else None).

    ``figures`` gets (caption, file name) entries; ``store``/``crop_ids``/``product``
    draw the model's top-ranked crops.
    """
    labels = rare_labels(truth)
    if labels is None:
        return None
    cfg = config_of(config)
    out_dir = Path(out_dir)
    classes = (
        np.asarray(truth["rare_class"]).astype(str) if "rare_class" in truth.colnames else None
    )
    result = evaluate_anomaly(feature_sets, labels, cfg, seed, classes)
    top_k = int(cfg.top_counts[-1])
    result["active_learning"] = {
        name: simulate(feats, result["scores"][name][cfg.al_scorer], labels, batch=cfg.al_batch,
                       rounds=cfg.al_rounds, blend=cfg.al_blend, top_k=top_k, seed=seed)
        for name, feats in feature_sets.items()
    }  # fmt: skip
    figures.append(("Active learning: rare crops seen, and recall at the top", _plot_active(
        result["active_learning"], out_dir / "anomaly_active.png").name))  # fmt: skip
    if store is not None and product not in store.products:
        product = None
    if store is not None and MODEL in result["scores"]:
        score = result["scores"][MODEL][cfg.al_scorer]
        path = _plot_top(store, crop_ids, product, score, truth, out_dir / "anomaly_top.png")
        figures.append((f"Top 16 crops by the model's {cfg.al_scorer} score", path.name))
    return result


def anomaly_run(emb_dir, out_dir, *, dataset=None, random_emb_dir=None, make_random: bool = False,
                raw_product: str | None = None, raw_size: int = 32, config=None, seed: int = 0,
                overwrite: bool = False, device: str | None = None,
                progress: bool = True) -> dict:  # fmt: skip
    """Score the crops of an embeddings directory and, with rare labels in the truth,
    measure the scorers against them beside the random-init and raw-pixel baselines."""
    t0 = time.time()
    out_dir = Path(out_dir)
    taken = [name for name in REPORT_FILES if (out_dir / name).exists()]
    if taken and not overwrite:
        raise InputError(str(out_dir), taken[0], "exists: a report is already there.",
                         "Choose another -o, or pass --overwrite.")  # fmt: skip
    emb = load_embeddings(emb_dir)
    meta = dict(emb.meta or {})
    ds_path = dataset if dataset is not None else meta.get("dataset")
    if ds_path is None:
        raise InputError(str(Path(emb_dir) / "meta.json"), "dataset", "not recorded.",
                         "Pass --dataset DIR.")  # fmt: skip
    store = open_store(ds_path)
    check_pairing(emb, store, str(emb_dir))
    crop_ids = np.asarray(emb.crop_ids, dtype=np.int64)
    truth = truth_for(store, crop_ids)
    product = raw_product or (meta.get("products") or ["restored"])[0]
    out_dir.mkdir(parents=True, exist_ok=True)
    sets, notes = {MODEL: emb.vectors}, []
    if rare_labels(truth) is None:
        notes.append("the truth has no rare labels (has_rare / n_rare): scores only, no metrics")
    else:
        if random_emb_dir is None and make_random:
            random_emb_dir = make_random_embeddings(meta, emb_dir, ds_path, out_dir, device,
                                                    progress)  # fmt: skip
        if random_emb_dir is not None:
            other = load_embeddings(random_emb_dir)
            check_pairing(other, store, str(random_emb_dir))
            sets[RANDOM] = align_to(crop_ids, other.crop_ids, other.vectors, str(random_emb_dir))
        else:
            notes.append("no random-init embeddings (--random / --make-random): baseline missing")
        if product in store.products:
            sets[RAW] = raw_pixel_pca(store, crop_ids, product, emb.vectors.shape[1], raw_size,
                                      seed)  # fmt: skip
    figures: list = []
    section = anomaly_section(sets, truth, out_dir, figures, store=store, crop_ids=crop_ids,
                              product=product if product in store.products else None,
                              config=config, seed=seed)  # fmt: skip
    model_scores = (
        section["scores"][MODEL] if section else anomaly_scores(emb.vectors, config, seed)
    )
    scores_path = write_scores(out_dir / "scores.csv", crop_ids, model_scores, truth)
    result = {
        "n_crops": len(crop_ids), "notes": notes, "anomaly": section,
        "inputs": {"embeddings": str(emb_dir), "dataset": str(ds_path),
                   "random_init_embeddings": None if random_emb_dir is None else str(random_emb_dir),
                   "raw_pca": {"product": product, "size": raw_size}},
        "report": {"dir": str(out_dir), "scores": str(scores_path),
                   "html": str(out_dir / "index.html"), "json": str(out_dir / "anomaly.json")},
    }  # fmt: skip
    result["report"]["seconds"] = round(time.time() - t0, 2)
    write_json(out_dir / "anomaly.json", without_scores(result))
    body = f"<p>Embeddings: <code>{pages.esc(emb_dir)}</code>; {len(crop_ids)} crops.</p>"
    body += section_html(section) if section else ""
    if notes:
        body += "<h2>Notes</h2>" + pages.bullet_list(notes)
    body += "<h2>Figures</h2>" + pages.figures(figures)
    pages.write_page(out_dir / "index.html", "meersim anomaly report", body, max_width_px=1200)
    return result


def without_scores(result: dict) -> dict:
    """The result for JSON: per-crop score arrays dropped."""
    out = dict(result)
    if out.get("anomaly"):
        out["anomaly"] = {k: v for k, v in out["anomaly"].items() if k != "scores"}
    return out


def write_scores(path, crop_ids, scores: dict, truth: Table) -> Path:
    """``scores.csv``: crop_id, one column per scorer and, where known, the rare truth."""
    table = Table()
    table["crop_id"] = np.asarray(crop_ids, dtype=np.int64)
    for name in SCORERS:
        table[name] = np.asarray(scores[name], dtype=np.float64)
    for col in ("has_rare", "n_rare", "rare_class"):
        if col in truth.colnames:
            table[col] = np.asarray(truth[col])
    with atomic_write(path, "w") as fh:
        table.write(fh, format="ascii.csv")
    return Path(path)


def section_html(section: dict) -> str:
    """The metrics table, per-class recall and the active-learning summary as HTML."""
    sets = list(section["metrics"][SCORERS[0]])
    first = section["metrics"][SCORERS[0]][sets[0]]
    names = [m for m in first if m not in ("n", "n_rare", "prevalence")]
    rows = []
    for scorer in SCORERS:
        for metric in names:
            values = [section["metrics"][scorer][s].get(metric) for s in sets]
            finite = [v for v in values if v is not None and np.isfinite(v)]
            best = max(finite) if finite else None
            cells = [f"<b>{fmt(v)}</b>" if v == best else fmt(v) for v in values]
            rows.append([scorer, metric, *cells])
    html = (f"<h2>Anomalies: injected rarities</h2><p>{first['n_rare']} of {first['n']} crops "
            "hold a rarity (truth column <code>has_rare</code>). AUROC and average precision "
            "of each score; recall = share of those crops among the top-ranked ones.</p>"
            + pages.table(["scorer", "metric", *sets], rows))  # fmt: skip
    al_rows = []
    for name, curve in section["active_learning"].items():
        n = curve["n_labelled"][-1]
        al_rows.append([name, str(n), f"{curve['found'][-1]} vs {curve['found_static'][-1]}",
                        fmt(curve["static_recall_at_k"]), fmt(curve["recall_at_k"][-1]),
                        str(curve["labels_to_lift"])])  # fmt: skip
    k = next(iter(section["active_learning"].values()))["top_k"]
    html += ("<h3>Active learning (truth as the user)</h3>" + pages.table(
        ["features", "labels", "rare seen: active vs static", f"recall@{k} static",
         f"recall@{k} after", "labels to lift +0.1"], al_rows))  # fmt: skip
    return html


def _plot_active(curves: dict, path, dpi: int = 100) -> Path:
    fig, axes = new_figure((9, 3.4), 1, 2)
    for i, (name, c) in enumerate(curves.items()):
        col = colour("tab10", i)
        axes[0, 0].plot(c["n_labelled"], c["found"], "-o", ms=3, color=col, label=f"{name} active")
        axes[0, 0].plot(c["n_labelled"], c["found_static"], "--", color=col, label=f"{name} static")
        axes[0, 1].plot(c["n_labelled"], c["recall_at_k"], "-o", ms=3, color=col, label=name)
        axes[0, 1].axhline(c["static_recall_at_k"], ls="--", color=col, lw=0.8)
    axes[0, 0].set_xlabel("crops labelled", fontsize=8)
    axes[0, 0].set_ylabel("rare crops seen", fontsize=8)
    axes[0, 1].set_xlabel("crops labelled", fontsize=8)
    axes[0, 1].set_ylabel(f"recall at top {c['top_k']}", fontsize=8)
    for ax in axes[0]:
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=6, frameon=False)
    fig.subplots_adjust(left=0.08, right=0.98, bottom=0.15, top=0.95, wspace=0.3)
    return save_figure(fig, path, dpi)


def _plot_top(store, crop_ids, product, score, truth, path, n: int = 16, dpi: int = 80) -> Path:
    order = np.argsort(-np.asarray(score), kind="stable")[:n]
    fig, axes = new_figure((12, 2.2 * int(np.ceil(len(order) / 6))),
                           int(np.ceil(len(order) / 6)), 6)  # fmt: skip
    for ax in axes.ravel():
        ax.axis("off")
    cls = np.asarray(truth["rare_class"]).astype(str) if "rare_class" in truth.colnames else None
    for ax, j in zip(axes.ravel(), order, strict=False):
        cid = int(crop_ids[j])
        if product is not None:
            ax.imshow(display_stretch(store.array(product)[cid]), origin="lower", cmap="inferno")
        label = cls[j] if cls is not None else ""
        ax.set_title(
            f"#{cid} {label}", fontsize=8, color="C3" if label not in ("", "none") else "k"
        )
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=0.93, wspace=0.05, hspace=0.2)
    return save_figure(fig, path, dpi)
