"""Synthetic WSIs: OpenSlide reads them as planted; layout, polygon and mask agree."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import openslide
import pytest
import tifffile
from hypothesis import given, settings, strategies as st
from matplotlib.path import Path as MplPath
from PIL import Image

from hepatokit.synthetic.tissue import slide_stain
from hepatokit.synthetic.wsi import class_blocks, generate_wsis, render_block
from hepatokit.synthetic.wsi_layout import WOBBLE, Layout, make_layout


def _truth(root: Path) -> dict:
    return json.loads((root / "truth.json").read_text())


def _slide(truth: dict, kind: str) -> list[dict]:
    return [s for s in truth["slides"] if s["kind"] == kind]


def test_good_slides_open_with_planted_levels_and_mpp(wsi_raw: Path) -> None:
    truth = _truth(wsi_raw)
    good = _slide(truth, "ok")
    assert [s["mpp"] for s in good] == [0.25, 0.5]
    assert [s["objective_power"] for s in good] == [40, 20]
    assert [s["format"] for s in good] == ["generic-tiff"] * 2
    for s in good:
        with openslide.OpenSlide(wsi_raw / s["file"]) as slide:
            assert slide.properties["openslide.vendor"] == "generic-tiff"
            assert slide.level_count == s["level_count"] >= 3
            assert [list(d) for d in slide.level_dimensions] == s["level_dimensions"]
            assert float(slide.properties["openslide.mpp-x"]) == pytest.approx(s["mpp"], rel=1e-6)
            assert float(slide.properties["openslide.mpp-y"]) == pytest.approx(s["mpp"], rel=1e-6)
            assert "openslide.objective-power" not in slide.properties
            assert slide.level_downsamples == pytest.approx(s["level_downsamples"], rel=1e-6)
            assert slide.properties["tiff.ResolutionUnit"] == "centimeter"
            # tiled, with tiles of 256 px at every level
            assert slide.properties["openslide.level[0].tile-width"] == "256"
    first = good[0]
    assert first["level_dimensions"][0] == [6000, 4000] and first["tile_size_level0"] == 300
    assert good[1]["tile_size_level0"] == 150


def test_planted_bad_slides(wsi_raw: Path) -> None:
    truth = _truth(wsi_raw)
    (trunc,) = _slide(truth, "truncated")
    assert trunc["expected"] == "excluded"
    with pytest.raises(openslide.OpenSlideError):
        openslide.OpenSlide(wsi_raw / trunc["file"])
    (flat,) = _slide(truth, "flat")
    assert flat["expected"] == "fallback_or_excluded" and flat["level_count"] == 1
    with pytest.raises(openslide.OpenSlideError):
        openslide.OpenSlide(wsi_raw / flat["file"])
    with tifffile.TiffFile(wsi_raw / flat["file"]) as tif:  # a fallback reader can read it
        assert len(tif.pages) == 1 and not tif.pages[0].is_tiled
        assert list(tif.pages[0].shape[1::-1]) == flat["level_dimensions"][0]
    (nompp,) = _slide(truth, "no_mpp")
    assert nompp["expected"] == "needs_mpp" and not nompp["has_mpp_metadata"]
    with openslide.OpenSlide(wsi_raw / nompp["file"]) as slide:
        assert "openslide.mpp-x" not in slide.properties
        assert slide.level_count == nompp["level_count"]


def test_geojson_polygon_matches_truth_and_lies_inside_the_slide(wsi_raw: Path) -> None:
    truth = _truth(wsi_raw)
    for s in truth["slides"]:
        if s["annotation"] is None:
            assert s["kind"] == "truncated"
            continue
        gj = json.loads((wsi_raw / s["annotation"]).read_text())
        assert gj["type"] == "FeatureCollection"
        (feature,) = gj["features"]
        assert feature["properties"]["classification"]["name"] == "Tumor"
        assert feature["geometry"]["type"] == "Polygon"
        ring = np.array(feature["geometry"]["coordinates"][0])
        assert ring.tolist() == s["tumor_polygon"]
        assert (ring[0] == ring[-1]).all() and len(ring) > 10
        w, h = s["level_dimensions"][0]
        assert (ring[:, 0] > 0).all() and (ring[:, 0] < w).all()
        assert (ring[:, 1] > 0).all() and (ring[:, 1] < h).all()


def test_tile_regions_follow_polygon_and_mask(wsi_raw: Path) -> None:
    truth = _truth(wsi_raw)
    for s in truth["slides"]:
        if s["annotation"] is None:
            continue
        t = s["tile_size_level0"]
        poly = MplPath(np.array(s["tumor_polygon"]))
        tiles = s["tiles"]
        centres = np.array([[d["x"] + t / 2, d["y"] + t / 2] for d in tiles])
        inside = poly.contains_points(centres)
        assert inside.tolist() == [d["region"] == "tumor" for d in tiles]
        mask = np.asarray(Image.open(wsi_raw / s["mask"]["path"]))
        assert list(mask.shape[::-1]) == s["mask"]["size"]
        ds = s["mask"]["downsample"]
        at = mask[(centres[:, 1] // ds).astype(int), (centres[:, 0] // ds).astype(int)] > 0
        assert at.tolist() == inside.tolist()
        regions = {d["region"] for d in tiles}
        assert regions == {"tumor", "non_tumor"}
        for region in ("tumor", "non_tumor"):
            n = sum(d["region"] == region for d in tiles)
            counts = s["counts"][region]
            assert sum(counts.values()) == n
            assert s["proportions"][region] == pytest.approx({k: v / n for k, v in counts.items()})
        assert s["tissue_tiles"] == len(tiles)


def test_tissue_pixels_have_the_planted_texture(wsi_raw: Path) -> None:
    truth = _truth(wsi_raw)
    for s in _slide(truth, "ok"):
        t = s["tile_size_level0"]
        idx = int(s["name"][-3:]) - 1
        planted = {(d["col"], d["row"]): d["class"] for d in s["tiles"]}
        stain = slide_stain(np.random.default_rng([truth["seed"], 31, idx]))
        layout = Layout(t, np.full((s["grid"]["rows"], s["grid"]["cols"]), "", object),
                        np.zeros((s["grid"]["rows"], s["grid"]["cols"]), bool), [])  # fmt: skip
        for (c, r), cls in planted.items():
            layout.classes[r, c] = cls
        with openslide.OpenSlide(wsi_raw / s["file"]) as slide:
            for cls, box, members in class_blocks(layout)[::5]:
                rgb = render_block(truth["seed"], idx, stain, cls, box, t, s["mpp"])
                r, c = members[len(members) // 2]
                tile = np.asarray(slide.read_region((c * t, r * t), 0, (t, t)).convert("RGB"))
                assert tile.mean() < 225, (s["name"], c, r)  # tissue, not glass
                y, x = (r - box[0]) * t, (c - box[1]) * t
                assert np.array_equal(tile, rgb[y : y + t, x : x + t])
            glass = [(c, r) for c in range(s["grid"]["cols"]) for r in range(s["grid"]["rows"])
                     if (c, r) not in planted]  # fmt: skip
            for c, r in glass[::11]:
                tile = np.asarray(slide.read_region((c * t, r * t), 0, (t, t)).convert("RGB"))
                assert tile.astype(int).min(2).mean() > 225  # empty glass
                assert np.ptp(tile.astype(int), axis=2).mean() < 15


def test_class_textures_differ_between_classes(wsi_raw: Path) -> None:
    """Nuclear (dark) pixel fraction per class: TUM and INF crowded, NEC and FIB sparse."""
    truth = _truth(wsi_raw)
    s = _slide(truth, "ok")[1]
    frac: dict[str, list[float]] = {}
    with openslide.OpenSlide(wsi_raw / s["file"]) as slide:
        for d in s["tiles"]:
            t = s["tile_size_level0"]
            tile = np.asarray(slide.read_region((d["x"], d["y"]), 0, (t, t)).convert("RGB"))
            frac.setdefault(d["class"], []).append(float((tile[..., 0] < 120).mean()))
    mean = {k: float(np.mean(v)) for k, v in frac.items()}
    assert mean["TUM"] > mean["NOR"] > mean["FIB"]
    assert mean["INF"] > mean["NEC"]


@pytest.mark.slow
def test_deterministic_and_independent_of_workers(tmp_path: Path) -> None:
    kw = {"slides": 3, "seed": 5, "size_40x": (2700, 2400), "size_20x": (1500, 1350)}
    summary = generate_wsis(tmp_path / "a", workers=1, **kw)
    generate_wsis(tmp_path / "b", workers=2, **kw)
    assert "wsi-001" in str(summary)

    def digest(root: Path) -> dict[str, str]:
        return {
            str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*"))
            if p.is_file()
        }

    da, db = digest(tmp_path / "a"), digest(tmp_path / "b")
    assert da == db and len(da) == 6 + 5 + 5 + 1
    # the third good slide is an Aperio-style SVS: objective power and mpp from its description
    (svs,) = [s for s in _truth(tmp_path / "a")["slides"] if s["format"] == "aperio"]
    assert svs["file"].endswith(".svs") and svs["has_objective_power_metadata"]
    with openslide.OpenSlide(tmp_path / "a" / svs["file"]) as slide:
        assert slide.properties["openslide.vendor"] == "aperio"
        assert slide.properties["openslide.objective-power"] == "40"
        assert float(slide.properties["openslide.mpp-x"]) == pytest.approx(0.25)
        assert [list(d) for d in slide.level_dimensions] == svs["level_dimensions"]


@given(
    seed=st.integers(0, 10_000),
    cols=st.integers(8, 40),
    rows=st.integers(8, 30),
    tile=st.sampled_from([150, 300]),
)
@settings(max_examples=40, deadline=None)
def test_layout_regions_are_unambiguous(seed: int, cols: int, rows: int, tile: int) -> None:
    """Every tile centre lies ≥ 0.3 tile from the tumor outline, on the planted side."""
    layout = make_layout(np.random.default_rng(seed), cols * tile, rows * tile, tile)
    ring = np.array(layout.polygon)
    poly = MplPath(ring)
    rr, cc = np.mgrid[0 : layout.rows, 0 : layout.cols]
    centres = np.stack([(cc.ravel() + 0.5) * tile, (rr.ravel() + 0.5) * tile], 1)
    inside = poly.contains_points(centres).reshape(layout.rows, layout.cols)
    assert (inside == layout.tumor).all()
    seg_a, seg_b = ring[:-1], ring[1:]
    ab = seg_b - seg_a
    ap = centres[:, None, :] - seg_a[None]
    f = np.clip((ap * ab).sum(-1) / np.maximum((ab * ab).sum(-1), 1e-9), 0, 1)
    dist = np.linalg.norm(ap - f[..., None] * ab, axis=-1).min(1)
    assert dist.min() >= (0.5 - 2 * WOBBLE) * tile
    tissue = layout.classes != ""
    assert (tissue >= layout.tumor).all()
    assert not tissue[0].any() and not tissue[-1].any()
    assert not tissue[:, 0].any() and not tissue[:, -1].any()


@pytest.mark.slow
def test_rerun_resumes_and_removes_stale_slides(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hepatokit.synthetic.wsi as wsi
    from hepatokit.errors import HepatokitError

    kw = {"seed": 2, "workers": 1, "mpps": (0.5,), "size_20x": (1200, 1200)}
    real = wsi._render_level0
    rendered: list[str] = []
    failed: list[str] = []

    def flaky(spec, layout, tmpdir):  # type: ignore[no-untyped-def]
        rendered.append(spec.name)
        if spec.name == "wsi-003" and not failed:
            failed.append(spec.name)
            raise RuntimeError("disk full")
        return real(spec, layout, tmpdir)

    monkeypatch.setattr(wsi, "_render_level0", flaky)
    with pytest.raises(HepatokitError, match="disk full"):
        generate_wsis(tmp_path, slides=3, **kw)
    rendered.clear()
    generate_wsis(tmp_path, slides=3, **kw)
    assert rendered == ["wsi-003"]  # the finished slides were reused
    assert not (tmp_path / ".synth-progress").exists()
    generate_wsis(tmp_path, slides=1, bad_slides=False, **kw)
    truth = _truth(tmp_path)
    listed = {s["file"] for s in truth["slides"]} | {s["annotation"] for s in truth["slides"]}
    listed |= {s["mask"]["path"] for s in truth["slides"]}
    on_disk = {str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file()}
    assert on_disk == listed | {"truth.json"}
