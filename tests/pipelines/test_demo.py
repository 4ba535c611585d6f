"""meersim demo --quick: end to end, report, summary with numbers, PNGs of the right size."""

import json
import math

import matplotlib.image as mpimg
from click.testing import CliRunner

from meersim.cli import main


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
    for mode in ("noise", "fixed"):
        assert 0 <= summary["sweep"]["leakage"][mode]["value_accuracy"] <= 1
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
