"""Anomaly scorers, ranking metrics, the active-learning loop and the anomaly reports."""

import json

import numpy as np
import pytest
from astropy.table import Table
from click.testing import CliRunner

from meersim.cli import main
from meersim.datasets.embeddings import write_embeddings
from meersim.datasets.store import open_store, write_crops
from meersim.errors import InputError
from meersim.eval.active import refit_ranking, simulate
from meersim.eval.anomaly import SCORERS, anomaly_scores, ranking_metrics
from meersim.eval.anomaly_report import anomaly_run
from meersim.eval.report import evaluate_run


def scattered(n=1500, n_rare=30, dim=24, shift=15.0, seed=0):
    """Normal crops: features near a 4-dimensional subspace away from the origin (as
    embeddings are); rare ones pushed out of it in random directions."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)) @ rng.normal(size=(4, dim)) + 0.3 * rng.normal(size=(n, dim)) + 5.0
    y = np.zeros(n, bool)
    rare = rng.choice(n, n_rare, replace=False)
    y[rare] = True
    directions = rng.normal(size=(n_rare, dim))
    x[rare] += shift * directions / np.linalg.norm(directions, axis=1, keepdims=True)
    return x, y


def test_ranking_metrics_by_hand():
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    labels = np.array([True, False, True, False, False, False])
    m = ranking_metrics(scores, labels, top_fraction=0.34, top_counts=(1, 3))
    assert m["auroc"] == pytest.approx(7 / 8)  # 7 of the 8 (rare, normal) pairs ordered right
    assert m["average_precision"] == pytest.approx((1 + 2 / 3) / 2)
    assert m["recall_at_1"] == 0.5 and m["recall_at_3"] == 1.0
    assert m["recall_at_34pct"] == 1.0  # ceil(0.34 * 6) = 3 crops
    assert np.isnan(ranking_metrics(scores, np.zeros(6, bool))["auroc"])


def test_every_scorer_finds_scattered_rarities_and_none_finds_random_labels():
    x, y = scattered()
    scores = anomaly_scores(x)
    assert set(scores) == set(SCORERS)
    for name, s in scores.items():
        m = ranking_metrics(s, y)
        assert m["auroc"] > 0.95, name
        assert m["recall_at_50"] >= 0.5, name
        shuffled = ranking_metrics(s, np.random.default_rng(1).permutation(y))
        assert abs(shuffled["auroc"] - 0.5) < 0.1, name


def test_active_learning_lifts_recall_where_the_score_alone_fails():
    """Rare crops form one group in feature space that a weak anomaly score only partly
    ranks high; the few the user finds teach the regressor where the rest are."""
    rng = np.random.default_rng(4)
    n, dim = 1200, 16
    x = rng.normal(size=(n, dim))
    y = np.zeros(n, bool)
    y[:40] = True
    x[:40] = rng.normal(size=(40, dim)) * 0.3 + 3.0 * np.eye(dim)[0]
    anomaly = rng.normal(size=n) + 1.5 * y  # a weak start
    curve = simulate(x, anomaly, y, batch=20, rounds=6, top_k=100, seed=0)
    assert curve["n_labelled"] == [0, 20, 40, 60, 80, 100, 120]
    assert curve["recall_at_k"][-1] >= curve["static_recall_at_k"] + 0.1
    assert curve["labels_to_lift"] is not None and curve["labels_to_lift"] <= 120
    assert curve["found"][-1] >= curve["found_static"][-1]
    # no labels: the ranking is the anomaly rank
    np.testing.assert_array_equal(np.argsort(refit_ranking(None, anomaly, {})), np.argsort(anomaly))


@pytest.fixture(scope="module")
def rare_run(tmp_path_factory):
    """A store whose rare crops hold rings, embeddings that see them, and a random twin."""
    root = tmp_path_factory.mktemp("anomaly")
    x, y = scattered(n=240, n_rare=12, dim=16, seed=2)
    rng = np.random.default_rng(0)
    images = rng.normal(0, 1e-5, (240, 32, 32)).astype(np.float32)
    yy, xx = np.mgrid[:32, :32]
    for i in np.flatnonzero(y):  # rings of different sizes and places
        cx, cy, radius = rng.uniform(12, 20), rng.uniform(12, 20), rng.uniform(5, 11)
        images[i] += 1e-3 * np.exp(-((np.hypot(xx - cx, yy - cy) - radius) ** 2) / 4.0)
    truth = Table({"field_id": np.arange(240) // 40, "n_sources": rng.integers(0, 5, 240),
                   "has_rare": y, "n_rare": y.astype(int),
                   "rare_class": np.where(y, "orc", "none")})  # fmt: skip
    ds = write_crops(root / "ds", {"restored": images}, truth)
    ids, store = np.arange(240), open_store(ds)
    meta = {"dataset": str(ds), "checkpoint": None, "products": ["restored"]}
    emb = write_embeddings(root / "emb", x, ids, meta, dataset=store)
    rnd = write_embeddings(root / "rnd", rng.normal(size=x.shape), ids, dict(meta, random_init=True),
                           dataset=store)  # fmt: skip
    return {"root": root, "ds": ds, "emb": emb, "rnd": rnd, "labels": y}


def test_anomaly_report_files_metrics_and_overwrite_guard(rare_run, tmp_path):
    out = tmp_path / "report"
    cfg = {"al_rounds": 3, "al_batch": 10, "iforest_trees": 50}
    result = anomaly_run(rare_run["emb"], out, random_emb_dir=rare_run["rnd"], config=cfg,
                         progress=False)  # fmt: skip
    metrics = result["anomaly"]["metrics"]
    assert set(metrics["knn"]) == {"model", "random_init", "raw_pca"}
    assert metrics["knn"]["model"]["auroc"] > 0.9
    assert metrics["knn"]["random_init"]["auroc"] < 0.75
    assert metrics["pca"]["raw_pca"]["auroc"] > 0.9  # the rings are bright: pixels see them too
    saved = json.loads((out / "anomaly.json").read_text())
    assert "scores" not in saved["anomaly"] and saved["anomaly"]["active_learning"]["model"]
    scores = Table.read(out / "scores.csv", format="ascii.csv")
    assert list(scores["crop_id"]) == list(range(240)) and set(SCORERS) <= set(scores.colnames)
    assert (out / "anomaly_active.png").exists() and (out / "anomaly_top.png").exists()
    assert "injected rarities" in (out / "index.html").read_text()
    with pytest.raises(InputError, match="--overwrite"):
        anomaly_run(rare_run["emb"], out, config=cfg, progress=False)
    again = anomaly_run(rare_run["emb"], out, config={**cfg, "al_rounds": 0}, overwrite=True,
                        progress=False)  # fmt: skip
    assert set(again["anomaly"]["metrics"]["knn"]) == {"model", "raw_pca"}


def test_anomaly_cli_and_the_eval_section(rare_run, tmp_path):
    cfg = tmp_path / "a.yaml"
    cfg.write_text("al_rounds: 2\nknn_k: 5\niforest_trees: 50\n")
    res = CliRunner().invoke(main, ["anomaly", str(rare_run["emb"]), "-o", str(tmp_path / "a"),
                                    "--random", str(rare_run["rnd"]), "--config", str(cfg),
                                    "--no-progress"])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "auroc" in res.output and "active learning (model)" in res.output
    bad = CliRunner().invoke(main, ["anomaly", str(tmp_path), "-o", str(tmp_path / "b")])
    assert bad.exit_code != 0 and "embeddings.npy" in bad.output and "Traceback" not in bad.output
    result = evaluate_run(rare_run["emb"], tmp_path / "e", random_emb_dir=rare_run["rnd"],
                          tsne=False, maps=False, progress=False,
                          anomaly_config={"al_rounds": 1, "iforest_trees": 50})  # fmt: skip
    assert result["anomaly"]["metrics"]["iforest"]["model"]["auroc"] > 0.9
    assert "Anomalies" in (tmp_path / "e" / "index.html").read_text()
    assert "anomaly" in json.loads((tmp_path / "e" / "metrics.json").read_text())
