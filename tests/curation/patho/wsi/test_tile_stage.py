"""``patho tile`` on the synthetic WSIs: tissue layout, tumor region, bad slides, resume."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from hepatokit.curation.patho import tile_slide, tile_slides
from hepatokit.manifest import Manifest, stable_id
from hepatokit.pipelines import build_hepatobench
from tests.curation.patho.helpers import slide_ids

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wsi_truth(wsi_raw: Path) -> dict:
    return json.loads((wsi_raw / "truth.json").read_text())


@pytest.fixture(scope="module")
def tiled(wsi_raw: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tile_build")
    tile_slides(slides=wsi_raw / "slides", out=out, workers=2)
    return out


def _slide_tiles(table: list[dict], name: str, build: Path) -> dict[tuple[int, int], dict]:
    sid = slide_ids(build)[f"{name}.tif"]
    return {(r["x"], r["y"]): r for r in table if r["slide_id"] == sid}


def test_tiles_match_planted_layout(tiled: Path, wsi_truth: dict) -> None:
    table = pq.read_table(tiled / "tiles.parquet").to_pylist()
    checked = 0
    for s in wsi_truth["slides"]:
        if s["expected"] not in ("ok", "fallback_or_excluded"):
            continue
        got = _slide_tiles(table, s["name"], tiled)
        want = {(t["x"], t["y"]): t for t in s["tiles"]}
        assert set(got) == set(want), s["name"]
        for r in got.values():
            assert r["level0_size"] == s["tile_size_level0"]
            assert r["patch_size"] == 150 and r["target_magnification"] == 20
            assert r["mpp"] == pytest.approx(0.5)
            assert r["level0_magnification"] == pytest.approx(s["objective_power"])
            assert (tiled / r["path"]).is_file()
            # tile ids as before slide ids were keyed: the hash of the file name's hash
            unkeyed = stable_id("slide", f"{s['name']}.tif")
            assert r["id"] == stable_id("tile", unkeyed, str(r["x"]), str(r["y"]))
            assert r["path"].startswith(f"tiles/{r['slide_id']}/")
        checked += 1
    assert checked >= 2


def test_tumor_region_inside_polygon(tiled: Path, wsi_truth: dict) -> None:
    table = pq.read_table(tiled / "tiles.parquet").to_pylist()
    for s in wsi_truth["slides"]:
        if s["expected"] != "ok":
            continue
        got = _slide_tiles(table, s["name"], tiled)
        size = s["tile_size_level0"]
        tumor = {(t["x"], t["y"]) for t in s["tiles"] if t["region"] == "tumor"}
        # tiles away from the border: all 8 neighbours have the same truth region
        interior = [t for t in s["tiles"] if all(
            ((t["x"] + dx * size, t["y"] + dy * size) in tumor) == ((t["x"], t["y"]) in tumor)
            for dx in (-1, 0, 1) for dy in (-1, 0, 1))]  # fmt: skip
        agree = [(got[(t["x"], t["y"])]["region"] == "Tumor") == (t["region"] == "tumor")
                 for t in interior]  # fmt: skip
        assert interior and np.mean(agree) >= 0.99


def test_bad_slides_and_manifest(tiled: Path, wsi_truth: dict) -> None:
    final = {r["item_id"]: r for r in Manifest(tiled).final().to_pylist()}
    for s in wsi_truth["slides"]:
        row = final[slide_ids(tiled)[f"{s['name']}.tif"]]
        if s["expected"] == "excluded":
            assert row["outcome"] == "excluded" and row["reason"] == "corrupt"
        elif s["expected"] == "needs_mpp":
            assert row["reason"] == "no_mpp" and "--mpp" in row["detail"]
        else:
            assert row["outcome"] == "kept"
    summary = Manifest(tiled).check()
    assert summary.by_kind["slide"] == len(wsi_truth["slides"])
    private = pq.read_table(tiled / "private" / "slides.parquet")
    assert len(private) == len(wsi_truth["slides"])
    assert not any(
        ".tif" in p for p in pq.read_table(tiled / "tiles.parquet").column("path").to_pylist()
    )


def test_resume_and_mpp_override(
    tiled: Path, wsi_raw: Path, wsi_truth: dict, tmp_path: Path
) -> None:
    pngs = sorted((tiled / "tiles").rglob("*.png"))
    before = {p: p.stat().st_mtime_ns for p in pngs}
    again = tile_slides(slides=wsi_raw / "slides", out=tiled, workers=1)
    assert {p: p.stat().st_mtime_ns for p in pngs} == before  # nothing re-tiled
    assert again.tiles == len(pq.read_table(tiled / "tiles.parquet"))
    no_mpp = next(s for s in wsi_truth["slides"] if s["expected"] == "needs_mpp")
    with tile_slide(wsi_raw / no_mpp["file"], mpp=no_mpp["mpp"]) as t:
        got = {
            (x, y) for x, y in zip(t.table["x"].to_pylist(), t.table["y"].to_pylist(), strict=True)
        }
        assert got == {(d["x"], d["y"]) for d in no_mpp["tiles"]}
        x, y = next(iter(got))
        assert t.read_tile(x, y).shape == (150, 150, 3)


def test_build_from_slides(wsi_raw: Path, tmp_path: Path) -> None:
    result = build_hepatobench(recipe=None, raw=wsi_raw, out=tmp_path / "b", workers=1)
    assert result.source == "slides"
    curated = pq.read_table(result.curated)
    assert len(curated) > 100 and "tissue_fraction" in curated.column_names
    Manifest(tmp_path / "b").check()


def test_cli_tile_no_mpp_then_mpp(wsi_raw: Path, wsi_truth: dict, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from hepatokit.cli import app

    slide = next(s for s in wsi_truth["slides"] if s["expected"] == "needs_mpp")
    runner = CliRunner()
    res = runner.invoke(
        app, ["patho", "tile", str(wsi_raw / slide["file"]), "--out", str(tmp_path)]
    )
    assert res.exit_code == 0, res.output
    assert "--mpp" in res.output
    res = runner.invoke(app, ["patho", "tile", str(wsi_raw / slide["file"]), "--out",
                              str(tmp_path), "--mpp", str(slide["mpp"])])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert len(pq.read_table(tmp_path / "tiles.parquet")) == len(slide["tiles"])
