"""`audit phi`: clean on the build, and it must find PHI planted into any output format."""

from __future__ import annotations

import gzip
import io
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image, PngImagePlugin

from hepatokit.curation.mri.deid.phi_audit import audit_phi, csv_values


def test_collects_every_planted_value(curated_lifs, raw_phi_values) -> None:
    phi = curated_lifs.truth["phi"]
    used = set()
    for p in phi["patients"].values():
        if p["patient_id"] in {q["patient_id"] for q in curated_lifs.truth["patients"]}:
            used |= {
                p["patient_id"],
                p["name"],
                p["accession_number"],
                p["study_id"],
                p["referring_physician"],
                p["performing_physician"],
                p["operator"],
                p["institution_name"],
                p["institution_address"],
                p["study_date"],
                p["birth_date"],
                p["private_text"],
                p["study_comment"],
            }
    used |= {s["station_name"] for s in phi["sites"]["scanners"].values()}
    used |= {s["device_serial_number"] for s in phi["sites"]["scanners"].values()}
    missing = sorted(v for v in used if v not in raw_phi_values)
    assert not missing


def test_curated_build_has_no_phi(curated_lifs, raw_phi_values) -> None:
    extra = csv_values(curated_lifs.root / "clinical_labels.csv")
    result = audit_phi(
        build=curated_lifs.build, workers=2, extra_values=extra, phi_values=raw_phi_values
    )
    assert result.ok, result.hits[:5]
    assert result.files_scanned > 100 and result.values > 50
    report = (curated_lifs.build / "reports" / "phi_audit.md").read_text()
    assert "PASS" in report


def _fresh_build(curated, tmp_path: Path) -> Path:
    build = tmp_path / "build"
    (build / "private").mkdir(parents=True)
    shutil.copy(curated.build / "private" / "raw_root.json", build / "private")
    shutil.copy(curated.build / "subjects.parquet", build)
    return build


def test_planted_raw_header_is_found(curated_lifs, raw_phi_values, tmp_path: Path) -> None:
    build = _fresh_build(curated_lifs, tmp_path)
    assert audit_phi(build=build, workers=1, phi_values=raw_phi_values).ok
    unit = next(u for u in curated_lifs.truth["units"] if u["role"] == "T2W")
    header = (curated_lifs.raw / unit["files"][0]).read_bytes()[:4096]
    (build / "volumes").mkdir()
    (build / "volumes" / "copied_header.bin").write_bytes(header)
    result = audit_phi(build=build, workers=1, phi_values=raw_phi_values)
    assert not result.ok
    tags = {h.tag for h in result.hits}
    assert {"PatientID", "PatientName", "InstitutionName", "StationName"} <= tags
    report = (build / "reports" / "phi_audit.md").read_text()
    patient = curated_lifs.truth["patients"][0]["patient_id"]
    assert "FAIL" in report and patient not in report  # the report masks values


def test_phi_inside_encoded_outputs_is_found(curated_lifs, raw_phi_values, tmp_path: Path) -> None:
    patients = curated_lifs.truth["patients"]
    pid, name = (
        patients[0]["patient_id"],
        curated_lifs.truth["phi"]["patients"][patients[1]["patient_id"]]["name"],
    )
    institution = curated_lifs.truth["phi"]["patients"][patients[2]["patient_id"]][
        "institution_name"
    ]
    planted = {
        "a.nii.gz": gzip.compress(b"\0" * 400 + pid.lower().encode() + b"\0" * 50),
        "b.parquet": None,
        "c.png": None,
        "d.log": f"converted {name.replace('^', ' ')} ok\n".encode(),
    }
    cases = {}
    for fname, data in planted.items():
        build = _fresh_build(curated_lifs, tmp_path / fname.replace(".", "_"))
        path = build / "out" / fname
        path.parent.mkdir(parents=True)
        if fname.endswith(".parquet"):
            pq.write_table(pa.table({"x": ["ok", f"{institution}"]}), path, compression="zstd")
        elif fname.endswith(".png"):
            info = PngImagePlugin.PngInfo()
            info.add_text("Comment", pid, zip=True)
            buf = io.BytesIO()
            Image.new("L", (8, 8)).save(buf, format="PNG", pnginfo=info)
            path.write_bytes(buf.getvalue())
        else:
            path.write_bytes(data)
        cases[fname] = audit_phi(build=build, workers=1, report=False, phi_values=raw_phi_values)
    for fname, result in cases.items():
        assert not result.ok, fname
        assert all(h.file == f"out/{fname}" for h in result.hits)
