"""Linear probes, DINO-weighted kNN and field-grouped splits (the seed study's evaluation).

Lastufka et al. 2024 (A&A 690, A310) evaluate frozen features with linear probes on
PCA-reduced features (source-count MSE) and FAISS search (precision@k). Here each probe
is fitted on the training rows only: standardise -> clip to the training range -> PCA ->
ridge / logistic regression, its regularisation chosen by an inner cross-validation
grouped by field with the one-standard-error rule; regression predictions are clipped to
the training targets' range. ``docs/eval.md`` ("Probe protocol") gives the reasons and
the known-answer checks.

Splits are by field: crops of one simulated observation share its noise, beam and uv
coverage, and the seed study found such crops cluster by their observation's
sensitivity. A crop split would let a probe recognise the field instead of the content.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, mean_squared_error, r2_score
from sklearn.model_selection import KFold
from sklearn.preprocessing import StandardScaler

from meersim.errors import InputError

# Regularisation grids, as penalty per training row (lambda): ridge alpha = lambda * n,
# logistic C = 1 / (lambda * n). The largest values shrink a probe to the mean / class prior.
RIDGE_LAMBDAS = 10.0 ** np.arange(-4.0, 4.01, 0.5)
LOGISTIC_LAMBDAS = 10.0 ** np.arange(-4.0, 1.01, 1.0)
MIN_TEST_FIELDS = 2


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
        True when no field has crops on both sides; False for the crop-split fallback.
    groups : field id of every row (all N rows, not only train), or None; the inner
        cross-validation that picks a probe's regularisation groups the training rows by it.
    """

    train: np.ndarray
    test: np.ndarray
    by_field: bool
    groups: np.ndarray | None = field(default=None, compare=False, repr=False)


def assign_fields(field_ids: np.ndarray, n_folds: int, seed: int = 0) -> dict:
    """Fold index of each field: field counts per fold differ by at most one.

    Fields go largest first (ties in a seeded random order) to the fold with the fewest
    fields, among those to the one with the fewest crops. Returns ``{field: fold}``.
    """
    fields, counts = np.unique(np.asarray(field_ids), return_counts=True)
    rng = np.random.default_rng(seed)
    order = rng.permutation(fields.size)
    order = order[np.argsort(-counts[order], kind="stable")]
    n_fields, n_crops = np.zeros(n_folds, int), np.zeros(n_folds, int)
    out = {}
    for i in order:
        open_ = np.flatnonzero(n_fields == n_fields.min())
        j = int(open_[np.argmin(n_crops[open_])])
        out[fields[i].item()] = j
        n_fields[j] += 1
        n_crops[j] += counts[i]
    return out


def _grouped_folds(field_ids: np.ndarray, k: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    fold_of = assign_fields(field_ids, k, seed)
    fold = np.array([fold_of[f.item()] for f in field_ids])
    rows = np.arange(field_ids.size)
    return [(rows[fold != j], rows[fold == j]) for j in range(k)]


def make_splits(
    field_ids: np.ndarray, n_folds: int = 5, seed: int = 0, min_test_fields: int = MIN_TEST_FIELDS
) -> tuple[list[Split], str]:
    """Cross-validation folds grouped by field, each test fold holding >= ``min_test_fields`` fields.

    With at least ``2 * min_test_fields`` fields: ``min(n_folds, n_fields // min_test_fields)``
    folds (:func:`assign_fields`); every field's crops are all in train or all in test.
    With fewer fields a field-grouped R^2 would rest on one field per test fold (for
    field-level targets such as the noise rms it is undefined), so the crops are split
    with a shuffled ``KFold`` instead and the returned note says so.

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
    if int(n_folds) < 2:
        raise InputError("evaluation", "n_folds", f"must be >= 2, got {n_folds}.")
    min_test_fields = max(1, int(min_test_fields))
    fields = np.unique(field_ids)
    if fields.size >= 2 * min_test_fields:
        k = int(min(n_folds, fields.size // min_test_fields))
        folds = [Split(tr, te, True, field_ids) for tr, te in _grouped_folds(field_ids, k, seed)]
        per = np.bincount(list(assign_fields(field_ids, k, seed).values()), minlength=k)
        note = (
            f"folds grouped by field_id: {k} folds over {fields.size} fields "
            f"({per.min()}-{per.max()} fields per test fold)"
        )
        return folds, note
    k = int(min(n_folds, n))
    splitter = KFold(n_splits=k, shuffle=True, random_state=seed)
    rows = np.arange(n)
    folds = [Split(np.sort(tr), np.sort(te), False) for tr, te in splitter.split(rows)]
    what = "only one field" if fields.size == 1 else f"only {fields.size} fields"
    note = (
        f"{what} (field-grouped folds need >= {2 * min_test_fields}, {min_test_fields} per "
        f"test fold): fell back to a {k}-fold split of crops; crops of one field share noise "
        "and beam, so these scores are optimistic. Simulate more fields."
    )
    return folds, note


def _inner_folds(split: Split, n_inner: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Folds of ``split.train`` (positions in it), grouped by field when it has >= 2 fields."""
    n = split.train.size
    if split.groups is not None:
        groups = np.asarray(split.groups)[split.train]
        n_groups = np.unique(groups).size
        if n_groups >= 2:
            return _grouped_folds(groups, int(min(n_inner, n_groups)), seed)
    k = int(min(n_inner, n))
    if k < 2:
        return []
    return list(KFold(n_splits=k, shuffle=True, random_state=seed).split(np.arange(n)))


def one_se_choice(scores: np.ndarray, lambdas: np.ndarray, higher_is_better: bool) -> float:
    """The largest ``lambdas`` whose mean score is within one standard error of the best.

    ``scores``: [n_folds, n_lambdas]; the standard error is that of the best column
    (std over folds / sqrt(n_folds)).
    """
    s = np.asarray(scores, float) * (1.0 if higher_is_better else -1.0)
    mean = np.nanmean(s, axis=0)
    best = int(np.nanargmax(mean))
    se = np.nanstd(s[:, best], ddof=1) / np.sqrt(s.shape[0]) if s.shape[0] > 1 else 0.0
    ok = np.flatnonzero(mean >= mean[best] - (se if np.isfinite(se) else 0.0))
    return float(np.max(np.asarray(lambdas)[ok]))


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


@dataclass
class Preprocess:
    """Standardise, clip to the training range, PCA: all fitted on the training rows.

    Clipping keeps a test row whose feature lies far outside what training saw (a unit
    that is silent in every training field and fires in the test field) from being
    extrapolated by the probe.
    """

    scaler: StandardScaler
    low: np.ndarray
    high: np.ndarray
    pca: PCA

    @classmethod
    def fit(cls, x: np.ndarray, n_components: int, seed: int = 0) -> Preprocess:
        """Fit on the training features ``x`` [n, D]."""
        scaler = StandardScaler().fit(x)
        z = scaler.transform(x)
        pca = PCA(n_components=n_components, random_state=seed).fit(z)
        return cls(scaler, z.min(axis=0), z.max(axis=0), pca)

    def transform(self, x: np.ndarray) -> np.ndarray:
        """[n, D] features -> [n, n_components]."""
        z = np.clip(self.scaler.transform(x), self.low, self.high)
        return self.pca.transform(z)


# ----------------------------------------------------------------------------------
# probes
# ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ProbeFit:
    """Test-row predictions of one probe, the PCA size and the regularisation used.

    ``penalty`` is per training row (lambda: ridge alpha / n, or 1 / (C n) for logistic).
    """

    predictions: np.ndarray
    n_components: int
    penalty: float


def ridge_path(z: np.ndarray, y: np.ndarray, z_test: np.ndarray, alphas) -> np.ndarray:
    """Ridge (intercept unpenalised) predictions for ``z_test`` at every alpha: [n_test, n_alpha].

    One SVD of the centred training features serves all alphas.
    """
    mean_z, mean_y = z.mean(axis=0), float(y.mean())
    u, s, vt = np.linalg.svd(z - mean_z, full_matrices=False)
    alphas = np.asarray(alphas, float)
    shrink = s[None, :] / (s[None, :] ** 2 + alphas[:, None])  # [A, r]
    coef = (shrink * (u.T @ (y - mean_y))[None, :]) @ vt  # [A, p]
    return (z_test - mean_z) @ coef.T + mean_y


def _setup(features, split, n_components, cap, seed):
    x = np.asarray(features, dtype=np.float64)
    n_comp = probe_components(x[split.train], n_components, cap)
    prep = Preprocess.fit(x[split.train], n_comp, seed)
    return prep.transform(x[split.train]), prep.transform(x[split.test]), n_comp


def fit_regression(
    features: np.ndarray,
    target: np.ndarray,
    split: Split,
    n_components: int | None = None,
    alpha: float | None = None,
    cap: int = 32,
    seed: int = 0,
    inner_folds: int = 5,
) -> ProbeFit:
    """Ridge probe fitted on ``split.train``, predicting ``split.test``.

    ``alpha`` None: chosen from ``RIDGE_LAMBDAS * n_train`` by inner CV on the training rows
    (grouped by field when ``split.groups`` is set; mean squared error; one-SE rule).
    Predictions are clipped to the training targets' range.
    """
    y = np.asarray(target, dtype=np.float64)[split.train]
    z, z_test, n_comp = _setup(features, split, n_components, cap, seed)
    n = split.train.size
    if alpha is None:
        inner = _inner_folds(split, inner_folds, seed)
        lam = 1.0
        if inner:
            alphas = RIDGE_LAMBDAS * n
            mse = np.array(
                [np.mean((ridge_path(z[tr], y[tr], z[te], alphas) - y[te, None]) ** 2, axis=0)
                 for tr, te in inner]
            )  # fmt: skip
            lam = one_se_choice(mse, RIDGE_LAMBDAS, higher_is_better=False)
        alpha = lam * n
    pred = ridge_path(z, y, z_test, [alpha])[:, 0]
    return ProbeFit(np.clip(pred, y.min(), y.max()), n_comp, float(alpha) / n)


def _logistic(z, y, lam: float):
    """Fitted logistic regression, or the single class when ``y`` has one."""
    classes = np.unique(y)
    if classes.size < 2:
        return classes[0]
    model = LogisticRegression(C=1.0 / (lam * y.size), max_iter=2000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(z, y)


def _predict(model, z):
    if isinstance(model, LogisticRegression):
        return model.predict(z)
    return np.full(z.shape[0], model)


def fit_classification(
    features: np.ndarray,
    labels: np.ndarray,
    split: Split,
    n_components: int | None = None,
    C: float | None = None,
    cap: int = 32,
    seed: int = 0,
    inner_folds: int = 5,
) -> ProbeFit:
    """Logistic probe fitted on ``split.train``, predicting ``split.test``.

    ``C`` None: chosen from ``1 / (LOGISTIC_LAMBDAS * n_train)`` by inner CV on the
    training rows (grouped as for :func:`fit_regression`; accuracy; one-SE rule). With a
    single class among the training rows every test row gets that class (PCA size 0).
    """
    y = np.asarray(labels)
    y_train = y[split.train]
    classes = np.unique(y_train)
    if classes.size < 2:
        return ProbeFit(np.full(split.test.size, classes[0], dtype=y.dtype), 0, float("nan"))
    z, z_test, n_comp = _setup(features, split, n_components, cap, seed)
    n = split.train.size
    if C is None:
        inner = _inner_folds(split, inner_folds, seed)
        lam = 1e-2
        if inner:
            acc = np.array(
                [[np.mean(_predict(_logistic(z[tr], y_train[tr], lam_), z[te]) == y_train[te])
                  for lam_ in LOGISTIC_LAMBDAS] for tr, te in inner]
            )  # fmt: skip
            lam = one_se_choice(acc, LOGISTIC_LAMBDAS, higher_is_better=True)
        C = 1.0 / (lam * n)
    model = LogisticRegression(C=float(C), max_iter=2000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(z, y_train)
    return ProbeFit(model.predict(z_test), n_comp, 1.0 / (float(C) * n))


def fit_predict_regression(features, target, split: Split, **kwargs) -> tuple[np.ndarray, int]:
    """:func:`fit_regression` as (test predictions, PCA size)."""
    fit = fit_regression(features, target, split, **kwargs)
    return fit.predictions, fit.n_components


def fit_predict_classification(features, labels, split: Split, **kwargs) -> tuple[np.ndarray, int]:
    """:func:`fit_classification` as (test predictions, PCA size; 0 if no fit)."""
    fit = fit_classification(features, labels, split, **kwargs)
    return fit.predictions, fit.n_components


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
    if ok.sum() < 2 or np.ptp(y_true[ok]) == 0:
        mse = float(mean_squared_error(y_true[ok], y_pred[ok])) if ok.any() else float("nan")
        return {"mse": mse, "r2": float("nan")}
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


def fold_scores(score, y_true: np.ndarray, y_pred: np.ndarray, folds: list[Split]) -> dict:
    """Per-fold ``score(y_true[test], y_pred[test])`` dicts as ``{metric: [value per fold]}``."""
    per = [score(np.asarray(y_true)[s.test], np.asarray(y_pred)[s.test]) for s in folds]
    return {m: [p[m] for p in per] for m in per[0]}


def mean_spread(values) -> tuple[float, float]:
    """(mean, standard deviation with ddof=1) over folds, ignoring NaN; spread NaN for one fold."""
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return float("nan"), float("nan")
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else float("nan")


def regression_probe(features, target, split: Split, **kwargs) -> dict[str, float]:
    """Fit on ``split.train``, score on ``split.test``: ``{"mse", "r2", "n_components", "penalty"}``."""
    fit = fit_regression(features, target, split, **kwargs)
    scores = regression_scores(np.asarray(target)[split.test], fit.predictions)
    return {**scores, "n_components": fit.n_components, "penalty": fit.penalty}


def classification_probe(features, labels, split: Split, **kwargs) -> dict[str, float]:
    """Fit on ``split.train``, score on ``split.test``: ``{"accuracy", "macro_f1", "n_components", "penalty"}``."""
    fit = fit_classification(features, labels, split, **kwargs)
    scores = classification_scores(np.asarray(labels)[split.test], fit.predictions)
    return {**scores, "n_components": fit.n_components, "penalty": fit.penalty}


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
