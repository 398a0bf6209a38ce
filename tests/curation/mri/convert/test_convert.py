"""`mri convert`: planted geometry and voxels, DWI, sidecar whitelist, resumability."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from hepatokit.curation.mri.config import ConvertConfig
from hepatokit.curation.mri.convert.dcm2niix import run_dcm2niix
from hepatokit.curation.mri.convert.job import ConvertJob
from hepatokit.curation.mri.convert.run import convert_job
from hepatokit.curation.mri.convert.stage import convert_volumes

FORBIDDEN_SIDECAR_KEYS = {
    "InstitutionName",
    "InstitutionAddress",
    "StationName",
    "DeviceSerialNumber",
    "AcquisitionTime",
    "AcquisitionDateTime",
    "SeriesDescription",
    "ProtocolName",
    "ImageComments",
    "Manufacturer",
    "ManufacturersModelName",
    "PatientName",
    "PatientID",
}


def _volume_of_unit(curated) -> dict[str, str]:
    vols = curated.table("volumes.parquet")
    path_of = dict(zip(vols["series_id"], vols["path"], strict=True))
    return {
        uid: path_of[row["series_id"]]
        for uid, row in curated.series_of_unit().items()
        if row["series_id"] in path_of
    }


def test_volumes_match_planted_geometry_and_voxels(curated_lifs) -> None:
    from hepatokit.synthetic import planted_on_grid

    vol_of = _volume_of_unit(curated_lifs)
    oblique = 0
    for u in curated_lifs.truth["units"]:
        if not u["expected_label"]:
            continue
        rel = vol_of[u["unit_id"]]
        sid = curated_lifs.subject_of_patient()[u["patient_id"]]
        assert rel == f"volumes/sub-{sid}/sub-{sid}_{u['expected_label']}.nii.gz"
        img = nib.load(curated_lifs.build / rel)
        expected = planted_on_grid(u, img.affine, img.shape)
        assert np.array_equal(np.asanyarray(img.dataobj), expected), u["unit_id"]
        oblique += bool(u["geometry"]["oblique"])
    assert oblique > 0


def test_headers_and_sidecars_are_scrubbed(curated_lifs) -> None:
    vols = curated_lifs.table("volumes.parquet")
    assert (vols["status"] == "ok").all()
    for rel in vols["path"]:
        hdr = nib.load(curated_lifs.build / rel).header
        assert bytes(hdr["descrip"]).rstrip(b"\0") == b"hepatokit curated"
        assert bytes(hdr["aux_file"]).rstrip(b"\0") == b""
        assert not hdr.extensions
        side = json.loads((curated_lifs.build / rel.replace(".nii.gz", ".json")).read_text())
        keys = set(side) | set(side["Acquisition"])
        assert not keys & FORBIDDEN_SIDECAR_KEYS
        assert side["Vendor"].startswith("Vendor ") and side["Center"].startswith("Center ")
        assert side["Shape"] == list(nib.load(curated_lifs.build / rel).shape)
        assert side["Dcm2niixVersion"] and side["HepatokitVersion"]
        if side["Sequence"].startswith("GED"):
            assert side["SecondsAfterInjection"] > 0


def test_sidecars_keep_non_identifying_acquisition_fields(curated_lifs) -> None:
    """Echo train length and contrast agent reach the sidecar as pydicom reads them from the
    source DICOM; slice timing (relative seconds) is kept when dcm2niix writes it."""
    import pydicom

    from hepatokit.curation.mri.config import SIDECAR_DROPPED, ConvertConfig
    from hepatokit.curation.mri.convert.sidecar import clean_descriptor

    kept = ConvertConfig().sidecar_keys
    assert not set(kept) & set(SIDECAR_DROPPED)
    assert {"SliceTiming", "EchoTrainLength", "AcquisitionMatrixPE", "ContrastBolusAgent"} <= set(
        kept
    )
    vol_of = _volume_of_unit(curated_lifs)
    checked = agents = 0
    for u in curated_lifs.truth["units"]:
        if not u["expected_label"]:
            continue
        rel = vol_of[u["unit_id"]]
        side = json.loads((curated_lifs.build / rel.replace(".nii.gz", ".json")).read_text())
        acq = side["Acquisition"]
        first = Path(u["files"][0])
        ds = pydicom.dcmread(first if first.is_absolute() else curated_lifs.raw / first)
        if int(ds.get("EchoTrainLength") or 1) > 1:  # dcm2niix omits a train of 1
            assert acq["EchoTrainLength"] == int(ds.EchoTrainLength), rel
            checked += 1
        if clean_descriptor(str(ds.get("ContrastBolusAgent") or "")):
            assert acq["ContrastBolusAgent"] == " ".join(str(ds.ContrastBolusAgent).split()), rel
            agents += 1
        else:
            assert "ContrastBolusAgent" not in acq, rel
        assert not set(acq) & set(SIDECAR_DROPPED), rel
    assert checked and agents


def test_dwi_is_4d_with_bvals(curated_lifs) -> None:
    vol_of = _volume_of_unit(curated_lifs)
    for u in curated_lifs.truth["units"]:
        if u["expected_label"] != "DWI":
            continue
        rel = vol_of[u["unit_id"]]
        bval = (curated_lifs.build / rel.replace(".nii.gz", ".bval")).read_text().split()
        assert [float(b) for b in bval] == sorted(u["b_values"])
        shape = nib.load(curated_lifs.build / rel).shape
        assert (shape[3] if len(shape) == 4 else 1) == len(u["b_values"])


def test_dwi_b_value_policy(curated_lifs, tmp_path: Path) -> None:
    unit = next(
        u
        for u in curated_lifs.truth["units"]
        if u["expected_label"] == "DWI" and len(u["b_values"]) == 2
    )
    row = curated_lifs.series_of_unit()[unit["unit_id"]]
    info = {
        k: row[k]
        for k in (
            "subject_id",
            "series_id",
            "center",
            "vendor",
            "scanner",
            "field_strength",
            "seconds_after_injection",
            "timing_source",
            "label",
            "reason",
        )
    }
    job = ConvertJob(
        str(tmp_path),
        "volumes/sub-x/sub-x_DWI",
        tuple(str(curated_lifs.raw / f) for f in unit["files"]),
        "DWI",
        info,
        ConvertConfig(dwi_b_values=[800.0]),
        tuple(sorted(unit["b_values"])),
    )
    assert convert_job(job) == "converted"
    img = nib.load(tmp_path / "volumes/sub-x/sub-x_DWI.nii.gz")
    assert img.ndim == 3
    assert (tmp_path / "volumes/sub-x/sub-x_DWI.bval").read_text().split() == ["800"]
    full = nib.load(curated_lifs.build / _volume_of_unit(curated_lifs)[unit["unit_id"]])
    assert np.array_equal(np.asanyarray(img.dataobj), np.asanyarray(full.dataobj)[..., 1])
    assert convert_job(job) == "skipped"


def _copy_until_series(curated, dest: Path) -> Path:
    build = dest / "build"
    shutil.copytree(
        curated.build,
        build,
        ignore=shutil.ignore_patterns(
            "volumes",
            ".state",
            "all_series",
            "volumes.parquet",
            "convert.parquet",
            "qc",
            "subjects.parquet",
            "labels.parquet",
            "reports",
        ),
    )
    return build


@pytest.mark.slow
def test_sigkill_then_resume_is_byte_identical(curated_lifs, tmp_path: Path) -> None:
    build = _copy_until_series(curated_lifs, tmp_path)
    code = (
        "import sys; from hepatokit.curation.mri import convert_volumes; "
        "convert_volumes(build=sys.argv[1], workers=1)"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(build)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    expected = len(curated_lifs.table("volumes.parquet"))
    keys = build / ".state" / "convert"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if keys.is_dir() and len(list(keys.glob("*.key"))) >= expected // 3:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "conversion finished before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = len(list(keys.glob("*.key")))
    assert 0 < done < expected
    summary = convert_volumes(build=build, workers=2)
    assert summary.failed == 0 and summary.skipped >= done - 1
    ours = sorted(p.relative_to(build) for p in (build / "volumes").rglob("*") if p.is_file())
    ref = sorted(
        p.relative_to(curated_lifs.build)
        for p in (curated_lifs.build / "volumes").rglob("*")
        if p.is_file()
    )
    assert ours == ref
    for rel in ref:
        assert (build / rel).read_bytes() == (curated_lifs.build / rel).read_bytes(), rel


@pytest.mark.slow
def test_all_series_geometry_equals_bare_dcm2niix(curated_lifs, tmp_path: Path) -> None:
    build = _copy_until_series(curated_lifs, tmp_path)
    summary = convert_volumes(build=build, all_series=True, workers=2)
    series = curated_lifs.table("series.parquet")
    assert summary.failed == 0 and summary.converted == len(series)
    assert not (build / "volumes").exists()
    path_of = curated_lifs.raw_path_of()
    picked = series.drop_duplicates("reason").head(6)  # localizer part, derived, labelled...
    for row in picked.to_dict("records"):
        ours = nib.load(
            build
            / "all_series"
            / f"sub-{row['subject_id']}"
            / f"sub-{row['subject_id']}_series-{row['series_id']}.nii.gz"
        )
        bare_dir = tmp_path / f"bare-{row['series_id']}"
        nii = run_dcm2niix([curated_lifs.raw / path_of[i] for i in row["item_ids"]], bare_dir)
        bare = nib.load(max(nii, key=lambda p: p.stat().st_size))
        assert ours.shape == bare.shape
        assert np.allclose(ours.affine, bare.affine)
        assert np.array_equal(np.asanyarray(ours.dataobj), np.asanyarray(bare.dataobj))
        side = json.loads(
            (
                build
                / "all_series"
                / f"sub-{row['subject_id']}"
                / f"sub-{row['subject_id']}_series-{row['series_id']}.json"
            ).read_text()
        )
        assert side["Recognition"]["reason"] == row["reason"]


def test_convert_rerun_skips_everything(curated_lifs, tmp_path: Path) -> None:
    build = _copy_until_series(curated_lifs, tmp_path)
    shutil.copytree(curated_lifs.build / "volumes", build / "volumes")
    shutil.copytree(curated_lifs.build / ".state", build / ".state")
    summary = convert_volumes(build=build, workers=1)
    assert summary.converted == 0 and summary.skipped == len(
        pd.read_parquet(build / "volumes.parquet")
    )


def test_sidecar_field_lists_are_documented() -> None:
    """Every kept and every dropped sidecar key is in docs/lifs_curation.md (dropped: with
    its reason), and no key is both."""
    from hepatokit.curation.mri.config import SIDECAR_DROPPED, ConvertConfig

    doc = (Path(__file__).resolve().parents[4] / "docs" / "lifs_curation.md").read_text()
    kept = ConvertConfig().sidecar_keys
    assert not set(kept) & set(SIDECAR_DROPPED)
    for key in kept:
        assert f"`{key}`" in doc, key
    for key, reason in SIDECAR_DROPPED.items():
        assert f"| `{key}` | {reason} |" in doc, key
    assert set(SIDECAR_DROPPED) >= FORBIDDEN_SIDECAR_KEYS


def test_sidecar_geometry_equals_nibabel_reading_the_volume(curated_lifs) -> None:
    """The sidecar's shape, spacing and orientation (taken from the scrubbed header alone)
    are what nibabel reads from the written volume, oblique ones included."""
    vols = curated_lifs.table("volumes.parquet")
    checked = 0
    for rel, side in zip(vols["path"], vols["sidecar"], strict=True):
        if rel is None:
            continue
        img = nib.load(curated_lifs.build / rel)
        meta = json.loads((curated_lifs.build / side).read_text())
        assert meta["Shape"] == list(img.shape), rel
        assert meta["VoxelSpacing"] == [round(float(z), 6) for z in img.header.get_zooms()[:3]]
        assert meta["OrientationCode"] == "".join(c or "?" for c in nib.aff2axcodes(img.affine))
        checked += 1
    assert checked > 10


def test_second_convert_of_a_rebuilt_folder_in_one_process(curated_lifs, tmp_path: Path) -> None:
    """Converting, deleting the build and converting it again from the same path in the
    same process converts everything again (the scratch folder the first run removed is
    made again), with the same bytes."""
    first = _copy_until_series(curated_lifs, tmp_path)
    assert convert_volumes(build=first, workers=1).failed == 0
    sums = {p.relative_to(first): p.read_bytes() for p in (first / "volumes").rglob("*.nii.gz")}
    shutil.rmtree(first)
    again = _copy_until_series(curated_lifs, tmp_path)
    assert again == first
    summary = convert_volumes(build=again, workers=1)
    assert summary.failed == 0 and summary.converted == len(sums) > 0
    got = {p.relative_to(again): p.read_bytes() for p in (again / "volumes").rglob("*.nii.gz")}
    assert got == sums
