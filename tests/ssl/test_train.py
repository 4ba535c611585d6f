"""The training loop of every method: learning, resume, DDP, checkpoint format, CLI."""

import csv
import math
import os
import socket

import pytest
import torch
import torch.multiprocessing as mp
from _ssl_synthetic import make_store, method_config, tiny_config

from meersim.ssl.methods import METHODS
from meersim.ssl.train import Trainer, collapse_warnings, read_training_checkpoint, train


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return make_store(tmp_path_factory.mktemp("ssl") / "ds", n=32)


def _rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_training_lowers_loss_without_collapse(store, tmp_path):
    # 200 steps of a 2-block ViT. Views differ by the dihedral group only, so a model this
    # small learns the invariance within seconds; teacher temperature 0.02 and momentum
    # 0.99 suit so short a run (docs/architecture.md §4: lower teacher temperature against collapse).
    cfg = tiny_config(
        store, epochs=50, hidden_dim=256, bottleneck_dim=64, warmup_epochs=5, warmup_teacher_temp=0.02, teacher_temp=0.02, momentum_teacher=0.99,
        augment=dict(global_scale=(1, 1), n_local=0, p_beam=0, p_psf=0, p_noise=0),
    )  # fmt: skip
    train(cfg, tmp_path / "run", progress=False)
    epochs = _rows(tmp_path / "run" / "metrics.csv")
    steps = _rows(tmp_path / "run" / "steps.csv")
    assert len(epochs) == 50 and len(steps) == 200
    start = float(steps[0]["loss"])
    end = sum(float(r["loss"]) for r in steps[-20:]) / 20
    ln_k = math.log(cfg.out_dim)
    assert end < start and end < 0.6 * ln_k, (start, end)
    last = epochs[-1]
    assert float(last["teacher_entropy"]) > 0.05  # not collapsed onto one prototype
    assert float(last["teacher_batch_entropy"]) > 0.5  # crops use different prototypes
    for col in ("kl_teacher_student", "center_norm", "images_per_s", "lr", "momentum"):
        assert float(last[col]) >= 0
    assert float(epochs[0]["momentum"]) < float(last["momentum"]) <= 1.0


def test_simclr_learns_without_collapse(store, tmp_path):
    # 40 steps of SimCLR on the small ResNet: the NT-Xent loss falls well below its value at
    # random weights, and the embeddings keep many directions (the contrastive collapse
    # monitors of docs/architecture.md §4).
    from meersim.ssl.methods.base import COLLAPSE_RANK_FLOOR, COLLAPSE_STD_FLOOR

    cfg = method_config(store, "simclr", epochs=20, batch_size=16, lr=0.05, warmup_epochs=2,
                        augment=dict(p_psf=0))  # fmt: skip
    train(cfg, tmp_path / "run", progress=False)
    epochs = _rows(tmp_path / "run" / "metrics.csv")
    steps = _rows(tmp_path / "run" / "steps.csv")
    assert len(epochs) == 20 and len(steps) == 40
    start = sum(float(r["loss"]) for r in steps[:4]) / 4
    end = sum(float(r["loss"]) for r in steps[-4:]) / 4
    assert end < start - 0.5, (start, end)
    for row in epochs:
        assert float(row["effective_rank"]) > COLLAPSE_RANK_FLOOR
        assert float(row["embedding_std"]) > COLLAPSE_STD_FLOOR


@pytest.mark.parametrize("method", METHODS)
def test_checkpoint_contents_and_resume_reproduces_next_step(store, tmp_path, method):
    cfg = method_config(store, method, epochs=2, augment=dict(p_beam=0.5, p_psf=0.5, p_noise=0.5))
    full = train(cfg, tmp_path / "full", progress=False)
    half_dir = tmp_path / "half"
    train(cfg, half_dir, progress=False, stop_after=1)
    ckpt = read_training_checkpoint(half_dir)
    assert ckpt["epoch"] == 1 and ckpt["step"] == 4
    assert {"model", "embedding_backbone", "optimizer", "scaler", "rng", "config"} <= set(ckpt)
    assert ckpt["method"] == ckpt["config"]["method"] == method
    assert ckpt["config"]["backbone"] == cfg.backbone
    assert not list(half_dir.glob(".*tmp*"))  # atomic write left no temporary file
    train(None, half_dir, resume=True, progress=False)  # config from the checkpoint
    a, b = _rows(tmp_path / "full" / "steps.csv"), _rows(half_dir / "steps.csv")
    assert len(a) == len(b) == 8
    assert abs(float(a[4]["loss"]) - float(b[4]["loss"])) <= 1e-6  # first step after resume
    for ra, rb in zip(a, b, strict=True):
        assert abs(float(ra["loss"]) - float(rb["loss"])) <= 1e-6
    sa = torch.load(full, weights_only=True)["model"]
    sb = torch.load(half_dir / "checkpoint.pth", weights_only=True)["model"]
    for k in sa:  # every network, head, EMA encoder, queue and centre
        torch.testing.assert_close(sa[k], sb[k], rtol=0, atol=1e-6)
    assert len(_rows(half_dir / "metrics.csv")) == 2


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank, world, port, data, out, method):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(world), LOCAL_RANK=str(rank))  # fmt: skip
    torch.set_num_threads(1)
    cfg = method_config(data, method, epochs=1, batch_size=4, device="cpu")
    trainer = Trainer(cfg, out, progress=False)
    try:
        initial = {k: v.clone() for k, v in trainer.method.state_dict().items()}
        seen = []
        trainer.train_epoch(step_log=lambda row: seen.append(row))
        ids = [int(i) for i in trainer.sampler]
        torch.save(
            {"initial": initial, "model": trainer.method.state_dict(),
             "ids": torch.tensor(ids), "steps": len(seen)},
            os.path.join(out, f"rank{rank}.pt"),
        )  # fmt: skip
    finally:
        trainer.close()


@pytest.mark.parametrize("method", ["dino", "simclr"])
def test_ddp_two_processes_stay_identical(store, tmp_path, method):
    port = _free_port()
    mp.spawn(_ddp_worker, args=(2, port, str(store), str(tmp_path), method), nprocs=2, join=True)
    r0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    r1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    assert r0["steps"] == r1["steps"] == 4  # 32 crops / (2 ranks x 4)
    assert set(r0["ids"].tolist()).isdisjoint(r1["ids"].tolist())  # each rank its own crops
    changed = False
    for k in r0["model"]:
        if "running_" in k or "num_batches" in k:
            continue  # BatchNorm statistics are per rank without SyncBatchNorm (CPU)
        torch.testing.assert_close(r0["model"][k], r1["model"][k], rtol=0, atol=0)
        changed |= not torch.equal(r0["model"][k], r0["initial"][k])
    assert changed


def test_cli_train_and_errors(store, tmp_path):
    from click.testing import CliRunner

    from meersim.cli import main

    cfg_yaml = tmp_path / "train.yaml"
    cfg_yaml.write_text(
        "method: dino\nbackbone_kwargs: {depth: 1, embed_dim: 32, num_heads: 2}\nhidden_dim: 64\n"
        "bottleneck_dim: 16\nnum_workers: 0\nwarmup_epochs: 0\n"
        "augment: {global_size: 32, local_size: 16, n_local: 1}\n"
    )
    runner = CliRunner()
    out = tmp_path / "run"
    args = ["train", "--data", str(store), "--config", str(cfg_yaml), "--backbone",
            "vit_tiny_patch8", "--epochs", "1", "--batch-size", "16", "--out-dim", "64",
            "--no-progress", "-o", str(out)]  # fmt: skip
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    assert (out / "checkpoint.pth").exists() and "checkpoint" in result.output
    result = runner.invoke(
        main, ["train", "--resume", "--epochs", "2", "--no-progress", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert read_training_checkpoint(out)["epoch"] == 2
    cfg_yaml.write_text("no_such_key: 1\n")
    bad = runner.invoke(
        main, ["train", "--data", str(store), "--config", str(cfg_yaml), "-o", str(tmp_path / "x")]
    )
    assert bad.exit_code != 0 and "no_such_key" in bad.output
    too_big = runner.invoke(main, args[:-1] + [str(tmp_path / "y")] + ["--batch-size", "64"])
    assert too_big.exit_code != 0 and "batch_size" in too_big.output
    unknown = runner.invoke(main, args[:-1] + [str(tmp_path / "z"), "--method", "swav"])
    assert (
        unknown.exit_code != 0 and "method" in unknown.output and "Traceback" not in unknown.output
    )
    assert len(unknown.output.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("metrics", "kinds"),
    [
        ({"method": "simclr", "epoch": 3, "embedding_std": 0.9, "effective_rank": 20.0}, []),
        ({"method": "simclr", "epoch": 3, "embedding_std": 0.02, "effective_rank": 20.0}, ["std"]),
        ({"method": "byol", "epoch": 3, "embedding_std": 0.5, "effective_rank": 1.5}, ["rank"]),
        ({"method": "dino", "epoch": 3, "loss": 2.0, "teacher_entropy": 1.0,
          "teacher_batch_entropy": 5.0}, []),
        ({"method": "dino", "epoch": 3, "loss": math.log(256), "teacher_entropy": 5.5,
          "teacher_batch_entropy": 5.5}, ["uniform", "flat-teacher"]),
        ({"method": "dino", "epoch": 1, "loss": 3.0, "teacher_entropy": 5.5,
          "teacher_batch_entropy": 5.5}, []),  # early epochs: the teacher starts flat
        ({"method": "dino", "epoch": 3, "loss": 2.0, "teacher_entropy": 0.01,
          "teacher_batch_entropy": 0.1}, ["one-dimension"]),
    ],
)  # fmt: skip
def test_collapse_warnings_name_each_signature(metrics, kinds):
    assert [kind for kind, _ in collapse_warnings(metrics, out_dim=256)] == kinds
