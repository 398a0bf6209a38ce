"""Small pieces of the region model: polygon tracing, window grid, blending, empty tumor."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import ndimage

from hepatokit.quant.regions import load_regions
from hepatokit.quant.segment.predict import _feature, mask_polygons
from hepatokit.quant.segment.window import blend_weights, window_origins


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_polygons_trace_the_mask_exactly(seed):
    """Blobs with holes and diagonal contacts: every pixel centre is inside iff set."""
    from hepatokit.quant.regions import GeoJSONRegions

    rng = np.random.default_rng(seed)
    mask = ndimage.gaussian_filter(rng.random((40, 53)), 2) > 0.5
    mask[10:20, 10:20] = True
    mask[13:16, 13:16] = False  # a hole
    ds = 7.5
    polys = mask_polygons(mask, ds)
    src = GeoJSONRegions(tuple(tuple(np.asarray(r) for r in rings) for rings in polys))
    rr, cc = np.mgrid[0 : mask.shape[0], 0 : mask.shape[1]]
    got = src.region_of((cc.ravel() + 0.5) * ds, (rr.ravel() + 0.5) * ds) == "tumor"
    assert np.array_equal(got, mask.ravel())
    assert any(len(rings) > 1 for rings in polys)  # holes are kept as inner rings


def test_empty_tumor_feature_means_no_tumor(tmp_path):
    geo = {"type": "FeatureCollection", "features": [_feature("Tumor", [200, 0, 0], [])]}
    path = tmp_path / "s.geojson"
    path.write_text(json.dumps(geo))
    src = load_regions(path)
    assert list(src.region_of(np.array([5.0]), np.array([5.0]))) == ["non_tumor"]
    assert not src.mask((4, 4), 1.0).any()
    (tmp_path / "none.geojson").write_text(json.dumps({"type": "FeatureCollection",
                                                       "features": []}))  # fmt: skip
    from hepatokit.errors import DataFormatError

    with pytest.raises(DataFormatError, match="no polygon named"):
        load_regions(tmp_path / "none.geojson")


@pytest.mark.parametrize(
    ("h", "w", "win", "overlap"),
    [(150, 187, 64, 0.5), (40, 30, 64, 0.5), (300, 300, 96, 0.25), (97, 64, 32, 0)],
)
def test_windows_cover_the_image_inside_its_bounds(h, w, win, overlap):
    origins = window_origins(h, w, win, overlap)
    cover = np.zeros((h, w), int)
    for y, x in origins:
        assert y >= 0 and x >= 0
        assert y + win <= max(h, win) and x + win <= max(w, win)
        cover[y : y + win, x : x + win] += 1
    assert (cover > 0).all()
    assert len(set(origins)) == len(origins)


def test_gaussian_blend_is_centre_heavy_and_positive():
    g = blend_weights(64, "gaussian")
    assert g.shape == (64, 64) and g.min() > 0
    assert g[32, 32] == pytest.approx(g.max(), rel=1e-3) and g[0, 0] < 0.2 * g.max()
    assert np.array_equal(g, g[::-1, ::-1])
    assert (blend_weights(16, "mean") == 1).all()
    with pytest.raises(ValueError):
        blend_weights(16, "max")
