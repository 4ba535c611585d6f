"""`meersim train` never replaces a run (or its metrics.csv) without --overwrite, never
starts over silently on --resume, and leaves no temporary checkpoint on a full disk."""

import errno

import pytest
from _ssl_synthetic import make_store, tiny_config
from click.testing import CliRunner

from meersim.cli import main
from meersim.errors import DiskFullError, InputError
from meersim.ssl.train import read_training_checkpoint, train

# one-epoch runs of a tiny model: the collapse monitor's warning is expected
pytestmark = pytest.mark.filterwarnings("ignore:epoch 0")


def _config(store, epochs=1):
    """Smaller still than tiny_config: one block, 32 wide, no local views."""
    return tiny_config(store, epochs=epochs, backbone_kwargs={"depth": 1, "embed_dim": 32,
                       "num_heads": 2}, out_dim=32, hidden_dim=32, bottleneck_dim=16,
                       augment={"n_local": 0})  # fmt: skip


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    root = tmp_path_factory.mktemp("train_safety")
    store = make_store(root / "ds", n=16)
    run = root / "run"
    train(_config(store), run, progress=False)
    return store, run


def _snapshot(run):
    return {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}


def test_a_finished_run_is_refused_without_resume_or_overwrite(finished):
    store, run = finished
    before = _snapshot(run)
    with pytest.raises(InputError, match=r"finished: epoch 1 of 1.*--resume.*--overwrite"):
        train(_config(store, epochs=1), run, progress=False)
    assert _snapshot(run) == before  # checkpoint and metrics.csv untouched


def test_cli_refuses_and_names_the_options(finished, tmp_path):
    store, run = finished
    before = _snapshot(run)
    yaml_path = tmp_path / "t.yaml"
    yaml_path.write_text("method: dino\nbackbone_kwargs: {depth: 1, embed_dim: 32, num_heads: 2}\n"
                         "num_workers: 0\naugment: {global_size: 32, local_size: 16, n_local: 1}\n")  # fmt: skip
    args = ["train", "--data", str(store), "--config", str(yaml_path), "--backbone",
            "vit_tiny_patch8", "--epochs", "1", "--batch-size", "8", "--out-dim", "32",
            "--no-progress", "-o", str(run)]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert "a training run is already here" in result.output and "--overwrite" in result.output
    both = CliRunner().invoke(main, args + ["--resume", "--overwrite"])
    assert both.exit_code == 1 and "together" in both.output
    assert _snapshot(run) == before


def test_resume_without_a_checkpoint_is_an_error(finished, tmp_path):
    store, _ = finished
    with pytest.raises(InputError, match="no checkpoint to resume from"):
        train(_config(store, epochs=1), tmp_path / "new", resume=True, progress=False)
    assert not (tmp_path / "new").exists()


def test_user_files_in_the_run_directory_are_not_replaced(finished, tmp_path):
    store, _ = finished
    (tmp_path / "config.yaml").write_text("my own notes\n")
    with pytest.raises(InputError, match="config.yaml"):
        train(_config(store, epochs=1), tmp_path, progress=False)
    assert (tmp_path / "config.yaml").read_text() == "my own notes\n"


def test_overwrite_starts_again_and_resume_continues(finished, tmp_path):
    store, run = finished
    copy = tmp_path / "run"
    copy.mkdir()
    for name, data in _snapshot(run).items():
        (copy / name).write_bytes(data)
    with pytest.warns(UserWarning, match="changed settings: epochs"):
        train(_config(store, epochs=2), copy, resume=True, progress=False)
    assert read_training_checkpoint(copy)["epoch"] == 2
    assert len((copy / "metrics.csv").read_text().splitlines()) == 3  # header + 2 epochs
    train(_config(store, epochs=1), copy, overwrite=True, progress=False)
    assert read_training_checkpoint(copy)["epoch"] == 1
    assert len((copy / "metrics.csv").read_text().splitlines()) == 2


def test_full_disk_while_saving_the_checkpoint_leaves_no_temporary_file(finished, tmp_path,
                                                                        monkeypatch):  # fmt: skip
    import torch

    store, _ = finished
    real_save = torch.save

    def save_then_fail(obj, fh, *args, **kwargs):
        real_save(obj, fh, *args, **kwargs)  # megabytes written, then the disk is full
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", save_then_fail)
    run = tmp_path / "run"
    with pytest.raises(DiskFullError, match="checkpoint.pth: no space left"):
        train(_config(store, epochs=1), run, progress=False)
    assert not [p.name for p in run.iterdir() if ".tmp" in p.name]
    assert not (run / "checkpoint.pth").exists()
