"""Composition arithmetic and tissue-map stitching are exact."""

from __future__ import annotations

import numpy as np
import pytest

from hepatokit.quant.composition import compose, tissue_map

CLASSES = ("TUM", "FIB", "INF", "NEC", "NOR", "REA", "STE")


def test_proportions_exact_by_count_and_area():
    labels = np.array([0, 0, 3, 1, 6, 6, 6, 5])
    regions = np.array(["tumor"] * 4 + ["non_tumor"] * 4, dtype=object)
    frac = np.array([1, 0.5, 1, 1, 1, 1, 0.5, 1.0])
    comp = compose(
        labels=labels, regions=regions, tissue_fraction=frac, tile_area_mm2=0.0056,
        classes=CLASSES,
    )  # fmt: skip
    t = comp["tumor"]
    assert t.n_tiles == 4 and t.counts["TUM"] == 2
    assert t.by_count["TUM"] == 0.5 and t.by_count["NEC"] == 0.25
    assert t.by_area["TUM"] == pytest.approx(1.5 / 3.5)
    assert t.headline == {"NEC": 0.25, "FIB": 0.25, "INF": 0.0}
    n = comp["non_tumor"]
    assert n.by_count["STE"] == 0.75 and n.headline["REA"] == 0.25
    assert n.tissue_area_mm2 == pytest.approx(3.5 * 0.0056)
    assert sum(n.by_area.values()) == pytest.approx(1.0)


def test_compose_rejects_bad_labels():
    with pytest.raises(ValueError, match="labels must lie"):
        compose(labels=np.array([7]), regions=np.array(["tumor"], dtype=object),
                tissue_fraction=np.array([1.0]), tile_area_mm2=1.0, classes=CLASSES)  # fmt: skip


def test_tissue_map_stitches_grid():
    s = 300
    x = np.array([600, 900, 600, 1500])
    y = np.array([300, 300, 600, 600])
    grid, origin = tissue_map(x=x, y=y, labels=np.array([1, 2, 3, 4]), tile_size_level0=s)
    assert origin == (600.0, 300.0)
    expected = np.array([[1, 2, -1, -1], [3, -1, -1, 4]])
    np.testing.assert_array_equal(grid, expected)
