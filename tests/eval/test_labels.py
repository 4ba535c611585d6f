"""``--label`` probes on synthetic labels with a known answer, and the split choice."""

import numpy as np
import pytest
from astropy.table import Table

from meersim.errors import InputError
from meersim.eval import evaluate
from meersim.eval.labels import choose_splits, parse_labels


def _data(n=240, n_fields=8, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 12))
    truth = Table()
    truth["field_id"] = np.repeat(np.arange(n_fields), n // n_fields)
    # known answers: the class is the sign of feature 0, the size is linear in feature 1
    truth["morph"] = np.where(x[:, 0] + 0.2 * rng.normal(size=n) > 0, "FRII", "FRI")
    truth["size"] = 3.0 * x[:, 1] + 0.3 * rng.normal(size=n)
    truth["shuffled"] = rng.permutation(np.asarray(truth["morph"]))
    truth["shuffled_size"] = rng.permutation(np.asarray(truth["size"]))
    truth["code"] = np.where(x[:, 0] > 0, 200, 100)
    truth["constant"] = np.full(n, "FRI")
    truth["noise_rms"] = np.full(n, 3e-6)
    return x, truth


def test_label_probes_beat_chance_and_shuffled_labels_do_not():
    x, truth = _data()
    labels = ["morph", "size", "shuffled", "shuffled_size", "code:cat"]
    result = evaluate(x, truth, labels=labels, seed=0)
    m = {k: v["model"] for k, v in result["metrics"].items()}
    assert result["split"]["kind"] == "grouped_cv"
    assert m["morph:accuracy"] > 0.85 and m["morph:chance_accuracy"] < 0.6
    assert m["morph:knn_accuracy"] > 0.75 and m["morph:precision_at_k"] > 0.65
    assert m["size:r2"] > 0.9 and m["size:knn_r2"] > 0.3 and m["size:chance_r2"] < 0.05
    assert m["shuffled:accuracy"] < m["shuffled:chance_accuracy"] + 0.1
    assert m["shuffled:precision_at_k"] < 0.6
    assert -0.05 <= m["shuffled_size:r2"] < 0.1  # a probe never far below the mean
    spread = {k: v["model"] for k, v in result["spread"].items()}
    assert 0 <= spread["size:r2"] < 0.1 and "morph:precision_at_k" not in spread
    assert m["code:accuracy"] > 0.9  # integer class ids probed as categories
    assert m["morph:n_test"] == len(truth)


def test_constant_columns_are_skipped_with_a_note():
    x, truth = _data()
    result = evaluate(x, truth, labels=["constant", "morph"], seed=0)
    assert not any(k.startswith("constant:") for k in result["metrics"])
    assert any("'constant' has one value" in n for n in result["notes"])
    # one noise level (e.g. a single field): no silent log_rms_r2 = 0
    assert "log_rms_r2" not in result["metrics"]
    assert any(n.startswith("log_rms is the same") for n in result["notes"])


def test_official_split_is_used_and_reported():
    x, truth = _data()
    split = np.array(["train"] * 160 + ["valid"] * 20 + ["test"] * 60)
    truth["split"] = split
    result = evaluate(x, truth, labels=["morph"], seed=0)
    assert result["split"]["kind"] == "official"
    assert "official split" in result["split"]["note"] and "60 test" in result["split"]["note"]
    m = result["metrics"]
    assert m["morph:n_test"]["model"] == 60
    test = split == "test"
    assert m["morph:accuracy"]["model"] > 0.8  # chance 0.5
    # the score is on the test rows alone: a label garbled only on test rows fails
    truth["garbled"] = np.where(test, np.asarray(truth["shuffled"]), np.asarray(truth["morph"]))
    garbled = evaluate(x, truth, labels=["garbled"], seed=0)["metrics"]["garbled:accuracy"]
    assert garbled["model"] < 0.7


def test_split_and_label_errors():
    x, truth = _data(n=40, n_fields=4)
    truth["split"] = ["train"] * 40
    with pytest.raises(InputError, match="split"):
        choose_splits(truth, np.asarray(truth["field_id"]), 5, 0)
    truth["split"] = ["train"] * 39 + ["holdout"]
    with pytest.raises(InputError, match="holdout"):
        choose_splits(truth, np.asarray(truth["field_id"]), 5, 0)
    with pytest.raises(InputError, match="no such truth column"):
        parse_labels(["nope"], truth)
    with pytest.raises(InputError, match="text cannot"):
        parse_labels(["morph:num"], truth)
    assert parse_labels(["size"], truth)[0].kind == "numeric"


def test_missing_values_are_left_out():
    x, truth = _data()
    masked = Table(truth, masked=True)
    masked["morph"].mask = np.arange(len(truth)) % 5 == 0
    masked["size"][::7] = np.nan
    result = evaluate(x, masked, labels=["morph", "size"], seed=0)
    m = result["metrics"]
    assert m["morph:n_test"]["model"] == len(truth) - len(truth[::5])
    assert m["size:n_test"]["model"] == len(truth) - len(truth[::7])
    assert m["morph:accuracy"]["model"] > 0.85 and m["size:r2"]["model"] > 0.9
