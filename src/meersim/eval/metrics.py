"""Metrics of embeddings against per-crop truth, with baselines probed on the same folds.

:func:`evaluate` is the pure function (arrays and a truth table in, a metrics dict
out) that reports and sweeps call. Every feature set (the model and each baseline,
see :mod:`meersim.eval.baselines`) is probed on the same field-grouped folds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from astropy.table import Table
from tqdm.auto import tqdm

from meersim.config import from_dict, to_dict
from meersim.errors import InputError
from meersim.eval.labels import choose_splits, parse_labels, probe_labels, skip_reason
from meersim.eval.probes import (
    classification_scores,
    fit_predict_classification,
    fit_predict_regression,
    fold_scores,
    knn_fit_predict,
    mean_spread,
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
    ridge_alpha, logistic_C : fixed regularisation of the linear probes (sklearn's alpha
        and C); None (default) = chosen per fold by inner cross-validation grouped by
        field, one-standard-error rule (:mod:`meersim.eval.probes`).
    inner_folds : folds of that inner cross-validation.
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
    ridge_alpha: float | None = None
    logistic_C: float | None = None
    inner_folds: int = 5
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
    "pca_map_count_structure": (
        "PCA map: source-count R^2 from the 10 nearest points on the map",
        "",
        "higher",
    ),
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
    for name, y in list(out.items()):
        if np.unique(y[np.isfinite(y)]).size < 2:
            del out[name]
            notes.append(f"{name} is the same ({y[0]:.4g}) on every crop: its probe is skipped "
                         "(R^2 is undefined; e.g. noise_rms of a single field)")  # fmt: skip
    return out, notes


def _field_ids(truth: Table) -> np.ndarray:
    if "field_id" in truth.colnames:
        return np.asarray(truth["field_id"], dtype=np.int64)
    return np.zeros(len(truth), dtype=np.int64)


def evaluate_features(
    features: np.ndarray, truth: Table, folds, cfg: EvalConfig, seed: int = 0, label_specs=()
) -> tuple[dict[str, float], dict[str, np.ndarray], dict[str, float]]:
    """All metrics for one feature set on the given folds.

    Probe and kNN metrics are means over the folds of per-fold scores. Returns the
    metrics {name: value}, the out-of-fold predictions {target: array} and the spread
    {name: standard deviation over folds} of the per-fold metrics.
    """
    x = np.asarray(features, dtype=np.float64)
    n = len(truth)
    metrics: dict[str, float] = {}
    spread: dict[str, float] = {}
    preds: dict[str, np.ndarray] = {}
    # one PCA size per fold, shared by every probe of this feature set
    sizes = [probe_components(x[s.train], cfg.n_components, cfg.pca_cap) for s in folds]
    kw = {"seed": seed, "inner_folds": cfg.inner_folds}

    def oof(fit_predict, dtype=np.float64, **kwargs):
        out = np.full(n, np.nan) if np.dtype(dtype).kind == "f" else np.empty(n, dtype=dtype)
        for split, size in zip(folds, sizes, strict=True):
            out[split.test] = fit_predict(x, split=split, n_components=size, **kw, **kwargs)[0]
        return out

    def record(prefix, per_fold):
        for metric, values in per_fold.items():
            metrics[f"{prefix}{metric}"], spread[f"{prefix}{metric}"] = mean_spread(values)

    targets, _ = _targets(truth, cfg)
    for name, y in targets.items():
        pred = oof(fit_predict_regression, target=y, alpha=cfg.ridge_alpha)
        preds[name] = pred
        record(f"{name}_", fold_scores(regression_scores, y, pred, folds))
    if "dominant_class" in truth.colnames:
        labels = np.asarray(truth["dominant_class"]).astype(str)
        pred = oof(fit_predict_classification, labels.dtype, labels=labels, C=cfg.logistic_C)
        preds["class"] = pred
        record("class_", fold_scores(classification_scores, labels, pred, folds))
        knn = out_of_fold(knn_fit_predict, folds, n, dtype=labels.dtype, features=x,
                          labels=labels, k=cfg.knn_k, temperature=cfg.knn_temperature)  # fmt: skip
        per = fold_scores(classification_scores, labels, knn, folds)
        record("knn_class_", {"accuracy": per["accuracy"]})
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
    # --label COLUMN probes (meersim.eval.labels); their skip notes come from evaluate()
    label_metrics, _, label_spread = probe_labels(x, truth, label_specs, folds, cfg, seed, index)
    metrics.update(label_metrics)
    spread.update(label_spread)
    return metrics, preds, spread


def mean_predictor(truth: Table, folds, cfg: EvalConfig) -> dict[str, tuple[float, float]]:
    """Scores of predicting each regression target by its training-fold mean, on ``folds``.

    The floor a probe should not fall far below: ``{"count_r2": (mean, spread), ...}``.
    """
    out = {}
    for name, y in _targets(truth, cfg)[0].items():
        pred = np.full(y.size, np.nan)
        for s in folds:
            pred[s.test] = y[s.train].mean()
        for metric, values in fold_scores(regression_scores, y, pred, folds).items():
            out[f"{name}_{metric}"] = mean_spread(values)
    return out


def paired_differences(predictions: dict, truth: Table, folds, cfg: EvalConfig) -> dict:
    """The model's per-fold R² minus each baseline's, on the same folds (a paired comparison).

    ``{"count_r2": {"random_init": {"mean", "std", "model_better_folds", "n_folds"}}}``: a
    margin much larger than ``std`` and the model ahead on every fold is a difference the
    choice of test fields does not explain.
    """
    out: dict[str, dict] = {}
    model = predictions.get(MODEL, {})
    for name, y in _targets(truth, cfg)[0].items():
        if name not in model:
            continue
        ours = np.asarray(fold_scores(regression_scores, y, model[name], folds)["r2"])
        for other, preds in predictions.items():
            if other == MODEL or name not in preds:
                continue
            theirs = np.asarray(fold_scores(regression_scores, y, preds[name], folds)["r2"])
            diff = ours - theirs
            ok = np.isfinite(diff)
            out.setdefault(f"{name}_r2", {})[other] = {
                "mean": float(diff[ok].mean()) if ok.any() else float("nan"),
                "std": float(diff[ok].std(ddof=1)) if ok.sum() > 1 else float("nan"),
                "model_better_folds": int((diff[ok] > 0).sum()),
                "n_folds": int(ok.sum()),
            }
    return out


def evaluate(
    embeddings: np.ndarray,
    truth: Table,
    baselines: dict[str, np.ndarray] | None = None,
    seed: int = 0,
    config: EvalConfig | dict | None = None,
    progress: bool = False,
    labels=(),
) -> dict:
    """Evaluate ``embeddings`` [N, D] against ``truth`` (N rows, same order), and baselines.

    Every feature set (the model and each ``baselines[name]`` [N, D_b]) is probed on the
    same field-grouped folds. Returns a JSON-serialisable dict::

        {"metrics": {metric: {"model": v, "random_init": v, "raw_pca": v, ...}},
         "spread": {metric: {set: std over folds}}, "mean_predictor": {metric: v},
         "paired": {metric: {baseline: model minus baseline over folds}},
         "split": {"note", "by_field", "n_folds", "n_fields"}, "n_crops", "dims",
         "config", "notes", "predictions" (not JSON; dropped by the writers)}

    Probe and kNN metrics are means of per-fold scores, ``spread`` their standard
    deviation over folds (NaN with one fold); ``mean_predictor`` scores the training-fold
    mean on the same folds. Metrics: see :data:`METRIC_INFO`. Missing or constant truth columns skip their
    metrics (noted). ``labels``: truth columns probed as well (``COL``, ``COL:cat``,
    ``COL:num``; :mod:`meersim.eval.labels`), metrics ``COL:accuracy`` etc. With a
    ``split`` column every probe uses that official split instead of grouped CV.
    """
    cfg = config if isinstance(config, EvalConfig) else from_dict(EvalConfig, config, "eval config")
    if isinstance(seed, bool) or int(seed) < 0:
        raise InputError("evaluate", "seed", f"must be an integer >= 0, got {seed!r}.")
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
    folds, note, split_kind = choose_splits(truth, fields, cfg.n_folds, seed)
    specs = parse_labels(labels, truth)
    _, notes = _targets(truth, cfg)
    notes += [r for r in (skip_reason(truth, spec) for spec in specs) if r]
    if "dominant_class" not in truth.colnames:
        notes.append("no dominant_class column: class probes and kNN skipped")
    metrics: dict[str, dict] = {}
    spread: dict[str, dict] = {}
    predictions = {}
    for name, feats in tqdm(sets.items(), desc="evaluate", unit="set", disable=not progress):
        values, preds, spreads = evaluate_features(feats, truth, folds, cfg, seed, specs)
        predictions[name] = preds
        for metric, value in values.items():
            metrics.setdefault(metric, {})[name] = value
        for metric, value in spreads.items():
            spread.setdefault(metric, {})[name] = value
    return {
        "metrics": metrics,
        "spread": spread,
        "paired": paired_differences(predictions, truth, folds, cfg),
        "mean_predictor": {m: v for m, (v, _) in mean_predictor(truth, folds, cfg).items()},
        "split": {
            "note": note,
            "kind": split_kind,
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
