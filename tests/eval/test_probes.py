import numpy as np
import pytest
from eval_toy_data import planted_features

from meersim.errors import InputError
from meersim.eval.metrics import evaluate
from meersim.eval.probes import (
    knn_predict,
    make_splits,
    n_components_for_variance,
    regression_probe,
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
    fields = rng.integers(0, 7, 200)  # uneven field sizes
    folds, note = make_splits(fields, n_folds=5, seed=seed)
    assert "field" in note and len(folds) == 5
    seen_test = []
    for split in folds:
        assert split.by_field
        assert set(fields[split.train]).isdisjoint(set(fields[split.test]))
        assert split.train.size + split.test.size == fields.size
        seen_test.append(split.test)
    # every crop is tested exactly once
    assert np.array_equal(np.sort(np.concatenate(seen_test)), np.arange(fields.size))


def test_split_fewer_fields_than_folds_and_single_field_fallback():
    folds, _ = make_splits(np.repeat([0, 1, 2], 10), n_folds=5)
    assert len(folds) == 3
    for split in folds:
        assert np.unique(np.repeat([0, 1, 2], 10)[split.test]).size == 1
    folds, note = make_splits(np.zeros(30, int), n_folds=5)
    assert not folds[0].by_field and "one field" in note
    with pytest.raises(InputError):
        make_splits(np.zeros(3, int))


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
    assert out["r2"] > 0.9 and out["n_components"] == 6
