"""Grouping sanity: a slide id read wrongly from file names is a warning in the split report."""

from __future__ import annotations

import random
import re

import numpy as np

from hepatokit.splits import grouping_warnings, split_build
from hepatokit.splits.grouping import name_stem
from tests.splits.tables import CLASSES, _texture, patch_row, png_bytes, write_patho_tables

#: the default ``ingest.slide_id_regex`` (file name up to the first underscore)
DEFAULT_REGEX = re.compile(r"(?:^|/)(?P<slide_id>[^/_]+)_[^/]*$")


def kather_names(slides: int = 6, per_slide: int = 20, seed: int = 0) -> list[tuple[str, str]]:
    """(file name, true slide), Kather-2016 style: ``<tile>_<slide>_<n>.tif_Row_<r>_Col_<c>``."""
    rng = random.Random(seed)
    out = []
    tile = 10000
    for s in range(slides):
        slide = f"CRC-Prim-HE-{s + 1:02d}"
        for _ in range(per_slide):
            tile += rng.randrange(1, 40)
            r, c = rng.randrange(1, 5000), rng.randrange(1, 5000)
            out.append((f"{tile}_{slide}_{s + 3:03d}.tif_Row_{r}_Col_{c}.tif", slide))
    return out


def default_slide(name: str) -> str:
    m = DEFAULT_REGEX.search(name)
    assert m is not None
    return m.group("slide_id")


def test_name_stem_strips_group_coordinates_and_numbering():
    assert name_stem("10009_CRC-Prim-HE-03_009.tif_Row_301_Col_151.tif", "10009") == (
        "CRC-Prim-HE-03"
    )
    assert name_stem("TUM/slide-004_07.png", "slide-004") == ""
    assert name_stem("TCGA-AB-1234_x1024_y2048.png", "TCGA-AB-1234") == ""


def test_one_tile_per_slide_from_the_default_regex_is_flagged_and_the_right_grouping_is_not():
    names = kather_names()
    wrong = [default_slide(n) for n, _ in names]
    assert len(set(wrong)) == len(names)  # the default regex makes every tile a slide
    (warning,) = grouping_warnings(wrong, [n for n, _ in names], group_column="slide_id")
    assert "120 of 120 `slide_id` groups (100 %) hold a single item" in warning
    assert "6 distinct stem(s), the commonest on 20 items" in warning
    assert "slide_id_regex" in warning and "CRC" not in warning  # no file names in the report
    right = [s for _, s in names]
    assert grouping_warnings(right, [n for n, _ in names], group_column="slide_id") == []


def test_single_item_groups_without_structured_names_are_not_flagged():
    # MRI: one row per subject, no file names; histology named by content hash
    subjects = [f"sub-{i:03d}" for i in range(50)]
    assert grouping_warnings(subjects) == []
    rng = random.Random(1)
    hashed = [f"{rng.getrandbits(64):016x}.png" for _ in range(50)]
    assert grouping_warnings([h[:16] for h in hashed], hashed) == []


def test_recipe_expectation_of_items_per_group():
    groups = [f"s{i // 2}" for i in range(40)]  # 20 groups of 2
    (warning,) = grouping_warnings(groups, None, group_column="slide_id", items_per_group=30)
    assert "median of 2 item(s)" in warning and "about 30" in warning
    assert grouping_warnings(groups, None, items_per_group=3) == []
    singles = [f"s{i}" for i in range(20)]
    (warning,) = grouping_warnings(singles, None, items_per_group=25)
    assert "median of 1 item(s)" in warning


def test_split_report_warns_on_a_build_grouped_one_patch_per_slide(tmp_path):
    rng = np.random.default_rng(0)
    build, raw = tmp_path / "build", tmp_path / "raw"
    rows = []
    for i, (name, _slide) in enumerate(kather_names(slides=5, per_slide=8)):
        cls = CLASSES[i % len(CLASSES)]
        rel = f"{cls}/{name}"
        rows.append(patch_row(raw, rel, png_bytes(_texture(rng)), cls, default_slide(rel)))
    write_patho_tables(build, raw, rows)
    result = split_build(build=build, recipe="hepatobench")
    assert len(result.warnings) == 1 and "hold a single item" in result.warnings[0]
    md = (build / "reports" / "splits.md").read_text()
    assert "## Warnings" in md and "slide_id_regex" in md
    # the right grouping: no warning, report without the section
    for r in rows:
        r["slide_id"] = re.search(r"CRC-Prim-HE-\d\d", r["path"]).group(0)
    write_patho_tables(build, raw, rows)
    result = split_build(build=build, recipe="hepatobench", keep_existing=False)
    assert result.warnings == ()
    assert "## Warnings" not in (build / "reports" / "splits.md").read_text()
