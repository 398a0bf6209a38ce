"""The patch chain ingest → qc → dedup against the planted truth of ``synth patho``."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from hepatokit.contracts.items import raw_patch_paths
from hepatokit.curation.patho import (
    calibrate_dedup,
    calibrate_qc,
    dedup_patches,
    ingest_patches,
    near_pairs,
    qc_patches,
)
from hepatokit.curation.patho.config import DedupConfig, FeaturesConfig, PatchQCConfig
from hepatokit.curation.patho.features.hashing import hex_to_uint64
from hepatokit.manifest import Manifest
from hepatokit.pipelines import build_hepatobench
from tests.curation.patho.helpers import slide_ids
from tests.curation.patho.search_helpers import RecordingExecutor, brute_force_pairs

pytestmark = pytest.mark.slow

QC_KINDS = {"blur": "blur", "background": "background", "off_stain": "stain", "pen": "pen"}
BAD_KINDS = {"corrupt": "corrupt", "not_image": "not_image", "wrong_size": "wrong_size",
             "unknown_class": "unknown_class", "label_conflict": "label_conflict"}  # fmt: skip


@pytest.fixture(scope="module")
def truth(patho_raw: Path) -> dict:
    return json.loads((patho_raw / "truth.json").read_text())


@pytest.fixture(scope="module")
def built(patho_raw: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("hepatobench_build")
    build_hepatobench(recipe=None, raw=patho_raw, out=out, workers=2)
    return out


@pytest.fixture(scope="module")
def final(built: Path) -> dict[str, dict]:
    return {r["item_id"]: r for r in Manifest(built).final().to_pylist()}


def test_every_file_once_and_invariant(built: Path, truth: dict, final: dict) -> None:
    summary = Manifest(built).check()
    assert summary.inputs == truth["counts"]["files"] == len(final)
    assert {f["id"] for f in truth["files"]} == set(final)
    patches = pq.read_table(built / "patches.parquet")
    assert len(patches) == len(truth["files"])
    assert len(set(patches.column("id").to_pylist())) == len(patches)


def test_bad_inputs_right_reason(truth: dict, final: dict) -> None:
    for f in truth["files"]:
        want = BAD_KINDS.get(f["kind"])
        if want:
            assert final[f["id"]]["reason"] == want, f


def test_qc_recall_and_clean_false_exclusions(truth: dict, final: dict) -> None:
    for kind, reason in QC_KINDS.items():
        planted = [f for f in truth["files"] if f["kind"] == kind]
        hits = sum(final[f["id"]]["reason"] == reason for f in planted)
        assert planted and hits / len(planted) >= 0.95, (kind, hits, len(planted))
    clean = [f for f in truth["files"] if f["kind"] == "clean"]
    qc_excluded = sum(final[f["id"]]["reason"] in set(QC_KINDS.values()) for f in clean)
    assert qc_excluded / len(clean) <= 0.01


def _groups(truth: dict) -> dict[str, str]:
    """id → planted duplicate group (source id); others map to themselves."""
    group = {f["id"]: f["id"] for f in truth["files"]}
    for f in truth["files"]:
        if f["kind"] in ("exact_dup_of", "reencoded_of", "near_dup_of"):
            group[f["id"]] = f["source_id"]
    return group


def test_duplicates_recall_precision(built: Path, truth: dict, final: dict) -> None:
    group = _groups(truth)
    clusters = pq.read_table(built / "clusters.parquet").to_pylist()
    cluster_of = {c["id"]: c["cluster_id"] for c in clusters}
    for kind, need in (("exact_dup_of", 1.0), ("reencoded_of", 1.0), ("near_dup_of", 0.98)):
        pairs = [(f["id"], f["source_id"]) for f in truth["files"] if f["kind"] == kind]
        found = sum(a in cluster_of and cluster_of.get(a) == cluster_of.get(b) for a, b in pairs)
        assert found / len(pairs) >= need, (kind, found, len(pairs))
    removed = [(i, r["reason"].split(":", 1)[1]) for i, r in final.items()
               if (r["reason"] or "").startswith("duplicate_of:")]  # fmt: skip
    correct = sum(group[a] == group[b] for a, b in removed)
    assert removed and correct / len(removed) >= 0.99
    # each removed duplicate names a patch that was kept, in its own cluster
    for a, b in removed:
        assert final[b]["outcome"] == "kept", (a, b, final[b])
        assert cluster_of[a] == cluster_of[b], (a, b)
    # each planted group keeps exactly one member
    kept_per_group = Counter(group[i] for i, r in final.items() if r["outcome"] == "kept")
    assert max(kept_per_group.values()) == 1


def test_same_pairs_with_brute_force(built: Path) -> None:
    hashes = pq.read_table(built / "hashes.parquet")
    h = hex_to_uint64(hashes.column("phash").to_pylist())
    d = hex_to_uint64(hashes.column("dhash").to_pylist())
    for radius in (6, 10, 14):
        got = near_pairs(h, radius, second=d, second_radius=16)
        want = brute_force_pairs(h, radius, second=d, second_radius=16)
        for g, w in zip(got, want, strict=True):
            np.testing.assert_array_equal(g, w)


def test_outputs_and_provenance(built: Path) -> None:
    curated = pq.read_table(built / "curated.parquet")
    for col in ("id", "path", "class", "slide_id", "width", "height", "mode", "bytes", "md5",
                "format", "phash", "sharpness", "background"):  # fmt: skip
        assert col in curated.column_names
    assert "ingest_reason" not in curated.column_names
    assert set(curated.column("class").to_pylist()) <= {
        "TUM",
        "FIB",
        "INF",
        "NEC",
        "NOR",
        "REA",
        "STE",
    }
    assert all(s and s.startswith("slide-") for s in curated.column("slide_id").to_pylist())
    assert all(len(p) == 16 for p in curated.column("phash").to_pylist())
    prov = Manifest(built).provenance()
    assert {"imagehash", "pillow"} <= set(prov["ingest"]["hash_versions"])
    assert prov["dedup"]["phash_radius"] == 10
    assert (built / "reports" / "dedup_clusters.png").stat().st_size > 1000
    assert (built / "qc.parquet").is_file()


def test_dedup_is_idempotent_on_the_build(built: Path, tmp_path: Path) -> None:
    again = tmp_path / "b"
    shutil.copytree(built, again)
    first = dedup_patches(build=again, gallery=False)
    curated = (again / "curated.parquet").read_bytes()
    clusters = (again / "clusters.parquet").read_bytes()
    second = dedup_patches(build=again, gallery=False)
    assert first == second
    assert (again / "curated.parquet").read_bytes() == curated
    assert (again / "clusters.parquet").read_bytes() == clusters


def test_dedup_passes_its_executor_down(built: Path, tmp_path: Path) -> None:
    again = tmp_path / "b"
    shutil.copytree(built, again)
    with RecordingExecutor() as pool:
        dedup_patches(build=again, gallery=False, executor=pool)
    assert "_search_band" in pool.calls  # the near-duplicate search ran on the given executor
    for name in ("curated.parquet", "clusters.parquet"):
        assert (again / name).read_bytes() == (built / name).read_bytes()


def test_sections_given_to_a_stage_are_used_as_given(
    built: Path, truth: dict, tmp_path: Path
) -> None:
    """A stage given its sections uses them, not the build's recipe snapshot: a QC section
    that fails nothing passes every planted QC failure; a dedup radius of 0 without the dHash
    still merges the planted exact copies but leaves the planted near copies apart."""
    again = tmp_path / "b"
    shutil.copytree(built, again)
    snapshot = (again / "recipe.yaml").read_bytes()
    lax = PatchQCConfig(background_max=1.0, stain_max=90.0, stain_intensity_min=0.0,
                        eosin_fraction_min=0.0, eosin_p90_max=1.0, pen_max=1.0, ink_max=1.0,
                        sharpness_min=0.0, blocking_max=1e9)  # fmt: skip
    summary = qc_patches(build=again, qc=lax, features=FeaturesConfig(dhash=True))
    assert set(summary.failed) <= {"corrupt"}
    assert summary.passed == len(pq.read_table(built / "qc.parquet")) - summary.failed.get(
        "corrupt", 0
    )
    planted = Counter(f["kind"] for f in truth["files"])
    strict = dedup_patches(build=again, dedup=DedupConfig(phash_radius=0), gallery=False,
                           features=FeaturesConfig(dhash=False))  # fmt: skip
    removed = [r for r in pq.read_table(again / "clusters.parquet").to_pylist()
               if r["reason"] and r["reason"].startswith("duplicate_of")]  # fmt: skip
    exact = planted["exact_dup_of"] + planted["reencoded_of"]
    assert sum(r["link"] == "exact" for r in removed) >= exact
    assert all(r["distance"] == 0 for r in removed)  # radius 0: identical pHashes only
    assert strict.duplicates < exact + planted["near_dup_of"]
    assert (again / "recipe.yaml").read_bytes() == snapshot  # nothing rewritten


def test_table_layout_gives_same_ids(patho_raw: Path, built: Path, tmp_path: Path) -> None:
    summary = ingest_patches(root=patho_raw / "patches_table.csv", out=tmp_path / "t", workers=1)
    a = pq.read_table(built / "patches.parquet").to_pylist()
    b = pq.read_table(tmp_path / "t" / "patches.parquet").to_pylist()
    assert summary.files == len(a) == len(b)
    raw_a, raw_b = raw_patch_paths(built), raw_patch_paths(tmp_path / "t")
    # each build keys the slide ids with its own key: compared as the ids they stand for
    sl_a = {p: o for o, p in slide_ids(built).items()}
    sl_b = {p: o for o, p in slide_ids(tmp_path / "t").items()}
    ids_a = {raw_a[r["id"]]: (r["class"], sl_a.get(r["slide_id"], r["slide_id"]),
             r["ingest_reason"]) for r in a}  # fmt: skip
    ids_b = {raw_b[r["id"]].removeprefix("patches/"): (r["class"],
             sl_b.get(r["slide_id"], r["slide_id"]), r["ingest_reason"]) for r in b}  # fmt: skip
    assert ids_a == ids_b
    assert len({v[1] for v in ids_a.values()} - {None}) > 3  # the slide ids came back
    # the build's tables name files neutrally; the raw paths are private
    assert all(r["path"].startswith(f"patch/{r['id']}") for r in a)


def test_calibrations(built: Path) -> None:
    cal = calibrate_qc(build=built, workers=1)
    assert "sharpness" in cal.text and cal.png.is_file()
    assert {"TUM", "ALL"} <= set(cal.table.column("class").to_pylist())
    assert "fixed mode" in cal.text and "relative mode" in cal.text  # both modes reported
    assert cal.relative is not None
    rel = cal.relative.to_pylist()
    assert {r["threshold"] for r in rel} >= {"stain_max", "sharpness_min", "blocking_max"}
    assert "ALL" in {r["class"] for r in rel}
    dcal = calibrate_dedup(build=built, sample=200, reencode_sample=20)
    assert sum(dcal.reencoded.values()) == 20 * 7
    assert 0 <= dcal.suggested_radius <= 12
    assert min(dcal.nearest) > dcal.suggested_radius or "neighbour" in dcal.text
