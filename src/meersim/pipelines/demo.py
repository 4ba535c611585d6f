"""``meersim demo``: the whole chain on a laptop, from a synthetic catalog to a report.

Steps (each skipped when its output exists, so a re-run resumes):

1. dataset: MGCLS-like synthetic catalogs (cluster-field counts of
   :func:`meersim.catalogs.synthesize`, ``survey=mgcls``) rendered into small fields,
   observed in image mode (PSF + coloured noise), CLEANed and cut into source-rich
   crops; the noise rms is drawn per field (log-uniform), so fields differ in sensitivity.
2. train: SimCLR on a small ResNet (the regime of docs/train.md's study) on the restored crops.
3. embed: the trained backbone, and the same backbone with random weights.
4. evaluate: probes, kNN, search, maps against the truth, with the random-weight and
   raw-pixel PCA baselines (:func:`meersim.eval.metrics.evaluate_run`).
5. sweep: the dataset rebuilt at two noise levels, embedded with the trained model
   (both normalisations), to measure nuisance leakage (:mod:`meersim.pipelines.sweep`).
6. report: ``index.html`` linking both reports, and ``summary.json`` with the headline numbers.
"""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path

import numpy as np

from meersim.config import from_dict
from meersim.datasets.build import build_dataset
from meersim.datasets.config import DatasetConfig
from meersim.datasets.store import open_store
from meersim.eval import pages
from meersim.eval.report import evaluate_run
from meersim.io import make_dirs, write_json
from meersim.pipelines.sweep import SweepConfig, run_sweep
from meersim.ssl.embed import embed
from meersim.ssl.methods.base import COLLAPSE_RANK_FLOOR, COLLAPSE_STD_FLOOR
from meersim.ssl.train import TrainConfig, train

# demo sizes: full (under 10 minutes on 2 CPU cores) and quick (tests, well under a minute)
SIZES = {
    "full": {
        "n_fields": 12, "npix": 256, "crop": 64, "stride": 32, "epochs": 40, "batch": 64,
        "sweep_fields": 4, "sweep_npix": 192, "niter": 5000,
    },
    "quick": {
        "n_fields": 3, "npix": 128, "crop": 32, "stride": 32, "epochs": 1, "batch": 16,
        "sweep_fields": 2, "sweep_npix": 96, "niter": 200,
    },
}  # fmt: skip
# MGCLS: ~8" beam, rms 3-5 uJy/beam (Knowles et al. 2022, A&A 657, A56); here 3" pixels
# (a ~7" Briggs-0 beam) and 1.5-3 uJy/beam so that every source drawn is well above the noise
NOISE_RANGE_JY = (1.5e-6, 3.0e-6)
SWEEP_NOISE_JY = [1.5e-6, 6.0e-6]


def demo_dataset_mapping(size: dict, seed: int) -> dict:
    """The demo's dataset config (a DatasetConfig mapping)."""
    return {
        "n_fields": size["n_fields"],
        "seed": int(seed),
        "mode": "image",
        "field": {
            "survey": "mgcls",
            "npix": size["npix"],
            "cell_arcsec": 3.0,
            "ra_deg": {"uniform": [0.0, 360.0]},
            "dec_deg": {"uniform": [-70.0, -25.0]},
            "flux_min_jy": 5.0e-5,  # >= 17 sigma: every source a crop holds can be seen
            "flux_max_jy": 0.05,
            "margin_arcsec": 30.0,
        },
        "observation": {"hours": 8.0, "dump_s": 600.0, "nchan": 2},
        "weighting": {"scheme": "briggs", "robust": 0.0},
        "noise_rms_jy": {"loguniform": list(NOISE_RANGE_JY)},
        "clean": {"niter": size["niter"], "threshold_sigma": 3.0},
        "products": ["sky", "restored", "residual"],
        "crops": {"size": size["crop"], "stride": size["stride"], "psf_size": 32},
    }


def demo_train_mapping(size: dict, seed: int, data: str, device: str | None) -> dict:
    """The demo's TrainConfig mapping: SimCLR on ``resnet10_w16``, fixed epochs, fp32."""
    return {
        "data": data,
        "method": "simclr",
        "products": ["restored"],
        "backbone": "resnet10_w16",
        "drop_path_rate": 0.0,
        "epochs": size["epochs"],
        "batch_size": size["batch"],
        "lr": 2e-3,  # at batch 256; scaled by batch / 256
        "warmup_epochs": min(2, size["epochs"] - 1),
        "weight_decay": 1e-4,
        "weight_decay_end": 1e-4,
        "temperature": 0.2,
        "seed": int(seed),
        "device": device or "auto",
        "num_workers": 0,
        "amp": "off",
        "augment": {"global_scale": [0.7, 1.0], "p_psf": 0.0},
    }


def _header(step: int, title: str, progress: bool) -> float:
    if progress:
        print(f"\n=== [{step}/6] {title} ===", flush=True)
    return time.time()


def run_demo(out_dir="demo", quick: bool = False, seed: int = 0, device: str | None = None,
             progress: bool = True) -> Path:  # fmt: skip
    """Run (or resume) the demo in ``out_dir``; returns the path of its ``index.html``."""
    out = Path(out_dir)
    make_dirs(out)
    size = SIZES["quick" if quick else "full"]
    timings: dict[str, float] = {}
    t_all = time.time()

    t = _header(1, "dataset: synthetic MGCLS-like fields -> crops + truth", progress)
    ds_mapping = demo_dataset_mapping(size, seed)
    ds_path = out / "dataset"
    store = build_dataset(
        from_dict(DatasetConfig, ds_mapping, "demo dataset"), ds_path, progress=progress
    )
    timings["dataset"] = time.time() - t
    if progress:
        print(
            f"{store.n_crops} crops of {size['crop']} px from {size['n_fields']} fields", flush=True
        )

    t = _header(2, "train: SimCLR, small ResNet", progress)
    run_dir = out / "train"
    tcfg = from_dict(
        TrainConfig, demo_train_mapping(size, seed, str(ds_path), device), "demo train"
    )
    again = (Path(run_dir) / "checkpoint.pth").is_file()  # the demo owns run_dir
    checkpoint = train(tcfg, run_dir, resume=again, overwrite=not again, progress=progress)
    timings["train"] = time.time() - t

    t = _header(3, "embed: trained backbone and random-weight baseline", progress)
    emb_dir, rnd_dir = out / "embeddings", out / "embeddings_random"
    if not (emb_dir / "meta.json").exists():
        attention = tcfg.backbone.startswith("vit")  # attention maps exist for ViTs only
        embed(checkpoint, ds_path, emb_dir, attention=attention, device=device, progress=progress)
    if not (rnd_dir / "meta.json").exists():
        embed(checkpoint, ds_path, rnd_dir, random_init=True, device=device, progress=progress)
    timings["embed"] = time.time() - t

    t = _header(4, "evaluate: probes, kNN, search, maps vs truth", progress)
    eval_dir = out / "eval"
    if not (eval_dir / "metrics.json").exists():
        evaluate_run(emb_dir, eval_dir, random_emb_dir=rnd_dir, seed=seed, tsne=not quick,
                     device=device, progress=progress)  # fmt: skip
    metrics = json.loads((eval_dir / "metrics.json").read_text())
    timings["evaluate"] = time.time() - t

    t = _header(5, "sweep: two noise levels, same skies, trained model", progress)
    sweep_ds = dict(ds_mapping, n_fields=size["sweep_fields"], noise_rms_jy=SWEEP_NOISE_JY[0])
    sweep_ds["field"] = dict(ds_mapping["field"], npix=size["sweep_npix"])
    sweep_cfg = SweepConfig(dataset=sweep_ds, parameter="noise_rms_jy", values=SWEEP_NOISE_JY,
                            checkpoint=str(checkpoint), normalize="both", seed=seed,
                            device=device)  # fmt: skip
    sweep_dir = out / "sweep"
    table = run_sweep(sweep_cfg, sweep_dir, progress=progress)
    leakage = json.loads((sweep_dir / "leakage.json").read_text())
    timings["sweep"] = time.time() - t

    t = _header(6, "report", progress)
    timings["report"] = 0.0
    summary = _summary(metrics, table, leakage, open_store(ds_path), size, timings)
    summary["training"] = _last_epoch(run_dir / "metrics.csv")
    summary["seconds_total_this_run"] = round(time.time() - t_all, 1)
    write_json(out / "summary.json", summary)
    index = _write_index(out, summary, metrics)
    timings["report"] = time.time() - t
    if progress:
        print(_headline(summary), flush=True)
        print(f"\nReport: {index.resolve()}", flush=True)
    return index


def _last_epoch(path: Path) -> dict:
    """The collapse monitors and throughput of the training run's last epoch."""
    with open(path, newline="") as fh:
        last = list(csv.DictReader(fh))[-1]
    keep = ("method", "epoch", "loss", "embedding_std", "effective_rank", "teacher_entropy",
            "images_per_s")  # fmt: skip
    return {k: (last[k] if k == "method" else float(last[k])) for k in keep if last.get(k)}


def _headline(summary: dict) -> str:
    """The demo's bars in a few lines: count R² against random weights, collapse, map."""
    r2, spread = summary["count_probe"]["r2"], summary["count_probe"]["r2_spread"]
    nan = float("nan")
    sets = (("trained", "model"), ("random weights", "random_init"), ("raw-pixel PCA", "raw_pca"))
    split = summary["split"]
    folds = f"{split['n_folds']} " + ("field-grouped folds" if split["by_field"] else "crop folds")
    lines = [f"source-count probe R² (mean ± std over {folds}): " + ", ".join(
        f"{label} {r2.get(s, nan):.3f} ± {spread.get(s, nan):.3f}" for label, s in sets
    )]  # fmt: skip
    gain = r2.get("model", nan) - r2.get("random_init", nan)
    pair = summary["count_probe"].get("paired_vs_random") or {}
    lines.append(
        f"trained - random weights: {gain:+.3f}; paired over the same folds "
        f"{pair.get('mean', nan):+.3f} ± {pair.get('std', nan):.3f}, trained ahead on "
        f"{pair.get('model_better_folds', 0)} of {pair.get('n_folds', 0)} folds"
    )
    t = summary["training"]
    watch = (
        f"embedding std {t.get('embedding_std', nan):.3f} (floor {COLLAPSE_STD_FLOOR}), "
        f"effective rank {t.get('effective_rank', nan):.1f} (floor {COLLAPSE_RANK_FLOOR})"
    )
    if "teacher_entropy" in t:
        watch += f", teacher entropy {t['teacher_entropy']:.2f} nats"
    lines.append(f"last epoch ({t.get('method')}): {watch}")
    structure = summary["pca_map_count_structure"]
    lines.append("PCA map structure by count (R² from map neighbours): " + ", ".join(
        f"{label} {structure.get(s, nan):.3f}" for label, s in sets
    ))  # fmt: skip
    return "\n".join(lines)


def _summary(metrics, table, leakage, store, size, timings) -> dict:
    m = metrics["metrics"]
    spread = metrics.get("spread", {})

    def pick(name, source=m):
        return {k: v for k, v in source.get(name, {}).items() if v is not None}

    return {
        "n_crops": int(store.n_crops),
        "n_fields": int(np.unique(store.field_ids).size),
        "crop_px": size["crop"],
        "count_probe": {
            "mse": pick("count_mse"),
            "r2": pick("count_r2"),
            "r2_spread": pick("count_r2", spread),
            "paired_vs_random": metrics.get("paired", {}).get("count_r2", {}).get("random_init"),
        },  # fmt: skip
        "pca_map_count_structure": pick("pca_map_count_structure"),
        "split": {k: metrics["split"][k] for k in ("by_field", "n_folds", "n_fields", "note")},
        "detected_count_probe": {
            "mse": pick("detected_count_mse"),
            "r2": pick("detected_count_r2"),
        },
        "flux_probe_r2": pick("log_flux_r2"),
        "class_accuracy": pick("class_accuracy"),
        "knn_class_accuracy": pick("knn_class_accuracy"),
        "precision_at_k_count": pick("precision_at_k_count"),
        "trained_beats_random_on_count_mse": bool(
            m["count_mse"]["model"] < m["count_mse"].get("random_init", float("inf"))
        ),
        "trained_beats_random_on_detected_count_mse": bool(
            "detected_count_mse" in m
            and m["detected_count_mse"]["model"]
            < m["detected_count_mse"].get("random_init", float("inf"))
        ),
        "sweep": {
            "parameter": leakage["parameter"],
            "values": leakage["values"],
            "count_mse": {
                f"{r['normalize']}@{r['value_label']}": float(r["count_mse"]) for r in table
            },  # fmt: skip
            "leakage": leakage["normalize"],
            "same_catalogs": leakage["same_catalogs"],
        },
        "timings_s": {k: round(v, 1) for k, v in timings.items()},
    }


def _write_index(out: Path, summary: dict, metrics: dict) -> Path:
    sets = ("model", "random_init", "raw_pca")
    rows = []
    count = summary["count_probe"]
    rows.append(
        [
            pages.esc("count R² (± fold std)"),
            *(pages.fmt_pm(count["r2"].get(s), count["r2_spread"].get(s)) for s in sets),
        ]
    )
    for label, probe, key in (("count MSE (sources²)", "count_probe", "mse"),
                              ("count above 5σ R²", "detected_count_probe", "r2")):  # fmt: skip
        vals = summary[probe][key]
        rows.append([pages.esc(label), *(pages.fmt(vals.get(s)) for s in sets)])
    rows.append([pages.esc("PCA map structure by count (R²)"),
                 *(pages.fmt(summary["pca_map_count_structure"].get(s)) for s in sets)])  # fmt: skip
    for label, key in (("log flux R²", "flux_probe_r2"), ("class accuracy", "class_accuracy"),
                       ("kNN class accuracy", "knn_class_accuracy"),
                       ("precision@k (count bin)", "precision_at_k_count")):  # fmt: skip
        vals = summary[key]
        rows.append([pages.esc(label), *(pages.fmt(vals.get(s)) for s in sets)])
    leak = [
        [
            pages.esc(mode),
            pages.fmt(s.get("value_r2")),
            f"{pages.fmt(s['value_accuracy'])} / {pages.fmt(s['value_chance'])}",
            f"{pages.fmt(s.get('field_accuracy'))} / {pages.fmt(s.get('field_chance'))}",
        ]
        for mode, s in summary["sweep"]["leakage"].items()
    ]
    figs = list(metrics.get("report", {}).get("figures", []))[:4]
    sweep_figs = sorted((out / "sweep").glob("count_*.png"))
    timing = ", ".join(f"{k} {v:.0f} s" for k, v in summary["timings_s"].items())
    values = ", ".join(pages.fmt(v) for v in summary["sweep"]["values"])
    body = (
        f"<p>{summary['n_crops']} crops ({summary['crop_px']} px) from {summary['n_fields']} "
        "simulated MGCLS-like fields; a small ResNet trained with SimCLR; probes with folds grouped "
        "by field. Trained beats random weights on the source-count MSE: "
        f"<b>{summary['trained_beats_random_on_count_mse']}</b>; on the count of sources above "
        f"5&sigma;: <b>{summary['trained_beats_random_on_detected_count_mse']}</b>.</p>"
        f"<p>{pages.esc(_headline(summary))}</p>".replace("\n", "<br>")
        + pages.table(["", "trained", "random weights", "raw-pixel PCA"], rows)
        + '<p>Full report: <a href="eval/index.html">eval/index.html</a></p>'
        + pages.figures([(f, f"eval/{f}") for f in figs], width=420)
        + "<h2>Noise sweep and nuisance leakage</h2>"
        f"<p>The same skies at noise rms {values} Jy/beam. Leakage: how well the embedding tells "
        "the noise level (R&sup2; on unseen fields; accuracy / chance) and the field (accuracy / "
        'chance). Report: <a href="sweep/index.html">sweep/index.html</a></p>'
        + pages.table(
            ["normalisation", "noise R²", "noise acc / chance", "field acc / chance"], leak
        )  # fmt: skip
        + pages.figures([(p.name, f"sweep/{p.name}") for p in sweep_figs], width=320)
        + f'<p>Timings: {timing}. Numbers: <a href="summary.json">summary.json</a></p>'
    )
    return pages.write_page(out / "index.html", "meersim demo", body)
