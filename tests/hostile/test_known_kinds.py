"""Kinds of bad input that were already handled cleanly (kept that way): truncated and
non-DICOM files, a decompression bomb, truncated and empty patches, malformed recipes."""

from __future__ import annotations

import shutil
import struct
import zlib
from pathlib import Path

import pydicom.data

from hepatokit.curation.mri.index.stage import raw_sources
from tests.hostile.helpers import assert_balanced, manifest_rows, patch_tree, run_cli


def _png_bomb(width: int, height: int) -> bytes:
    """A valid PNG header announcing ``width`` × ``height`` pixels with a tiny IDAT."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body))
            + kind
            + body
            + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_bad_patches_are_excluded_with_reasons(tmp_path):
    root = tmp_path / "raw"
    patch_tree(root, n_slides=2, per_slide=1)
    good = (root / "TUM" / "slide00_0.png").read_bytes()
    (root / "TUM" / "slide10_bomb.png").write_bytes(_png_bomb(60000, 60000))
    (root / "TUM" / "slide11_trunc.png").write_bytes(good[: len(good) // 2])
    (root / "TUM" / "slide12_empty.png").write_bytes(b"")
    (root / "TUM" / "notes.txt").write_text("not an image")
    (root / "XYZ").mkdir()
    (root / "XYZ" / "slide13_0.png").write_bytes(good)
    build = tmp_path / "build"
    code, out = run_cli("--workers", "1", "patho", "ingest", str(root), "--out", str(build),
                        timeout=120)  # fmt: skip
    assert code == 0 and "Traceback" not in out, out
    rows = {r["source"]: r for r in manifest_rows(build)}
    assert rows["TUM/slide10_bomb.png"]["outcome"] == "excluded"
    assert rows["TUM/slide11_trunc.png"]["reason"] == "corrupt"
    assert rows["TUM/slide12_empty.png"]["reason"] == "corrupt"
    assert rows["TUM/notes.txt"]["reason"] in ("not_image", "unknown_class")
    assert rows["XYZ/slide13_0.png"]["reason"] == "unknown_class"
    assert_balanced(build)


def test_truncated_and_non_dicom_files_are_excluded(tmp_path):
    raw = tmp_path / "raw" / "P1"
    raw.mkdir(parents=True)
    src = Path(pydicom.data.get_testdata_file("MR_small.dcm"))
    shutil.copy(src, raw / "ok.dcm")
    data = src.read_bytes()
    (raw / "trunc.dcm").write_bytes(data[: len(data) // 3])
    (raw / "notes.txt").write_text("hello")
    (raw / "empty.dcm").write_bytes(b"")
    build = tmp_path / "build"
    code, out = run_cli("--workers", "1", "mri", "index", str(tmp_path / "raw"), "--out",
                        str(build), "--demo-key", timeout=120)  # fmt: skip
    assert code == 0 and "Traceback" not in out, out
    raw_of = raw_sources(build)
    rows = {raw_of[r["item_id"]]: r for r in manifest_rows(build)}
    assert rows["P1/ok.dcm"]["outcome"] == "kept"
    for name in ("trunc.dcm", "notes.txt", "empty.dcm"):
        assert rows[f"P1/{name}"]["outcome"] == "excluded", rows[f"P1/{name}"]
    assert_balanced(build)


def test_malformed_recipe_names_the_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nkind: patho\nclasses: [A, B\n")
    root = tmp_path / "raw"
    patch_tree(root, n_slides=1, per_slide=1)
    code, out = run_cli("patho", "ingest", str(root), "--out", str(tmp_path / "b"),
                        "--recipe", str(bad))  # fmt: skip
    assert code == 2 and "Traceback" not in out, out
    assert "bad.yaml" in out and "not valid YAML" in out
