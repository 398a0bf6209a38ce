"""Synthetic patch sets: layout, planted ground truth, determinism."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
from collections import Counter
from dataclasses import replace
from pathlib import Path

import imagehash
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from PIL import Image
from scipy.ndimage import laplace

from hepatokit.manifest import stable_id
from hepatokit.synthetic.patho import CLASS_PROPORTIONS, generate_patches, plan_patches
from hepatokit.synthetic.patho_plan import _largest_remainder
from hepatokit.synthetic.patho_planted import MAX_NEAR_DUP_DISTANCE, _render
from hepatokit.synthetic.tissue import CLASSES

IMAGE_KINDS = {"corrupt", "not_image"}


def _truth(root: Path) -> dict:
    return json.loads((root / "truth.json").read_text())


def _pixels(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"))


def _phash(path: Path) -> imagehash.ImageHash:
    with Image.open(path) as img:
        return imagehash.phash(img.convert("RGB"))


def _by_kind(truth: dict, kind: str) -> list[dict]:
    return [f for f in truth["files"] if f["kind"] == kind]


def test_every_file_on_disk_is_in_truth_and_table(patho_raw: Path) -> None:
    truth = _truth(patho_raw)
    root = patho_raw / truth["root"]
    on_disk = {str(Path(dp, f).relative_to(root)) for dp, _, files in os.walk(root) for f in files}
    listed = [f["path"] for f in truth["files"]]
    assert len(listed) == len(set(listed)) == truth["counts"]["files"]
    assert on_disk == set(listed)
    with open(patho_raw / truth["table"], newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["path"] for r in rows] == [f"patches/{p}" for p in listed]
    for row, f in zip(rows, truth["files"], strict=True):
        assert row["label"] == f["class"] == row["path"].split("/")[1]
        assert row["slide_id"] == (f["slide_id"] or "")
        assert (patho_raw / row["path"]).is_file()


def test_truth_records_match_files(patho_raw: Path) -> None:
    truth = _truth(patho_raw)
    root = patho_raw / "patches"
    regex = re.compile(truth["slide_id_regex"])
    for f in truth["files"]:
        data = (root / f["path"]).read_bytes()
        assert hashlib.md5(data).hexdigest() == f["md5"], f["path"]
        assert len(data) == f["bytes"]
        assert f["id"] == stable_id("patch", f["path"])
        m = regex.search(f["path"])
        assert (m.group("slide_id") if m else None) == f["slide_id"], f["path"]
        if f["kind"] in IMAGE_KINDS:
            continue
        with Image.open(root / f["path"]) as img:
            assert img.mode == "RGB"
            assert [img.width, img.height] == [f["width"], f["height"]]
            assert img.format == f["format"]


def test_classes_proportions_and_slides(patho_raw: Path) -> None:
    truth = _truth(patho_raw)
    clean = _by_kind(truth, "clean")
    # classes read from the folders on disk, counted against the 500 patches the fixture asked for
    counts = Counter(Path(f["path"]).parts[0] for f in clean)
    assert sum(counts.values()) == 500
    for cls in CLASSES:
        assert counts[cls] >= 8
        assert counts[cls] == pytest.approx(500 * CLASS_PROPORTIONS[cls], abs=8)
    assert counts["REA"] < counts["FIB"] / 5  # the seed's imbalance
    per_slide = {}
    for f in clean:
        per_slide.setdefault(f["slide_id"], set()).add(f["class"])
    assert len(per_slide) >= 10
    assert all(len(c) < len(CLASSES) for c in per_slide.values())
    for cls in CLASSES:  # every class is spread over several slides (slide-level splits)
        assert sum(cls in c for c in per_slide.values()) >= 3
    formats = Counter(f["format"] for f in clean)
    assert formats["PNG"] > formats["JPEG"] > 0 and formats["TIFF"] > 0


def test_every_planted_kind_is_present(patho_raw: Path) -> None:
    kinds = _truth(patho_raw)["counts"]["per_kind"]
    expected = {
        "clean",
        "exact_dup_of",
        "reencoded_of",
        "near_dup_of",
        "blur",
        "background",
        "off_stain",
        "pen",
        "corrupt",
        "wrong_size",
        "not_image",
        "label_conflict",
        "unknown_class",
    }
    assert set(kinds) == expected
    assert kinds["near_dup_of"] >= 20 and kinds["blur"] >= 15


def test_exact_and_reencoded_duplicates(patho_raw: Path) -> None:
    truth = _truth(patho_raw)
    root = patho_raw / "patches"
    by_path = {f["path"]: f for f in truth["files"]}
    sources = set()
    for f in _by_kind(truth, "exact_dup_of") + _by_kind(truth, "reencoded_of"):
        src = by_path[f["source"]]
        assert src["kind"] == "clean" and src["class"] == f["class"]
        assert f["source_id"] == src["id"]
        sources.add(src["path"])
        same_bytes = (root / f["path"]).read_bytes() == (root / src["path"]).read_bytes()
        assert same_bytes == (f["kind"] == "exact_dup_of")
        assert np.array_equal(_pixels(root / f["path"]), _pixels(root / src["path"]))
    n = len(_by_kind(truth, "exact_dup_of")) + len(_by_kind(truth, "reencoded_of"))
    assert len(sources) == n  # disjoint sources
    groups = {tuple(g) for g in truth["exact_dup_groups"]}
    assert sum(len(g) - 1 for g in groups) == n


def test_near_duplicates_are_close_in_phash_and_not_identical(patho_raw: Path) -> None:
    truth = _truth(patho_raw)
    root = patho_raw / "patches"
    by_path = {f["path"]: f for f in truth["files"]}
    pairs = truth["near_dup_pairs"]
    assert len(pairs) == len(_by_kind(truth, "near_dup_of"))
    for derived, source in pairs:
        assert by_path[source]["kind"] == "clean"
        assert by_path[derived]["class"] == by_path[source]["class"]
        dist = _phash(root / derived) - _phash(root / source)
        assert dist <= MAX_NEAR_DUP_DISTANCE
        assert dist == by_path[derived]["params"]["phash_distance"]
        assert not np.array_equal(_pixels(root / derived), _pixels(root / source))
    assert len({s for _, s in pairs}) == len(pairs)


def test_distinct_clean_patches_are_far_apart_in_phash(patho_raw: Path) -> None:
    truth = _truth(patho_raw)
    root = patho_raw / "patches"
    clean = _by_kind(truth, "clean")
    bits = np.array([_phash(root / f["path"]).hash.ravel() for f in clean], dtype=np.uint8)
    dist = (bits[:, None, :] != bits[None, :, :]).sum(-1)
    np.fill_diagonal(dist, 64)
    nearest = dist.min(1)
    assert nearest.min() > MAX_NEAR_DUP_DISTANCE
    assert np.percentile(nearest, 5) >= 12


def test_blurred_patches_lose_sharpness(patho_raw: Path) -> None:
    truth = _truth(patho_raw)
    root = patho_raw / "patches"

    def lap_var(path: Path) -> float:
        return float(laplace(_pixels(path).astype(np.float32).mean(2)).var())

    clean = [lap_var(root / f["path"]) for f in _by_kind(truth, "clean")[::5]]
    blurred = [lap_var(root / f["path"]) for f in _by_kind(truth, "blur")]
    assert max(blurred) < min(clean) / 5


def _glass_fraction(rgb: np.ndarray) -> float:
    rgb = rgb.astype(np.int16)
    return float(((rgb.min(2) > 205) & (rgb.max(2) - rgb.min(2) < 25)).mean())


def test_background_patches_are_mostly_glass(patho_raw: Path) -> None:
    truth = _truth(patho_raw)
    root = patho_raw / "patches"
    for f in _by_kind(truth, "background"):
        assert _glass_fraction(_pixels(root / f["path"])) >= 0.75
        assert 0.03 < f["params"]["tissue_fraction"] < 0.25
    for f in _by_kind(truth, "clean")[::4]:
        assert _glass_fraction(_pixels(root / f["path"])) < 0.6


def _od(rgb: np.ndarray) -> np.ndarray:
    return -np.log(np.clip(rgb.astype(np.float32), 1, 255) / 255.0)


def test_off_stain_patches_leave_the_clean_colour_range(patho_raw: Path) -> None:
    truth = _truth(patho_raw)
    root = patho_raw / "patches"

    def stats(path: Path) -> tuple[float, float, float]:
        od = _od(_pixels(path))
        tissue = od.sum(2) > 0.12
        m = od[tissue].mean(0)
        return float(od.sum(2)[tissue].mean()), float(m[1] / m[0]), float(m[2] / m[1])

    clean = np.array([stats(root / f["path"]) for f in _by_kind(truth, "clean")])
    off = _by_kind(truth, "off_stain")
    assert {f["params"]["variant"] for f in off} == {"pale", "hematoxylin_only", "magenta"}
    for f in off:
        od_mean, g_over_r, b_over_g = stats(root / f["path"])
        variant = f["params"]["variant"]
        if variant == "pale":
            assert od_mean < clean[:, 0].min()
        elif variant == "hematoxylin_only":  # no eosin: green no longer dominates red
            assert g_over_r < clean[:, 1].min()
        else:  # magenta: blue absorbance far above any clean patch
            assert b_over_g > clean[:, 2].max() + 0.15


def test_pen_marks_cover_a_visible_area(patho_raw: Path) -> None:
    truth = _truth(patho_raw)
    root = patho_raw / "patches"
    specs = {s.path: s for s in plan_patches(500, 0)}
    for f in _by_kind(truth, "pen"):
        inked = _pixels(root / f["path"]).astype(np.int16)
        bare = _render(replace(specs[f["path"]], kind="clean")).astype(np.int16)
        changed = (np.abs(inked - bare).max(2) > 30).mean()
        assert 0.1 <= changed <= 0.5, (f["path"], changed)


def test_bad_files(patho_raw: Path) -> None:
    truth = _truth(patho_raw)
    root = patho_raw / "patches"
    for f in _by_kind(truth, "corrupt"):
        with pytest.raises(Exception), Image.open(root / f["path"]) as img:  # noqa: B017
            img.load()  # any decoder error is right
    for f in _by_kind(truth, "not_image"):
        with pytest.raises(Exception):  # noqa: B017
            Image.open(root / f["path"])
    sizes = {tuple(f["params"]["size"]) for f in _by_kind(truth, "wrong_size")}
    assert {(224, 224), (149, 150)} <= sizes
    for f in _by_kind(truth, "unknown_class"):
        assert f["class"] == truth["unknown_class_folder"] not in CLASSES


def test_label_conflicts_are_the_same_image_in_two_classes(patho_raw: Path) -> None:
    truth = _truth(patho_raw)
    root = patho_raw / "patches"
    conflicts = {f["path"]: f for f in _by_kind(truth, "label_conflict")}
    assert len(conflicts) >= 4
    for path, f in conflicts.items():
        other = conflicts[f["source"]]
        assert other["source"] == path
        assert other["class"] != f["class"]
        assert (root / path).read_bytes() == (root / other["path"]).read_bytes()


@pytest.mark.slow
def test_deterministic_and_independent_of_workers(tmp_path: Path) -> None:
    a = generate_patches(tmp_path / "a", patches=60, seed=3, workers=1)
    b = generate_patches(tmp_path / "b", patches=60, seed=3, workers=2)
    assert a.files == b.files and "clean" in str(a)

    def digest(root: Path) -> dict[str, str]:
        return {
            str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*"))
            if p.is_file()
        }

    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    # a re-run with another seed replaces the set: no file of the old plan is left
    generate_patches(tmp_path / "a", patches=60, seed=4, workers=2)
    truth = _truth(tmp_path / "a")
    assert set(digest(tmp_path / "a" / "patches")) == {f["path"] for f in truth["files"]}
    assert digest(tmp_path / "a") != digest(tmp_path / "b")


@pytest.mark.slow
def test_interrupted_run_resumes_from_finished_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hepatokit.synthetic.patho as patho
    from hepatokit.errors import HepatokitError

    real = patho.realize
    calls = {"n": 0}

    def flaky(spec):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] > 40:
            raise RuntimeError("disk full")
        return real(spec)

    monkeypatch.setattr(patho, "realize", flaky)
    with pytest.raises(HepatokitError, match="disk full"):
        generate_patches(tmp_path / "a", patches=56, seed=1, workers=1, chunk=16)
    assert not (tmp_path / "a" / "truth.json").exists()
    calls["n"] = -(10**9)  # no more failures; count what the resumed run renders
    summary = generate_patches(tmp_path / "a", patches=56, seed=1, workers=1, chunk=16)
    assert 0 < calls["n"] + 10**9 <= summary.files - 32  # ≥ 2 finished chunks were reused
    monkeypatch.setattr(patho, "realize", real)
    generate_patches(tmp_path / "b", patches=56, seed=1, workers=1, chunk=16)
    truth_a = (tmp_path / "a" / "truth.json").read_bytes()
    assert truth_a == (tmp_path / "b" / "truth.json").read_bytes()
    assert not (tmp_path / "a" / ".synth-progress").exists()
    assert not list((tmp_path / "a").rglob("*.tmp"))


@given(
    total=st.integers(0, 200_000),
    weights=st.lists(st.floats(0.001, 1.0), min_size=1, max_size=9),
    minimum=st.integers(0, 10),
)
@settings(max_examples=200, deadline=None)
def test_largest_remainder_sums_and_respects_minimum(
    total: int, weights: list[float], minimum: int
) -> None:
    w = np.array(weights) / sum(weights)
    counts = _largest_remainder(total, dict(enumerate(w.tolist())), minimum)
    assert all(c >= minimum for c in counts.values())
    assert sum(counts.values()) == max(total, minimum * len(weights))
