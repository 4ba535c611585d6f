"""Sharded copies of a finished store: same crops and truth, fewer files, resume, refusals."""

import json

import numpy as np
import pytest
from astropy.table import Table
from click.testing import CliRunner

import meersim.datasets.shard as shard_module
from meersim.cli import main
from meersim.datasets.field_writer import open_field_writer
from meersim.datasets.shard import shard_store
from meersim.datasets.store import open_store, write_crops
from meersim.errors import InputError


def _store(path, n=50, size=12):
    rng = np.random.default_rng(4)
    arrays = {
        "restored": rng.normal(size=(n, size, size)).astype(np.float32),
        "sky": rng.normal(size=(n, size, size)).astype(np.float32),
    }
    arrays["sky"][3, :2, :2] = np.nan
    truth = Table({"field_id": np.repeat(np.arange(5), n // 5), "n_sources": np.arange(n),
                   "nan_fraction": np.where(np.arange(n) == 3, 4 / size**2, 0.0)})  # fmt: skip
    sources = Table({"source_id": np.arange(n + 1), "crop_id": np.r_[np.arange(n), -1]})
    psfs = rng.normal(size=(5, 6, 6)).astype(np.float32)
    write_crops(path, arrays, truth, psfs=psfs, sources=sources, manifest={"seed": 9})
    (path / "pybdsf_report.json").write_text(json.dumps({"n_true": 3}))
    return arrays, truth, psfs


def _shard_files(path, product):
    return sorted(p for p in (path / product).rglob("*") if p.is_file() and p.name != "zarr.json")


def test_sharded_copy_holds_the_same_crops_in_one_file_per_shard(tmp_path):
    arrays, truth, psfs = _store(tmp_path / "src")
    copy = shard_store(tmp_path / "src", tmp_path / "out", 16, progress=False)
    assert copy.n_crops == 50 and copy.manifest["complete"] and copy.manifest["seed"] == 9
    assert copy.manifest["sharded"]["n_shards"] == 4  # 16 + 16 + 16 + 2 crops
    for name, values in arrays.items():
        assert copy.array(name).shards == (16, 12, 12) and copy.array(name).chunks == (1, 12, 12)
        np.testing.assert_array_equal(copy.array(name)[:], values)
        assert len(_shard_files(tmp_path / "out", name)) == 4
        assert len(_shard_files(tmp_path / "src", name)) == 50  # one file per crop before
    np.testing.assert_array_equal(copy.psfs(), psfs)
    assert list(copy.truth["n_sources"]) == list(truth["n_sources"])
    assert len(copy.sources) == 51
    assert json.loads((tmp_path / "out" / "pybdsf_report.json").read_text()) == {"n_true": 3}
    torch = pytest.importorskip("torch")
    from meersim.datasets.loader import CropDataset

    a = CropDataset(tmp_path / "src", ("restored", "sky"), ("n_sources",), in_memory=False)
    b = CropDataset(tmp_path / "out", ("restored", "sky"), ("n_sources",), in_memory=False)
    for i in (0, 3, 49):
        assert torch.equal(a[i]["image"], b[i]["image"])
        assert a[i]["labels"]["n_sources"] == b[i]["labels"]["n_sources"]


def test_interrupted_copy_resumes_at_the_first_shard_not_done(tmp_path, monkeypatch):
    arrays, _, _ = _store(tmp_path / "src")
    real_tqdm = shard_module.tqdm

    def two_shards_then_stop(iterable, **kwargs):
        for k, item in enumerate(real_tqdm(iterable, **kwargs)):
            if k == 2:
                raise KeyboardInterrupt
            yield item

    monkeypatch.setattr(shard_module, "tqdm", two_shards_then_stop)
    with pytest.raises(KeyboardInterrupt):
        shard_store(tmp_path / "src", tmp_path / "out", 16, progress=False)
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["sharded"]["shards_done"] == 2 and not manifest["complete"]
    with pytest.raises(InputError):  # an unfinished copy is not served
        open_store(tmp_path / "out")
    first = _shard_files(tmp_path / "out", "sky")[0]
    written = first.stat().st_mtime_ns
    monkeypatch.setattr(shard_module, "tqdm", real_tqdm)
    copy = shard_store(tmp_path / "src", tmp_path / "out", 16, progress=False)
    np.testing.assert_array_equal(copy.array("sky")[:], arrays["sky"])
    assert first.stat().st_mtime_ns == written  # the shards done were not rewritten
    # a finished copy is left as it is; another shard size is another dataset
    assert shard_store(tmp_path / "src", tmp_path / "out", 16, progress=False).n_crops == 50
    with pytest.raises(InputError) as err:
        shard_store(tmp_path / "src", tmp_path / "out", 8, progress=False)
    assert "--overwrite" in str(err.value)
    assert shard_store(tmp_path / "src", tmp_path / "out", 8, overwrite=True,
                       progress=False).array("sky").shards[0] == 8  # fmt: skip


def test_refusals_name_the_problem_and_touch_nothing(tmp_path):
    _store(tmp_path / "src")
    with pytest.raises(InputError) as err:
        shard_store(tmp_path / "src", tmp_path / "src" / "inside", progress=False)
    assert err.value.field == "output" and not (tmp_path / "src" / "inside").exists()
    with pytest.raises(InputError):
        shard_store(tmp_path / "src", tmp_path / "out", 0, progress=False)
    # an unfinished source
    writer = open_field_writer(tmp_path / "partial", ["restored"], (4, 4), 2)
    assert writer.todo() == [0, 1]
    with pytest.raises(InputError) as err:
        shard_store(tmp_path / "partial", tmp_path / "out", progress=False)
    assert "incomplete" in str(err.value)
    # a folder of someone else's files: refused; with overwrite, a clash is still refused
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "pybdsf_report.json").write_text("mine")
    with pytest.raises(InputError):
        shard_store(tmp_path / "src", foreign, progress=False)
    with pytest.raises(InputError) as err:
        shard_store(tmp_path / "src", foreign, overwrite=True, progress=False)
    assert "pybdsf_report.json" in str(err.value)
    assert [p.name for p in foreign.iterdir()] == ["pybdsf_report.json"]  # not even a lock file
    assert (foreign / "pybdsf_report.json").read_text() == "mine"


def test_cli_prints_one_line(tmp_path):
    _store(tmp_path / "src")
    result = CliRunner().invoke(main, ["shard", str(tmp_path / "src"), "-o", str(tmp_path / "out"),
                                       "--crops-per-shard", "20", "--no-progress"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "50 crops in 3 shards" in result.output
