"""Region IoU / Dice / precision / recall against hand-computed values."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from hepatokit.errors import DataFormatError
from hepatokit.quant.region_metrics import mask_scores, region_scores, sum_scores
from hepatokit.quant.regions import MaskRegions, load_regions


def test_hand_computed_small_masks():
    pred = np.array([[1, 1, 0], [0, 1, 0]], bool)
    truth = np.array([[1, 0, 0], [0, 1, 1]], bool)
    s = mask_scores(pred, truth)
    # tp=2 fp=1 fn=1
    assert (s.tp, s.fp, s.fn) == (2, 1, 1)
    assert s.iou == pytest.approx(2 / 4)
    assert s.dice == pytest.approx(4 / 6)
    assert s.precision == pytest.approx(2 / 3) and s.recall == pytest.approx(2 / 3)
    assert s.f1 == pytest.approx(2 / 3)


def test_empty_masks_conventions():
    z = np.zeros((3, 3), bool)
    one = z.copy()
    one[1, 1] = True
    both_empty = mask_scores(z, z)
    assert both_empty.iou == both_empty.dice == both_empty.precision == both_empty.recall == 1.0
    missed = mask_scores(z, one)  # nothing predicted, something to find
    assert (missed.iou, missed.dice, missed.precision, missed.recall) == (0.0, 0.0, 0.0, 0.0)
    spurious = mask_scores(one, z)  # predicted where nothing is
    assert (spurious.iou, spurious.dice, spurious.precision, spurious.recall) == (0, 0, 0, 1.0)


def test_masks_at_different_downsamples_compare_in_level0():
    # truth at downsample 2: a 4x4 level-0 square at (0..4, 0..4) on an 8x8 slide
    truth = np.zeros((4, 4), bool)
    truth[0:2, 0:2] = True
    # prediction at downsample 4: one 4x4 level-0 pixel covering the same square
    pred = np.zeros((2, 2), bool)
    pred[0, 0] = True
    s = region_scores(MaskRegions(pred, 4.0), MaskRegions(truth, 2.0), level0_size=(8, 8))
    assert s.iou == 1.0 and s.tp == 16.0  # 4 px at ds 2 = 16 level-0 px²
    # shift the prediction by one coarse pixel: no overlap, areas 16 and 16
    pred2 = np.zeros((2, 2), bool)
    pred2[0, 1] = True
    s2 = region_scores(MaskRegions(pred2, 4.0), MaskRegions(truth, 2.0), level0_size=(8, 8))
    assert (s2.tp, s2.fp, s2.fn, s2.iou) == (0.0, 16.0, 16.0, 0.0)


def test_geojson_vs_mask_and_pooling(tmp_path):
    gj = tmp_path / "t.geojson"
    square = [[0, 0], [40, 0], [40, 40], [0, 40], [0, 0]]
    gj.write_text(json.dumps({
        "type": "FeatureCollection",
        "features": [{"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [square]},
                      "properties": {"classification": {"name": "Tumor"}}}],
    }))  # fmt: skip
    truth = load_regions(gj)
    mask = np.zeros((8, 8), np.uint8)
    mask[0:4, 0:2] = 255  # half of the square (ds 10 → 40x20 level-0 px)
    png = tmp_path / "m.png"
    Image.fromarray(mask).save(png)
    pred = load_regions(png, mask_downsample=10)
    s = region_scores(pred, truth, level0_size=(80, 80))
    assert s.precision == 1.0 and s.recall == pytest.approx(0.5) and s.iou == pytest.approx(0.5)
    pooled = sum_scores([s, s])
    assert pooled.iou == pytest.approx(0.5) and pooled.tp == 2 * s.tp
    np.testing.assert_array_equal(
        truth.region_of(np.array([20, 60]), np.array([20, 20])), ["tumor", "non_tumor"]
    )


def test_bad_region_files(tmp_path):
    with pytest.raises(DataFormatError, match="not found"):
        load_regions(tmp_path / "nope.geojson")
    bad = tmp_path / "b.geojson"
    bad.write_text("{not json")
    with pytest.raises(DataFormatError, match="not valid GeoJSON"):
        load_regions(bad)
    other = tmp_path / "o.geojson"
    other.write_text(json.dumps({"type": "FeatureCollection", "features": []}))
    with pytest.raises(DataFormatError, match="no polygon named tumor"):
        load_regions(other)
    with pytest.raises(DataFormatError, match="downsample"):
        load_regions(tmp_path / "m.png")


def test_evaluate_regions_folders_pair_by_slide(tmp_path):
    from hepatokit.quant import evaluate_regions

    truth_dir, pred_dir = tmp_path / "truth", tmp_path / "pred"
    truth_dir.mkdir()
    pred_dir.mkdir()
    t = np.zeros((4, 4), np.uint8)
    t[:2, :2] = 255
    Image.fromarray(t).save(truth_dir / "s1_tumor_ds32.png")
    Image.fromarray(t).save(pred_dir / "s1_mask.png")  # perfect
    Image.fromarray(t).save(truth_dir / "s2_tumor_ds32.png")
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(pred_dir / "s2_mask.png")  # misses all
    res = evaluate_regions(pred=pred_dir, truth=truth_dir, out=tmp_path / "r",
                           pred_downsample=32, truth_downsample=32)  # fmt: skip
    assert res.per_slide["s1"].iou == 1.0 and res.per_slide["s2"].iou == 0.0
    assert res.overall.iou == pytest.approx(0.5) and res.macro["dice"] == pytest.approx(0.5)
    assert (tmp_path / "r" / "regions.csv").read_text().startswith("slide,iou")
    (pred_dir / "s2_mask.png").unlink()
    with pytest.raises(DataFormatError, match="no prediction for slide"):
        evaluate_regions(pred=pred_dir, truth=truth_dir, pred_downsample=32, truth_downsample=32)
