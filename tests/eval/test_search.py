import numpy as np
import pytest
from astropy.table import Table
from matplotlib.image import imread

from meersim.errors import InputError
from meersim.eval.search import (
    build_index,
    precision_at_k,
    relevance_labels,
    search,
    search_run,
)


def _brute_force(x, q, k):
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    qn = q / np.linalg.norm(q, axis=1, keepdims=True)
    sim = qn @ xn.T
    order = np.argsort(-sim, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(sim, order, axis=1), order


def test_flat_index_matches_numpy_brute_force():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 24)).astype(np.float32)
    q = rng.normal(size=(30, 24)).astype(np.float32)
    sim, rows = search(x, q, k=10)
    ref_sim, ref_rows = _brute_force(x.astype(np.float64), q.astype(np.float64), 10)
    np.testing.assert_array_equal(rows, ref_rows)
    np.testing.assert_allclose(sim, ref_sim, atol=1e-5)


def test_row_queries_exclude_themselves():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(50, 8))
    _, rows = search(x, np.arange(50), k=5)
    assert not np.any(rows == np.arange(50)[:, None])
    _, ref = _brute_force(x, x, 6)
    np.testing.assert_array_equal(rows, ref[:, 1:])
    with pytest.raises(InputError):
        search(x, np.array([50]), k=3)


def test_ivf_recall_on_clustered_set():
    rng = np.random.default_rng(2)
    centres = rng.normal(size=(20, 32))
    x = (centres[rng.integers(0, 20, 3000)] + 0.15 * rng.normal(size=(3000, 32))).astype(np.float32)
    q = (centres[rng.integers(0, 20, 200)] + 0.15 * rng.normal(size=(200, 32))).astype(np.float32)
    flat = build_index(x, "flat")
    ivf = build_index(x, "ivf", nlist=20, nprobe=3, seed=0)
    assert ivf.kind == "ivf" and ivf.index.nlist == 20
    _, exact = search(x, q, 10, index=flat)
    _, approx = search(x, q, 10, index=ivf)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(exact, approx, strict=True)])
    assert recall > 0.95


def test_precision_at_k_by_hand():
    labels = np.array(["a", "a", "b", "b", "a"])
    neighbours = np.array([[1, 2, 4], [0, -1, 3]])
    assert precision_at_k(labels, neighbours, np.array([0, 1])) == pytest.approx(
        (2 / 3 + 1 / 3) / 2
    )


def test_relevance_labels_bins_counts():
    t = Table({"n_sources": [0, 1, 2, 3, 5, 40], "dominant_class": ["x", "y", "x", "y", "x", "x"]})
    np.testing.assert_array_equal(
        relevance_labels(t, "n_sources", (0, 1, 2, 4, 8)), [0, 1, 2, 2, 3, 4]
    )
    assert list(relevance_labels(t, "dominant_class")[:2]) == ["x", "y"]


def test_search_run_writes_neighbour_grid(toy, tmp_path):
    out = search_run(toy["emb"], "7", k=8, out_png=tmp_path / "grid.png")
    assert len(out["crop_ids"]) == 8 and 7 not in out["crop_ids"]
    assert np.all(np.diff(out["similarity"]) <= 1e-6)
    assert 0 <= out["precision_at_k"] <= 1
    img = imread(out["grid"])
    # 9 panels in 5 columns of 2.4 inches at 100 dpi -> 1200 x 480 pixels
    assert img.shape[:2] == (480, 1200)
    with pytest.raises(InputError):
        search_run(toy["emb"], "nonexistent.fits", k=3)
