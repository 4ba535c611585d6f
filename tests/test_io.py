"""Atomic writes (a failed write leaves the old file and no temporary file behind) and ECSV text."""

import io

import numpy as np
import pytest
from astropy.table import Table

from meersim.io import (
    atomic_directory,
    atomic_write,
    ecsv_text,
    read_json,
    save_npy,
    write_json,
    write_text,
)


def test_failed_write_keeps_old_content_and_cleans_up(tmp_path):
    path = tmp_path / "out.txt"
    write_text(path, "old")
    with pytest.raises(RuntimeError), atomic_write(path, "w") as fh:
        fh.write("half of the new")
        raise RuntimeError("disk full")
    assert path.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_successful_writes(tmp_path):
    save_npy(tmp_path / "a.npy", np.arange(3))
    assert np.load(tmp_path / "a.npy").tolist() == [0, 1, 2]
    write_json(tmp_path / "m.json", {"x": float("nan"), "y": np.float32(2.5)})
    assert read_json(tmp_path / "m.json") == {"x": None, "y": 2.5}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npy", "m.json"]


def test_atomic_directory_appears_whole_or_not_at_all(tmp_path):
    with pytest.raises(ValueError), atomic_directory(tmp_path / "field") as tmp:
        (tmp / "part").write_text("x")
        raise ValueError
    assert list(tmp_path.iterdir()) == []
    with atomic_directory(tmp_path / "field") as tmp:
        (tmp / "part").write_text("x")
    assert (tmp_path / "field" / "part").read_text() == "x"
    assert [p.name for p in tmp_path.iterdir()] == ["field"]


def _astropy_ecsv(table) -> str:
    buf = io.StringIO()
    Table(table).write(buf, format="ascii.ecsv")
    return buf.getvalue()


def test_fast_ecsv_rows_are_astropys_text():
    t = Table()
    t["flux"] = np.array([1.5, np.nan, np.inf, -0.0, 1e-300, 123456789.123, 0.1, 2.0 / 3.0])
    t["flux"].unit = "Jy"
    t["n"] = np.array([1, 2, 3, -4, 5, 6, 7, 8], dtype=np.int32)
    t["name"] = ["x", "", "a b", 'q"uote', "émile", "tab\there", "new\nline", " padded "]
    t["ok"] = np.array([True, False] * 4)
    t["peak"] = np.array([0.1, 1 / 3, 2.5e-8, np.nan, -np.inf, 3.0, 7.0, 1e30], dtype=np.float32)
    t["id"] = np.arange(8, dtype=np.uint8)
    t["n"].description = "an integer"
    t.meta["note"] = {"k": [1, 2]}
    assert ecsv_text(t) == _astropy_ecsv(t)
    assert ecsv_text(t[:0]) == _astropy_ecsv(t[:0])
    back = Table.read(ecsv_text(t), format="ascii.ecsv")
    np.testing.assert_array_equal(back["flux"], t["flux"])
    np.testing.assert_array_equal(back["peak"], t["peak"])
    assert back["peak"].dtype == np.float32 and back.meta == t.meta


def test_fast_ecsv_leaves_masked_and_formatted_columns_to_astropy():
    t = Table(masked=True)
    t["a"] = np.ma.array([1.0, 2.0, 3.0], mask=[False, True, False])
    t["b"] = [1.23456, 2.0, 3.0]
    t["b"].info.format = ".2f"
    text = ecsv_text(t)
    assert text == _astropy_ecsv(t)
    assert '""' in text.splitlines()[-2]  # the masked value, as astropy writes it
