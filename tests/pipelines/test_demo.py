"""meersim demo --quick: end to end, report, summary with numbers, PNGs of the right size."""

import json
import math

import matplotlib.image as mpimg
from click.testing import CliRunner

from meersim.cli import main
from meersim.ssl.methods.base import COLLAPSE_RANK_FLOOR, COLLAPSE_STD_FLOOR


def test_demo_quick_end_to_end(tmp_path):
    out = tmp_path / "demo"
    result = CliRunner().invoke(main, ["demo", "-o", str(out), "--quick", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "Report:" in result.output and "=== [6/6]" in result.output
    index = out / "index.html"
    text = index.read_text()
    assert 'href="eval/index.html"' in text and 'href="sweep/index.html"' in text
    summary = json.loads((out / "summary.json").read_text())
    for feature_set in ("model", "random_init", "raw_pca"):
        value = summary["count_probe"]["mse"][feature_set]
        assert isinstance(value, float) and math.isfinite(value) and value >= 0
    assert summary["n_fields"] == 3 and summary["n_crops"] > 0
    # the headline: R² with its fold spread, collapse monitors of the last epoch, map structure
    assert "trained - random weights" in result.output and "PCA map structure" in result.output
    assert summary["count_probe"]["r2_spread"]["model"] > 0
    pair = summary["count_probe"]["paired_vs_random"]
    r2 = summary["count_probe"]["r2"]
    assert pair["n_folds"] == summary["split"]["n_folds"]
    assert abs(pair["mean"] - (r2["model"] - r2["random_init"])) < 1e-9
    assert summary["split"]["n_folds"] >= 2 and not summary["split"]["by_field"]  # 3 fields
    training = summary["training"]
    assert training["method"] == "simclr" and training["epoch"] == 0
    assert training["embedding_std"] > COLLAPSE_STD_FLOOR
    assert training["effective_rank"] > COLLAPSE_RANK_FLOOR
    assert set(summary["pca_map_count_structure"]) == {"model", "random_init", "raw_pca"}
    for mode in ("noise", "fixed"):
        assert summary["sweep"]["leakage"][mode]["value_chance"] == 0.5  # two noise levels
    # sweep plots are 5 x 3.5 in at 100 dpi
    image = mpimg.imread(out / "sweep" / "count_mse.png")
    assert image.shape[:2] == (350, 500)
    for name in (out / "eval").glob("*.png"):
        assert min(mpimg.imread(name).shape[:2]) > 100
    assert (out / "eval" / "metrics.json").exists()
    # a re-run resumes: nothing is recomputed, same numbers
    again = CliRunner().invoke(main, ["demo", "-o", str(out), "--quick", "--device", "cpu"])
    assert again.exit_code == 0, again.output
    assert json.loads((out / "summary.json").read_text())["count_probe"] == summary["count_probe"]
