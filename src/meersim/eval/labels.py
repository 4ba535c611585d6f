"""Probes of any truth column (``meersim eval --label COLUMN``) and the choice of split.

A label column is probed by its type: text and boolean columns are categorical
(logistic probe, DINO-weighted kNN vote, precision@k of the same label), numbers are
numeric (ridge probe, kNN regression, precision@k of the same quintile). ``COL:cat`` or
``COL:num`` overrides the type (e.g. integer class ids). Rows with a missing value
(masked, NaN, empty text) are left out of that column's probes; a column with one value
is skipped with a note, since no probe can score on it.

Split: with a ``split`` column (train / valid / test, as MiraBest and the
RadioGalaxyDataset define them) probes train on train + valid and score on test, as
the seed study (Lastufka et al. 2024) does on MiraBest; otherwise cross-validation
folds grouped by field (:func:`meersim.eval.probes.make_splits`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from astropy.table import Table

from meersim.errors import InputError
from meersim.eval.probes import (
    Split,
    classification_scores,
    fit_predict_classification,
    fit_predict_regression,
    fold_scores,
    knn_fit_predict,
    l2_normalise,
    make_splits,
    mean_spread,
    regression_scores,
)
from meersim.eval.search import precision_at_k, search

KINDS = {"cat": "categorical", "categorical": "categorical", "num": "numeric",
         "numeric": "numeric"}  # fmt: skip
N_QUANTILE_BINS = 5


@dataclass(frozen=True)
class LabelSpec:
    """A truth column to probe and how (``categorical`` or ``numeric``)."""

    column: str
    kind: str


def parse_labels(specs, truth: Table) -> list[LabelSpec]:
    """``["fr_class", "label_id:cat", "size:num"]`` -> LabelSpecs; kinds from the dtype."""
    out = []
    for spec in specs or ():
        column, _, kind = str(spec).partition(":")
        if column not in truth.colnames:
            raise InputError("crops.ecsv", column, "no such truth column.",
                             f"Columns: {', '.join(truth.colnames)}.")  # fmt: skip
        if kind and kind not in KINDS:
            raise InputError("--label", spec, f"type {kind!r} unknown.", "Use COL:cat or COL:num.")
        values = np.asarray(truth[column])
        default = "categorical" if values.dtype.kind in "USOb" else "numeric"
        if KINDS.get(kind, default) == "numeric" and values.dtype.kind in "USO":
            raise InputError("--label", spec, "text cannot be probed as a number.")
        out.append(LabelSpec(column, KINDS.get(kind, default)))
    return out


def choose_splits(truth: Table, field_ids: np.ndarray, n_folds: int, seed: int):
    """(folds, note, kind): the official split when ``truth`` has ``split``, else grouped CV."""
    if "split" not in truth.colnames:
        folds, note = make_splits(field_ids, n_folds, seed)
        return folds, note, "grouped_cv"
    split = np.char.lower(np.asarray(truth["split"]).astype(str))
    unknown = sorted(set(split.tolist()) - {"train", "valid", "test"})
    if unknown:
        raise InputError("crops.ecsv", "split", f"values {unknown} are not train/valid/test.")
    rows = np.arange(len(truth))
    train, test = rows[split != "test"], rows[split == "test"]
    if test.size < 1 or train.size < 2:
        raise InputError("crops.ecsv", "split", f"{train.size} train+valid and {test.size} test "
                         "rows; need at least 2 and 1.", "Fix the split column.")  # fmt: skip
    by_field = not np.intersect1d(field_ids[train], field_ids[test]).size
    n_valid = int(np.sum(split == "valid"))
    note = (f"official split (column 'split'): probes trained on {train.size - n_valid} train + "
            f"{n_valid} valid crops, scored on {test.size} test crops")  # fmt: skip
    return [Split(train, test, by_field, field_ids)], note, "official"


def _present(values: np.ndarray, column) -> np.ndarray:
    """Rows with a value (not masked, not NaN, not empty text)."""
    ok = ~np.ma.getmaskarray(column)
    if values.dtype.kind == "f":
        ok &= np.isfinite(values)
    elif values.dtype.kind in "USO":
        ok &= np.char.strip(values.astype(str)) != ""
    return ok


def _restrict(folds: list[Split], ok: np.ndarray) -> list[Split]:
    return [Split(s.train[ok[s.train]], s.test[ok[s.test]], s.by_field, s.groups) for s in folds]


def knn_regress(train_x, train_y, test_x, k: int = 20, temperature: float = 0.07) -> np.ndarray:
    """Mean of the ``k`` most cosine-similar training targets, weighted exp(sim / T) (DINO)."""
    a, b = l2_normalise(train_x), l2_normalise(test_x)
    k = int(min(k, a.shape[0]))
    sim = b @ a.T
    top = np.argpartition(-sim, k - 1, axis=1)[:, :k]
    weights = np.exp((np.take_along_axis(sim, top, axis=1).astype(np.float64) - 1) / temperature)
    return np.sum(weights * np.asarray(train_y, float)[top], axis=1) / np.sum(weights, axis=1)


def probe_label(x: np.ndarray, truth: Table, spec: LabelSpec, folds: list[Split], cfg,
                seed: int = 0, index=None) -> tuple[dict[str, float], str | None, dict]:  # fmt: skip
    """Metrics ``{"COLUMN:metric": value}`` of one label, a skip note (or None), and the
    spread ``{"COLUMN:metric": std over folds}``; probe metrics are means over folds."""
    column = truth[spec.column]
    values = np.asarray(column)
    ok = _present(values, column)
    used = values[ok]
    reason = skip_reason(truth, spec)
    if reason:
        return {}, reason, {}
    folds = [s for s in _restrict(folds, ok) if s.train.size >= 2 and s.test.size]
    if not folds:
        return {}, f"label {spec.column!r}: no split has labelled train and test rows; skipped", {}
    if spec.kind == "categorical":
        per_fold = _categorical(x, values.astype(str), folds, cfg, seed)
        labels = np.where(ok, values.astype(str), "")
    else:
        per_fold = _numeric(x, values.astype(float), folds, cfg, seed)
        edges = np.quantile(used.astype(float), np.linspace(0, 1, N_QUANTILE_BINS + 1)[1:-1])
        labels = np.where(ok, np.digitize(values.astype(float), edges).astype(str), "")
    metrics, spread = {"n_test": int(sum(s.test.size for s in folds))}, {}
    for metric, per in per_fold.items():
        metrics[metric], spread[metric] = mean_spread(per)
    k = int(min(cfg.precision_k, len(truth) - 1))
    # precision@k: labelled crops query all crops; unlabelled neighbours count as misses
    rel = np.where(ok, labels, np.array([f"missing{i}" for i in range(len(labels))]))
    queries = np.flatnonzero(ok)
    _, neighbours = search(x, queries, k=k, index=index, exclude_self=True)
    metrics["precision_at_k"] = precision_at_k(rel, neighbours, queries)
    name = spec.column
    return ({f"{name}:{m}": v for m, v in metrics.items()}, None,
            {f"{name}:{m}": v for m, v in spread.items()})  # fmt: skip


def skip_reason(truth: Table, spec: LabelSpec) -> str | None:
    """Why ``spec`` cannot be probed (one value on every labelled crop), or None."""
    column = truth[spec.column]
    values = np.asarray(column)
    used = values[_present(values, column)]
    if np.unique(used.astype(str)).size < 2:
        value = used[0] if used.size else "none"
        return (
            f"label {spec.column!r} has one value ({value}) on every crop: its probes are skipped"
        )
    return None


def _per_fold(folds: list[Split], predict, n: int) -> np.ndarray:
    """Out-of-fold predictions [n] (rows in no test set stay NaN or empty)."""
    preds = [np.asarray(predict(s)) for s in folds]
    kind = preds[0].dtype
    out = np.full(n, np.nan) if kind.kind == "f" else np.empty(n, dtype=kind)
    for s, pred in zip(folds, preds, strict=True):
        out[s.test] = pred
    return out


def _categorical(x, y, folds, cfg, seed) -> dict[str, list]:
    """Per-fold accuracy, macro F1, majority-class accuracy and kNN accuracy."""
    pred = _per_fold(folds, lambda s: fit_predict_classification(
        x, y, s, n_components=cfg.n_components, C=cfg.logistic_C, cap=cfg.pca_cap, seed=seed,
        inner_folds=cfg.inner_folds)[0], y.size)  # fmt: skip
    knn = _per_fold(folds, lambda s: knn_fit_predict(x, y, s, cfg.knn_k, cfg.knn_temperature),
                    y.size)  # fmt: skip

    def majority(s):
        names, counts = np.unique(y[s.train], return_counts=True)
        return np.full(s.test.size, names[np.argmax(counts)])

    chance = _per_fold(folds, majority, y.size)
    scores = fold_scores(classification_scores, y, pred, folds)
    return {
        "accuracy": scores["accuracy"],
        "macro_f1": scores["macro_f1"],
        "chance_accuracy": fold_scores(classification_scores, y, chance, folds)["accuracy"],
        "knn_accuracy": fold_scores(classification_scores, y, knn, folds)["accuracy"],
    }


def _numeric(x, y, folds, cfg, seed) -> dict[str, list]:
    """Per-fold R^2 and MSE of the ridge probe, R^2 of the training mean and of kNN."""
    pred = _per_fold(folds, lambda s: fit_predict_regression(
        x, y, s, n_components=cfg.n_components, alpha=cfg.ridge_alpha, cap=cfg.pca_cap,
        seed=seed, inner_folds=cfg.inner_folds)[0], y.size)  # fmt: skip
    knn = _per_fold(folds, lambda s: knn_regress(x[s.train], y[s.train], x[s.test], cfg.knn_k,
                                                 cfg.knn_temperature), y.size)  # fmt: skip
    mean = _per_fold(folds, lambda s: np.full(s.test.size, y[s.train].mean()), y.size)
    scores = fold_scores(regression_scores, y, pred, folds)
    return {
        "r2": scores["r2"],
        "mse": scores["mse"],
        "chance_r2": fold_scores(regression_scores, y, mean, folds)["r2"],
        "knn_r2": fold_scores(regression_scores, y, knn, folds)["r2"],
    }


def probe_labels(x, truth: Table, specs: list[LabelSpec], folds, cfg, seed=0, index=None):
    """All label probes of one feature set: (metrics, notes, spread)."""
    metrics, notes, spread = {}, [], {}
    for spec in specs:
        values, note, spreads = probe_label(np.asarray(x, np.float64), truth, spec, folds, cfg,
                                            seed, index)  # fmt: skip
        metrics.update(values)
        spread.update(spreads)
        if note:
            notes.append(note)
    return metrics, notes, spread
