"""HepatoQuant end to end on planted WSIs: with an oracle classifier the proportions are exact."""

from __future__ import annotations

import functools
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hepatokit.quant.run import QuantSettings, quantify_slide, quantify_slides

CLASSES = ("TUM", "FIB", "INF", "NEC", "NOR", "REA", "STE")


class OracleClassifier:
    """Test double: returns the planted class of each tile from its level-0 coordinates."""

    classes = CLASSES

    def __init__(self, truth_file: str, slide_name: str):
        truth = json.loads(Path(truth_file).read_text())
        (slide,) = [s for s in truth["slides"] if s["name"] == slide_name]
        self.planted = {(t["x"], t["y"]): CLASSES.index(t["class"]) for t in slide["tiles"]}
        self.identity: dict[str, Any] = {"kind": "oracle", "slide": slide_name}
        self.calls = 0

    def classify(self, images: np.ndarray, xy: np.ndarray) -> np.ndarray:
        self.calls += 1
        missing = [(int(x), int(y)) for x, y in xy if (int(x), int(y)) not in self.planted]
        assert not missing, f"tiles not planted as tissue: {missing[:3]}"
        return np.array([self.planted[(int(x), int(y))] for x, y in xy])


def _good(truth: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in truth["slides"] if s["kind"] == "ok"]


@pytest.mark.slow
def test_oracle_proportions_exact_with_geojson_and_mask(wsi_raw, tmp_path):
    truth = json.loads((wsi_raw / "truth.json").read_text())
    for slide in _good(truth):
        oracle = OracleClassifier(str(wsi_raw / "truth.json"), slide["name"])
        for regions, settings in (
            (wsi_raw / slide["annotation"], QuantSettings()),
            (wsi_raw / slide["mask"]["path"], QuantSettings(mask_downsample=32)),
        ):
            out = tmp_path / slide["name"] / Path(regions).suffix.strip(".")
            report = quantify_slide(wsi_raw / slide["file"], classifier=oracle, regions=regions,
                                    out=out, settings=settings)  # fmt: skip
            assert report["n_tiles"] == slide["tissue_tiles"]
            assert report["tile_size_level0_px"] == slide["tile_size_level0"]
            for region in ("tumor", "non_tumor"):
                got = report["regions"][region]
                assert got["counts"] == {c: slide["counts"][region].get(c, 0) for c in CLASSES}
                for c in CLASSES:
                    assert got["proportion_by_count"][c] == pytest.approx(
                        slide["proportions"][region].get(c, 0.0), abs=1e-12
                    )
            assert (out / "tissue_map.png").stat().st_size > 0
            assert (out / "regions.png").stat().st_size > 0
            assert json.loads((out / "report.json").read_text())["slide_id"] == slide["name"]


@pytest.mark.slow
def test_batch_reports_good_slides_and_excludes_bad_ones(wsi_raw, tmp_path):
    slides = tmp_path / "slides"
    shutil.copytree(wsi_raw / "slides", slides)
    regions = tmp_path / "regions"
    shutil.copytree(wsi_raw / "annotations", regions)
    truth = json.loads((wsi_raw / "truth.json").read_text())
    good = _good(truth)
    (regions / f"{good[1]['name']}.geojson").unlink()  # a missing region file
    make = functools.partial(OracleClassifier, str(wsi_raw / "truth.json"), good[0]["name"])
    out = tmp_path / "out"
    summary = quantify_slides([slides], make_classifier=make, regions=regions, out=out,
                              settings=QuantSettings(mpp=None), workers=1)  # fmt: skip
    assert summary["quantified"] == 1
    excluded = {Path(e["slide"]).stem: e["error"] for e in summary["excluded"]}
    assert good[1]["name"] in excluded and "no region file" in excluded[good[1]["name"]]
    for s in truth["slides"]:
        if s["kind"] != "ok":
            assert s["name"] in excluded
    csv = (out / "report.csv").read_text().splitlines()
    assert len(csv) == 2 and csv[1].startswith(good[0]["name"])
    from hepatokit.manifest import Manifest

    m = Manifest(out).check()
    assert m.inputs == len(truth["slides"]) and m.kept == 1


@pytest.mark.slow
def test_resume_skips_finished_slide(wsi_raw, tmp_path):
    truth = json.loads((wsi_raw / "truth.json").read_text())
    slide = _good(truth)[1]
    oracle = OracleClassifier(str(wsi_raw / "truth.json"), slide["name"])
    kwargs: dict[str, Any] = {"classifier": oracle, "regions": wsi_raw / slide["annotation"],
                              "out": tmp_path / "r"}  # fmt: skip
    first = quantify_slide(wsi_raw / slide["file"], **kwargs)
    calls = oracle.calls
    again = quantify_slide(wsi_raw / slide["file"], **kwargs)
    assert oracle.calls == calls and again == first
