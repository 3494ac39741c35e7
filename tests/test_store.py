"""Atomic artifact writes: complete files or the previous version, never a torn one."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mbi import store


def test_atomic_write_replaces_and_leaves_no_temp(tmp_path):
    target = tmp_path / "sub" / "a.json"
    store.atomic_write_json(target, {"x": 1})
    store.atomic_write_json(target, {"x": np.int64(2), "p": tmp_path})
    assert json.loads(target.read_text())["x"] == 2
    assert [p.name for p in target.parent.iterdir()] == ["a.json"]
    assert target.stat().st_mode & 0o044  # readable by group/others like any file


def test_failed_write_keeps_previous_version(tmp_path, monkeypatch):
    target = tmp_path / "a.txt"
    store.atomic_write_text(target, "old")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(store.os, "replace", broken_replace)
    with pytest.raises(OSError):
        store.atomic_write_text(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_npz_refuses_objects_and_round_trips(tmp_path):
    path = store.atomic_save_npz(tmp_path / "t.npz", a=np.arange(3))
    with np.load(path, allow_pickle=False) as npz:
        assert npz["a"].tolist() == [0, 1, 2]
    with pytest.raises(ValueError):
        store.atomic_save_npz(tmp_path / "o.npz", a=np.array([{"x": 1}], dtype=object))


def test_read_json_names_the_broken_file(tmp_path):
    bad = tmp_path / "m.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="m.json is not valid JSON"):
        store.read_json(bad)
