"""``meersim eval``, ``meersim search`` and ``meersim anomaly``."""

from __future__ import annotations

import click

from meersim.cli.options import (
    argument_default,
    config_option,
    device_option,
    output_option,
    overwrite_option,
    progress_option,
    seed_option,
)
from meersim.config import load_yaml
from meersim.eval.anomaly_report import anomaly_run
from meersim.eval.report import evaluate_run
from meersim.eval.search import search_run

SUMMARY_METRICS = (
    "count_mse",
    "count_r2",
    "detected_count_mse",
    "detected_count_r2",
    "log_flux_r2",
    "log_rms_r2",
    "class_accuracy",
    "class_macro_f1",
    "knn_class_accuracy",
    "precision_at_k_class",
    "precision_at_k_count",
    "pca_components_99",
    "pca_map_count_structure",
)


def _dataset_option():
    return click.option("--dataset", type=click.Path(exists=True, file_okay=False), default=None,
                        help="Dataset store (default: the one named in EMB_DIR/meta.json).")  # fmt: skip


@click.command("eval")
@click.argument("emb_dir", type=click.Path(exists=True, file_okay=False))
@output_option("dir", help="Report directory (metrics.json, index.html, PNGs).")
@_dataset_option()
@click.option("--random", "random_dir", type=click.Path(exists=True, file_okay=False), default=None,
              help="Embeddings of the same backbone with random weights (`meersim embed --random-init`).")  # fmt: skip
@click.option("--make-random", is_flag=True,
              help="Without --random: embed the dataset with random weights now (needs the "
              "checkpoint in meta.json).")  # fmt: skip
@click.option("--raw-product", default=None,
              help="Product for the raw-pixel PCA baseline (default: the embedded product).")  # fmt: skip
@click.option("--raw-size", type=click.IntRange(min=1), show_default=True,
              default=argument_default(evaluate_run, "raw_size"),
              help="Raw-pixel baseline: crops block-averaged to this many pixels a side.")  # fmt: skip
@config_option("YAML of evaluation settings (keys of meersim.eval.EvalConfig, see docs/eval.md).")
@click.option("--attention-mask", type=click.Choice(["sky", "catalog"]), show_default=True,
              default=argument_default(evaluate_run, "attention_mask"),
              help="Source mask for the attention overlap: sky > 3 rms, or catalog positions "
              "dilated by the beam.")  # fmt: skip
@click.option("--no-tsne", is_flag=True, help="Skip the t-SNE maps (slow on large sets).")
@click.option("--label", "labels", multiple=True,
              help="Truth column to probe (repeatable): text -> logistic + kNN, numbers -> "
              "ridge + kNN regression; COL:cat / COL:num force the type.")  # fmt: skip
@click.option("--baseline", type=click.Path(exists=True), default=None,
              help="Pretrained checkpoint embedded as baseline 'pretrained' (seed-study or "
              "DINO ImageNet weights, or a meersim checkpoint).")  # fmt: skip
@click.option("--baseline-backbone", default=None,
              help="Backbone of --baseline (default: read from its weights).")  # fmt: skip
@click.option("--baseline-size", type=click.IntRange(min=8), show_default=True,
              default=argument_default(evaluate_run, "baseline_size"),
              help="Input side (pixels) of the --baseline backbone.")  # fmt: skip
@seed_option(argument_default(evaluate_run, "seed"), help="Seed of folds, PCA and t-SNE.")
@device_option()
@progress_option()
def eval_cmd(emb_dir, output, dataset, random_dir, make_random, raw_product, raw_size,
             config_path, attention_mask, no_tsne, labels, baseline, baseline_backbone,
             baseline_size, seed, device, progress):  # fmt: skip
    """Probe, kNN and search metrics of EMB_DIR against truth, beside two baselines."""
    config = load_yaml(config_path) if config_path else None
    result = evaluate_run(
        emb_dir, output, dataset=dataset, random_emb_dir=random_dir, make_random=make_random,
        raw_product=raw_product, raw_size=raw_size, config=config, seed=seed, tsne=not no_tsne,
        attention_mask=attention_mask, device=device, progress=progress, labels=labels,
        baseline=baseline, baseline_backbone=baseline_backbone, baseline_size=baseline_size,
    )  # fmt: skip
    sets = list(result["dims"])
    click.echo(f"{result['n_crops']} crops; split: {result['split']['note']}")
    click.echo(f"{'metric':24s}" + "".join(f"{s:>17s}" for s in sets))
    label_metrics = [m for m in result["metrics"] if ":" in m and not m.endswith(":n_test")]
    for metric in (*SUMMARY_METRICS, *label_metrics):
        values = result["metrics"].get(metric)
        if values is None:
            continue
        spread = result.get("spread", {}).get(metric, {})
        click.echo(f"{metric:24s}" + "".join(f"{_cell(values.get(s), spread.get(s)):>17s}"
                                             for s in sets))  # fmt: skip
    att = result.get("attention")
    if att and att.get("chance") is not None:
        shares = ", ".join(f"{v:.2f}" for v in att["overlap"])
        click.echo(f"attention on sources per head: {shares} (chance {att['chance']:.2f})")
    for scorer, per_set in (result.get("anomaly") or {}).get("metrics", {}).items():
        click.echo(f"anomaly {scorer}: AUROC " + ", ".join(
            f"{s} {v['auroc']:.3f}" for s, v in per_set.items()))  # fmt: skip
    for note in result["notes"]:
        click.echo(f"note: {note}")
    click.echo(f"report: {result['report']['html']}  metrics: {result['report']['metrics']}")


def _cell(value, spread) -> str:
    """``0.621±0.048`` (mean ± spread over folds), ``0.621`` without spread, ``-`` if missing."""
    if value is None or value != value:
        return "-"
    if spread is None or spread != spread:
        return f"{value:.4g}"
    return f"{value:.3g}±{spread:.2g}"


@click.command("search")
@click.argument("emb_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--query", required=True,
              help="Crop id, or a FITS image (embedded with the checkpoint in meta.json).")  # fmt: skip
@click.option("-k", "k", type=click.IntRange(min=1), show_default=True,
              default=argument_default(search_run, "k"), help="Neighbours to return.")  # fmt: skip
@output_option("file", required=False, help="PNG of the query and its neighbours.")
@_dataset_option()
@click.option("--label", show_default=True, default=argument_default(search_run, "label"),
              help="Truth column that defines a relevant neighbour (n_sources is binned).")  # fmt: skip
@click.option("--index", "kind", type=click.Choice(["flat", "ivf"]), show_default=True,
              default=argument_default(search_run, "kind"),
              help="FAISS index: exact flat, or IVF for large sets.")  # fmt: skip
@click.option("--nlist", type=click.IntRange(min=1), default=None,
              help="IVF cells (default ~4 sqrt(N)).")  # fmt: skip
@click.option("--nprobe", type=click.IntRange(min=1), show_default=True,
              default=argument_default(search_run, "nprobe"), help="IVF cells searched per query.")  # fmt: skip
@device_option()
def search(emb_dir, query, k, output, dataset, label, kind, nlist, nprobe, device):
    """Nearest crops (cosine) to a crop or a FITS image."""
    out = search_run(emb_dir, query, k, output, dataset=dataset, label=label, kind=kind,
                     nlist=nlist, nprobe=nprobe, device=device)  # fmt: skip
    labels = out["labels"] or [""] * len(out["crop_ids"])
    click.echo(f"query {out['query']}: {len(out['crop_ids'])} neighbours")
    for cid, sim, lab in zip(out["crop_ids"], out["similarity"], labels, strict=True):
        click.echo(f"  crop {cid:6d}  cos {sim:.4f}  {lab}")
    if out["precision_at_k"] is not None:
        click.echo(f"precision@{k} ({label}): {out['precision_at_k']:.3f}")
    if out["grid"]:
        click.echo(f"grid: {out['grid']}")


@click.command("anomaly")
@click.argument("emb_dir", type=click.Path(exists=True, file_okay=False))
@output_option("dir", help="Report directory (anomaly.json, scores.csv, index.html, PNGs).")
@_dataset_option()
@click.option("--random", "random_dir", type=click.Path(exists=True, file_okay=False), default=None,
              help="Embeddings of the same backbone with random weights (`meersim embed --random-init`).")  # fmt: skip
@click.option("--make-random", is_flag=True,
              help="Without --random: embed the dataset with random weights now (needs the "
              "checkpoint in meta.json).")  # fmt: skip
@click.option("--raw-product", default=None,
              help="Product for the raw-pixel PCA baseline (default: the embedded product).")  # fmt: skip
@config_option("YAML of anomaly settings (keys of meersim.eval.anomaly.AnomalyConfig).")
@seed_option(argument_default(anomaly_run, "seed"), help="Seed of the scorers and the loop.")
@overwrite_option("Replace the report files already in OUTPUT.")
@device_option()
@progress_option()
def anomaly(emb_dir, output, dataset, random_dir, make_random, raw_product, config_path, seed,
            overwrite, device, progress):  # fmt: skip
    """Anomaly scores (kNN distance, isolation forest, PCA error) of EMB_DIR's crops, scored
    against the injected rarities of the truth, with an active-learning simulation."""
    config = load_yaml(config_path) if config_path else None
    result = anomaly_run(
        emb_dir, output, dataset=dataset, random_emb_dir=random_dir, make_random=make_random,
        raw_product=raw_product, config=config, seed=seed, overwrite=overwrite, device=device,
        progress=progress,
    )  # fmt: skip
    section = result["anomaly"]
    click.echo(f"{result['n_crops']} crops")
    if section:
        sets = list(section["scores"])
        click.echo(f"{'scorer':9s}{'metric':20s}" + "".join(f"{s:>13s}" for s in sets))
        for scorer, per_set in section["metrics"].items():
            for metric in ("auroc", "average_precision", "recall_at_50", "recall_at_100"):
                cells = "".join(f"{per_set[s].get(metric, float('nan')):13.3f}" for s in sets)
                click.echo(f"{scorer:9s}{metric:20s}{cells}")
        for name, curve in section["active_learning"].items():
            click.echo(f"active learning ({name}): {curve['n_labelled'][-1]} labels, rare seen "
                       f"{curve['found'][-1]} (static {curve['found_static'][-1]}); "
                       f"recall@{curve['top_k']} {curve['static_recall_at_k']:.3f} -> "
                       f"{curve['recall_at_k'][-1]:.3f}; labels to lift: {curve['labels_to_lift']}")  # fmt: skip
    for note in result["notes"]:
        click.echo(f"note: {note}")
    click.echo(f"report: {result['report']['html']}  scores: {result['report']['scores']}")
