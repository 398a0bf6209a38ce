"""Raw folder and file names (which may name patients) stay in ``BUILD/private/``: every
other build file and every published byte names a patch by a neutral ``patch/<id>.<ext>``."""

from __future__ import annotations

import pyarrow.parquet as pq

from hepatokit import build_dataset
from hepatokit.contracts.items import raw_patch_paths
from hepatokit.publish import publish_build
from tests.curation.patho.helpers import he_patch
from tests.hostile.helpers import assert_balanced, manifest_rows, patch_tree, png_bytes
from tests.hostile.test_histology_phi import _all_streams, _variants

#: planted in folder names and in the part of file names that is not the slide id
NAMES = ("DOEJANE-MRN-77123", "ROEMARY", "QUIXOTEDON")


def _tree(root):
    patch_tree(root, n_slides=8, per_slide=3)
    folder = root / "TUM" / f"{NAMES[0]}"
    folder.mkdir()
    for k in range(3):
        (folder / f"slide20_{NAMES[1]}_{k}.png").write_bytes(png_bytes(he_patch(700 + k)))
    (root / "FIB" / f"slide21_{NAMES[2]}.png").write_bytes(png_bytes(he_patch(710)))
    (root / "INF" / f"slide22_{NAMES[2]}_broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"0" * 9)
    (root / "NEC").mkdir()
    (root / "NEC" / f"{NAMES[1]}.txt").write_text("not an image")


def test_raw_names_reach_no_non_private_build_file_nor_published_byte(tmp_path):
    raw, build, hf = tmp_path / "raw", tmp_path / "build", tmp_path / "hf"
    _tree(raw)
    build_dataset(recipe="hepatobench", raw=raw, out=build, workers=1)
    publish_build(build=build, out=hf, workers=1)
    # the planted files are inputs (kept or excluded), their raw paths kept in private/
    sources = set(raw_patch_paths(build).values())
    planted = {p.relative_to(raw).as_posix() for p in raw.rglob("*") if p.is_file()}
    assert planted == sources
    rows = {r["source"]: r for r in manifest_rows(build)}
    assert rows[f"TUM/{NAMES[0]}/slide20_{NAMES[1]}_0.png"]["outcome"] == "kept"
    assert rows[f"INF/slide22_{NAMES[2]}_broken.png"]["reason"] == "corrupt"
    assert rows[f"NEC/{NAMES[1]}.txt"]["reason"] == "not_image"
    assert_balanced(build)
    private = build / "private"
    files = [p for p in build.rglob("*") if p.is_file() and private not in p.parents]
    assert any(p.name == "patches.parquet" for p in files)
    for folder in (build, hf):
        for path, stream in _all_streams(folder):
            if private in path.parents:
                continue
            low = stream.lower()
            for value in NAMES:
                for needle in _variants(value):
                    assert needle.lower() not in low, f"{value!r} found in {path}"
    # and the build's tables name each patch neutrally
    for r in pq.read_table(build / "patches.parquet").to_pylist():
        assert r["path"].startswith(f"patch/{r['id']}"), r
