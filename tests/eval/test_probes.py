import numpy as np
import pytest
from eval_toy_data import planted_features

from meersim.errors import InputError
from meersim.eval.metrics import evaluate
from meersim.eval.probes import (
    assign_fields,
    classification_probe,
    fit_regression,
    knn_predict,
    make_splits,
    mean_spread,
    n_components_for_variance,
    one_se_choice,
    regression_probe,
    regression_scores,
    ridge_path,
)


def test_planted_count_signal_beats_noise(toy):
    truth = toy["truth"]
    signal = planted_features(truth, signal=1.0)
    noise = planted_features(truth, signal=0.0)
    result = evaluate(signal, truth, {"noise": noise}, seed=0)
    m = result["metrics"]
    assert m["count_mse"]["model"] < 0.5 * m["count_mse"]["noise"]
    assert m["count_r2"]["model"] > 0.8 > m["count_r2"]["noise"]
    assert m["precision_at_k_count"]["model"] > m["precision_at_k_count"]["noise"] + 0.15
    assert m["precision_at_k_class"]["model"] > m["precision_at_k_class"]["noise"] + 0.15
    assert m["knn_class_accuracy"]["model"] > m["knn_class_accuracy"]["noise"]
    assert m["class_accuracy"]["model"] > 0.8
    assert result["split"]["by_field"] and result["split"]["n_fields"] == 6


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_split_by_field_has_no_leakage(seed):
    rng = np.random.default_rng(seed)
    fields = rng.integers(0, 11, 300)  # uneven field sizes
    folds, note = make_splits(fields, n_folds=5, seed=seed)
    assert "field" in note and len(folds) == 5
    seen_test = []
    for split in folds:
        assert split.by_field
        assert set(fields[split.train]).isdisjoint(set(fields[split.test]))
        assert np.unique(fields[split.test]).size >= 2
        assert split.train.size + split.test.size == fields.size
        seen_test.append(split.test)
    # every crop is tested exactly once
    assert np.array_equal(np.sort(np.concatenate(seen_test)), np.arange(fields.size))


def test_every_test_fold_holds_two_fields_even_with_one_huge_field():
    fields = np.repeat(np.arange(7), [300, 10, 10, 10, 10, 10, 10])
    per_fold = np.bincount(list(assign_fields(fields, 3).values()), minlength=3)
    assert per_fold.min() >= 2 and per_fold.sum() == 7
    folds, note = make_splits(fields, n_folds=5)
    assert len(folds) == 3 and "3 folds over 7 fields" in note
    assert all(np.unique(fields[s.test]).size >= 2 for s in folds)


def test_split_few_fields_merges_folds_or_falls_back_to_crops():
    fields = np.repeat([0, 1, 2, 3], 10)
    folds, _ = make_splits(fields, n_folds=5)
    assert len(folds) == 2 and all(np.unique(fields[s.test]).size == 2 for s in folds)
    folds, note = make_splits(np.repeat([0, 1, 2], 10), n_folds=5)
    assert not folds[0].by_field and "only 3 fields" in note and "optimistic" in note
    folds, note = make_splits(np.zeros(30, int), n_folds=5)
    assert not folds[0].by_field and "one field" in note
    with pytest.raises(InputError):
        make_splits(np.zeros(3, int))
    with pytest.raises(InputError, match="n_folds"):
        make_splits(fields, n_folds=1)


# --- known-answer checks of the probe protocol (docs/eval.md, "Probe protocol") -------
def linear_case(seed, n_fields=12, per_field=50, dim=16, r2=0.8):
    """x ~ N(0, I), y = w.x + noise with population R^2 = ``r2``; fields of equal size."""
    rng = np.random.default_rng(seed)
    n = n_fields * per_field
    x = rng.normal(size=(n, dim))
    w = rng.normal(size=dim)
    w *= np.sqrt(r2) / np.linalg.norm(w)
    y = x @ w + rng.normal(0, np.sqrt(1 - r2), n)
    return x, y, np.repeat(np.arange(n_fields), per_field)


def probe_r2(x, y, fields, seed=0):
    """Mean and spread over field-grouped folds of the regression probe's R^2."""
    folds, _ = make_splits(fields, n_folds=5, seed=seed)
    r2 = [regression_probe(x, y, s, seed=seed)["r2"] for s in folds]
    return mean_spread(r2)


def test_known_answer_r2_is_recovered():
    means = [probe_r2(*linear_case(seed), seed=seed)[0] for seed in range(4)]
    assert abs(np.mean(means) - 0.8) < 0.03, means


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pure_noise_features_score_about_zero(seed):
    rng = np.random.default_rng(seed)
    fields = np.repeat(np.arange(8), 50)
    x, y = rng.normal(size=(fields.size, 64)), rng.normal(size=fields.size)
    r2, spread = probe_r2(x, y, fields, seed)
    assert -0.05 <= r2 < 0.02 and spread < 0.1


def test_wild_feature_scales_give_the_same_r2():
    x, y, fields = linear_case(0)
    scales = 10 ** np.random.default_rng(5).uniform(-6, 6, x.shape[1])
    np.testing.assert_allclose(probe_r2(x * scales, y, fields), probe_r2(x, y, fields), atol=1e-6)


def test_units_silent_in_training_fields_do_not_blow_up_the_probe():
    # random-init "dead" units: ~0 everywhere except one field; the unclipped protocol gave
    # R^2 of about -4e10 here (docs/eval.md)
    x, y, fields = linear_case(0)
    dead = 1e-6 * np.random.default_rng(1).normal(size=(y.size, 8))
    dead[fields == 0] += np.linspace(1, 10, 8)
    clean, _ = probe_r2(x, y, fields)
    assert probe_r2(np.column_stack([x, dead]), y, fields)[0] > clean - 0.03


def test_predictions_stay_in_the_training_target_range():
    x, y, fields = linear_case(0, dim=4)
    x_test = x.copy()
    x_test[fields == 0] *= 1e3  # far outside anything seen in training
    folds, _ = make_splits(fields)
    split = next(s for s in folds if np.isin(0, fields[s.test]))
    fit = fit_regression(x_test, y, split)
    assert y[split.train].min() <= fit.predictions.min()
    assert fit.predictions.max() <= y[split.train].max()


def test_ridge_path_matches_sklearn():
    from sklearn.linear_model import Ridge

    rng = np.random.default_rng(0)
    z, y, z_test = rng.normal(size=(50, 6)), rng.normal(size=50), rng.normal(size=(7, 6))
    path = ridge_path(z, y, z_test, [0.1, 10.0])
    for j, alpha in enumerate([0.1, 10.0]):
        np.testing.assert_allclose(path[:, j], Ridge(alpha=alpha).fit(z, y).predict(z_test))


def test_one_standard_error_rule():
    # fold MSEs for lambdas 1, 10, 100: best mean at 1 (1.0); SE of that column 0.1
    mse = np.array([[0.9, 1.05, 2.0], [1.1, 1.05, 2.0]])
    assert one_se_choice(mse, np.array([1.0, 10.0, 100.0]), higher_is_better=False) == 10.0
    acc = np.array([[0.8, 0.5], [0.8, 0.5]])
    assert one_se_choice(acc, np.array([1.0, 10.0]), higher_is_better=True) == 1.0


def test_logistic_probe_on_noise_falls_back_to_the_majority_class():
    rng = np.random.default_rng(0)
    fields = np.repeat(np.arange(8), 40)
    labels = np.where(rng.random(fields.size) < 0.7, "a", "b")
    x = rng.normal(size=(fields.size, 32)) * 10 ** rng.uniform(-4, 4, 32)
    folds, _ = make_splits(fields, seed=0)
    acc = [classification_probe(x, labels, s)["accuracy"] for s in folds]
    chance = [np.mean(labels[s.test] == "a") for s in folds]
    assert np.mean(acc) >= np.mean(chance) - 0.03


def test_mean_spread_and_single_fold():
    assert mean_spread([1.0, 3.0]) == (2.0, pytest.approx(np.sqrt(2)))
    m, s = mean_spread([0.5])
    assert m == 0.5 and np.isnan(s)
    assert np.isnan(regression_scores(np.ones(4), np.zeros(4))["r2"])


def test_knn_weighting_matches_hand_computation():
    # query along x; one class-A neighbour at cos 1, two class-B ones at cos 0.95 and 0.9,
    # a far class-A point outside k=3
    train = np.array(
        [[1.0, 0.0], [0.95, np.sqrt(1 - 0.95**2)], [0.9, -np.sqrt(1 - 0.81)], [-1.0, 0.0]]
    )
    train = train * np.array([[2.0], [0.5], [3.0], [1.0]])  # norms must not matter
    labels = np.array(["A", "B", "B", "A"])
    query = np.array([[5.0, 0.0]])
    pred, scores = knn_predict(train, labels, query, k=3, temperature=0.07)
    expected_a = np.exp(1.0 / 0.07)
    expected_b = np.exp(0.95 / 0.07) + np.exp(0.9 / 0.07)
    np.testing.assert_allclose(scores[0], [expected_a, expected_b], rtol=1e-5)
    assert pred[0] == "A"  # the weighting overturns the 2:1 majority
    pred, scores = knn_predict(train, labels, query, k=3, temperature=1.0)
    np.testing.assert_allclose(scores[0], [np.e, np.exp(0.95) + np.exp(0.9)], rtol=1e-5)
    assert pred[0] == "B"


def test_pca_99_counts_true_rank():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3)) @ rng.normal(size=(3, 20))
    assert n_components_for_variance(x) <= 3
    assert n_components_for_variance(x, 0.999999) == 3
    assert n_components_for_variance(np.ones((10, 4))) == 0


def test_regression_probe_single_split():
    rng = np.random.default_rng(0)
    y = rng.normal(size=100)
    x = np.column_stack([y, rng.normal(size=(100, 5))])
    folds, _ = make_splits(np.repeat(np.arange(10), 10))
    out = regression_probe(x, y, folds[0], n_components=6)
    assert out["r2"] > 0.9 and out["n_components"] == 6 and out["penalty"] > 0
