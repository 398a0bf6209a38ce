"""GeoJSON (QuPath) polygons → region per tile, by centre or overlap, holes respected."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hepatokit.curation.patho.wsi.annotations import label_tiles, load_annotations
from hepatokit.errors import DataFormatError


def _write(tmp_path: Path) -> Path:
    square = [[0, 0], [1000, 0], [1000, 1000], [0, 1000], [0, 0]]
    hole = [[400, 400], [600, 400], [600, 600], [400, 600], [400, 400]]
    other = [[[2000, 0], [2400, 0], [2400, 400], [2000, 400], [2000, 0]]]
    doc = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [square, hole]},
             "properties": {"objectType": "annotation", "classification": {"name": "Tumor"}}},
            {"type": "Feature", "geometry": {"type": "MultiPolygon", "coordinates": [other]},
             "properties": {"name": "Stroma"}},
        ],
    }  # fmt: skip
    path = tmp_path / "a.geojson"
    path.write_text(json.dumps(doc))
    return path


def test_load_and_label(tmp_path: Path) -> None:
    anns = load_annotations(_write(tmp_path))
    assert [a.name for a in anns] == ["Tumor", "Stroma"]
    assert len(anns[0].holes) == 1
    xs = np.array([100, 450, 900, 2100, 3000])
    ys = np.array([100, 450, 900, 100, 3000])
    assert label_tiles(anns, xs, ys, 100) == ["Tumor", None, "Tumor", "Stroma", None]
    # a tile straddling the polygon corner: centre outside, 16 % overlap
    xs2, ys2 = np.array([960]), np.array([960])
    assert label_tiles(anns, xs2, ys2, 100, by="centre") == [None]
    assert label_tiles(anns, xs2, ys2, 100, by="overlap", min_overlap=0.1) == ["Tumor"]
    assert label_tiles(anns, xs2, ys2, 100, by="overlap", min_overlap=0.5) == [None]


def test_bad_geojson(tmp_path: Path) -> None:
    bad = tmp_path / "b.geojson"
    bad.write_text("{not json")
    with pytest.raises(DataFormatError):
        load_annotations(bad)
    (tmp_path / "c.geojson").write_text(json.dumps({"type": "Point"}))
    with pytest.raises(DataFormatError):
        load_annotations(tmp_path / "c.geojson")
