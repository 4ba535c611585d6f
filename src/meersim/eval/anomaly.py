"""Anomaly scores from embeddings, scored against the injected rarities of the truth.

Scorers (higher = more anomalous), each fitted without labels on all crops:

* ``knn``: mean cosine distance ``1 - cos`` to the ``k`` nearest other crops (FAISS,
  exact up to :data:`EXACT_SEARCH_LIMIT` crops, IVF above): a crop unlike its
  neighbours sits in a sparse part of the embedding.
* ``iforest``: scikit-learn's isolation forest (Liu, Ting & Zhou 2008) on the
  standardised features, ``-score_samples`` (short isolation paths = anomalous).
* ``pca``: squared reconstruction error of the standardised features from the
  principal components holding ``pca_variance`` of their variance: what the bulk's
  main directions do not explain.

Metrics against a boolean truth (``has_rare`` of the dataset, :mod:`meersim.datasets.rare`):
AUROC, average precision, and recall among the top 1 %, 50 and 100 ranked crops (the
share of all rare crops found there). The active-learning loop is :mod:`meersim.eval.active`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from astropy.table import Table
from sklearn.decomposition import PCA
from sklearn.ensemble import IsolationForest
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.preprocessing import StandardScaler

from meersim.config import from_dict
from meersim.errors import InputError
from meersim.eval.search import build_index, search

SCORERS = ("knn", "iforest", "pca")
LABEL_COLUMN = "has_rare"
#: Above this many crops the kNN scorer (and the explorer) search an IVF index.
EXACT_SEARCH_LIMIT = 50_000


@dataclass
class AnomalyConfig:
    """Settings of the anomaly scorers and of the active-learning simulation.

    knn_k : neighbours of the kNN scorer. iforest_trees : trees of the isolation forest.
    pca_variance : share of the variance the PCA scorer's components keep.
    top_fraction, top_counts : recall is reported among the top ``top_fraction`` of the
        crops and among the top ``top_counts`` crops.
    al_batch, al_rounds : crops the simulated user labels per round, and rounds.
    al_blend : weight of the predicted relevance against the anomaly rank (0..1).
    al_scorer : the anomaly score the active loop starts from.
    """

    knn_k: int = 10
    iforest_trees: int = 200
    pca_variance: float = 0.9
    top_fraction: float = 0.01
    top_counts: list = field(default_factory=lambda: [50, 100])
    al_batch: int = 10
    al_rounds: int = 20
    al_blend: float = 0.5
    al_scorer: str = "knn"

    def __post_init__(self):
        src = "anomaly config"
        if int(self.knn_k) < 1 or int(self.iforest_trees) < 1:
            raise InputError(src, "knn_k/iforest_trees", "must be >= 1.")
        if not 0 < float(self.pca_variance) < 1:
            raise InputError(src, "pca_variance", f"must lie in (0, 1), got {self.pca_variance}.")
        if not 0 < float(self.top_fraction) <= 1:
            raise InputError(src, "top_fraction", "must lie in (0, 1].")
        if not 0 <= float(self.al_blend) <= 1:
            raise InputError(src, "al_blend", "must lie in [0, 1].")
        if self.al_scorer not in SCORERS:
            raise InputError(src, "al_scorer", f"{self.al_scorer!r} unknown.", f"Use {SCORERS}.")
        if int(self.al_batch) < 1 or int(self.al_rounds) < 0:
            raise InputError(src, "al_batch/al_rounds", "need al_batch >= 1, al_rounds >= 0.")


def config_of(config) -> AnomalyConfig:
    return config if isinstance(config, AnomalyConfig) else from_dict(
        AnomalyConfig, config, "anomaly config")  # fmt: skip


def _check(features) -> np.ndarray:
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 3:
        raise InputError("anomaly", "features", f"need [N >= 3, D] features, got {x.shape}.")
    if not np.all(np.isfinite(x)):
        raise InputError("anomaly", "features", "contain NaN or inf.", "Re-run the embedding.")
    return x


def knn_scores(features, k: int = 10, seed: int = 0) -> np.ndarray:
    """Mean cosine distance to the ``k`` nearest other crops, float64 [N]."""
    x = _check(features)
    k = int(min(k, len(x) - 1))
    kind = "flat" if len(x) <= EXACT_SEARCH_LIMIT else "ivf"
    index = build_index(x.astype(np.float32), kind=kind, seed=seed)
    sim, rows = search(x.astype(np.float32), np.arange(len(x)), k, index=index)
    sim = np.where(rows >= 0, sim, np.nan)
    return 1.0 - np.nanmean(sim.astype(np.float64), axis=1)


def iforest_scores(features, n_trees: int = 200, seed: int = 0) -> np.ndarray:
    """Isolation-forest anomaly score (``-score_samples``) of the standardised features."""
    x = StandardScaler().fit_transform(_check(features))
    forest = IsolationForest(n_estimators=int(n_trees), random_state=seed, n_jobs=1).fit(x)
    return -forest.score_samples(x)


def pca_scores(features, variance: float = 0.9, seed: int = 0) -> np.ndarray:
    """Squared reconstruction error from the components holding ``variance`` (standardised)."""
    x = StandardScaler().fit_transform(_check(features))
    keep = PCA(n_components=float(variance), svd_solver="full", random_state=seed).fit(x)
    rebuilt = keep.inverse_transform(keep.transform(x))
    return np.sum((x - rebuilt) ** 2, axis=1)


def anomaly_scores(features, config=None, seed: int = 0) -> dict[str, np.ndarray]:
    """Every scorer's scores [N] for one feature set."""
    cfg = config_of(config)
    return {
        "knn": knn_scores(features, cfg.knn_k, seed),
        "iforest": iforest_scores(features, cfg.iforest_trees, seed),
        "pca": pca_scores(features, cfg.pca_variance, seed),
    }


def ranking_metrics(scores, labels, top_fraction: float = 0.01, top_counts=(50, 100)) -> dict:
    """AUROC, average precision and recall at the top of the ranking by ``scores``.

    ``labels``: bool [N], True = rare. Recall at K = rare crops among the K highest
    scores / all rare crops (ties broken by crop order). NaN where undefined (no rare
    crop, or no normal one).
    """
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=bool)
    n, n_pos = len(y), int(y.sum())
    out = {"n": n, "n_rare": n_pos}
    both = 0 < n_pos < n
    out["auroc"] = float(roc_auc_score(y, s)) if both else float("nan")
    out["average_precision"] = float(average_precision_score(y, s)) if both else float("nan")
    order = np.argsort(-s, kind="stable")
    found = np.cumsum(y[order])
    tops = {f"recall_at_{top_fraction * 100:g}pct": max(1, int(np.ceil(top_fraction * n)))}
    tops.update({f"recall_at_{int(k)}": int(k) for k in top_counts})
    for name, k in tops.items():
        out[name] = float(found[min(k, n) - 1] / n_pos) if n_pos else float("nan")
    out["prevalence"] = n_pos / n if n else float("nan")
    return out


def rare_labels(truth: Table) -> np.ndarray | None:
    """The boolean rare label of each crop (``has_rare``, else ``n_rare > 0``), or None."""
    if LABEL_COLUMN in truth.colnames:
        return np.asarray(truth[LABEL_COLUMN]).astype(bool)
    if "n_rare" in truth.colnames:
        return np.asarray(truth["n_rare"]) > 0
    return None


def evaluate_anomaly(feature_sets: dict[str, np.ndarray], labels, config=None, seed: int = 0,
                     classes=None) -> dict:  # fmt: skip
    """Scores and metrics of every scorer on every feature set.

    Returns ``{"metrics": {scorer: {set: {metric: value}}}, "scores": {set: {scorer: [N]}},
    "class_recall": {set: {scorer: {class: recall among the top_counts[-1]}}}, "config"}``
    (``class_recall`` only with ``classes``, the per-crop ``rare_class``).
    """
    cfg = config_of(config)
    labels = np.asarray(labels, dtype=bool)
    out = {"metrics": {s: {} for s in SCORERS}, "scores": {}, "class_recall": {}}
    for name, feats in feature_sets.items():
        if len(feats) != len(labels):
            raise InputError("anomaly", f"features {name}", f"{len(feats)} rows for "
                             f"{len(labels)} labels.")  # fmt: skip
        scores = anomaly_scores(feats, cfg, seed)
        out["scores"][name] = scores
        for scorer, s in scores.items():
            out["metrics"][scorer][name] = ranking_metrics(s, labels, cfg.top_fraction,
                                                           cfg.top_counts)  # fmt: skip
        if classes is not None:
            out["class_recall"][name] = {
                scorer: class_recall(s, classes, int(cfg.top_counts[-1]))
                for scorer, s in scores.items()
            }
    out["config"] = {k: getattr(cfg, k) for k in cfg.__dataclass_fields__}
    return out


def class_recall(scores, classes, top: int) -> dict[str, float]:
    """Per rare class: share of its crops among the ``top`` highest scores."""
    classes = np.asarray(classes).astype(str)
    chosen = np.zeros(len(classes), bool)
    chosen[np.argsort(-np.asarray(scores, float), kind="stable")[:top]] = True
    return {str(c): float(chosen[classes == c].mean())
            for c in np.unique(classes) if c != "none"}  # fmt: skip
