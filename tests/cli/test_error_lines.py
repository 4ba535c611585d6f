"""Each class of bad input the issue found ends in one clear `Error:` line, not a traceback."""

import errno

import numpy as np
import pytest
import yaml
from astropy.table import Table
from click.testing import CliRunner

from meersim.cli import main
from meersim.datasets.build import example_config_path
from meersim.datasets.embeddings import write_embeddings
from meersim.datasets.store import write_crops
from meersim.grid import Grid
from meersim.io import write_image

# the default catalog mostly misses the tiny 32-pixel grid: its off-grid note is expected
pytestmark = pytest.mark.filterwarnings("ignore:render_sky")


def error_line(args, *fragments):
    """Run the CLI; assert it failed with one `Error:` line holding every fragment."""
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code in (1, 2), result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.output
    for fragment in fragments:
        assert fragment in errors[0], errors[0]
    return errors[0]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli_errors")
    sky = np.zeros((1, 32, 32), np.float32)
    sky[0, 16, 16] = 0.01
    write_image(root / "sky.fits", sky, Grid(32, 32, 10.0, 30.0, -40.0), "JY/PIXEL")
    write_image(root / "odd.fits", np.zeros((33, 33)), Grid(33, 33, 10.0, 30.0, -40.0),
                "JY/PIXEL")  # fmt: skip
    obs = CliRunner().invoke(main, ["observe", str(root / "sky.fits"), "--antennas", "8",
                                    "--hours", "0.5", "--dump", "900", "--nchan", "1",
                                    "--no-noise", "-o", str(root / "obs"), "--no-progress"])  # fmt: skip
    assert obs.exit_code == 0, obs.output
    arrays = {"restored": np.random.default_rng(0).normal(size=(12, 8, 8)).astype(np.float32)}
    truth = Table({"field_id": np.arange(12) // 4, "n_sources": np.arange(12) % 3,
                   "dominant_class": ["sfg", "fr1", "point"] * 4})  # fmt: skip
    ds = write_crops(root / "ds", arrays, truth)
    from meersim.datasets.store import open_store

    write_embeddings(root / "emb", np.random.default_rng(1).normal(size=(12, 4)), np.arange(12),
                     {"dataset": str(ds), "products": ["restored"]}, dataset=open_store(ds))  # fmt: skip
    (root / "afile").write_text("a file, not a folder")
    (root / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    return root


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _dataset_yaml(root, name, **field):
    config = yaml.safe_load(example_config_path().read_text())
    config["field"].update(field)
    path = root / name
    path.write_text(yaml.safe_dump(config))
    return path


def test_png_as_yaml(files):
    png = files / "image.png"
    error_line(["dataset", "--config", png, "-o", files / "x"], "image.png", "not a UTF-8 text")
    error_line(["train", "--data", files / "ds", "--config", png, "-o", files / "x"], "image.png")
    error_line(["eval", files / "emb", "-o", files / "x", "--config", png], "image.png")


def test_wrong_types_in_yaml(files):
    error_line(["dataset", "--config", _dataset_yaml(files, "big.yaml", npix="big"), "-o",
                files / "x"], "field.npix", "'big'")  # fmt: skip
    (files / "folds.yaml").write_text("n_folds: three\n")
    error_line(["eval", files / "emb", "-o", files / "x", "--config", files / "folds.yaml"],
               "n_folds", "integer", "'three'")  # fmt: skip


def test_zero_and_negative_options(files):
    error_line(["eval", files / "emb", "-o", files / "x", "--raw-size", "0"], "--raw-size")
    error_line(["embed", files / "emb", "--data", files / "ds", "-o", files / "x",
                "--batch-size", "0"], "--batch-size")  # fmt: skip
    error_line(["dataset", "--config", example_config_path(), "-o", files / "x", "--seed", "-1"],
               "--seed")  # fmt: skip
    error_line(["search", files / "emb", "--query", "0", "-k", "0"], "-k")


def test_truncated_files(files, tmp_path):
    import shutil

    obs = shutil.copytree(files / "obs", tmp_path / "obs")
    _truncate(obs / "vis.npz")
    error_line(["clean", obs, "--niter", "5"], "vis.npz", "truncated or damaged", "--image-plane")
    emb = shutil.copytree(files / "emb", tmp_path / "emb")
    _truncate(emb / "embeddings.npy")
    error_line(["eval", emb, "-o", tmp_path / "r"], "embeddings.npy", "truncated")
    error_line(["search", emb, "--query", "0"], "embeddings.npy", "truncated")


def test_missing_vis_npz_does_not_switch_clean_to_image_plane(files, tmp_path):
    import shutil

    obs = shutil.copytree(files / "obs", tmp_path / "obs")
    (obs / "vis.npz").unlink()
    error_line(["clean", obs, "--niter", "5"], "vis.npz", "missing", "--image-plane")
    assert not (obs / "restored.fits").exists()
    ok = CliRunner().invoke(main, ["clean", str(obs), "--niter", "5", "--image-plane"])
    assert ok.exit_code == 0 and "image-plane" in ok.output


def test_output_under_an_existing_file(files):
    under = files / "afile" / "out"
    error_line(["sky", "--npix", "32", "-o", under / "s.fits", "--no-progress"], "afile")
    error_line(["observe", files / "sky.fits", "--antennas", "8", "--hours", "0.5", "--dump",
                "900", "--nchan", "1", "-o", under, "--no-progress"], "afile is a file")  # fmt: skip
    error_line(["catalog", "synth", "--area", "0.001", "-o", under / "c.fits"], "afile")
    error_line(["dataset", "--config", example_config_path(), "-o", under, "--no-progress"],
               "afile is a file")  # fmt: skip
    error_line(["eval", files / "emb", "-o", under, "--no-progress"], "afile is a file")


def test_odd_npix_in_vis_mode_observe(files):
    error_line(["observe", files / "odd.fits", "--antennas", "8", "--hours", "0.5", "--dump",
                "900", "--nchan", "1", "-o", files / "x", "--no-progress"],
               "33x33 pixels", "even")  # fmt: skip


def test_search_unknown_label_and_small_npix(files):
    error_line(["search", files / "emb", "--query", "0", "--label", "colour"], "'colour'",
               "not a truth column")  # fmt: skip
    error_line(["dataset", "--config", _dataset_yaml(files, "small.yaml", npix=100), "-o",
                files / "x"], "field.npix", "crops.size (256)")  # fmt: skip


def test_full_disk_in_sky_and_observe(files, tmp_path, monkeypatch):
    def disk_full(*args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("os.fsync", disk_full)
    error_line(["sky", "--npix", "32", "-o", tmp_path / "s.fits", "--no-progress"],
               "s.fits: no space left on device")  # fmt: skip
    error_line(["observe", files / "sky.fits", "--antennas", "8", "--hours", "0.5", "--dump",
                "900", "--nchan", "1", "-o", tmp_path / "obs", "--no-progress"],
               "no space left on device")  # fmt: skip
    leftovers = [p for p in tmp_path.rglob("*") if ".tmp" in p.name]
    assert leftovers == []
