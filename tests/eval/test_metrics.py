"""The paired comparison of a model against its baselines on the same folds."""

import numpy as np
from astropy.table import Table

from meersim.eval.metrics import evaluate


def _truth_and_features(n_fields=8, per_field=40, seed=0):
    rng = np.random.default_rng(seed)
    n = n_fields * per_field
    counts = rng.integers(0, 12, n)
    truth = Table({"field_id": np.repeat(np.arange(n_fields), per_field), "n_sources": counts})
    informative = np.column_stack([counts + rng.normal(0, 1.0, n), rng.normal(size=(n, 7))])
    return truth, informative, rng.normal(size=(n, 8))


def test_paired_difference_favours_the_informative_features_on_every_fold():
    truth, informative, noise = _truth_and_features()
    result = evaluate(informative, truth, {"random_init": noise, "copy": informative.copy()})
    paired = result["paired"]["count_r2"]
    vs_noise = paired["random_init"]
    assert vs_noise["n_folds"] == result["split"]["n_folds"] >= 2
    assert vs_noise["model_better_folds"] == vs_noise["n_folds"]
    assert vs_noise["mean"] > 0.8 and vs_noise["mean"] > 5 * vs_noise["std"]
    # the mean difference equals the difference of the reported means
    m = result["metrics"]["count_r2"]
    assert abs(vs_noise["mean"] - (m["model"] - m["random_init"])) < 1e-12
    # identical features: no difference on any fold
    assert paired["copy"]["mean"] == 0.0 and paired["copy"]["model_better_folds"] == 0
