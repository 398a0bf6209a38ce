"""``hepatokit patho …`` commands on a small hand-made class-folder tree."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from hepatokit.cli import app
from hepatokit.contracts.items import raw_patch_paths
from hepatokit.manifest import Manifest
from tests.curation.patho.helpers import he_patch


def _tree(root: Path) -> None:
    for k, cls in enumerate(["TUM", "FIB", "STE"]):
        (root / cls).mkdir(parents=True)
        for i in range(6):
            Image.fromarray(he_patch(10 * k + i)).save(root / cls / f"s{k}_{i}.png")
    Image.fromarray(he_patch(0)).save(root / "TUM" / "s9_copy.tif")  # lossless copy of TUM/s0_0
    (root / "TUM" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    (root / "FIB" / "readme.txt").write_text("not an image")
    (root / "XYZ").mkdir()
    Image.fromarray(he_patch(99)).save(root / "XYZ" / "s1_x.png")
    Image.fromarray(np.full((150, 150, 3), 242, np.uint8)).save(root / "STE" / "s2_glass.png")


def _by_raw_path(build: Path) -> dict[str, dict]:
    """The final ledger rows by raw path (the ledger holds neutral names; the raw paths are
    in ``BUILD/private/patch_sources.parquet``)."""
    raw = raw_patch_paths(build)
    rows = Manifest(build).final().to_pylist()
    assert not {r["source"] for r in rows} & set(raw.values())
    return {raw[r["item_id"]]: r for r in rows}


def test_patho_commands(tmp_path: Path) -> None:
    root, build = tmp_path / "raw", tmp_path / "build"
    _tree(root)
    runner = CliRunner()
    for args in (
        ["--workers", "1", "patho", "ingest", str(root), "--out", str(build)],
        ["patho", "qc", str(build)],
        ["patho", "dedup", str(build)],
        ["patho", "qc-calibrate", str(build), "--per-score", "2"],
        ["patho", "dedup-calibrate", str(build), "--sample", "10", "--reencode", "3"],
    ):
        res = runner.invoke(app, args)
        assert res.exit_code == 0, (args, res.output)
    assert "suggested phash_radius" in res.output
    final = _by_raw_path(build)
    assert len(final) == 23
    assert final["TUM/broken.png"]["reason"] == "corrupt"
    assert final["FIB/readme.txt"]["reason"] == "not_image"
    assert final["XYZ/s1_x.png"]["reason"] == "unknown_class"
    assert final["STE/s2_glass.png"]["reason"] == "background"
    assert final["TUM/s9_copy.tif"]["reason"] == f"duplicate_of:{final['TUM/s0_0.png']['item_id']}"


def test_ingest_resumes_and_sees_changed_files(tmp_path: Path) -> None:
    from hepatokit.curation.patho import ingest_patches, qc_patches

    root, build = tmp_path / "raw", tmp_path / "build"
    _tree(root)
    ingest_patches(root=root, out=build, workers=1)
    first = (build / "patches.parquet").read_bytes()
    ingest_patches(root=root, out=build, workers=1)
    assert (build / "patches.parquet").read_bytes() == first  # same inputs → same bytes
    Image.fromarray(np.full((150, 150, 3), 241, np.uint8)).save(root / "FIB" / "s1_2.png")
    ingest_patches(root=root, out=build, workers=1)
    qc_patches(build=build)
    final = _by_raw_path(build)
    assert final["FIB/s1_2.png"]["reason"] == "background"


def test_missing_build_is_a_clear_error(tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["patho", "dedup", str(tmp_path / "nothing")])
    assert res.exit_code == 2
    assert "qc.parquet is missing" in res.output
