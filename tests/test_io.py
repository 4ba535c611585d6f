"""Atomic writes: a failed write leaves the old file and no temporary file behind."""

import numpy as np
import pytest

from meersim.io import atomic_directory, atomic_write, read_json, save_npy, write_json, write_text


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
