"""Tissue detection at low resolution: Otsu, closing, small components, holes."""

from __future__ import annotations

import numpy as np

from hepatokit.curation.patho.wsi.tissue import detect_tissue, otsu_threshold


def test_otsu_splits_two_modes() -> None:
    values = np.concatenate([np.full(500, 10), np.full(500, 200)]).astype(np.uint8)
    t = otsu_threshold(values)
    assert 10 <= t < 200


def _slide(size: int = 200) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    rgb = np.full((size, size, 3), 240, np.uint8) + rng.integers(0, 5, (size, size, 3)).astype(
        np.uint8
    )
    truth = np.zeros((size, size), bool)
    truth[40:160, 30:120] = True  # tissue block
    rgb[truth] = (200, 120, 180)
    rgb[90:93, 70:73] = 240  # a tiny hole (3x3 px) inside the tissue
    rgb[10:12, 180:182] = (200, 120, 180)  # a speck of dust-sized debris
    return rgb, truth


def test_detect_tissue_block_fills_holes_drops_specks() -> None:
    rgb, truth = _slide()
    mpp = 8.0  # µm/px at 1.25x
    mask = detect_tissue(rgb, mpp=mpp, min_tissue_area_um2=5_000, min_hole_area_um2=2_000)
    assert mask[91, 71]  # hole filled (9 px * 64 µm² = 576 µm² < 2000)
    assert not mask[11, 181]  # speck removed (4 px * 64 = 256 µm² < 5000)
    agree = (mask == truth).mean()
    assert agree > 0.99
    fixed = detect_tissue(rgb, mpp=mpp, saturation_threshold=0.2, min_tissue_area_um2=5_000)
    assert (fixed == truth).mean() > 0.99


def test_empty_slide_has_no_tissue() -> None:
    rng = np.random.default_rng(1)
    glass = (235 + rng.integers(0, 8, (100, 100, 3))).astype(np.uint8)
    assert not detect_tissue(glass, mpp=8.0).any()
