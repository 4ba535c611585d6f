"""Embeddings carry their dataset's fingerprint; eval and search refuse to pair them with
the truth of another dataset, or with crop ids reordered, duplicated or out of range."""

import json

import numpy as np
import pytest
from eval_toy_data import make_store, planted_features

from meersim.datasets.embeddings import FINGERPRINT, load_embeddings, write_embeddings
from meersim.datasets.store import open_store
from meersim.errors import InputError
from meersim.eval.report import evaluate_run
from meersim.eval.search import relevance_labels, search_run

QUICK = dict(maps=False, tsne=False, attention=False, progress=False)


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    root = tmp_path_factory.mktemp("fingerprint")
    same_size, _, _ = make_store(root / "b", seed=1)  # same shape, other skies
    larger, _, _ = make_store(root / "c", n_fields=8)
    ds, truth, _ = make_store(root / "a")
    store = open_store(ds)
    emb = write_embeddings(root / "emb", planted_features(truth), np.arange(len(truth)),
                           {"dataset": str(ds), "products": ["restored"]}, dataset=store)  # fmt: skip
    return {"root": root, "a": ds, "b": same_size, "c": larger, "emb": emb, "n": len(truth)}


def _copy(src, dst, crop_ids=None, drop_fingerprint=False):
    dst.mkdir()
    for name in ("embeddings.npy", "crop_ids.npy", "meta.json"):
        (dst / name).write_bytes((src / name).read_bytes())
    if crop_ids is not None:
        np.save(dst / "crop_ids.npy", np.asarray(crop_ids, np.int64))
    if drop_fingerprint:
        meta = json.loads((dst / "meta.json").read_text())
        meta.pop(FINGERPRINT)
        (dst / "meta.json").write_text(json.dumps(meta))
    return dst


def test_meta_holds_the_fingerprint(stores):
    fp = load_embeddings(stores["emb"]).meta[FINGERPRINT]
    assert fp["n_crops"] == stores["n"]
    assert len(fp["truth_sha256"]) == 64 and len(fp["crop_ids_sha256"]) == 64


def test_eval_on_the_right_dataset_runs(stores, tmp_path):
    result = evaluate_run(stores["emb"], tmp_path / "r", **QUICK)
    assert result["n_crops"] == stores["n"] and result["metrics"]["count_r2"]["model"] > 0.5


@pytest.mark.parametrize(
    "other, match",
    [("b", "truth table differs"), ("c", r"made from 72 crops, the dataset has 96")],
)
def test_eval_and_search_refuse_another_dataset(stores, tmp_path, other, match):
    with pytest.raises(InputError, match=match):
        evaluate_run(stores["emb"], tmp_path / "r", dataset=stores[other], **QUICK)
    with pytest.raises(InputError, match=match):
        search_run(stores["emb"], "3", k=4, dataset=stores[other])
    assert not (tmp_path / "r").exists()  # refused before any report was written


def test_reordered_duplicated_or_foreign_crop_ids_are_refused(stores, tmp_path):
    n = stores["n"]
    cases = {
        "reversed": (np.arange(n)[::-1], "crop_ids.npy changed"),
        "duplicated": (np.r_[np.arange(n - 1), 0], "appear more than once"),
        "out_of_range": (np.arange(n) + 5, "fall outside the 72 crops"),
    }
    for name, (ids, match) in cases.items():
        emb = _copy(stores["emb"], tmp_path / name, crop_ids=ids)
        with pytest.raises(InputError, match=match):
            evaluate_run(emb, tmp_path / f"r_{name}", **QUICK)
        with pytest.raises(InputError, match=match):
            search_run(emb, "3", k=4)


def test_old_embeddings_without_fingerprint_warn_and_work(stores, tmp_path):
    emb = _copy(stores["emb"], tmp_path / "old", drop_fingerprint=True)
    with pytest.warns(UserWarning, match="no dataset fingerprint"):
        result = evaluate_run(emb, tmp_path / "r", **QUICK)
    assert result["n_crops"] == stores["n"]
    dup = _copy(stores["emb"], tmp_path / "old_dup", crop_ids=np.zeros(stores["n"]),
                drop_fingerprint=True)  # fmt: skip
    with pytest.raises(InputError, match="more than once"):
        evaluate_run(dup, tmp_path / "r2", **QUICK)


def test_search_refuses_k_below_one_and_an_unknown_label(stores):
    with pytest.raises(InputError, match="k: must be >= 1"):
        search_run(stores["emb"], "3", k=0)
    with pytest.raises(InputError, match="'nope' is not a truth column"):
        search_run(stores["emb"], "3", k=4, label="nope")
    out = search_run(stores["emb"], "3", k=4, label="n_sources")
    query_label = str(relevance_labels(open_store(stores["a"]).truth, "n_sources")[3])
    assert len(out["labels"]) == 4
    assert out["precision_at_k"] == np.mean([lab == query_label for lab in out["labels"]])
