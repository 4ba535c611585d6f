"""Benchmark: the probe protocol on synthetic cases with a known answer.

Each case has N crops in fields of equal size and a target whose out-of-field R^2 is
known: a linear target (R^2 = 0.8), pure noise (0), the linear target with columns
scaled by 10^U(-6, 6) (0.8), features that only fingerprint the field (0: the field mean
of the target does not follow from the fingerprint), and the linear target plus "dead"
units, silent except in one field, as random-init networks produce (0.8).

Uses only the API shared with earlier versions (make_splits, out_of_fold,
fit_predict_regression, regression_scores), so the same script measures an older
checkout side by side: ``PYTHONPATH=/path/to/old/src python bench/probes.py``.

Usage: python bench/probes.py [--seeds 5] [--fields 8] [--per-field 50]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from meersim.eval.probes import fit_predict_regression, make_splits, out_of_fold, regression_scores


def linear(rng, fields, dim=16, r2=0.8):
    x = rng.normal(size=(fields.size, dim))
    w = rng.normal(size=dim)
    w *= np.sqrt(r2) / np.linalg.norm(w)
    return x, x @ w + rng.normal(0, np.sqrt(1 - r2), fields.size)


def noise(rng, fields, dim=64):
    return rng.normal(size=(fields.size, dim)), rng.normal(size=fields.size)


def wild(rng, fields):
    x, y = linear(rng, fields)
    return x * 10 ** rng.uniform(-6, 6, x.shape[1]), y


def fingerprint(rng, fields, dim=64):
    n_fields = fields.max() + 1
    finger = rng.normal(size=(n_fields, dim)) * 10 ** rng.uniform(-3, 3, dim)
    x = finger[fields] * (1 + 0.01 * rng.normal(size=(fields.size, dim)))
    return x, rng.normal(size=n_fields)[fields] + rng.normal(size=fields.size)


def dead_units(rng, fields, n_dead=8):
    x, y = linear(rng, fields)
    dead = 1e-6 * rng.normal(size=(fields.size, n_dead))
    dead[fields == 0] += rng.uniform(1, 10, n_dead)
    return np.column_stack([x, dead]), y


CASES = {
    "linear, R2 = 0.8": (linear, 0.8),
    "pure noise": (noise, 0.0),
    "linear, scales 1e+-6": (wild, 0.8),
    "field fingerprint only": (fingerprint, 0.0),
    "linear + dead units": (dead_units, 0.8),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--fields", type=int, default=8)
    ap.add_argument("--per-field", type=int, default=50)
    args = ap.parse_args()
    fields = np.repeat(np.arange(args.fields), args.per_field)
    print(f"{fields.size} crops, {args.fields} fields, {args.seeds} seeds; per-fold R^2: mean "
          "over seeds of (fold mean, fold std), worst fold; pooled out-of-fold R^2; the "
          "training-mean predictor on the same folds")  # fmt: skip
    print(f"{'case':24s}{'truth':>6s}{'fold mean':>11s}{'fold std':>10s}{'worst':>11s}"
          f"{'pooled':>11s}{'mean pred':>10s}{'s/fit':>7s}")  # fmt: skip
    for name, (make, answer) in CASES.items():
        means, stds, worst, pooled, floor, secs = [], [], [], [], [], []
        for seed in range(args.seeds):
            x, y = make(np.random.default_rng(seed), fields)
            folds, note = make_splits(fields, 5, seed)
            t0 = time.perf_counter()
            pred = out_of_fold(fit_predict_regression, folds, y.size, features=x, target=y)
            secs.append((time.perf_counter() - t0) / len(folds))
            r2 = [regression_scores(y[s.test], pred[s.test])["r2"] for s in folds]
            means.append(np.mean(r2))
            stds.append(np.std(r2, ddof=1))
            worst.append(np.min(r2))
            pooled.append(regression_scores(y, pred)["r2"])
            base = np.full(y.size, np.nan)
            for s in folds:
                base[s.test] = y[s.train].mean()
            floor.append(np.mean([regression_scores(y[s.test], base[s.test])["r2"] for s in folds]))
        print(f"{name:24s}{answer:6.2f}{np.mean(means):11.4g}{np.mean(stds):10.3g}"
              f"{np.min(worst):11.4g}{np.mean(pooled):11.4g}{np.mean(floor):10.3g}"
              f"{np.mean(secs):7.3f}")  # fmt: skip
    print(f"split: {note}")


if __name__ == "__main__":
    main()
