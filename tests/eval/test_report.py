import json
import re

import numpy as np
from click.testing import CliRunner
from matplotlib.image import imread

from meersim.cli import main
from meersim.datasets.store import open_store
from meersim.eval.baselines import block_average
from meersim.eval.metrics import evaluate
from meersim.eval.report import evaluate_run


def test_evaluate_run_writes_metrics_html_and_pngs(toy, tmp_path):
    out = tmp_path / "report"
    result = evaluate_run(toy["emb"], out, random_emb_dir=toy["random"], tsne=False, progress=False)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["split"]["by_field"] and metrics["split"]["n_fields"] == 6
    for name in (
        "count_mse",
        "log_flux_r2",
        "log_rms_mse",
        "class_macro_f1",
        "knn_class_accuracy",
        "precision_at_k_count",
        "pca_components_99",
        "pca_map_count_structure",
    ):
        assert set(metrics["metrics"][name]) == {"model", "random_init", "raw_pca"}
    m = metrics["metrics"]
    # the planted model beats random-init weights, which were written in shuffled row order
    assert m["count_mse"]["model"] < m["count_mse"]["random_init"]
    assert m["precision_at_k_class"]["model"] > m["precision_at_k_class"]["random_init"]
    assert metrics["dims"]["raw_pca"] == 16
    att = metrics["attention"]
    assert att["lift"][0] > 1.5 and abs(att["lift"][1] - 1) < 1e-6
    # per-fold metrics: a spread for each probe and kNN score, the training-mean floor beside
    for name in ("count_r2", "class_accuracy", "knn_class_accuracy"):
        assert metrics["spread"][name]["model"] >= 0
    assert "precision_at_k_count" not in metrics["spread"]
    assert metrics["mean_predictor"]["count_r2"] <= 0.05
    html = (out / "index.html").read_text()
    assert re.search(r"\d\.\d+ &plusmn; \d\.\d+", html) and "training mean" in html
    images = re.findall(r'<img src="([^"]+)"', html)
    assert "metrics.png" in images and "count_scatter.png" in images
    assert len(images) == len(result["report"]["figures"])
    for name in images:
        assert imread(out / name).ndim == 3  # a real PNG beside the page
    assert imread(out / "metrics.png").shape[:2] == (400, 1000)
    assert imread(out / "count_scatter.png").shape[:2] == (320, 3 * 320)


def test_same_folds_for_all_feature_sets(toy):
    # a baseline identical to the model must score identically: same folds, same probes
    r = evaluate(toy["model"], toy["truth"], {"copy": toy["model"].copy()}, seed=3)
    for values in r["metrics"].values():
        assert values["model"] == values["copy"]
    for values in r["spread"].values():
        assert values["model"] == values["copy"] or np.isnan(values["model"])


def test_raw_baseline_block_average():
    x = np.arange(16.0).reshape(1, 4, 4)
    x[0, 0, 0] = np.nan
    out = block_average(x, 2)
    np.testing.assert_allclose(out[0], [[(0 + 1 + 4 + 5) / 4, (2 + 3 + 6 + 7) / 4], [10.5, 12.5]])


def test_cli_eval_and_search(toy, tmp_path):
    runner = CliRunner()
    res = runner.invoke(
        main,
        [
            "eval",
            str(toy["emb"]),
            "--random",
            str(toy["random"]),
            "-o",
            str(tmp_path / "r"),
            "--no-tsne",
            "--no-progress",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "count_mse" in res.output and "index.html" in res.output
    res = runner.invoke(
        main, ["search", str(toy["emb"]), "--query", "3", "-k", "4", "-o", str(tmp_path / "g.png")]
    )
    assert res.exit_code == 0, res.output
    assert "precision@4" in res.output and (tmp_path / "g.png").exists()
    res = runner.invoke(main, ["search", str(toy["emb"]), "--query", "99999"])
    assert res.exit_code != 0 and "Traceback" not in res.output
    assert open_store(toy["ds"]).n_crops == 72


def test_make_random_without_checkpoint_is_a_clear_error(toy, tmp_path):
    import pytest

    from meersim.errors import InputError

    with pytest.raises(InputError, match="checkpoint"):
        evaluate_run(toy["emb"], tmp_path / "r", make_random=True, maps=False, attention=False)


def test_single_field_fallback_is_reported(toy):
    truth = toy["truth"].copy()
    truth["field_id"] = 0
    r = evaluate(toy["model"], truth, seed=0)
    assert not r["split"]["by_field"] and "one field" in r["split"]["note"]
