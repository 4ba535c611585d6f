"""meersim.eval: how good are the embeddings? Probes, kNN, search, maps and attention.

Main entry points: :func:`evaluate` (arrays in, metrics out; what sweeps call),
:func:`evaluate_run` (the ``meersim eval`` report: ``metrics.json`` and
``index.html``), :func:`search` / :func:`search_run`.
"""

from meersim.eval.metrics import EvalConfig, evaluate
from meersim.eval.probes import knn_predict, make_splits, n_components_for_variance
from meersim.eval.report import evaluate_run
from meersim.eval.search import build_index, precision_at_k, search, search_run

__all__ = [
    "EvalConfig",
    "build_index",
    "evaluate",
    "evaluate_run",
    "knn_predict",
    "make_splits",
    "n_components_for_variance",
    "precision_at_k",
    "search",
    "search_run",
]
