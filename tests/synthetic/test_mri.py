"""Synthetic MRI studies: planted tags, files, geometry and pixels agree with truth.json."""

from __future__ import annotations

import csv
import hashlib
import shutil
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pydicom
import pytest
from hypothesis import given, settings, strategies as st
from pydicom.errors import InvalidDicomError
from typer.testing import CliRunner

from hepatokit.synthetic import generate_mri_studies, planted_on_grid, planted_volume
from hepatokit.synthetic.mri_phantom import Geometry, phantom_volume
from hepatokit.synthetic.mri_protocols import PHASE_WINDOWS_S, SCANNERS

PRIVATE_B = {
    "siemens": (0x0019, "SIEMENS MR HEADER", 0x0C),
    "ge": (0x0043, "GEMS_PARM_01", 0x39),
    "philips": (0x2001, "Philips Imaging DD 001", 0x03),
}


def _tm_seconds(value: str) -> float:
    return int(value[:2]) * 3600 + int(value[2:4]) * 60 + float(value[4:])


def _dcm2niix() -> str:
    import dcm2niix

    return str(dcm2niix.bin) if Path(str(dcm2niix.bin)).exists() else str(shutil.which("dcm2niix"))


def _tree_digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_fixture_covers_every_anomaly(mri_truth: dict[str, Any]) -> None:
    patients, units = mri_truth["patients"], mri_truth["units"]
    assert {p["scanner"] for p in patients} == set(SCANNERS)
    assert {p["center"] for p in patients} == {"center1", "center2", "center3"}
    assert {p["stage"] for p in patients} == {"S1", "S2", "S3", "S4"}
    anomalies = {a for p in patients for a in p["anomalies"]}
    assert anomalies >= {
        "non_contrast",
        "no_bolus_start_time",
        "repeated_series",
        "odd_matrix_slice",
        "ge_multiphase",
        "missing_sequence",
        "t2_dwi_after_injection",
        "mrcp",
        "subtraction",
    }
    assert {u["ignore_reason"] for u in units} == {
        None,
        "localizer",
        "derived",
        "other",
        "repeat",
        "odd_matrix",
    }
    assert {u["expected_label"] for u in units} - {None} == set(mri_truth["sequences"])
    t2 = [u for u in units if u["role"] == "T2W"]
    assert any(u["geometry"]["oblique"] for u in units)
    assert any(not u["geometry"]["oblique"] for u in t2)
    tags = {t for u in units for t in (u["b_value_tags"] or [])}
    assert tags == {"standard", "siemens", "ge", "ge_1e9", "philips"}
    assert any(len(u["b_values"] or []) == 2 for u in units if u["role"] == "DWI")
    assert any("TRACEW" in u["image_type"] for u in units if u["expected_label"] == "DWI")
    assert {p["kind"] for p in mri_truth["labels"]["problems"]} == {
        "unknown_stage",
        "conflict",
        "duplicate_consistent",
        "label_without_images",
        "no_label",
    }
    assert {b["reason"] for b in mri_truth["bad_files"]} == {
        "corrupt",
        "not_dicom",
        "dicomdir",
        "non_image",
    }
    assert mri_truth["repeats"] and all(r["kept"] for r in mri_truth["repeats"])


def test_every_file_on_disk_is_in_truth_once(mri_raw: Path, mri_truth: dict[str, Any]) -> None:
    raw = mri_raw / "dicom"
    on_disk = sorted(str(p.relative_to(raw)) for p in raw.rglob("*") if p.is_file())
    listed = [f for u in mri_truth["units"] for f in u["files"]]
    listed += [b["path"] for b in mri_truth["bad_files"]]
    assert len(listed) == len(set(listed))
    assert sorted(listed) == on_disk
    assert mri_truth["file_count"]["total"] == len(on_disk)
    assert (
        sum(p["n_files"] for p in mri_truth["patients"])
        == mri_truth["file_count"]["image_instances"]
    )
    assert sorted(p.name for p in mri_raw.iterdir()) == [
        "clinical_labels.csv",
        "dicom",
        "readers.csv",
        "truth.json",
    ]


def _check_b(ds: pydicom.Dataset, tags: list[str], b: float) -> None:
    for tag in tags:
        if tag == "standard":
            assert ds[0x00189087].value == pytest.approx(b)
            continue
        group, creator, elem = PRIVATE_B["ge" if tag.startswith("ge") else tag]
        value = ds.private_block(group, creator)[elem].value
        if tag.startswith("ge"):
            assert int(value[0]) % 1_000_000_000 == int(b)
            assert (int(value[0]) >= 1_000_000_000) == (tag == "ge_1e9")
        else:
            assert float(value) == pytest.approx(b)
    if "standard" not in tags:
        assert 0x00189087 not in ds


def test_planted_tags_read_back(mri_raw: Path, mri_truth: dict[str, Any]) -> None:
    raw = mri_raw / "dicom"
    patients = {p["patient_id"]: p for p in mri_truth["patients"]}
    phi = mri_truth["phi"]
    for unit in mri_truth["units"]:
        p = patients[unit["patient_id"]]
        sc = SCANNERS[p["scanner"]]
        pphi = phi["patients"][p["patient_id"]]
        site = phi["sites"]["scanners"][p["scanner"]]
        row_col = unit["geometry"]["image_orientation_patient"]
        n_b = len(unit["b_values"] or [None])
        assert unit["n_instances"] == unit["geometry"]["slices"] * n_b == len(unit["files"])
        times = []
        for n, rel in enumerate(unit["files"]):
            ds = pydicom.dcmread(raw / rel, stop_before_pixels=True)
            times.append(ds.AcquisitionTime)
            assert ds.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
            assert ds.SOPClassUID == pydicom.uid.MRImageStorage
            assert ds.SeriesInstanceUID == unit["series_uid"]
            assert ds.StudyInstanceUID == p["study_instance_uid"]
            assert (ds.Manufacturer, ds.ManufacturerModelName) == (sc.manufacturer, sc.model)
            assert float(ds.MagneticFieldStrength) == sc.field_strength
            assert ds.SeriesDescription == unit["series_description"]
            assert list(ds.ImageType) == unit["image_type"]
            assert float(ds.EchoTime) == unit["te_ms"]
            assert float(ds.RepetitionTime) == unit["tr_ms"]
            assert (ds.Rows, ds.Columns) == (unit["geometry"]["rows"], unit["geometry"]["columns"])
            assert [float(v) for v in ds.ImageOrientationPatient] == row_col
            # PHI
            assert str(ds.PatientName) == pphi["name"] and ds.PatientID == pphi["patient_id"]
            assert ds.PatientBirthDate == pphi["birth_date"]
            assert ds.AccessionNumber == pphi["accession_number"]
            assert ds.StudyID == pphi["study_id"] and ds.StudyDate == pphi["study_date"]
            assert ds.InstitutionName == pphi["institution_name"]
            assert ds.InstitutionAddress == pphi["institution_address"]
            assert str(ds.ReferringPhysicianName) == pphi["referring_physician"]
            assert str(ds.PerformingPhysicianName) == pphi["performing_physician"]
            assert str(ds.OperatorsName) == pphi["operator"]
            assert ds.StationName == site["station_name"]
            assert ds.DeviceSerialNumber == site["device_serial_number"]
            assert ds.StudyComments == pphi["study_comment"]
            assert (
                ds.private_block(0x0011, "SITE PACS EXPORT 1.0")[0x01].value == pphi["private_text"]
            )
            for value in (ds.PatientID, str(ds.PatientName), ds.InstitutionName):
                assert value in phi["scan_values"]
            # contrast and timing
            assert ("ContrastBolusAgent" in ds) == (unit["contrast_agent"] is not None)
            has_start = "ContrastBolusStartTime" in ds
            assert has_start == bool(unit["contrast_agent"] and p["bolus_start_time_in_header"])
            if unit["temporal_position"] is not None:
                assert ds.TemporalPositionIdentifier == unit["temporal_position"]
                assert ds.AcquisitionNumber == unit["temporal_position"]
            if unit["b_values"]:
                _check_b(
                    ds, unit["b_value_tags"], unit["b_values"][n // unit["geometry"]["slices"]]
                )
        assert min(times) == unit["acquisition_time"]  # 2D series: time grows per slice
        assert ds.SeriesTime == unit["series_time"]


def test_phase_timing_from_headers(mri_raw: Path, mri_truth: dict[str, Any]) -> None:
    raw = mri_raw / "dicom"
    patients = {p["patient_id"]: p for p in mri_truth["patients"]}
    seen = Counter()
    for unit in mri_truth["units"]:
        label = unit["expected_label"]
        if label not in PHASE_WINDOWS_S:
            continue
        ds = pydicom.dcmread(raw / unit["files"][0], stop_before_pixels=True)
        p = patients[unit["patient_id"]]
        start = ds.get("ContrastBolusStartTime") or p["bolus_start_time"]
        delay = _tm_seconds(ds.AcquisitionTime) - _tm_seconds(start)
        lo, hi = PHASE_WINDOWS_S[label]
        assert lo <= delay <= hi, (label, delay)
        assert delay == pytest.approx(unit["seconds_after_injection"], abs=1.0)
        assert ds.ContrastBolusAgent == SCANNERS[p["scanner"]].contrast_agent
        seen[label] += 1
    assert set(seen) == set(PHASE_WINDOWS_S)


def test_pixels_equal_planted_arrays(mri_raw: Path, mri_truth: dict[str, Any]) -> None:
    raw = mri_raw / "dicom"
    for unit in mri_truth["units"]:
        planted = planted_volume(unit)
        assert list(planted.shape) == unit["pixels"]["shape"]
        slices = unit["geometry"]["slices"]
        for n in (0, len(unit["files"]) - 1):  # first and last instance
            ds = pydicom.dcmread(raw / unit["files"][n])
            aff = np.asarray(unit["geometry"]["affine_lps"])
            ipp = np.asarray(ds.ImagePositionPatient, dtype=float)
            k = round(float(np.dot(ipp - aff[:3, 3], aff[:3, 2]) / np.dot(aff[:3, 2], aff[:3, 2])))
            vol = planted if planted.ndim == 3 else planted[..., n // slices]
            assert np.array_equal(ds.pixel_array, vol[:, :, k].T)


def test_bad_files_fail_as_planted(mri_raw: Path, mri_truth: dict[str, Any]) -> None:
    raw = mri_raw / "dicom"
    for bad in mri_truth["bad_files"]:
        path = raw / bad["path"]
        if bad["reason"] == "not_dicom":
            with pytest.raises(InvalidDicomError):
                pydicom.dcmread(path)
        elif bad["reason"] == "corrupt":
            ds = pydicom.dcmread(path)
            if "PixelData" in ds:
                with pytest.raises(ValueError):
                    _ = ds.pixel_array
            else:
                assert "Rows" not in ds and "SOPInstanceUID" in ds
        elif bad["reason"] == "dicomdir":
            ds = pydicom.dcmread(path)
            assert ds.file_meta.MediaStorageSOPClassUID == "1.2.840.10008.1.3.10"
            assert ds.DirectoryRecordSequence[0].PatientID in mri_truth["phi"]["patients"]
        else:
            ds = pydicom.dcmread(path)
            assert bad["reason"] == "non_image" and ds.Modality == "SR"
            assert ds.SOPClassUID == pydicom.uid.BasicTextSRStorage


def _convert(raw: Path, unit: dict[str, Any], tmp: Path) -> tuple[str, list[Path]]:
    src, out = tmp / "in", tmp / "out"
    src.mkdir(parents=True)
    out.mkdir()
    for i, rel in enumerate(unit["files"]):
        shutil.copy(raw / rel, src / f"{i:04d}.dcm")
    res = subprocess.run(
        [_dcm2niix(), "-b", "n", "-z", "y", "-f", "vol", "-o", str(out), str(src)],
        capture_output=True,
        text=True,
        check=True,
    )
    return res.stdout + res.stderr, sorted(out.glob("*.nii.gz"))


def test_dcm2niix_converts_axial_oblique_4d_and_multiphase(
    mri_raw: Path, mri_truth: dict[str, Any], tmp_path: Path
) -> None:
    units = mri_truth["units"]
    picks = {
        "axial T2W": next(
            u
            for u in units
            if u["expected_label"] == "T2W" and not u["geometry"]["oblique"] and u["part"] is None
        ),
        "oblique": next(u for u in units if u["expected_label"] and u["geometry"]["oblique"]),
        "4D DWI": next(
            u for u in units if u["expected_label"] == "DWI" and len(u["b_values"]) == 2
        ),
        "Philips": next(
            u
            for u in units
            if u["expected_label"] == "GED4"
            and u["patient_id"]
            in {p["patient_id"] for p in mri_truth["patients"] if p["vendor"] == "C"}
        ),
        "GE multiphase part": next(u for u in units if u["temporal_position"] == 2),
    }
    for name, unit in picks.items():
        log, niis = _convert(mri_raw / "dicom", unit, tmp_path / name.replace(" ", "_"))
        assert len(niis) == 1, (name, log)
        lowered = log.lower()
        for bad_word in ("spacing", "irregular", "unable to determine slice", "error"):
            assert bad_word not in lowered, (name, log)
        img = nib.load(niis[0])
        shape = unit["pixels"]["shape"]
        assert sorted(img.shape) == sorted(shape) and len(img.shape) == len(shape), name
        expected = planted_on_grid(unit, img.affine, img.shape)
        assert np.array_equal(np.asanyarray(img.dataobj), expected), name


def test_labels_and_readers_csv(mri_raw: Path, mri_truth: dict[str, Any]) -> None:
    with open(mri_raw / "clinical_labels.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    by_id: dict[str, list[str]] = {}
    for r in rows:
        by_id.setdefault(r["patient_id"], []).append(r["stage"])
    problems = {p["kind"]: p for p in mri_truth["labels"]["problems"]}
    imaged = {p["patient_id"]: p for p in mri_truth["patients"]}
    assert problems["no_label"]["patient_id"] not in by_id
    assert problems["label_without_images"]["patient_id"] not in imaged
    assert by_id[problems["unknown_stage"]["patient_id"]] == ["S5"]
    assert sorted(by_id[problems["conflict"]["patient_id"]]) == sorted(
        problems["conflict"]["values"]
    )
    for pid, p in imaged.items():
        if p["label_problem"] in (None, "duplicate_consistent"):
            assert {v.lstrip("SF") for v in by_id[pid]} == {p["stage"][1]}
            assert p["expected_stage"] == p["stage"]
        else:
            assert p["expected_stage"] is None
    notations = {v[0] if not v[0].isdigit() else "digit" for vs in by_id.values() for v in vs}
    assert notations == {"S", "F", "digit"}
    with open(mri_raw / "readers.csv", newline="") as fh:
        readers = list(csv.DictReader(fh))
    assert {r["patient_id"] for r in readers} == set(imaged)
    stage = np.array([int(imaged[r["patient_id"]]["stage"][1]) for r in readers])
    r1 = np.array([int(r["reader_1"]) for r in readers])
    assert set(r1) <= set(range(1, 8))
    assert np.corrcoef(stage, r1)[0, 1] > 0.5


@pytest.mark.slow
def test_same_seed_same_bytes_other_seed_differs(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    generate_mri_studies(a, patients=3, seed=5, workers=1, matrix=24)
    generate_mri_studies(b, patients=3, seed=5, workers=2, matrix=24)
    generate_mri_studies(c, patients=3, seed=6, workers=1, matrix=24)
    da, db, dc = _tree_digest(a), _tree_digest(b), _tree_digest(c)
    assert da == db
    assert set(da) != set(dc)
    assert not list(a.rglob(".*.tmp"))


def test_cli_writes_a_study(tmp_path: Path) -> None:
    from hepatokit.cli import app

    res = CliRunner().invoke(
        app,
        [
            "--quiet",
            "--workers",
            "1",
            "synth",
            "mri",
            str(tmp_path / "o"),
            "--patients",
            "1",
            "--seed",
            "3",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "1 MRI studies" in res.output
    assert (tmp_path / "o" / "truth.json").exists()


def _liver_mean(role: str, stage: int, scanner: str, seed: int) -> float:
    geo = Geometry(32, 32, 6, (11.0, 11.0), 8.0, 8.0, (-55.0, -8.0, 18.0))
    params = {
        "patient_seed": seed,
        "stage": stage,
        "role": role,
        "scanner": scanner,
        "noise_seed": 1,
        "b_value": None,
    }
    vol = phantom_volume(params, geo).astype(float)
    return float(vol[10:22, 10:22, :].mean())  # the liver core


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), scanner=st.sampled_from(sorted(SCANNERS)))
def test_stage_lowers_hepatobiliary_uptake(seed: int, scanner: str) -> None:
    assert _liver_mean("GED4", 1, scanner, seed) > _liver_mean("GED4", 4, scanner, seed)
    assert _liver_mean("T2W", 1, scanner, seed) < _liver_mean("T2W", 4, scanner, seed)


def test_vendor_c_intensities_differ() -> None:
    a = _liver_mean("GED2", 2, "A3T", 11)
    b = _liver_mean("GED2", 2, "B3T", 11)
    c = _liver_mean("GED2", 2, "C3T", 11)
    assert abs(c - a) / a > 0.15 and abs(b - a) / a > 0.15


@settings(max_examples=40, deadline=None)
@given(
    plane=st.sampled_from(["axial", "coronal", "sagittal"]),
    axis=st.sampled_from(["x", "y", "z"]),
    tilt=st.floats(-20, 20),
    slices=st.integers(1, 30),
)
def test_geometry_positions_follow_the_affine(
    plane: str, axis: str, tilt: float, slices: int
) -> None:
    g = Geometry(16, 20, slices, (1.5, 2.0), 5.0, 4.0, (10.0, -20.0, 30.0), plane, axis, tilt)
    aff = g.affine_lps()
    row, col, normal = (np.array(v) for v in g.directions())
    assert np.isclose(np.dot(row, col), 0, atol=1e-7)
    assert np.allclose(np.cross(row, col), normal, atol=1e-7)
    for k, pos in enumerate(g.positions()):
        assert np.allclose(aff @ [0, 0, k, 1], [*pos, 1], atol=1e-5)
    centre = aff @ [(g.columns - 1) / 2, (g.rows - 1) / 2, (slices - 1) / 2, 1]
    assert np.allclose(centre[:3], g.center, atol=1e-4)
    assert Geometry.from_truth(g.to_truth()) == g


def test_series_encoder_bytes_equal_dcmwrite(mri_raw: Path, mri_truth: dict[str, Any]) -> None:
    from hepatokit.synthetic.mri_encode import encode_dataset

    unit = next(u for u in mri_truth["units"] if u["b_value_tags"])
    path = mri_raw / "dicom" / unit["files"][-1]
    ds = pydicom.dcmread(path)
    again = encode_dataset(ds, ds.SOPClassUID, ds.SOPInstanceUID)
    assert again == path.read_bytes()


def test_rerun_is_idempotent_and_replaces_its_own_older_tree(tmp_path: Path) -> None:
    from hepatokit.errors import DataFormatError

    out = tmp_path / "o"
    first = generate_mri_studies(out, patients=2, seed=1, workers=1, matrix=16)
    truth_mtime = (out / "truth.json").stat().st_mtime_ns
    again = generate_mri_studies(out, patients=2, seed=1, workers=1, matrix=16)
    assert str(again) == str(first)
    assert (out / "truth.json").stat().st_mtime_ns == truth_mtime  # nothing rewritten
    bigger = generate_mri_studies(out, patients=3, seed=1, workers=1, matrix=16)
    on_disk = sum(1 for p in (out / "dicom").rglob("*") if p.is_file())
    assert on_disk == bigger.files != first.files
    assert not (out / ".synth-mri-incomplete").exists()
    foreign = tmp_path / "foreign"
    (foreign / "dicom").mkdir(parents=True)
    (foreign / "dicom" / "IM0001").write_bytes(b"someone else's data")
    with pytest.raises(DataFormatError, match="did not write"):
        generate_mri_studies(foreign, patients=1, seed=1, workers=1, matrix=16)


@settings(max_examples=25, deadline=None)
@given(
    perm=st.permutations([0, 1, 2]),
    flips=st.lists(st.booleans(), min_size=3, max_size=3),
    tilt=st.sampled_from([0.0, 9.5, -12.0]),
)
def test_planted_on_grid_undoes_any_flip_and_permutation(
    perm: list[int], flips: list[bool], tilt: float
) -> None:
    geo = Geometry(12, 10, 5, (9.0, 11.0), 14.0, 12.0, (-40.0, 0.0, 20.0), "axial", "y", tilt)
    params = {"patient_seed": 3, "stage": 4, "role": "GED4", "scanner": "C3T", "noise_seed": 2}
    unit = {"geometry": geo.to_truth(), "pixels": {"params": {**params, "b_value": None}}}
    planted = planted_volume(unit)
    # a converter's output: axes flipped then permuted, affine adjusted to match (in RAS)
    aff = geo.affine_lps()
    data = planted
    for axis, flip in enumerate(flips):
        if flip:
            data = np.flip(data, axis)
            shift = np.eye(4)
            shift[axis, axis], shift[axis, 3] = -1, planted.shape[axis] - 1
            aff = aff @ shift
    data = np.transpose(data, perm)
    swap = np.eye(4)[[*perm, 3]].T
    aff_ras = np.diag([-1.0, -1.0, 1.0, 1.0]) @ aff @ swap
    assert np.array_equal(planted_on_grid(unit, aff_ras, data.shape), data)


def test_every_listed_phi_value_is_really_planted(mri_raw: Path, mri_truth: dict[str, Any]) -> None:
    raw = mri_raw / "dicom"
    blob = b"".join((raw / u["files"][0]).read_bytes() for u in mri_truth["units"])
    phi = mri_truth["phi"]
    for value in [*phi["scan_values"], *phi["dates"], *phi["study_times"]]:
        assert value.encode() in blob, value
    with open(mri_raw / "clinical_labels.csv", newline="") as fh:
        assert {r["biopsy_date"] for r in csv.DictReader(fh)} == set(phi["label_csv_dates"])
    # PHI never in paths: a curation may publish relative paths
    paths = " ".join(f for u in mri_truth["units"] for f in u["files"])
    assert not any(v in paths for v in phi["scan_values"])
