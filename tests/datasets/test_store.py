"""The crop store: one-shot writer, resumable field writer, reader."""

import json

import numpy as np
import pytest
from astropy.table import Table

from meersim.datasets.field_writer import FieldResult, open_field_writer
from meersim.datasets.store import open_store, read_staged_table, write_crops
from meersim.errors import InputError


def _field(fid, n, size=8, seed=0):
    rng = np.random.default_rng(seed + fid)
    arrays = {
        "restored": rng.normal(size=(n, size, size)).astype(np.float32),
        "sky": rng.normal(size=(n, size, size)).astype(np.float32),
    }
    arrays["restored"][:, 0, 0] = np.nan
    truth = Table({"field_id": np.full(n, fid), "n_sources": rng.integers(0, 5, n)})
    sources = Table({"source_id": np.arange(n + 1), "crop_id": np.r_[np.arange(n), -1]})
    psf = rng.normal(size=(5, 5)).astype(np.float32)
    return FieldResult(fid, arrays, truth, psf=psf, sources=sources, params={"rms": 1e-5 * fid})


def test_write_crops_roundtrip(tmp_path):
    rng = np.random.default_rng(1)
    arrays = {"restored": rng.normal(size=(4, 6, 7)).astype(np.float32)}
    arrays["restored"][2, 3, 3] = np.nan
    truth = Table({"field_id": [0, 0, 1, 1], "flux": [1.0, 2.0, 3.0, 4.0]})
    psfs = rng.normal(size=(2, 5, 5)).astype(np.float32)
    write_crops(tmp_path / "ds", arrays, truth, psfs=psfs, manifest={"seed": 3})
    store = open_store(tmp_path / "ds")
    assert store.n_crops == 4 and store.products == ("restored",)
    np.testing.assert_array_equal(store.crop(2)["restored"], arrays["restored"][2])
    np.testing.assert_array_equal(store.psfs(), psfs)
    assert list(store.truth["crop_id"]) == [0, 1, 2, 3]
    assert store.manifest["seed"] == 3 and store.manifest["versions"]["numpy"]
    assert store.array("restored").chunks == (1, 6, 7)
    with pytest.raises(InputError):
        write_crops(tmp_path / "bad", arrays, truth[:3])


def test_field_writer_out_of_order_and_resume(tmp_path):
    path = tmp_path / "ds"
    manifest = {"config": {"a": 1}, "seed": 5}
    writer = open_field_writer(path, ["restored", "sky"], (8, 8), 3, manifest)
    fields = [_field(0, 2), _field(1, 0), _field(2, 3)]
    writer.stage(fields[2])  # field 2 finishes first: staged, not appended
    assert writer.flush() == [] and writer.todo() == [0, 1]
    writer.stage(fields[0])
    assert writer.flush() == [0]
    # "crash": reopen with the same config and carry on
    writer = open_field_writer(path, ["restored", "sky"], (8, 8), 3, manifest)
    assert writer.appended == [0] and writer.todo() == [1]
    writer.stage(fields[1])
    writer.finalize()
    store = open_store(path)
    assert store.n_crops == 5
    assert list(store.field_ids) == [0, 0, 2, 2, 2]
    expected = np.concatenate([f.arrays["sky"] for f in fields])
    np.testing.assert_array_equal(store.array("sky")[:], expected)
    np.testing.assert_array_equal(store.psfs()[1], fields[1].psf)
    src = store.sources
    # local crop ids shifted to global ones, -1 kept
    assert list(src["crop_id"]) == [0, 1, -1, -1, 2, 3, 4, -1]
    assert store.manifest["field_params"]["2"]["rms"] == pytest.approx(2e-5)
    assert not (path / "fields").exists()


def test_field_writer_truncates_half_appended_field(tmp_path):
    path = tmp_path / "ds"
    writer = open_field_writer(path, ["restored", "sky"], (8, 8), 2, {"seed": 1})
    writer.stage(_field(0, 2))
    writer.flush()
    # simulate a crash in the middle of appending field 1: arrays grew, manifest did not
    import zarr

    group = zarr.open_group(str(path), mode="r+")
    for p in ("restored", "sky"):
        group[p].resize((7, 8, 8))
    writer = open_field_writer(path, ["restored", "sky"], (8, 8), 2, {"seed": 1})
    assert zarr.open_group(str(path))["sky"].shape[0] == 2
    writer.stage(_field(1, 3))
    writer.finalize()
    store = open_store(path)
    assert store.n_crops == 5
    np.testing.assert_array_equal(store.crop(4)["sky"], _field(1, 3).arrays["sky"][2])


def test_open_field_writer_refuses_other_config(tmp_path):
    path = tmp_path / "ds"
    open_field_writer(path, ["restored"], (8, 8), 2, {"config": {"a": 1}, "seed": 1})
    with pytest.raises(InputError, match="seed"):
        open_field_writer(path, ["restored"], (8, 8), 2, {"config": {"a": 1}, "seed": 2})


def test_partial_store_needs_allow_partial(tmp_path):
    path = tmp_path / "ds"
    writer = open_field_writer(path, ["restored", "sky"], (8, 8), 2, {})
    writer.stage(_field(0, 2))
    writer.flush()
    with pytest.raises(InputError, match="incomplete"):
        open_store(path)
    store = open_store(path, allow_partial=True)
    assert store.n_crops == 2 and len(store.truth) == 2
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["fields_finished"] == [0]


def _rich_sources(n, fid):
    """Source truth with the column kinds a field stages: units, text, NaN, booleans."""
    t = Table({"source_id": np.arange(n), "crop_id": np.r_[np.arange(n - 1), -1]})
    t["flux"] = np.linspace(1e-5, 3e-4, n)
    t["flux"].unit = "Jy"
    t["x"] = np.r_[np.nan, np.arange(1, n, dtype=float)]
    t["shape"] = np.array(["point", "gaussian", "sersic"] * n)[:n]
    t["detectable"] = np.arange(n) % 2 == 0
    t["field_id"] = np.full(n, fid)
    return t


def test_staged_tables_are_arrays_when_plain_and_ecsv_otherwise(tmp_path):
    path = tmp_path / "ds"
    writer = open_field_writer(path, ["restored", "sky"], (8, 8), 2, {"seed": 1})
    plain = _field(0, 3)
    plain.sources = _rich_sources(4, 0)
    plain.sources["shape"][0] = " bent "  # arrays keep it; the final ECSV strips it
    odd = _field(1, 2)
    odd.sources = _rich_sources(3, 1)
    odd.sources.meta["catalog"] = {"origin": "test"}  # arrays would drop this: ECSV
    writer.stage(plain)
    writer.stage(odd)
    staged = sorted(p.name for p in (path / "fields").rglob("*") if p.suffix in (".npz", ".ecsv"))
    assert staged == ["arrays.npz", "arrays.npz", "crops.npz", "crops.npz", "sources.ecsv",
                      "sources.npz"]  # fmt: skip
    table = read_staged_table(path / "fields" / "field_00000", "sources")
    assert table["shape"][0] == " bent " and table["flux"].unit == "Jy"
    assert table.colnames == plain.sources.colnames
    for name in table.colnames:
        assert table[name].dtype == plain.sources[name].dtype
    writer.finalize()
    src = open_store(path).sources
    assert len(src) == 7 and src["flux"].unit == "Jy"
    assert np.isnan(src["x"][0]) and src["x"].dtype == np.float64
    assert list(src["shape"][:5]) == ["bent", "gaussian", "sersic", "point", "point"]
    assert list(src["detectable"][:4]) == [True, False, True, False]
    assert list(src["crop_id"]) == [0, 1, 2, -1, 3, 4, -1]  # shifted to global ids


def test_finalize_reads_fields_staged_as_ecsv_by_older_versions(tmp_path):
    path = tmp_path / "ds"
    writer = open_field_writer(path, ["restored", "sky"], (8, 8), 1, {"seed": 1})
    field = _field(0, 2)
    field.sources = _rich_sources(3, 0)
    writer.stage(field)
    stage = path / "fields" / "field_00000"
    for stem in ("crops", "sources"):  # rewrite as an older meersim staged them
        read_staged_table(stage, stem).write(stage / f"{stem}.ecsv", format="ascii.ecsv")
        (stage / f"{stem}.npz").unlink()
    writer.finalize()
    store = open_store(path)
    assert store.n_crops == 2 and list(store.sources["crop_id"]) == [0, 1, -1]
    assert store.sources["flux"].unit == "Jy" and np.isnan(store.sources["x"][0])
