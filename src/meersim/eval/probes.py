"""Linear probes, DINO-weighted kNN and field-grouped splits (the seed study's evaluation).

Lastufka et al. 2024 (A&A 690, A310) evaluate frozen features with linear probes on
PCA-reduced features (source-count MSE) and FAISS search (precision@k). Here each probe
is: standardise (fit on train) -> PCA (fit on train) -> ridge / logistic regression.

Splits are by field: crops of one simulated observation share its noise, beam and uv
coverage, and the seed study found such crops cluster by their observation's
sensitivity. A crop split would let a probe recognise the field instead of the content.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import accuracy_score, f1_score, mean_squared_error, r2_score
from sklearn.model_selection import GroupKFold, KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from meersim.errors import InputError


# ----------------------------------------------------------------------------------
# splits
# ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Split:
    """One train/test split of crop rows.

    Attributes
    ----------
    train, test : int64 arrays of row indices
    by_field : bool
        True when no field has crops on both sides; False for the one-field fallback.
    """

    train: np.ndarray
    test: np.ndarray
    by_field: bool


def make_splits(field_ids: np.ndarray, n_folds: int = 5, seed: int = 0) -> tuple[list[Split], str]:
    """Cross-validation folds grouped by field.

    With two or more fields, ``GroupKFold`` (shuffled, ``min(n_folds, n_fields)`` folds):
    every field's crops are all in train or all in test. With a single field there is
    nothing to group by; the crops are split with a shuffled ``KFold`` instead and the
    returned note says so.

    Returns
    -------
    folds : list of Split
    note : str
        How the split was made (goes into the report).
    """
    field_ids = np.asarray(field_ids)
    n = field_ids.size
    if n < 4:
        raise InputError("evaluation", "crops", f"only {n} crops; need at least 4 to split.")
    fields = np.unique(field_ids)
    rows = np.arange(n)
    if fields.size >= 2:
        k = int(min(max(n_folds, 2), fields.size))
        splitter = GroupKFold(n_splits=k, shuffle=True, random_state=seed)
        folds = [
            Split(np.sort(tr), np.sort(te), True)
            for tr, te in splitter.split(rows, groups=field_ids)
        ]
        note = f"GroupKFold by field_id: {k} folds over {fields.size} fields"
        return folds, note
    k = int(min(max(n_folds, 2), n))
    splitter = KFold(n_splits=k, shuffle=True, random_state=seed)
    folds = [Split(np.sort(tr), np.sort(te), False) for tr, te in splitter.split(rows)]
    note = (
        f"only one field: fell back to a {k}-fold split of crops (crops of one field share "
        "noise and beam, so these scores are optimistic)"
    )
    return folds, note


# ----------------------------------------------------------------------------------
# PCA helpers
# ----------------------------------------------------------------------------------
def n_components_for_variance(features: np.ndarray, fraction: float = 0.99) -> int:
    """Number of principal components (of the centred features) holding ``fraction`` of the variance."""
    x = np.asarray(features, dtype=np.float64)
    x = x - x.mean(axis=0)
    # eigenvalues of the scatter matrix (D x D) are the squared singular values of x;
    # one GEMM instead of an SVD of the N x D matrix
    if x.shape[1] <= x.shape[0]:
        var = np.linalg.eigvalsh(x.T @ x)
    else:
        var = np.linalg.eigvalsh(x @ x.T)
    var = np.clip(var[::-1], 0.0, None)
    total = var.sum()
    if total <= 1e-12 * max(1.0, float(np.abs(x).max()) ** 2):
        return 0
    cum = np.cumsum(var) / total
    return int(min(np.searchsorted(cum, fraction - 1e-12) + 1, var.size))


def probe_components(train_features: np.ndarray, n_components: int | None, cap: int = 32) -> int:
    """PCA size for a probe: ``n_components`` if given, else the 99%-variance count, capped.

    The count is computed on the standardised training features and limited by ``cap``,
    the number of training rows minus one and the feature dimension.
    """
    n, d = train_features.shape
    limit = max(1, min(n - 1, d))
    if n_components is not None:
        return int(max(1, min(int(n_components), limit)))
    scaled = StandardScaler().fit_transform(train_features)
    return int(max(1, min(n_components_for_variance(scaled), cap, limit)))


def _pipeline(estimator, n_comp: int, seed: int):
    return make_pipeline(StandardScaler(), PCA(n_components=n_comp, random_state=seed), estimator)


# ----------------------------------------------------------------------------------
# probes
# ----------------------------------------------------------------------------------
def fit_predict_regression(
    features: np.ndarray,
    target: np.ndarray,
    split: Split,
    n_components: int | None = None,
    alpha: float = 1.0,
    cap: int = 32,
    seed: int = 0,
) -> tuple[np.ndarray, int]:
    """Ridge regression on PCA-reduced standardised features, fitted on ``split.train``.

    Returns the predictions for ``split.test`` and the PCA size used.
    """
    x = np.asarray(features, dtype=np.float64)
    y = np.asarray(target, dtype=np.float64)
    n_comp = probe_components(x[split.train], n_components, cap)
    model = _pipeline(Ridge(alpha=alpha), n_comp, seed).fit(x[split.train], y[split.train])
    return model.predict(x[split.test]), n_comp


def fit_predict_classification(
    features: np.ndarray,
    labels: np.ndarray,
    split: Split,
    n_components: int | None = None,
    C: float = 1.0,
    cap: int = 32,
    seed: int = 0,
) -> tuple[np.ndarray, int]:
    """Logistic regression on PCA-reduced standardised features, fitted on ``split.train``.

    With a single class among the training rows every test row gets that class.
    Returns the predicted labels for ``split.test`` and the PCA size used (0 if no fit).
    """
    x = np.asarray(features, dtype=np.float64)
    y = np.asarray(labels)
    classes = np.unique(y[split.train])
    if classes.size < 2:
        return np.full(split.test.size, classes[0], dtype=y.dtype), 0
    n_comp = probe_components(x[split.train], n_components, cap)
    est = LogisticRegression(C=C, max_iter=2000)
    model = _pipeline(est, n_comp, seed).fit(x[split.train], y[split.train])
    return model.predict(x[split.test]), n_comp


def out_of_fold(predict, folds: list[Split], n: int, dtype=np.float64, **kwargs) -> np.ndarray:
    """Collect each fold's test predictions from ``predict(split=..., **kwargs)`` into one array [n].

    Rows in no test set stay NaN (float) or empty (labels); with K-fold splits every row is
    predicted exactly once by a model that never saw its field.
    """
    out = np.full(n, np.nan) if np.dtype(dtype).kind == "f" else np.empty(n, dtype=dtype)
    for split in folds:
        pred = predict(split=split, **kwargs)
        if isinstance(pred, tuple):
            pred = pred[0]
        out[split.test] = pred
    return out


def regression_scores(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """``{"mse", "r2"}`` over rows with a prediction (MSE in the target's unit squared)."""
    y_true, y_pred = np.asarray(y_true, float), np.asarray(y_pred, float)
    ok = np.isfinite(y_pred) & np.isfinite(y_true)
    if ok.sum() < 2:
        return {"mse": float("nan"), "r2": float("nan")}
    return {
        "mse": float(mean_squared_error(y_true[ok], y_pred[ok])),
        "r2": float(r2_score(y_true[ok], y_pred[ok])),
    }


def classification_scores(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """``{"accuracy", "macro_f1"}``; macro F1 averages over classes in truth or prediction."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, average="macro", zero_division=0)),
    }


def regression_probe(features, target, split: Split, **kwargs) -> dict[str, float]:
    """Fit on ``split.train``, score on ``split.test``: ``{"mse", "r2", "n_components"}``."""
    pred, n_comp = fit_predict_regression(features, target, split, **kwargs)
    scores = regression_scores(np.asarray(target)[split.test], pred)
    return {**scores, "n_components": n_comp}


def classification_probe(features, labels, split: Split, **kwargs) -> dict[str, float]:
    """Fit on ``split.train``, score on ``split.test``: ``{"accuracy", "macro_f1", "n_components"}``."""
    pred, n_comp = fit_predict_classification(features, labels, split, **kwargs)
    scores = classification_scores(np.asarray(labels)[split.test], pred)
    return {**scores, "n_components": n_comp}


# ----------------------------------------------------------------------------------
# kNN (DINO eval_knn.py weighting)
# ----------------------------------------------------------------------------------
def l2_normalise(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (zero rows stay zero); float32."""
    x = np.asarray(x, dtype=np.float32)
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norm > 0, norm, 1.0)


def knn_predict(
    train_features: np.ndarray,
    train_labels: np.ndarray,
    test_features: np.ndarray,
    k: int = 20,
    temperature: float = 0.07,
    batch: int = 1024,
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted kNN vote as in DINO's ``eval_knn.py``.

    Features are L2-normalised; each test row takes its ``k`` most cosine-similar training
    rows, each voting for its label with weight ``exp(sim / temperature)``; the class with
    the largest summed weight wins (ties go to the first class in sorted order).

    Returns
    -------
    predictions : array [n_test] of labels
    scores : float64 [n_test, n_classes] summed vote weights, classes in ``np.unique`` order
    """
    classes, train_idx = np.unique(np.asarray(train_labels), return_inverse=True)
    a = l2_normalise(train_features)
    b = l2_normalise(test_features)
    k = int(min(k, a.shape[0]))
    scores = np.zeros((b.shape[0], classes.size))
    for start in range(0, b.shape[0], batch):
        sim = b[start : start + batch] @ a.T
        top = np.argpartition(-sim, k - 1, axis=1)[:, :k]
        top_sim = np.take_along_axis(sim, top, axis=1).astype(np.float64)
        weights = np.exp(top_sim / temperature)
        rows = np.repeat(np.arange(top.shape[0]), k)
        np.add.at(scores[start : start + batch], (rows, train_idx[top].ravel()), weights.ravel())
    return classes[np.argmax(scores, axis=1)], scores


def knn_accuracy(
    features: np.ndarray,
    labels: np.ndarray,
    split: Split,
    k: int = 20,
    temperature: float = 0.07,
) -> float:
    """Top-1 accuracy of :func:`knn_predict` on the split's test rows."""
    labels = np.asarray(labels)
    return float(
        np.mean(knn_fit_predict(features, labels, split, k, temperature) == labels[split.test])
    )


def knn_fit_predict(
    features: np.ndarray, labels: np.ndarray, split: Split, k: int = 20, temperature: float = 0.07
) -> np.ndarray:
    """:func:`knn_predict` with ``split.train`` as the memory bank; labels for ``split.test``."""
    features, labels = np.asarray(features), np.asarray(labels)
    pred, _ = knn_predict(
        features[split.train], labels[split.train], features[split.test], k, temperature
    )
    return pred
