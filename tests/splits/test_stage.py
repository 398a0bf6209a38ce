"""The split stage on builds shaped like docs/contracts.md (LiFS subjects, HepatoBench patches)."""

from __future__ import annotations

import random
from collections import Counter

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hepatokit.errors import BuildStateError, RecipeError
from hepatokit.splits import split_build
from tests.splits.tables import LIFS_COUNTS, lifs_rows, write_lifs_build, write_patho_build


def _splits(build):
    t = pq.read_table(build / "splits.parquet")
    return dict(zip(t["id"].to_pylist(), t["split"].to_pylist(), strict=True))


def test_lifs_split_ood_is_exactly_vendor_c_and_id_counts_match_ratios(tmp_path):
    rows = write_lifs_build(tmp_path)
    result = split_build(build=tmp_path, recipe="lifs")
    split = _splits(tmp_path)
    vendor = {r["subject_id"]: r["vendor"] for r in rows}
    assert {s for s, v in vendor.items() if v == "Vendor C"} == {
        s for s, x in split.items() if x == "test_ood"
    }
    n_id = sum(v != "Vendor C" for v in vendor.values())
    counts = Counter(x for x in split.values() if x != "test_ood")
    for name, weight in {"train": 360, "validation": 60, "test_id": 120}.items():
        assert abs(counts[name] - n_id * weight / 540) <= 1
    # per vendor × stage within one subject of the ratio too
    for v in ("Vendor A", "Vendor B"):
        for k, n in enumerate(LIFS_COUNTS[v]):
            members = [
                r["subject_id"] for r in rows if r["vendor"] == v and r["stage"] == f"S{k + 1}"
            ]
            c = Counter(split[m] for m in members)
            assert abs(c["train"] - n * 2 / 3) < 1 and abs(c["test_id"] - n * 2 / 9) < 1
    assert result.summary.groups["test_ood"] == sum(LIFS_COUNTS["Vendor C"])
    table = pq.read_table(tmp_path / "splits.parquet")
    assert table.column_names == ["id", "group", "split"]
    assert table["id"].to_pylist() == sorted(table["id"].to_pylist())


def test_lifs_report_has_counts_subtasks_and_majority_rates(tmp_path):
    rows = write_lifs_build(tmp_path)
    split_build(build=tmp_path, recipe="lifs")
    md = (tmp_path / "reports" / "splits.md").read_text()
    png = (tmp_path / "reports" / "splits.png").read_bytes()
    assert png.startswith(b"\x89PNG")
    assert "## `cirrhosis` per split" in md and "## `significant_fibrosis` per split" in md
    # the majority-class rate printed for test_ood is the real one
    ood = [r for r in rows if r["vendor"] == "Vendor C"]
    cirr = Counter(r["cirrhosis"] for r in ood)
    rate = max(cirr.values()) / len(ood)
    assert f"| test_ood | cirrhosis | {max(cirr, key=lambda k: (cirr[k], -k))} | {rate:.3f} |" in md
    stage = Counter(r["stage"] for r in ood)
    assert f"| test_ood | stage | S1 | {stage['S1'] / len(ood):.3f} |" in md
    assert "worst deviation" in md and "sha256(seed, group id)" in md


def test_split_files_byte_identical_across_runs_and_row_orders(tmp_path):
    rows = lifs_rows()
    a, b = tmp_path / "a", tmp_path / "b"
    write_lifs_build(a, rows)
    shuffled = list(rows)
    random.Random(5).shuffle(shuffled)
    write_lifs_build(b, shuffled)
    split_build(build=a, recipe="lifs")
    first = (a / "splits.parquet").read_bytes()
    first_md = (a / "reports" / "splits.md").read_bytes()
    split_build(build=a)  # re-run: recipe from BUILD/recipe.yaml
    split_build(build=b, recipe="lifs")
    assert (a / "splits.parquet").read_bytes() == first == (b / "splits.parquet").read_bytes()
    assert (a / "reports" / "splits.md").read_bytes() == first_md
    assert (a / "reports" / "splits.png").read_bytes() == (
        b / "reports" / "splits.png"
    ).read_bytes()
    split_build(build=b, seed=99)
    assert (b / "splits.parquet").read_bytes() != first


def test_keep_existing_pins_old_subjects_when_the_cohort_grows(tmp_path):
    rows = write_lifs_build(tmp_path)
    split_build(build=tmp_path, recipe="lifs")
    before = _splits(tmp_path)
    more = lifs_rows({"Vendor A": [3, 2, 1, 4], "Vendor C": [1, 0, 0, 1]}, seed=1)
    write_lifs_build(tmp_path, rows + more)
    result = split_build(build=tmp_path, keep_existing=True)
    after = _splits(tmp_path)
    assert all(after[s] == x for s, x in before.items())
    assert result.moved == 0 and result.new == len(more)
    assert {after[r["subject_id"]] for r in more if r["vendor"] == "Vendor C"} == {"test_ood"}
    md = (tmp_path / "reports" / "splits.md").read_text()
    assert f"0 group(s) moved, {len(more)} new" in md


def test_predefined_release_split_is_kept(tmp_path):
    rows = lifs_rows({"Vendor A": [4, 0, 0, 4], "Vendor B": [2, 2, 2, 2], "Vendor C": [3, 0, 0, 0]})
    for i, r in enumerate(rows):
        r["release_split"] = (
            "test" if r["vendor"] == "Vendor C" else ["train", "validation", "test"][i % 3]
        )
    write_lifs_build(tmp_path, rows)
    table = pq.read_table(tmp_path / "subjects.parquet")
    table = table.append_column("release_split", pa.array([r["release_split"] for r in rows]))
    pq.write_table(table, tmp_path / "subjects.parquet")
    result = split_build(build=tmp_path, recipe="lifs")
    split = _splits(tmp_path)
    expect = {"train": "train", "validation": "validation", "test": "test_id"}
    for r in rows:
        want = "test_ood" if r["vendor"] == "Vendor C" else expect[r["release_split"]]
        assert split[r["subject_id"]] == want
    assert result.plan.method.startswith("predefined")


def test_hepatobench_split_by_slide_7_2_1(tmp_path):
    rows = write_patho_build(tmp_path / "build", tmp_path / "raw", slides=30, per_slide=3)
    result = split_build(build=tmp_path / "build", recipe="hepatobench")
    split = _splits(tmp_path / "build")
    by_slide = {}
    for r in rows:
        by_slide.setdefault(r["slide_id"], set()).add(split[r["id"]])
    assert all(len(v) == 1 for v in by_slide.values())
    assert result.summary.groups == {"train": 21, "validation": 6, "test": 3}


def test_missing_table_and_bad_recipe_are_clear_errors(tmp_path):
    with pytest.raises(BuildStateError, match="no curated table"):
        split_build(build=tmp_path, recipe="lifs")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nkind: mri\nsplit:\n  group: subject_id\n  ratios: {train: x}\n")
    write_lifs_build(tmp_path / "b")
    with pytest.raises(RecipeError, match="ratios"):
        split_build(build=tmp_path / "b", recipe=bad)


def test_training_only_release_is_assigned_unless_predefined_is_forced(tmp_path):
    rows = write_lifs_build(tmp_path)
    table = pq.read_table(tmp_path / "subjects.parquet")
    table = table.append_column("release_split", pa.array(["train"] * len(rows)))
    pq.write_table(table, tmp_path / "subjects.parquet")
    result = split_build(build=tmp_path, recipe="lifs")
    assert result.plan.method == "stratified" and result.summary.groups["test_id"] > 0
    forced = split_build(build=tmp_path, predefined=True)
    assert set(_splits(tmp_path).values()) == {"train", "test_ood"}
    assert forced.plan.method.startswith("predefined")
    table = table.set_column(
        table.column_names.index("release_split"),
        "release_split",
        pa.array([None] + ["train"] * (len(rows) - 1), pa.string()),
    )
    pq.write_table(table, tmp_path / "subjects.parquet")
    with pytest.raises(BuildStateError, match=r"1 of \d+ rows have no release_split"):
        split_build(build=tmp_path)
    assert split_build(build=tmp_path, predefined=False).plan.method == "stratified"


def test_patches_without_slide_become_their_own_group(tmp_path, caplog):
    rows = write_patho_build(tmp_path / "build", tmp_path / "raw", slides=10, per_slide=2)
    table = pq.read_table(tmp_path / "build" / "curated.parquet")
    slides = [None if i < 4 else s for i, s in enumerate(table["slide_id"].to_pylist())]
    table = table.set_column(
        table.column_names.index("slide_id"), "slide_id", pa.array(slides, pa.string())
    )
    pq.write_table(table, tmp_path / "build" / "curated.parquet")
    split_build(build=tmp_path / "build", recipe="hepatobench")
    out = pq.read_table(tmp_path / "build" / "splits.parquet").to_pylist()
    groups = {r["id"]: r["group"] for r in out}
    assert [groups[r["id"]] for r in rows[:4]] == [f"item:{r['id']}" for r in rows[:4]]
    assert "have no slide_id" in caplog.text


def test_split_keeps_the_previous_assignment_by_default_and_reshuffle_redoes_it(tmp_path):
    rows = write_lifs_build(tmp_path)
    split_build(build=tmp_path, recipe="lifs")
    before = _splits(tmp_path)
    more = lifs_rows({"Vendor A": [6, 4, 2, 8], "Vendor B": [3, 3, 3, 3]}, seed=2)
    write_lifs_build(tmp_path, rows + more)
    kept = split_build(build=tmp_path)  # default: previous splits kept
    assert kept.moved == 0 and kept.plan.pinned == len(before) - sum(
        x == "test_ood" for x in before.values()
    )
    assert "Previous splits kept" in (tmp_path / "reports" / "splits.md").read_text()
    again = (tmp_path / "splits.parquet").read_bytes()
    split_build(build=tmp_path)  # a plain re-run changes no byte
    assert (tmp_path / "splits.parquet").read_bytes() == again
    fresh = split_build(build=tmp_path, keep_existing=False)  # --reshuffle
    assert fresh.plan.pinned == 0
    # another seed is another policy: the previous file is not pinned
    other = split_build(build=tmp_path, seed=12345)
    assert other.plan.pinned == 0 and other.moved > 0
    md = (tmp_path / "reports" / "splits.md").read_text()
    assert "another split policy or seed" in md
