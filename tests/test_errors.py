"""Errors travel and read well: InputError pickles (dask workers), a full disk is one
DiskFullError naming the file, and no temporary file is left behind."""

import errno
import logging
import pickle

import numpy as np
import pytest

from meersim.errors import DiskFullError, InputError, MeersimError
from meersim.grid import Grid
from meersim.io import atomic_write, save_npy, write_image


def _raise_input_error(x):
    raise InputError("worker.fits", "flux", f"value {x} is wrong.", "Fix it.")


def test_input_error_pickles_with_its_four_arguments():
    err = InputError("cat.fits", "dec", "102 is outside [-90, 90].", "Check the column.")
    assert err.args == ("cat.fits", "dec", "102 is outside [-90, 90].", "Check the column.")
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is InputError and str(back) == str(err)
    assert (back.source, back.field, back.fix) == ("cat.fits", "dec", "Check the column.")
    assert str(err) == "cat.fits: dec: 102 is outside [-90, 90]. Fix: Check the column."
    disk = pickle.loads(pickle.dumps(DiskFullError("/data/out.fits")))
    assert isinstance(disk, MeersimError) and "/data/out.fits" in str(disk)


def test_input_error_raised_in_a_dask_worker_reaches_the_client():
    from dask.distributed import Client, LocalCluster

    with (
        LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0",
                     silence_logs=logging.ERROR) as cluster,
        Client(cluster) as client,
    ):  # fmt: skip
        future = client.submit(_raise_input_error, 7)
        with pytest.raises(InputError) as info:
            future.result()
    assert info.value.field == "flux" and "value 7 is wrong" in str(info.value)
    assert str(info.value).endswith("Fix: Fix it.")


def _disk_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_atomic_write_turns_a_full_disk_into_one_error_and_cleans_up(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old content")
    with pytest.raises(DiskFullError, match="out.bin: no space left"):
        with atomic_write(target) as fh:
            fh.write(b"x" * 1000)
            raise OSError(errno.ENOSPC, "No space left on device")
    assert target.read_bytes() == b"old content"  # the old file is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]  # no temporary file


def test_full_disk_in_the_fits_and_npy_writers(tmp_path, monkeypatch):
    """sky/observe/clean products (write_image) and embeddings (save_npy) on a full disk."""
    grid = Grid(8, 8, 1.0, 10.0, -30.0)
    monkeypatch.setattr("os.fsync", _disk_full)
    with pytest.raises(DiskFullError, match="sky.fits"):
        write_image(tmp_path / "sky.fits", np.ones((8, 8)), grid, "JY/PIXEL")
    with pytest.raises(DiskFullError, match="embeddings.npy"):
        save_npy(tmp_path / "embeddings.npy", np.ones((4, 3), np.float32))
    assert list(tmp_path.iterdir()) == []


def test_full_disk_in_catalog_synth(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from meersim.cli import main

    monkeypatch.setattr("os.fsync", _disk_full)
    result = CliRunner().invoke(main, ["catalog", "synth", "--area", "0.001", "-o",
                                       str(tmp_path / "cat.fits")])  # fmt: skip
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert "cat.fits: no space left on device" in result.output
    assert list(tmp_path.iterdir()) == []


def test_full_disk_while_appending_to_a_store(tmp_path, monkeypatch):
    from astropy.table import Table

    from meersim.datasets.field_writer import FieldResult, open_field_writer

    writer = open_field_writer(tmp_path / "ds", ["restored"], (4, 4), 1, {"seed": 0})
    field = FieldResult(0, {"restored": np.zeros((2, 4, 4), np.float32)},
                        Table({"nan_fraction": [0.0, 0.0]}))  # fmt: skip
    writer.stage(field)
    import zarr

    monkeypatch.setattr(zarr.Array, "__setitem__", _disk_full)
    with pytest.raises(DiskFullError, match="ds"):
        writer.flush()
    assert writer.manifest["fields_finished"] == []  # nothing vouched for: a re-run redoes it
