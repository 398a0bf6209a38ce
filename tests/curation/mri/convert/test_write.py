"""Convert's own atomic write gives what ``write_bytes_atomic(durable=False)`` gives (truth:
that helper): same bytes, same mode, a temporary name the stale-temp cleaners recognise,
and nothing left behind when the write fails or a killed run's temporary is in the way."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hepatokit import atomic
from hepatokit.curation.mri.convert import run


def test_same_file_as_the_atomic_helper(tmp_path: Path) -> None:
    data = os.urandom(70_000)
    run._write(tmp_path / "a.nii.gz", data)
    atomic.write_bytes_atomic(tmp_path / "b.nii.gz", data, durable=False)
    a, b = (tmp_path / "a.nii.gz"), (tmp_path / "b.nii.gz")
    assert a.read_bytes() == b.read_bytes() == data
    assert a.stat().st_mode == b.stat().st_mode
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.nii.gz", "b.nii.gz"]
    run._write(a, b"second")  # replaces
    assert a.read_bytes() == b"second"


def test_temporary_name_is_a_stale_temp(tmp_path: Path) -> None:
    name = f".sub-x_T1W.json.{os.getpid() % 10**8:08d}.tmp"
    assert atomic._TEMP_NAME.match(name)
    (tmp_path / name).write_bytes(b"left by a killed run")
    run._write(tmp_path / "sub-x_T1W.json", b"{}\n")  # the leftover is in the way: still written
    assert (tmp_path / "sub-x_T1W.json").read_bytes() == b"{}\n"
    assert atomic.remove_stale_temps(tmp_path) == [tmp_path / name]


def test_failed_write_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(fd: int, data: object) -> int:
        raise OSError("disk full")

    monkeypatch.setattr(run.os, "write", broken)
    with pytest.raises(OSError, match="disk full"):
        run._write(tmp_path / "v.nii.gz", b"x" * 10)
    assert list(tmp_path.iterdir()) == []


def test_json_as_the_atomic_helper(tmp_path: Path) -> None:
    obj = {"b": [1.5, None], "a": "Müller", "c": {"z": 1, "y": Path("p")}}
    atomic.write_json_atomic(tmp_path / "x.json", obj, durable=False)
    assert run._json_bytes(obj) == (tmp_path / "x.json").read_bytes()
