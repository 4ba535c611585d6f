"""Dataset stores never delete what meersim did not make, take one writer at a time, and
are not marked complete while a crop contradicts its truth."""

import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import yaml
import zarr
from astropy.table import Table
from click.testing import CliRunner

from meersim.cli import main
from meersim.datasets.build import build_dataset, example_config_path
from meersim.datasets.field_writer import FieldResult, open_field_writer
from meersim.datasets.store import open_store, write_crops
from meersim.datasets.store_files import LOCK_FILE, store_lock
from meersim.errors import InputError


def _user_folder(path):
    path.mkdir()
    (path / "thesis.tex").write_text("years of work")
    (path / "data").mkdir()
    (path / "data" / "obs.fits").write_bytes(b"precious")
    return path


def _assert_untouched(path):
    assert (path / "thesis.tex").read_text() == "years of work"
    assert (path / "data" / "obs.fits").read_bytes() == b"precious"


def _crops(n=3, size=4, nan_crop=None):
    arrays = {"restored": np.ones((n, size, size), np.float32)}
    nan_fraction = np.zeros(n)
    if nan_crop is not None:
        arrays["restored"][nan_crop, :2] = np.nan  # half the crop blanked
        nan_fraction[nan_crop] = 0.5
    return arrays, Table({"field_id": np.zeros(n, int), "nan_fraction": nan_fraction})


def _tiny_yaml(tmp_path, **field):
    config = yaml.safe_load(example_config_path().read_text())
    config.update(n_fields=1, seed=1, mode="image", products=["restored"])
    config["field"].update({"npix": 64, "cell_arcsec": 20.0, "margin_arcsec": 0.0,
                            "flux_min_jy": 1e-3, "flux_max_jy": 0.05, **field})  # fmt: skip
    config["observation"] = {"hours": 0.5, "dump_s": 900.0, "nchan": 1, "antennas": 8}
    config["clean"] = {"niter": 10, "max_major": 1}
    config["crops"].update(size=32, stride=32, psf_size=16, pb_cut=None)
    path = tmp_path / "ds.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_dataset_into_a_user_folder_is_refused_and_deletes_nothing(tmp_path):
    folder = _user_folder(tmp_path / "home")
    result = CliRunner().invoke(main, ["dataset", "--config", str(_tiny_yaml(tmp_path)), "-o",
                                       str(folder), "--no-progress"])  # fmt: skip
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert "holds no meersim dataset" in result.output and "--overwrite" in result.output
    _assert_untouched(folder)
    assert sorted(p.name for p in folder.iterdir()) == ["data", "thesis.tex"]  # no lock file


def test_overwrite_writes_beside_user_files_and_refuses_a_clash(tmp_path):
    folder = _user_folder(tmp_path / "home")
    arrays, truth = _crops()
    with pytest.raises(InputError, match="--overwrite"):
        write_crops(folder, arrays, truth)
    write_crops(folder, arrays, truth, overwrite=True)
    _assert_untouched(folder)
    assert open_store(folder).n_crops == 3
    clash = _user_folder(tmp_path / "other")
    (clash / "restored").mkdir()
    (clash / "restored" / "mine.txt").write_text("mine")
    with pytest.raises(InputError, match="restored"):
        write_crops(clash, arrays, truth, overwrite=True)
    assert (clash / "restored" / "mine.txt").read_text() == "mine"


def test_replacing_a_store_removes_only_its_own_entries(tmp_path):
    arrays, truth = _crops()
    store = write_crops(tmp_path / "ds", arrays, truth)
    (store / "notes.txt").write_text("my notes on this dataset")
    with pytest.raises(InputError, match="holds a meersim dataset already"):
        write_crops(store, arrays, truth)
    arrays2, truth2 = _crops(n=5)
    write_crops(store, {"sky": arrays2["restored"]}, truth2, overwrite=True)
    assert open_store(store).products == ("sky",) and not (store / "restored").exists()
    assert (store / "notes.txt").read_text() == "my notes on this dataset"


def test_real_image_crops_refuse_a_user_folder(tmp_path):
    from meersim.datasets.real import crop_real_images
    from meersim.grid import Grid
    from meersim.io import write_image

    image = tmp_path / "img.fits"
    grid = Grid(64, 64, 2.0, 150.0, 2.0)
    write_image(image, np.random.default_rng(0).normal(size=(64, 64)), grid, "JY/BEAM")
    folder = _user_folder(tmp_path / "home")
    with pytest.raises(InputError, match="holds no meersim dataset"):
        crop_real_images([image], folder, size=32, stride=32, progress=False)
    crop_real_images([image], folder, size=32, stride=32, overwrite=True, progress=False)
    _assert_untouched(folder)
    assert open_store(folder).n_crops == 4


def test_a_second_writer_is_refused_while_the_first_holds_the_lock(tmp_path):
    arrays, truth = _crops()
    with store_lock(tmp_path / "ds"):
        with pytest.raises(InputError, match="is writing this dataset now"):
            write_crops(tmp_path / "ds", arrays, truth)
    write_crops(tmp_path / "ds", arrays, truth)  # released on exit
    assert open_store(tmp_path / "ds").n_crops == 3


def _hold_lock_in_child(path):
    """Another process that takes the store's lock the way store_lock does (fcntl.flock)."""
    path.mkdir()
    code = textwrap.dedent(f"""
        import fcntl, time
        with open({str(path / LOCK_FILE)!r}, "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fh.write("meersim pid 4242 on elsewhere since then")
            fh.flush()
            print("locked", flush=True)
            time.sleep(60)
    """)
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "locked"
    return child


def test_lock_of_another_process_refuses_and_a_killed_holder_leaves_no_stale_lock(tmp_path):
    path = tmp_path / "ds"
    child = _hold_lock_in_child(path)
    try:
        with pytest.raises(InputError, match="meersim pid 4242 on elsewhere .* is writing"):
            build_dataset_from(path, tmp_path)
    finally:
        child.send_signal(signal.SIGKILL)  # a crash: no cleanup runs
        child.wait()
    assert (path / LOCK_FILE).exists()
    arrays, truth = _crops()
    write_crops(path, arrays, truth, overwrite=True)  # the kernel released the dead lock
    assert open_store(path).n_crops == 3


def build_dataset_from(path, tmp_path):
    from meersim.datasets.config import load_config

    return build_dataset(load_config(_tiny_yaml(tmp_path)), path, progress=False)


def _field(fid, n=2, size=4):
    arrays = {"restored": np.full((n, size, size), fid + 1.0, np.float32)}
    return FieldResult(fid, arrays, Table({"nan_fraction": np.zeros(n)}))


def test_a_crop_corrupted_after_append_stops_finalize_and_rolls_back(tmp_path):
    path = tmp_path / "ds"
    writer = open_field_writer(path, ["restored"], (4, 4), 3, {"seed": 0})
    for fid in range(3):
        writer.stage(_field(fid))
    writer.flush()
    # another writer (or a crash of one) blanks field 1's crops behind this one's back
    zarr.open_group(str(path), mode="r+")["restored"][2:4] = np.nan
    with pytest.raises(InputError, match=r"field\(s\) \[1\].*nan_fraction.*Rolled back to 1"):
        writer.finalize()
    manifest = open_field_writer(path, ["restored"], (4, 4), 3, {"seed": 0}).manifest
    assert not manifest["complete"] and manifest["fields_finished"] == [0]
    with pytest.raises(InputError, match="incomplete"):
        open_store(path)
    writer = open_field_writer(path, ["restored"], (4, 4), 3, {"seed": 0})
    assert writer.todo() == [1, 2]  # a re-run recomputes them
    for fid in (1, 2):
        writer.stage(_field(fid))
    writer.finalize()
    store = open_store(path)
    assert store.n_crops == 6 and np.isfinite(store.array("restored")[:]).all()


def test_write_crops_refuses_nan_where_truth_says_unblanked(tmp_path):
    arrays, truth = _crops(nan_crop=1)
    write_crops(tmp_path / "ok", arrays, truth)  # NaN where nan_fraction allows it
    arrays["restored"][2, 0, 0] = np.inf
    with pytest.raises(InputError, match="restored crop 2"):
        write_crops(tmp_path / "bad", arrays, truth)
    assert not (tmp_path / "bad").exists()


def test_zero_crops_is_an_error(tmp_path):
    result = CliRunner().invoke(main, ["dataset", "--config", str(_tiny_yaml(tmp_path, npix=16)),
                                       "-o", str(tmp_path / "o"), "--no-progress"])  # fmt: skip
    assert result.exit_code == 1 and "field.npix" in result.output and "crops.size" in result.output
    config = yaml.safe_load(_tiny_yaml(tmp_path).read_text())
    config["crops"].update(pb_cut=0.999, max_nan=0.0)  # every crop blanked beyond max_nan
    path = tmp_path / "blanked.yaml"
    path.write_text(yaml.safe_dump(config))
    result = CliRunner().invoke(main, ["dataset", "--config", str(path), "-o",
                                       str(tmp_path / "b"), "--no-progress"])  # fmt: skip
    assert result.exit_code == 1 and "0 crops" in result.output, result.output
