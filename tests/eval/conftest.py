"""Fixtures of the eval tests (helpers live in eval_toy_data.py)."""

import numpy as np
import pytest
from eval_toy_data import make_store, planted_features, source_attention, write_embedding_dir


@pytest.fixture(scope="session")
def toy(tmp_path_factory):
    """A store, model embeddings with signal and attention, and random-init embeddings."""
    root = tmp_path_factory.mktemp("eval_toy")
    ds, truth, sky = make_store(root / "ds")
    ids = np.arange(len(truth))
    model = planted_features(truth)
    att = source_attention(sky, truth["noise_rms"])
    emb = write_embedding_dir(root / "emb", model, ids, ds, attention=att)
    rnd_vec = np.random.default_rng(5).normal(size=model.shape)
    # the random-init directory is written in another row order on purpose
    perm = np.random.default_rng(6).permutation(len(ids))
    rnd = write_embedding_dir(root / "emb_random", rnd_vec[perm], ids[perm], ds, random_init=True)
    return {
        "root": root,
        "ds": ds,
        "truth": truth,
        "sky": sky,
        "emb": emb,
        "random": rnd,
        "model": model,
        "random_vectors": rnd_vec,
        "attention": att,
    }
