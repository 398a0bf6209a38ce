"""OpenSlide level / mpp arithmetic on our own small tifffile pyramids; fallbacks and errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from hepatokit.curation.patho.config import TilingConfig
from hepatokit.curation.patho.wsi.slides import (
    SlideError,
    magnification_from_mpp,
    mpp_from_magnification,
    open_slide,
    plan_read,
)
from hepatokit.curation.patho.wsi.tiling import tile_slide, tissue_fractions


def _pyramid(path: Path, level0: np.ndarray, mpp: float | None, downsamples=(1, 2, 4)) -> None:
    with tifffile.TiffWriter(path) as tw:
        for k, ds in enumerate(downsamples):
            arr = level0[::ds, ::ds]
            kw: dict = {}
            if mpp is not None:
                kw = {"resolution": (1e4 / (mpp * ds), 1e4 / (mpp * ds)),
                      "resolutionunit": "CENTIMETER"}  # fmt: skip
            tw.write(arr, tile=(128, 128), photometric="rgb", subfiletype=0 if k == 0 else 1,
                     compression="zlib", metadata=None, **kw)  # fmt: skip


def _tissue_image(w: int, h: int) -> np.ndarray:
    img = np.full((h, w, 3), 240, np.uint8)
    img[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4] = (190, 110, 170)
    return img


def test_magnification_mpp_convention() -> None:
    assert magnification_from_mpp(0.25) == 40
    assert magnification_from_mpp(0.5) == 20
    assert mpp_from_magnification(40) == 0.25


@pytest.mark.parametrize(
    ("mpp", "downsamples", "level", "read", "level0"),
    [
        (0.25, (1, 4, 16), 0, 300, 300),  # 40x, no 2x level: read 300 at level 0, resize
        (0.25, (1, 2, 4), 1, 150, 300),  # 40x with a 2x level: read 150 px at level 1
        (0.5, (1, 4), 0, 150, 150),  # 20x: 1:1
    ],
)
def test_level_and_read_size(tmp_path: Path, mpp, downsamples, level, read, level0) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "s.tif"
    _pyramid(path, _tissue_image(1024, 768), mpp, downsamples)
    with open_slide(path) as r:
        assert r.info.backend == "openslide"
        assert r.info.mpp == pytest.approx(mpp)
        assert r.info.magnification == pytest.approx(10 / mpp)
        plan = plan_read(r.info, target_magnification=20, patch_size=150)
        assert (plan.level, plan.read_size, plan.level0_size) == (level, read, level0)
        assert plan.target_mpp == pytest.approx(0.5)
        assert plan.resize == (read != 150)
    with tile_slide(path, config=TilingConfig(min_tissue_area_um2=1000)) as t:
        assert set(t.table.column("level0_size").to_pylist()) == {level0}
        x, y = t.table.column("x")[0].as_py(), t.table.column("y")[0].as_py()
        assert x % level0 == 0 and y % level0 == 0
        tile = t.read_tile(x, y)
        assert tile.shape == (150, 150, 3)
        # the tissue block covers [256, 768) x [192, 576) at level 0: kept tiles lie in it
        xs = np.array(t.table.column("x").to_pylist())
        ys = np.array(t.table.column("y").to_pylist())
        assert xs.min() >= 256 - level0 // 2 and (xs + level0).max() <= 768 + level0 // 2
        assert ys.min() >= 192 - level0 // 2 and (ys + level0).max() <= 576 + level0 // 2


def test_target_above_scan_magnification(tmp_path: Path) -> None:
    path = tmp_path / "s.tif"
    _pyramid(path, _tissue_image(512, 512), 1.0)  # 10x
    with open_slide(path) as r, pytest.raises(SlideError) as exc:
        plan_read(r.info, target_magnification=20, patch_size=150)
    assert exc.value.reason == "magnification_too_low"


def test_no_mpp_needs_user_mpp(tmp_path: Path) -> None:
    path = tmp_path / "s.tif"
    _pyramid(path, _tissue_image(512, 512), None)
    with pytest.raises(SlideError) as exc:
        open_slide(path)
    assert exc.value.reason == "no_mpp"
    assert "--mpp" in str(exc.value)
    with open_slide(path, mpp=0.25) as r:
        assert r.info.mpp_source == "user" and r.info.magnification == 40


def test_flat_tiff_fallback_and_corrupt(tmp_path: Path) -> None:
    flat = tmp_path / "flat.tif"
    tifffile.imwrite(flat, _tissue_image(600, 450), photometric="rgb",
                     resolution=(2e4, 2e4), resolutionunit="CENTIMETER")  # fmt: skip
    with open_slide(flat) as r:
        assert r.info.backend == "flat"
        assert r.info.mpp == pytest.approx(0.5)
        assert r.read(150, 150, 0, 150).shape == (150, 150, 3)
    bad = tmp_path / "bad.tif"
    bad.write_bytes(flat.read_bytes()[:2000])
    with pytest.raises(SlideError) as exc:
        open_slide(bad)
    assert exc.value.reason == "corrupt"
    junk = tmp_path / "junk.svs"
    junk.write_bytes(b"not a slide at all")
    with pytest.raises(SlideError) as exc:
        open_slide(junk)
    assert exc.value.reason == "corrupt"


def test_tissue_fractions_summed_area() -> None:
    mask = np.zeros((10, 10), bool)
    mask[:5, :5] = True
    f = tissue_fractions(mask, 10.0, np.array([0, 0, 50]), np.array([0, 50, 50]), 50)
    assert f.tolist() == [1.0, 0.0, 0.0]
    f2 = tissue_fractions(mask, 10.0, np.array([0]), np.array([0]), 100)
    assert f2.tolist() == [0.25]
