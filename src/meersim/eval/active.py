"""Active learning on an anomaly ranking, in the spirit of Astronomaly.

Astronomaly (Lochner & Bassett 2021, Astronomy and Computing 36, 100481) shows a
person the top of an anomaly ranking, takes their "interesting / not" labels and
learns from the features which anomalies *this* person cares about. Here:

1. the anomaly scores are turned into ranks in [0, 1] (``a``);
2. a random-forest regressor (scikit-learn) is fitted on the labelled crops, labels
   1 (interesting) and 0 (not), in a standardised 16-component PCA of the embeddings,
   and predicts a relevance ``r`` in [0, 1] for every crop;
3. the new ranking is ``(1 - blend) a + blend r``; labelled crops go first
   (interesting) or last (not), since the user has seen them.

:func:`simulate` plays the user with the truth (``has_rare``): each round it labels
the ``batch`` highest-ranked crops not yet labelled, refits, and records the recall
at the top ``top_k`` and how many rare crops the user has seen, beside the static
ranking's numbers for the same number of crops looked at.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata
from sklearn.decomposition import PCA
from sklearn.ensemble import RandomForestRegressor
from sklearn.preprocessing import StandardScaler

from meersim.errors import InputError

RELEVANCE_COMPONENTS = 16
LIFT = 0.1  # recall gain that counts as "lifted"


def reduced_features(features, n_components: int = RELEVANCE_COMPONENTS, seed: int = 0):
    """Standardised PCA of the features (at most ``n_components``), what the regressor sees."""
    x = StandardScaler().fit_transform(np.asarray(features, dtype=np.float64))
    n = int(max(1, min(n_components, x.shape[0] - 1, x.shape[1])))
    return PCA(n_components=n, random_state=seed).fit_transform(x)


def rank01(scores) -> np.ndarray:
    """Scores as ranks scaled to [0, 1] (ties share their mean rank)."""
    s = np.asarray(scores, dtype=np.float64)
    return (rankdata(s) - 1.0) / max(1, len(s) - 1)


def refit_ranking(reduced, anomaly, labelled: dict[int, bool], blend: float = 0.5,
                  seed: int = 0) -> np.ndarray:  # fmt: skip
    """The re-fitted ranking score [N] from the anomaly scores and the labels so far.

    ``labelled`` maps row -> interesting (True) / not (False).
    """
    a = rank01(anomaly)
    if not labelled:
        return a
    rows = np.fromiter(labelled, dtype=np.int64)
    if rows.min() < 0 or rows.max() >= len(a):
        raise InputError("active learning", "labels", f"rows must lie in 0..{len(a) - 1}.")
    y = np.array([float(labelled[int(r)]) for r in rows])
    model = RandomForestRegressor(n_estimators=100, min_samples_leaf=1, random_state=seed,
                                  n_jobs=1).fit(reduced[rows], y)  # fmt: skip
    score = (1.0 - blend) * a + blend * model.predict(reduced)
    score[rows] = np.where(y > 0, 2.0, -1.0)  # seen: interesting first, the rest last
    return score


def _recall(score, truth, k: int) -> float:
    top = np.argsort(-score, kind="stable")[:k]
    return float(truth[top].sum() / max(1, truth.sum()))


def simulate(features, anomaly, truth, *, batch: int = 10, rounds: int = 20, blend: float = 0.5,
             top_k: int = 100, seed: int = 0) -> dict:  # fmt: skip
    """Astronomaly-style loop with the truth as the user.

    Returns lists per round (0 = before any label): ``n_labelled``,
    ``recall_at_k`` (of the re-fitted ranking, top ``top_k``), ``found`` (rare crops
    among those labelled so far), ``found_static`` (rare crops among as many crops
    of the static ranking), and ``labels_to_lift``: the fewest labels after which
    recall_at_k exceeds the static ranking's by :data:`LIFT` (None if never).
    """
    truth = np.asarray(truth, dtype=bool)
    anomaly = np.asarray(anomaly, dtype=np.float64)
    reduced = reduced_features(features, seed=seed)
    static_order = np.argsort(-anomaly, kind="stable")
    static_found = np.concatenate([[0], np.cumsum(truth[static_order])])
    base = _recall(anomaly, truth, top_k)
    labelled: dict[int, bool] = {}
    curve = {"n_labelled": [], "recall_at_k": [], "found": [], "found_static": []}
    lift_at = None
    for round_ in range(int(rounds) + 1):
        score = refit_ranking(reduced, anomaly, labelled, blend, seed)
        n = len(labelled)
        recall = _recall(score, truth, top_k)
        curve["n_labelled"].append(n)
        curve["recall_at_k"].append(recall)
        curve["found"].append(int(sum(labelled.values())))
        curve["found_static"].append(int(static_found[min(n, len(truth))]))
        if lift_at is None and recall >= base + LIFT:
            lift_at = n
        queue = [int(r) for r in np.argsort(-score, kind="stable") if int(r) not in labelled]
        if round_ == rounds or not queue:
            break
        for r in queue[:batch]:
            labelled[r] = bool(truth[r])
    curve.update(top_k=int(top_k), batch=int(batch), blend=float(blend),
                 static_recall_at_k=base, labels_to_lift=lift_at, lift=LIFT)  # fmt: skip
    return curve
