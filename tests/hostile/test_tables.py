"""Defect 12: label and patch tables — empty, ragged, duplicate header, duplicate rows, and
paths leading outside the table's folder."""

from __future__ import annotations

import shutil

import pytest

from hepatokit.errors import DataFormatError
from hepatokit.tables import read_table
from tests.hostile.helpers import assert_balanced, manifest_rows, patch_tree, run_cli


def test_empty_ragged_and_duplicate_header_are_clear_errors(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(DataFormatError, match="empty"):
        read_table(empty, what="labels CSV")
    (tmp_path / "blank.csv").write_text("\n \n")
    with pytest.raises(DataFormatError, match="empty"):
        read_table(tmp_path / "blank.csv")
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("patient_id,stage\nP1,F2\nP2,F3,extra\nP3\nP4,F0\n")
    with pytest.raises(DataFormatError, match=r"2 row\(s\).*line 3: 3 field.*line 4: 1 field"):
        read_table(ragged)
    dup = tmp_path / "dup.csv"
    dup.write_text("patient_id,stage,stage\nP1,F2,F3\n")
    with pytest.raises(DataFormatError, match=r"duplicate column name.*'stage'"):
        read_table(dup)
    ok = tmp_path / "ok.csv"
    ok.write_text('\ufeffpatient_id,stage\n"P,1",F2\n\nP2,F3\n')  # BOM, quoted comma, blank line
    table = read_table(ok)
    assert table.columns == ["patient_id", "stage"]
    assert table.rows == [{"patient_id": "P,1", "stage": "F2"}, {"patient_id": "P2", "stage": "F3"}]
    assert table.lines == [2, 4]


def test_mri_labels_cli_empty_csv_no_traceback(tmp_path):
    build = tmp_path / "build"
    (build / "private").mkdir(parents=True)
    for name in ("volumes.parquet", "series.parquet", "private/pseudonyms.parquet"):
        (build / name).write_bytes(b"")  # the state check passes; the CSV is read first
    labels = tmp_path / "labels.csv"
    labels.write_bytes(b"")
    code, out = run_cli("mri", "labels", str(build), "--labels", str(labels))
    assert code == 2, out
    assert "labels CSV is empty" in out and "Traceback" not in out
    labels.write_text("patient_id,stage,stage\nP1,F1,F2\n")
    code, out = run_cli("mri", "labels", str(build), "--labels", str(labels))
    assert code == 2 and "duplicate column name" in out and "Traceback" not in out


def test_patch_table_duplicates_and_paths_outside_root(tmp_path):
    root = tmp_path / "set"
    patch_tree(root, n_slides=2, per_slide=2)
    secret = tmp_path / "secret"
    secret.mkdir()
    shutil.copy(root / "TUM" / "slide00_0.png", secret / "outside.png")
    table = root / "patches.csv"
    table.write_text(
        "path,label,slide_id\n"
        "TUM/slide00_0.png,TUM,s0\n"
        "TUM/slide00_0.png,TUM,s0\n"  # the same row again
        "TUM/slide00_1.png,TUM,s0\n"
        "../secret/outside.png,TUM,s9\n"
        f"{secret / 'outside.png'},TUM,s9\n"
        ",TUM,s9\n"
    )
    build = tmp_path / "build"
    code, out = run_cli("--workers", "1", "patho", "ingest", str(table), "--out", str(build))
    assert code == 0 and "Traceback" not in out, out
    rows = manifest_rows(build)
    reasons = sorted((r["source"], r["reason"] or "kept") for r in rows)
    assert reasons == sorted([
        ("TUM/slide00_0.png", "kept"),
        ("TUM/slide00_0.png", "duplicate_row"),
        ("TUM/slide00_1.png", "kept"),
        ("../secret/outside.png", "outside_root"),
        (str(secret / "outside.png"), "outside_root"),
        ("<line 7>", "missing"),
    ])  # fmt: skip
    assert_balanced(build)
    # allowed explicitly: the outside files are read (and then both kept)
    build2 = tmp_path / "build2"
    code, out = run_cli("--workers", "1", "patho", "ingest", str(table), "--out", str(build2),
                        "--allow-outside-root")  # fmt: skip
    assert code == 0, out
    kept = {r["source"] for r in manifest_rows(build2) if r["outcome"] == "kept"}
    assert {"../secret/outside.png", str(secret / "outside.png")} <= kept
