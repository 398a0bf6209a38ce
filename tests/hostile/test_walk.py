"""Defects 5, 8, 9: non-UTF-8 names, symlinked / unreadable folders, root-level patches,
symlinked class folders, FIFOs, links to /dev/zero and huge files. Every one ends in the
manifest (kept or excluded with a reason), nothing hangs (each run is bounded by a
subprocess timeout), nothing crashes."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pydicom.data
import pytest

from hepatokit.safeio import TooLargeError, read_bounded, walk_tree
from tests.hostile.helpers import assert_balanced, manifest_rows, patch_tree, run_cli

NON_UTF8 = os.fsdecode(b"M\xfcller_1.png")  # latin-1 "Müller": not UTF-8


def _hostile_patch_tree(base: Path) -> tuple[Path, dict[str, str]]:
    """A class-folder tree with every hostile entry; expected source → reason (None: kept)."""
    root = base / "raw"
    patch_tree(root, n_slides=6, per_slide=2)
    elsewhere = base / "elsewhere"
    patch_tree(elsewhere, n_slides=2, per_slide=2, seed=7)
    expected: dict[str, str | None] = {}
    # a class folder that is a symlink, and a symlinked sub-folder inside a class folder
    (root / "NEC").symlink_to(elsewhere / "TUM", target_is_directory=True)
    expected.update({f"NEC/{p.name}": None for p in (elsewhere / "TUM").iterdir()})
    (root / "FIB" / "linked").symlink_to(elsewhere / "FIB", target_is_directory=True)
    expected.update({f"FIB/linked/{p.name}": None for p in (elsewhere / "FIB").iterdir()})
    # a loop back to the root: walked once, reported
    (root / "TUM" / "loop").symlink_to(root, target_is_directory=True)
    expected["TUM/loop"] = "symlink_loop"
    os.mkfifo(root / "TUM" / "slide90_fifo.png")
    expected["TUM/slide90_fifo.png"] = "not_regular_file"
    (root / "TUM" / "slide91_zero.png").symlink_to("/dev/zero")
    expected["TUM/slide91_zero.png"] = "not_regular_file"
    (root / "TUM" / "slide92_gone.png").symlink_to(base / "missing.png")
    expected["TUM/slide92_gone.png"] = "broken_link"
    with open(root / "TUM" / "slide93_huge.png", "wb") as fh:  # sparse: no disk used
        fh.truncate(300 << 20)
    expected["TUM/slide93_huge.png"] = "too_large"
    shutil.copy(root / "TUM" / "slide00_0.png", os.path.join(root, "INF", NON_UTF8))
    expected["INF/M\\xfcller_1.png"] = "non_utf8_name"
    shutil.copy(root / "TUM" / "slide00_1.png", root / "slide94_root.png")
    expected["slide94_root.png"] = "no_class_folder"
    return root, expected


def test_hostile_class_tree_loses_nothing_and_never_hangs(tmp_path):
    root, expected = _hostile_patch_tree(tmp_path)
    build = tmp_path / "build"
    code, out = run_cli("--workers", "1", "patho", "ingest", str(root), "--out", str(build))
    assert code == 0, out
    assert "Traceback" not in out
    rows = {r["source"]: r for r in manifest_rows(build)}
    for source, reason in expected.items():
        assert source in rows, f"{source} missing from the manifest"
        assert rows[source]["reason"] == reason, (source, rows[source])
    # every regular file under the tree (walked independently, links followed once) is in
    n_files = sum(1 for p in root.rglob("*") if p.is_file() and "loop" not in p.parts)
    assert n_files <= len(rows)
    summary = assert_balanced(build)
    assert summary["inputs"] == len(rows)


def test_unreadable_folder_is_an_excluded_input(tmp_path, monkeypatch):
    root = tmp_path / "raw"
    patch_tree(root, n_slides=2, per_slide=2)
    locked = root / "TUM" / "locked"
    locked.mkdir()
    (locked / "slide05_0.png").write_bytes((root / "TUM" / "slide00_0.png").read_bytes())
    if os.geteuid() == 0:  # root reads anything: make the listing fail as it would for a user
        real = os.scandir

        def scandir(path):
            if os.fspath(path).endswith("/TUM/locked"):
                raise PermissionError(13, "Permission denied")
            return real(path)

        monkeypatch.setattr(os, "scandir", scandir)
    else:
        locked.chmod(0)
    try:
        entries = {e.shown: e for e in walk_tree(root)}
    finally:
        locked.chmod(0o755)
    assert entries["TUM/locked"].problem == "unreadable_dir"
    assert "Permission denied" in entries["TUM/locked"].detail


def test_read_bounded_never_blocks_or_overreads(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(OSError, match="FIFO"):
        read_bounded(fifo, 1 << 20)  # returns at once: opened non-blocking, never read
    with pytest.raises(OSError, match="character device"):
        read_bounded("/dev/zero", 1 << 20)
    big = tmp_path / "big"
    big.write_bytes(b"x" * 1000)
    with pytest.raises(TooLargeError):
        read_bounded(big, 999)
    assert read_bounded(big, 1000) == b"x" * 1000


def test_hostile_dicom_tree_index(tmp_path):
    raw = tmp_path / "raw"
    (raw / "PAT1").mkdir(parents=True)
    mr = Path(pydicom.data.get_testdata_file("MR_small.dcm"))
    shutil.copy(mr, raw / "PAT1" / "IM1.dcm")
    shutil.copy(mr, os.path.join(raw, "PAT1", os.fsdecode(b"IM\xe92.dcm")))
    os.mkfifo(raw / "PAT1" / "IM3")
    (raw / "PAT1" / "IM4").symlink_to("/dev/zero")
    with open(raw / "PAT1" / "zeros.bin", "wb") as fh:  # 2 GB of zeros, sparse
        fh.truncate(2 << 30)
    (raw / "linked").symlink_to(raw / "PAT1", target_is_directory=True)
    build = tmp_path / "build"
    code, out = run_cli("--workers", "1", "mri", "index", str(raw), "--out", str(build),
                        "--demo-key", timeout=180)  # fmt: skip
    assert code == 0, out
    assert "Traceback" not in out
    from hepatokit.curation.mri.index.stage import raw_sources

    raw_of = raw_sources(build)  # the ledger names raw files by pseudonym; raw paths: private/
    rows = {raw_of[r["item_id"]]: r for r in manifest_rows(build) if r["item_id"] in raw_of}
    assert rows["PAT1/IM1.dcm"]["outcome"] == "kept"
    assert rows["PAT1/IM\\xe92.dcm"]["reason"] == "non_utf8_name"
    assert rows["PAT1/IM3"]["reason"] == "not_regular_file"
    assert rows["PAT1/IM4"]["reason"] == "not_regular_file"
    assert rows["PAT1/zeros.bin"]["reason"] == "not_dicom"
    assert rows["linked"]["reason"] == "symlink_loop"  # PAT1 walked once, by its real name
    assert_balanced(build)
