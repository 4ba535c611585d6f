"""``meersim eval --label ... --baseline CKPT`` on a labelled store with an official split."""

import json

import numpy as np
import timm
import torch
from astropy.table import Table
from click.testing import CliRunner
from eval_toy_data import write_embedding_dir

from meersim.cli import main
from meersim.datasets.store import write_crops


def test_cli_label_probes_official_split_and_pretrained_baseline(tmp_path):
    rng = np.random.default_rng(0)
    n, size = 60, 32
    yy, xx = np.mgrid[:size, :size]
    fr2 = rng.random(n) < 0.5
    images = rng.normal(0, 1, (n, size, size)).astype(np.float32)
    for i in range(n):  # FRII-like: two lobes far out; FRI-like: a bright core
        if fr2[i]:
            for dx in (-10, 10):
                images[i] += 30 * np.exp(-((xx - 16 - dx) ** 2 + (yy - 16) ** 2) / 6.0)
        else:
            images[i] += 30 * np.exp(-((xx - 16) ** 2 + (yy - 16) ** 2) / 6.0)
    truth = Table({"field_id": np.arange(n), "fr_class": np.where(fr2, "FRII", "FRI"),
                   "split": np.where(np.arange(n) < 40, "train", "test")})  # fmt: skip
    write_crops(tmp_path / "ds", {"restored": images}, truth)
    model = rng.normal(size=(n, 8))
    model[:, 0] += 4 * fr2
    emb = write_embedding_dir(tmp_path / "emb", model, np.arange(n), tmp_path / "ds")
    torch.manual_seed(0)
    ckpt = timm.create_model("resnet18", pretrained=False, num_classes=0, in_chans=3)
    torch.save(ckpt.state_dict(), tmp_path / "r18.pth")
    res = CliRunner().invoke(main, [
        "eval", str(emb), "-o", str(tmp_path / "rep"), "--label", "fr_class", "--no-tsne",
        "--baseline", str(tmp_path / "r18.pth"), "--baseline-size", "32", "--no-progress",
        "--device", "cpu"])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "official split" in res.output and "fr_class:accuracy" in res.output
    metrics = json.loads((tmp_path / "rep" / "metrics.json").read_text())
    assert metrics["split"]["kind"] == "official"
    acc = metrics["metrics"]["fr_class:accuracy"]
    assert set(acc) == {"model", "raw_pca", "pretrained"}
    assert acc["model"] > 0.9 and metrics["metrics"]["fr_class:n_test"]["model"] == 20
    assert acc["raw_pca"] > 0.8  # the classes differ in plain pixels too
