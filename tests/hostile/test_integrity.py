"""Defect 14 (and 11's error details): deterministic ledgers without memory addresses or
absolute paths, no stray temporary file after a killed publish, a corrupted JPEG 2000 slice
caught by volume QC, one SOPInstanceUID with two different images flagged as a conflict."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import pydicom.data
import pytest
from PIL import Image

from hepatokit import build_dataset
from hepatokit.curation.mri import (
    convert_volumes,
    index_dicom,
    qc_volumes,
    recognise_series,
)
from hepatokit.curation.mri.index.stage import raw_sources
from hepatokit.manifest import clean_detail
from hepatokit.publish import publish_build
from tests.hostile.helpers import assert_balanced, manifest_rows, patch_tree, run_cli


def test_ledger_details_are_stable_and_hold_no_address_or_absolute_path(tmp_path):
    root = tmp_path / "raw"
    patch_tree(root, n_slides=1, per_slide=1)
    (root / "TUM" / "slide01_bad.png").write_bytes(b"\x89PNG not really")
    (root / "TUM" / "slide02_bad.tif").write_bytes(b"II*\x00" + b"z" * 40)  # PIL names its buffer
    details = []
    for name in ("a", "b"):
        code, out = run_cli("--workers", "1", "patho", "ingest", str(root),
                            "--out", str(tmp_path / name))  # fmt: skip
        assert code == 0, out
        details.append({r["source"]: r["detail"] for r in manifest_rows(tmp_path / name)})
    assert details[0] == details[1]
    text = " ".join(str(d) for d in details[0].values())
    assert "0x" not in text and str(tmp_path) not in text
    assert "<_io.BytesIO>" in details[0]["TUM/slide02_bad.tif"]  # the library's text, cleaned
    assert clean_detail("open failed: '/data/SMITH^JOHN/IM1' <X object at 0xdeadbeef12>") == (
        "open failed: '…/IM1' <X>"
    )


def test_no_stray_temporary_file_after_a_killed_publish(tmp_path):
    raw = tmp_path / "raw"
    patch_tree(raw, n_slides=10, per_slide=2)
    build, hf = tmp_path / "build", tmp_path / "hf"
    build_dataset(recipe="hepatobench", raw=raw, out=build, workers=1)
    # what a run killed between writing a temporary file and renaming it leaves behind
    (hf / "images").mkdir(parents=True)
    stray = [hf / "images" / ".class_distribution.png.k3j9x0qa.tmp.png",
             hf / ".README.md.a1b2c3d4.tmp"]  # fmt: skip
    for p in stray:
        p.write_bytes(b"half")
    result = publish_build(build=build, out=hf, workers=1)
    left = [p for p in hf.rglob("*") if ".tmp" in p.name]
    assert left == []
    assert not any(".tmp" in f for f in result.files)
    assert ".hepatokit.lock" not in result.files


def _j2k_series(src_raw: Path, build: Path, dest: Path) -> str:
    """Copy ``src_raw`` to ``dest`` with one T1W series re-encoded as JPEG 2000 lossless and
    its middle slice damaged (random bytes after its headers: OpenJPEG decodes it without
    an error, into noise); the damaged series' SeriesInstanceUID."""
    from pydicom.encaps import encapsulate
    from pydicom.uid import JPEG2000Lossless

    shutil.copytree(src_raw, dest)
    path_of = raw_sources(build)  # raw paths live in private/ only
    series = pd.read_parquet(build / "series.parquet")
    t1 = series[series["label"] == "T1W"].iloc[0]
    files = [path_of[i] for i in t1["item_ids"]]
    rng = np.random.default_rng(0)
    for k, rel in enumerate(files):
        ds = pydicom.dcmread(dest / rel)
        arr = ds.pixel_array
        assert arr.min() >= 0 and arr.max() < 65536
        ds.PixelRepresentation = 0  # unsigned 16-bit: what Pillow's encoder takes
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 16, 15
        buf = io.BytesIO()
        Image.fromarray(arr.astype(np.uint16)).save(buf, format="JPEG2000", irreversible=False,
                                                    no_jp2=True)  # fmt: skip
        data = bytearray(buf.getvalue())
        if k == len(files) // 2:
            data[150:-2] = rng.integers(0, 255, len(data) - 152, dtype=np.uint8).tobytes()
        ds.PixelData = encapsulate([bytes(data)])
        ds["PixelData"].VR = "OB"
        ds.file_meta.TransferSyntaxUID = JPEG2000Lossless
        ds.save_as(dest / rel, enforce_file_format=True)
    return str(t1["series_uid"])


def test_corrupted_jpeg2000_slice_fails_volume_qc(tmp_path):
    from PIL import features

    if not features.check("jpg_2000"):
        pytest.skip("Pillow without OpenJPEG: cannot make the JPEG 2000 test series")
    from hepatokit.synthetic.mri import generate_mri_studies

    generate_mri_studies(tmp_path / "gen", patients=1, seed=3, workers=1)
    clean = tmp_path / "clean"
    index_dicom(raw=tmp_path / "gen" / "dicom", out=clean, demo_key=True, workers=1)
    recognise_series(build=clean)
    raw = tmp_path / "raw"
    uid = _j2k_series(tmp_path / "gen" / "dicom", clean, raw)
    build = tmp_path / "build"
    index_dicom(raw=raw, out=build, demo_key=True, workers=1)
    recognise_series(build=build)
    convert_volumes(build=build, workers=1)
    qc_volumes(build=build, workers=1)
    series = pd.read_parquet(build / "series.parquet")
    victim = series[series["series_uid"] == uid].iloc[0]
    qc = pd.read_parquet(build / "qc" / "volume_qc.parquet")
    row = qc[qc["series_id"] == victim["series_id"]].iloc[0]
    assert row["qc_reason"] == "corrupt_slice", row.to_dict()
    assert list(row["corrupt_slices"]) == [len(victim["item_ids"]) // 2]
    assert (qc["qc_reason"].fillna("") == "").sum() == len(qc) - 1  # the others pass
    rows = {r["item_id"]: r for r in manifest_rows(build)}
    assert {rows[i]["reason"] for i in victim["item_ids"]} == {"qc:corrupt_slice"}
    assert_balanced(build)


def test_same_sop_uid_with_other_pixels_is_a_conflict(tmp_path):
    raw = tmp_path / "raw"
    (raw / "A").mkdir(parents=True)
    src = Path(pydicom.data.get_testdata_file("MR_small.dcm"))
    shutil.copy(src, raw / "A" / "1.dcm")
    shutil.copy(src, raw / "A" / "2.dcm")  # an exact copy: a duplicate
    ds = pydicom.dcmread(src)
    arr = ds.pixel_array.copy()
    arr[10:20, 10:20] = 0
    ds.PixelData = arr.tobytes()
    ds.save_as(raw / "A" / "3.dcm")  # same UID, other pixels: a conflict
    build = tmp_path / "build"
    index_dicom(raw=raw, out=build, demo_key=True, workers=1)
    raw_of = raw_sources(build)  # the ledger names raw files by pseudonym
    rows = {raw_of[r["item_id"]]: r for r in manifest_rows(build)}
    assert rows["A/1.dcm"]["outcome"] == "kept"
    first = rows["A/1.dcm"]["item_id"]
    assert rows["A/2.dcm"]["reason"] == f"duplicate_of:{first}"
    assert rows["A/3.dcm"]["reason"] == f"sop_conflict:{first}"
    assert "different pixel data" in rows["A/3.dcm"]["detail"]
    assert_balanced(build)
