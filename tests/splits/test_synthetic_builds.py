"""Acceptance of the split stage on the synthetic builds (DICOM → LiFS, patches → HepatoBench)."""

from __future__ import annotations

import io
import json
import shutil
from collections import Counter

import imagehash
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from hepatokit.contracts.items import raw_patch_paths
from hepatokit.splits import audit_leakage, split_build

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def lifs_build(mri_raw, tmp_path_factory):
    from hepatokit.pipelines import build_lifs

    out = tmp_path_factory.mktemp("splits_lifs") / "build"
    build_lifs(
        recipe="lifs",
        raw=mri_raw / "dicom",
        labels=mri_raw / "clinical_labels.csv",
        out=out,
        workers=2,
        demo_key=True,
    )
    return out


@pytest.fixture(scope="module")
def hepatobench_build(patho_raw, tmp_path_factory):
    from hepatokit.pipelines.hepatobench import build_hepatobench

    out = tmp_path_factory.mktemp("splits_hb") / "build"
    build_hepatobench(recipe="hepatobench", raw=patho_raw / "patches", out=out, workers=2)
    return out


def _copy(build, tmp_path):
    dst = tmp_path / "build"
    shutil.copytree(build, dst)
    return dst


def _splits(build):
    t = pq.read_table(build / "splits.parquet")
    return dict(zip(t["id"].to_pylist(), t["split"].to_pylist(), strict=True))


def test_lifs_test_ood_is_exactly_vendor_c_and_id_counts_match(lifs_build, mri_raw, tmp_path):
    build = _copy(lifs_build, tmp_path)
    split_build(build=build)
    split = _splits(build)
    truth = json.loads((mri_raw / "truth.json").read_text())
    pseudo = pq.read_table(build / "private" / "pseudonyms.parquet").to_pylist()
    sid_of = {p["original_patient_id"]: p["subject_id"] for p in pseudo}
    vendor_c = {sid_of[p["patient_id"]] for p in truth["patients"] if p["vendor"] == "C"}
    vendor_c &= set(split)  # patients whose images survived curation
    assert vendor_c
    assert {s for s, x in split.items() if x == "test_ood"} == vendor_c
    n_id = len(split) - len(vendor_c)
    counts = Counter(x for x in split.values() if x != "test_ood")
    for name, weight in {"train": 360, "validation": 60, "test_id": 120}.items():
        assert abs(counts[name] - n_id * weight / 540) <= 1
    assert audit_leakage(build=build).ok


def test_lifs_split_files_byte_identical_across_runs(lifs_build, tmp_path):
    a, b = _copy(lifs_build, tmp_path / "a"), _copy(lifs_build, tmp_path / "b")
    split_build(build=a)
    split_build(build=b)
    for name in ("splits.parquet", "reports/splits.md", "reports/splits.png"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_hepatobench_no_leak_then_planted_near_duplicate_is_found(hepatobench_build, tmp_path):
    build = _copy(hepatobench_build, tmp_path)
    split_build(build=build)
    split = _splits(build)
    curated = pq.read_table(build / "curated.parquet")
    by_slide = {}
    for r in curated.select(["id", "slide_id"]).to_pylist():
        by_slide.setdefault(r["slide_id"], set()).add(split[r["id"]])
    assert all(len(v) == 1 for v in by_slide.values())
    assert audit_leakage(build=build).ok
    # plant: a near-duplicate of a train patch, as if someone copied it into the test split
    rows = curated.to_pylist()
    source = next(r for r in rows if split[r["id"]] == "train")
    raw_root = json.loads((build / "private" / "raw_root.json").read_text())["raw_root"]
    raw_path = raw_patch_paths(build)[source["id"]]  # the tables hold neutral names
    with Image.open(f"{raw_root}/{raw_path}") as im:
        rgb = np.asarray(im.convert("RGB")).astype(float)
    near = Image.fromarray(np.clip(rgb * 0.98 + 3, 0, 255).astype(np.uint8))
    buf = io.BytesIO()
    near.save(buf, format="PNG")
    rel = "copied_into_test/near.png"
    (build / rel).parent.mkdir(parents=True)
    (build / rel).write_bytes(buf.getvalue())
    planted = dict(source, id="planted-near-dup", path=rel, slide_id="slide-planted")
    planted.update(md5=None, phash=None, pixel_sha256=None, dhash=None)
    distance = imagehash.phash(near) - imagehash.hex_to_hash(source["phash"])
    assert distance <= 6
    pq.write_table(
        pa.Table.from_pylist([*rows, planted], schema=curated.schema), build / "curated.parquet"
    )
    splits = pq.read_table(build / "splits.parquet").to_pylist()
    splits.append({"id": "planted-near-dup", "group": "slide-planted", "split": "test"})
    pq.write_table(pa.Table.from_pylist(splits), build / "splits.parquet")
    report = audit_leakage(build=build)
    assert [(f.kind, set(f.items)) for f in report.findings] == [
        ("near_duplicate", {source["id"], "planted-near-dup"})
    ]


def test_lifs_unlabelled_subjects_get_no_split(lifs_build, mri_raw, tmp_path):
    from hepatokit.manifest import Manifest, stable_id

    build = _copy(lifs_build, tmp_path)
    split_build(build=build)
    truth = json.loads((mri_raw / "truth.json").read_text())
    pseudo = pq.read_table(build / "private" / "pseudonyms.parquet").to_pylist()
    sid_of = {p["original_patient_id"]: p["subject_id"] for p in pseudo}
    unlabelled = {
        sid_of[p["patient_id"]]
        for p in truth["patients"]
        if p.get("label_problem") == "no_label" and p["patient_id"] in sid_of
    }
    assert unlabelled, "the generator plants an imaged patient without a label"
    assert not unlabelled & set(_splits(build))
    meta = json.loads(pq.read_schema(build / "splits.parquet").metadata[b"hepatokit.split"])
    subjects = pq.read_table(build / "subjects.parquet").to_pylist()
    no_stage = {r["subject_id"] for r in subjects if r["stage"] is None}
    assert unlabelled <= no_stage == set(meta["left_out"])  # + unknown / conflicting labels
    final = {r["item_id"]: r for r in Manifest(build).final().to_pylist()}
    for sid in unlabelled:
        row = final[stable_id("subject", sid)]
        assert (row["outcome"], row["reason"]) == ("excluded", "unlabelled")
    Manifest(build).check()
