"""publish build on a fake LiFS build: layout, labels, determinism, withheld labels, PHI."""

from __future__ import annotations

import csv
import gzip
import json
import shutil

import pyarrow.parquet as pq
import pytest

from hepatokit.errors import BuildStateError, DataFormatError
from hepatokit.publish import publish_build
from hepatokit.publish.checksums import verify_checksums

SPLITS = ["train", "validation", "test_id", "test_ood"]


def _rows(hf, config, split):
    files = sorted((hf / "data" / config).glob(f"{split}-*.parquet"))
    return [r for f in files for r in pq.read_table(f).to_pylist()]


def test_layout_and_counts(fake_lifs_build, fake_lifs_published):
    hf, result = fake_lifs_published
    expected = fake_lifs_build.split_counts()
    assert result.counts == {"contrast": expected, "noncontrast": expected}
    assert list(result.counts["contrast"]) == SPLITS
    for name in ("README.md", "croissant.json", "dataset_meta.json", "checksums.sha256"):
        assert (hf / name).is_file()
    assert (hf / "images" / "class_distribution.png").read_bytes()[:4] == b"\x89PNG"
    assert verify_checksums(hf) == len(result.files) - 1


def test_rows_embed_curated_bytes_and_labels(fake_lifs_build, fake_lifs_published):
    hf, _ = fake_lifs_published
    build = fake_lifs_build.build
    truth = {s["subject_id"]: s for s in fake_lifs_build.subjects}
    for split in SPLITS:
        rows = _rows(hf, "contrast", split)
        assert [r["subject_id"] for r in rows] == sorted(r["subject_id"] for r in rows)
        for row in rows:
            subj = truth[row["subject_id"]]
            assert subj["split"] == split
            stage = subj["stage"]
            assert row["stage"] == (None if stage is None else int(stage[1]) - 1)
            assert row["cirrhosis"] == subj["cirrhosis"]
            assert row["sequences"] == subj["sequences"]
            for seq in ("T1W", "T2W", "DWI", "GED1", "GED2", "GED3", "GED4"):
                cell, rel = row[seq], subj[f"volume_{seq}"]
                if rel is None:
                    assert cell is None and row[f"{seq}_meta"] is None
                    continue
                assert cell["bytes"] == (build / rel).read_bytes()
                assert cell["path"] == f"sub-{row['subject_id']}_{seq}.nii.gz"
                meta = json.loads(row[f"{seq}_meta"])
                assert meta["Sequence"] == seq
                if seq == "DWI":
                    assert meta["bvals"] == [0.0, 800.0]
            mask = row["mask_GED4"]
            assert (mask is None) == (subj["mask_GED4"] is None)


def test_noncontrast_reads_its_columns_of_the_contrast_shards(
    fake_lifs_build, fake_lifs_published, tmp_path
):
    import datasets
    from huggingface_hub import DatasetCard

    hf, _ = fake_lifs_published
    assert not (hf / "data" / "noncontrast").exists()  # the volumes are stored once
    configs = {c["config_name"]: c for c in DatasetCard.load(hf / "README.md").data.configs}
    assert "columns" not in configs["contrast"]
    assert [f["path"] for f in configs["noncontrast"]["data_files"]] == [
        f"data/contrast/{split}-*.parquet" for split in SPLITS
    ]
    ds = datasets.load_dataset(str(hf), "noncontrast", split="train", cache_dir=str(tmp_path))
    assert list(ds.features) == configs["noncontrast"]["columns"]
    assert {"T1W", "T2W", "DWI", "T1W_meta", "sequences", "stage"} <= set(ds.features)
    assert not {"GED1", "GED1_meta", "GED4", "mask_GED4"} & set(ds.features)
    planted = {s["subject_id"]: s for s in fake_lifs_build.subjects}
    for row in ds.cast_column("T1W", datasets.Nifti(decode=False)):
        subj = planted[row["subject_id"]]
        assert row["sequences"] == subj["sequences"]  # every sequence of the subject
        rel = subj["volume_T1W"]
        assert (row["T1W"] is None) == (rel is None)
        if rel is not None:
            assert row["T1W"]["bytes"] == (fake_lifs_build.build / rel).read_bytes()


def test_a_config_reads_another_configs_shards_only_if_it_is_a_subset():
    from hepatokit.publish.lifs import _subset_configs

    configs = {"nc": ["T1W", "T2W"], "c": ["T1W", "T2W", "GED1"], "dwi": ["DWI"]}
    assert _subset_configs(configs, mask_configs=["c"]) == {"nc": "c"}
    assert _subset_configs(configs, mask_configs=["nc"]) == {}  # c has no mask to give nc
    assert _subset_configs({"a": ["T1W"], "b": ["T1W"]}, mask_configs=[]) == {"b": "a"}


@pytest.mark.slow
def test_build_twice_is_byte_identical_and_relocatable(
    fake_lifs_build, fake_lifs_published, tmp_path
):
    hf, result = fake_lifs_published
    again = publish_build(build=fake_lifs_build.build, out=tmp_path / "again", workers=2)
    assert again.files == result.files
    for rel in result.files:
        assert (tmp_path / "again" / rel).read_bytes() == (hf / rel).read_bytes(), rel
    # nothing refers to where the build or the output lives
    for rel in ("README.md", "croissant.json", "dataset_meta.json"):
        text = (hf / rel).read_text()
        assert str(fake_lifs_build.build) not in text and str(hf) not in text
        assert str(tmp_path) not in (tmp_path / "again" / rel).read_text()


def test_republish_removes_stale_shards(fake_lifs_build, tmp_path):
    out = tmp_path / "hf"
    publish_build(build=fake_lifs_build.build, out=out, workers=1)
    stale = out / "data" / "contrast" / "train-00000-of-00009.parquet"
    shutil.copy(next((out / "data" / "contrast").glob("train-*")), stale)
    old_layout = out / "data" / "noncontrast"  # an earlier layout: shards of its own
    old_layout.mkdir()
    shutil.copy(stale, old_layout / "train-00000-of-00001.parquet")
    publish_build(build=fake_lifs_build.build, out=out, workers=2)
    assert not stale.exists() and not old_layout.exists()
    verify_checksums(out)


def test_withhold_test_labels(fake_lifs_build, tmp_path):
    build = tmp_path / "build"
    shutil.copytree(fake_lifs_build.build, build)
    out = tmp_path / "hf"
    result = publish_build(build=build, out=out, withhold_test_labels=True, workers=1)
    assert result.truth_path == build / "private" / "test_truth.csv"
    with open(result.truth_path, newline="") as fh:
        truth = list(csv.DictReader(fh))
    assert list(truth[0]) == [
        "Case",
        "split",
        "domain",
        "stage",
        "cirrhosis",
        "significant_fibrosis",
    ]
    planted = {s["subject_id"]: s for s in fake_lifs_build.subjects}
    tests = {
        sid
        for sid, s in planted.items()
        if s["split"].startswith("test") and s["stage"] is not None
    }
    assert {t["Case"] for t in truth} == tests
    for t in truth:
        s = planted[t["Case"]]
        assert t["split"] == s["split"] and t["stage"] == (s["stage"] or "")
        assert t["domain"] == ("OOD" if s["split"] == "test_ood" else "ID")
        assert t["cirrhosis"] == str(s["cirrhosis"])
    for split in ("test_id", "test_ood"):
        for row in _rows(out, "contrast", split):
            assert row["stage"] is None and row["cirrhosis"] is None
            assert row["significant_fibrosis"] is None
    assert any(r["stage"] is not None for r in _rows(out, "contrast", "train"))
    assert "Test labels are withheld" in (out / "README.md").read_text()
    from hepatokit.evaluation.submission import read_truth  # the evaluator accepts it

    assert set(read_truth(result.truth_path).index) == tests
    assert not any("private" in f for f in result.files)


def test_no_phi_or_local_path_in_published_folder(fake_lifs_build, fake_lifs_published):
    hf, result = fake_lifs_published
    needles = [*fake_lifs_build.phi, str(fake_lifs_build.raw_root), "original_patient_id"]
    blobs = [(hf / rel).read_bytes() for rel in result.files]
    for rel in result.files:
        if rel.endswith(".parquet"):
            for row in pq.read_table(hf / rel).to_pylist():
                for value in row.values():
                    if isinstance(value, dict) and value.get("bytes"):
                        blobs.append(gzip.decompress(value["bytes"]))
                        blobs.append(value["path"].encode())
                    elif value is not None:
                        blobs.append(str(value).encode())
    for needle in needles:
        assert not any(needle.encode() in blob for blob in blobs), needle
    # and the project's PHI audit (the one run over builds) agrees on the whole folder
    from hepatokit.curation.mri.deid.phi_audit import audit_phi

    audit = audit_phi(build=hf, phi_values=dict.fromkeys(needles, "planted"), report=False)
    assert audit.ok and audit.files_scanned == len(result.files)
    control = fake_lifs_build.subjects[0]["subject_id"]  # present: the audit must see it
    assert not audit_phi(build=hf, phi_values={control: "control"}, report=False).ok


def test_missing_inputs_give_clear_errors(fake_lifs_build, tmp_path):
    build = tmp_path / "build"
    shutil.copytree(fake_lifs_build.build, build)
    (build / "splits.parquet").rename(tmp_path / "splits.parquet")
    with pytest.raises(BuildStateError, match="split"):
        publish_build(build=build, out=tmp_path / "hf", workers=1)
    shutil.copy(tmp_path / "splits.parquet", build / "splits.parquet")
    victim = next(s for s in fake_lifs_build.subjects if s["volume_T2W"])
    (build / victim["volume_T2W"]).unlink()
    with pytest.raises(DataFormatError, match="missing"):
        publish_build(build=build, out=tmp_path / "hf", workers=1)
    with pytest.raises(BuildStateError, match="private"):
        publish_build(build=build, out=build / "private" / "hf", workers=1)


def test_stale_splits_are_refused(fake_lifs_build, tmp_path):
    build = tmp_path / "build"
    shutil.copytree(fake_lifs_build.build, build)
    table = pq.read_table(build / "splits.parquet").slice(1)
    pq.write_table(table, build / "splits.parquet")
    with pytest.raises(BuildStateError, match="without a split"):
        publish_build(build=build, out=tmp_path / "hf", workers=1)


def test_empty_build_is_refused(fake_lifs_build, tmp_path):
    build = tmp_path / "build"
    shutil.copytree(fake_lifs_build.build, build)
    for name in ("subjects.parquet", "splits.parquet"):
        table = pq.read_table(build / name)
        pq.write_table(table.slice(0, 0), build / name)
    with pytest.raises(BuildStateError, match="nothing to publish"):
        publish_build(build=build, out=tmp_path / "hf", workers=1)
