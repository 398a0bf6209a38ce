"""The `mri` and `audit phi` commands: thin wrappers with the right exit codes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pydicom.data
import pytest
from typer.testing import CliRunner

from hepatokit.cli import app

runner = CliRunner()


def _mr_tree(tmp_path: Path) -> Path:
    raw = tmp_path / "raw"
    raw.mkdir()
    for name in ("MR_small.dcm", "MR_truncated.dcm", "CT_small.dcm"):
        shutil.copy(pydicom.data.get_testdata_file(name), raw / name)
    (raw / "notes.txt").write_text("not dicom")
    return raw


def test_index_needs_a_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HEPATOKIT_DEID_KEY", raising=False)
    monkeypatch.delenv("HEPATOKIT_DEID_KEY_FILE", raising=False)
    raw = _mr_tree(tmp_path)
    res = runner.invoke(app, ["-q", "mri", "index", str(raw), "--out", str(tmp_path / "b")])
    assert res.exit_code == 2
    assert "HEPATOKIT_DEID_KEY" in res.output
    res = runner.invoke(
        app, ["-q", "-w", "1", "mri", "index", str(raw), "--out", str(tmp_path / "b"), "--demo-key"]
    )
    assert res.exit_code == 0, res.output
    assert "4 files" in res.output and "2 images kept" in res.output
    res = runner.invoke(app, ["-q", "mri", "series", str(tmp_path / "b")])
    assert res.exit_code == 0, res.output


def test_series_before_index_is_a_clear_error(tmp_path: Path) -> None:
    res = runner.invoke(app, ["-q", "mri", "series", str(tmp_path)])
    assert res.exit_code == 2 and "mri index" in res.output


def test_audit_phi_exit_codes(curated_lifs, tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    unit = curated_lifs.truth["units"][0]
    shutil.copy(curated_lifs.raw / unit["files"][0], raw / "one.dcm")
    build = tmp_path / "build"
    build.mkdir()
    shutil.copy(curated_lifs.build / "subjects.parquet", build)
    res = runner.invoke(app, ["-q", "-w", "1", "audit", "phi", str(build), "--raw", str(raw)])
    assert res.exit_code == 0, res.output
    shutil.copy(raw / "one.dcm", build / "oops.dcm")
    res = runner.invoke(app, ["-q", "-w", "1", "audit", "phi", str(build), "--raw", str(raw)])
    assert res.exit_code == 1 and "FAILED" in res.output and "oops.dcm" in res.output
