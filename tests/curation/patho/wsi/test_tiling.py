"""The tile grid of a slide from its tissue mask (no slide file)."""

from __future__ import annotations

import numpy as np

from hepatokit.curation.patho.wsi.tiling import tissue_grid


def test_tissue_grid_keeps_squares_over_the_threshold() -> None:
    """A mask (4× reduced) with tissue on its left half and one quarter-filled square: the
    level-0 grid of 16 px squares keeps exactly the squares with enough tissue."""
    mask = np.zeros((8, 8), dtype=bool)  # a 32 × 32 px level 0, 4× reduced
    mask[:, :4] = True  # left half: squares (0, 0), (0, 16)
    mask[4:6, 4:6] = True  # a quarter of square (16, 16)
    xs, ys, frac = tissue_grid(mask, 4.0, (32, 32), 16, 0.5)
    assert sorted(zip(xs.tolist(), ys.tolist(), strict=True)) == [(0, 0), (0, 16)]
    assert frac.tolist() == [1.0, 1.0]
    xs, ys, frac = tissue_grid(mask, 4.0, (32, 32), 16, 0.25)
    got = dict(zip(zip(xs.tolist(), ys.tolist(), strict=True), frac.tolist(), strict=True))
    assert got == {(0, 0): 1.0, (0, 16): 1.0, (16, 16): 0.25}
