"""Leakage audit of a build: clean builds pass, planted leaks (near and exact copies, a group
in two splits, one patient under two pseudonyms) are found and named."""

from __future__ import annotations

import io
import json
from pathlib import Path

import imagehash
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image
from typer.testing import CliRunner

from hepatokit.cli import app
from hepatokit.splits import audit_leakage, split_build
from tests.splits.tables import (
    patch_row,
    png_bytes,
    write_lifs_build,
    write_patho_build,
    write_patho_tables,
)

runner = CliRunner()


def _patho(tmp_path):
    build, raw = tmp_path / "build", tmp_path / "raw"
    rows = write_patho_build(build, raw, slides=24, per_slide=3)
    split_build(build=build, recipe="hepatobench")
    return build, raw, rows


def _add_to_test(build, raw, rows, data, name):
    """Plant a patch of a new slide in the test split (tables + splits.parquet)."""
    row = patch_row(raw, f"TUM/{name}.png", data, "TUM", f"slide-{name}")
    write_patho_tables(build, raw, [*rows, row])
    splits = pq.read_table(build / "splits.parquet").to_pylist()
    splits.append({"id": row["id"], "group": row["slide_id"], "split": "test"})
    pq.write_table(pa.Table.from_pylist(splits), build / "splits.parquet")
    return row


def _a_train_patch(build, raw, rows):
    split = dict(
        zip(
            *pq.read_table(build / "splits.parquet", columns=["id", "split"]).to_pydict().values(),
            strict=True,
        )
    )
    source = next(r for r in rows if split[r["id"]] == "train")
    return source, (raw / source["path"]).read_bytes()


def test_clean_hepatobench_build_has_no_leak_and_cli_exits_0(tmp_path):
    build, _, _ = _patho(tmp_path)
    report = audit_leakage(build=build)
    assert report.ok, report.findings
    import yaml

    rule = yaml.safe_load(Path("recipes/hepatobench.yaml").read_text())["dedup"]
    key = f"near (pHash ≤ {rule['phash_radius']} bits, dHash ≤ {rule['dhash_radius']}"
    near = [v for k, v in report.checks.items() if k.startswith(key)]
    assert near == [72]  # pairs checked under the recipe's dedup rule
    res = runner.invoke(app, ["-q", "audit", "leakage", str(build)])
    assert res.exit_code == 0, res.output
    assert (build / "reports" / "leakage.md").read_text().startswith("# Leakage audit")


def test_near_duplicate_of_a_train_patch_planted_in_test_is_reported(tmp_path):
    build, raw, rows = _patho(tmp_path)
    source, data = _a_train_patch(build, raw, rows)
    with Image.open(io.BytesIO(data)) as im:
        rgb = np.asarray(im.convert("RGB")).astype(float)
    near = png_bytes(rgb * 0.97 + 4 + np.random.default_rng(0).normal(0, 2, rgb.shape))
    with Image.open(io.BytesIO(near)) as im:
        dist = imagehash.phash(im) - imagehash.hex_to_hash(source["phash"])
    assert 0 <= dist <= 6 and near != data  # the planted copy is near, not exact
    planted = _add_to_test(build, raw, rows, near, "leak")
    report = audit_leakage(build=build)
    near_pairs = [f for f in report.findings if f.kind == "near_duplicate"]
    assert [set(f.items) for f in near_pairs] == [{source["id"], planted["id"]}]
    assert set(near_pairs[0].splits) == {"train", "test"}
    res = runner.invoke(app, ["-q", "audit", "leakage", str(build)])
    assert res.exit_code == 1
    assert planted["id"] in res.output and "near_duplicate" in res.output


def test_exact_copy_and_hashes_missing_from_tables_are_computed(tmp_path):
    build, raw, rows = _patho(tmp_path)
    source, data = _a_train_patch(build, raw, rows)
    planted = _add_to_test(build, raw, rows, data, "copy")
    # drop the planted row's hashes: the audit must hash the file itself
    for name in ("curated.parquet", "hashes.parquet"):
        t = pq.read_table(build / name).to_pylist()
        for r in t:
            if r["id"] == planted["id"]:
                r["phash"] = r["md5"] = None
        schema = pq.read_schema(build / name)
        pq.write_table(pa.Table.from_pylist(t, schema=schema), build / name)
    report = audit_leakage(build=build)
    assert [(f.kind, set(f.items)) for f in report.findings] == [
        ("exact_duplicate", {source["id"], planted["id"]})
    ]


def test_group_in_two_splits_is_a_leak(tmp_path):
    build, _, _ = _patho(tmp_path)
    t = pq.read_table(build / "splits.parquet").to_pylist()
    first = t[0]
    other = next(r for r in t if r["group"] == first["group"] and r["id"] != first["id"])
    other["split"] = "validation" if first["split"] != "validation" else "train"
    pq.write_table(pa.Table.from_pylist(t), build / "splits.parquet")
    report = audit_leakage(build=build)
    assert [(f.kind, f.items) for f in report.findings] == [
        ("group_in_several_splits", (first["group"],))
    ]


def test_same_patient_under_two_pseudonyms_in_two_splits(tmp_path):
    rows = write_lifs_build(tmp_path)
    split_build(build=tmp_path, recipe="lifs")
    split = dict(
        zip(
            *pq.read_table(tmp_path / "splits.parquet", columns=["id", "split"])
            .to_pydict()
            .values(),
            strict=True,
        )
    )
    a = next(r["subject_id"] for r in rows if split[r["subject_id"]] == "train")
    b = next(r["subject_id"] for r in rows if split[r["subject_id"]] == "test_ood")
    c = next(
        r["subject_id"] for r in rows if split[r["subject_id"]] == "train" and r["subject_id"] != a
    )
    pseudo = pq.read_table(tmp_path / "private" / "pseudonyms.parquet").to_pylist()
    for p in pseudo:
        if p["subject_id"] in (a, b):
            p["original_patient_id"] = "PAT-LEAK "
        if p["subject_id"] == c:  # same patient twice in one split: not a leak
            p["original_patient_id"] = "pat-leak"
    pq.write_table(pa.Table.from_pylist(pseudo), tmp_path / "private" / "pseudonyms.parquet")
    report = audit_leakage(build=tmp_path)
    found = [f for f in report.findings if f.kind == "same_patient"]
    assert len(found) == 1 and set(found[0].items) == {a, b, c}
    assert "PAT" not in json.dumps(report.to_dict())  # the original id is not printed
    res = runner.invoke(app, ["-q", "audit", "leakage", str(tmp_path)])
    assert res.exit_code == 1 and a in res.output
