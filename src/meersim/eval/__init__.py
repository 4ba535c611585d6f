"""meersim.eval: how good are the embeddings? Probes, kNN, search, maps and attention.

Main entry points: :func:`evaluate` (arrays in, metrics out; what sweeps call),
:func:`evaluate_run` (the ``meersim eval`` pipeline: report directory with
``metrics.json`` and ``index.html``), :func:`search` / :func:`search_run`.
"""

from meersim.eval.evaluate import EvalConfig, evaluate, evaluate_run, load_embedding_dir
from meersim.eval.probes import knn_predict, make_splits, n_components_for_variance
from meersim.eval.search import build_index, precision_at_k, search, search_run

__all__ = [
    "EvalConfig",
    "build_index",
    "evaluate",
    "evaluate_run",
    "knn_predict",
    "load_embedding_dir",
    "make_splits",
    "n_components_for_variance",
    "precision_at_k",
    "search",
    "search_run",
]
