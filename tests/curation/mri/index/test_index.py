"""`mri index` on the synthetic studies: every file once, reasons, no PHI, resumable."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pandas as pd
import pytest

from hepatokit.curation.mri.index import records as index_records
from hepatokit.curation.mri.index.stage import index_dicom, raw_sources
from hepatokit.manifest import Manifest, stable_id


def test_every_raw_file_once_with_reasons(curated_lifs) -> None:
    truth = curated_lifs.truth
    rows = pd.read_parquet(curated_lifs.build / "manifest" / "index.parquet")
    all_files = sorted(
        Path(d, f).relative_to(curated_lifs.raw).as_posix()
        for d, _, fs in os.walk(curated_lifs.raw)
        for f in fs
    )
    assert len(all_files) == truth["file_count"]["total"]
    raw_of = raw_sources(curated_lifs.build)
    rows["source"] = [raw_of[i] for i in rows["item_id"]]  # the raw paths: private/ only
    assert sorted(rows["source"]) == all_files
    assert rows["item_id"].is_unique
    assert set(rows["item_id"]) == {stable_id("file", f) for f in all_files}
    reason_of = dict(zip(rows["source"], rows["reason"], strict=True))
    for bad in truth["bad_files"]:
        assert reason_of[bad["path"]] in bad["accepted_reasons"], bad
    n_images = truth["file_count"]["image_instances"]
    assert (rows["outcome"] == "kept").sum() == n_images
    summary = Manifest(curated_lifs.build).check()
    assert summary.inputs == summary.kept + summary.excluded


def test_instances_have_no_phi(curated_lifs) -> None:
    inst = curated_lifs.table("instances.parquet")
    assert not {"patient_id", "patient_name", "institution", "station", "manufacturer"} & set(
        inst.columns
    )
    text = inst.astype(str).to_csv()
    for value in curated_lifs.truth["phi"]["scan_values"]:
        assert value not in text
    assert set(inst["vendor"]) == {"Vendor A", "Vendor B", "Vendor C"}
    assert set(inst["scanner"]) == {"A1.5T", "A3T", "B3T", "C3T"}
    phi = pd.read_parquet(curated_lifs.build / "private" / "instances_phi.parquet")
    assert set(phi["patient_id"]) == {p["patient_id"] for p in curated_lifs.truth["patients"]}


def test_b_values_from_every_tag_flavour(curated_lifs) -> None:
    inst = curated_lifs.table("instances.parquet")
    raw_of = curated_lifs.raw_path_of()
    inst = inst.set_index(inst["item_id"].map(raw_of))
    seen = set()
    for u in curated_lifs.truth["units"]:
        if u["role"] != "DWI":
            continue
        got = sorted(set(inst.loc[u["files"], "b_value"].tolist()))
        assert got == sorted(u["b_values"]), u["unit_id"]
        seen.update(u["b_value_tags"])
    assert {"siemens", "philips"} <= seen and seen & {"ge", "ge_1e9"}


def test_second_run_reads_no_header(
    curated_lifs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = tmp_path / "raw"
    units = [
        u
        for u in curated_lifs.truth["units"]
        if u["patient_id"] == curated_lifs.truth["patients"][0]["patient_id"]
    ]
    for rel in [f for u in units for f in u["files"]] + [
        b["path"] for b in curated_lifs.truth["bad_files"]
    ]:
        (raw / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(curated_lifs.raw / rel, raw / rel)
    build = tmp_path / "b"
    first = index_dicom(raw=raw, out=build, workers=2, key_file=curated_lifs.key_file)
    before = (build / "instances.parquet").read_bytes()

    def boom(path: str):
        raise AssertionError(f"header read on an unchanged tree: {path}")

    monkeypatch.setattr(index_records, "read_header", boom)
    again = index_dicom(raw=raw, out=build, workers=1, key_file=curated_lifs.key_file)
    assert again.headers_read == 0 and again.kept == first.kept
    assert (build / "instances.parquet").read_bytes() == before
    monkeypatch.undo()
    changed = next(p for p in sorted(raw.rglob("*")) if p.is_file() and p.suffix == ".dcm")
    os.utime(changed, ns=(1, 1))
    third = index_dicom(raw=raw, out=build, workers=1, key_file=curated_lifs.key_file)
    assert third.headers_read == 1


def test_raw_names_only_in_private(tmp_path: Path) -> None:
    """Raw folder / file names (patient names here) never reach a non-private table: the
    instance paths and the ledger name files by pseudonym; private/ keeps the raw paths."""
    import pydicom.data

    src = Path(pydicom.data.get_testdata_file("MR_small.dcm"))
    raw = tmp_path / "raw"
    names = {"MUELLERSOHN^JOERG_2024/MR_001.dcm": src, "Dvořák Zoë/scan.dcm": src}
    for rel, source in names.items():
        (raw / rel).parent.mkdir(parents=True)
        data = source.read_bytes()
        if rel.startswith("Dv"):  # another SOP instance: a second kept file
            import pydicom as pd_

            ds = pd_.dcmread(source)
            ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = "1.2.3.4.5.6.7"
            ds.save_as(raw / rel)
            continue
        (raw / rel).write_bytes(data)
    (raw / "SMITHSON JANE").mkdir()
    (raw / "SMITHSON JANE" / "notes.txt").write_text("not dicom")
    key = tmp_path / "key"
    key.write_text("k")
    build = tmp_path / "b"
    index_dicom(raw=raw, out=build, workers=1, key_file=key)
    public = "\n".join(
        pd.read_parquet(p).astype(str).to_csv()
        for p in sorted(build.rglob("*.parquet"))
        if "private" not in p.relative_to(build).parts
    )
    for word in ("MUELLERSOHN", "JOERG", "Dvořák", "Zoë", "SMITHSON", "MR_001", "scan.dcm"):
        assert word not in public, word
    assert sorted(raw_sources(build).values()) == sorted([*names, "SMITHSON JANE/notes.txt"])
    phi = pd.read_parquet(build / "private" / "instances_phi.parquet")
    assert sorted(phi["path"]) == sorted(names)
