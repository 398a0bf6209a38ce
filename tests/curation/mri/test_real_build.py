"""``hepatokit build lifs`` → ``publish build`` → ``load_lifs`` on real scanner DICOM.

The real sets (no one here made them; each folder's README gives the wheel, the licence and
the sha256):

* ``tests/data/heudiconv/`` (heudiconv's test data, Apache-2.0): Siemens Prisma multiband
  mosaic DWI with real pixels (3 volumes, b = 5, 5, 1500), a Siemens TrioTim mosaic BOLD EPI,
  a Siemens XA enhanced MR (derived MPR), field-map and localizer images, a Phoenix SR;
* ``tests/data/pydicom_data/`` (pydicom-data, MIT): Philips T5 spin echo (uncompressed, JPEG
  2000 lossless and lossy), an anonymised enhanced MR without PatientID (uncompressed, RLE,
  JPEG 2000), a Siemens Avanto derived MPR with overlays;
* nibabel's ``nicom/tests/data`` (installed with nibabel): a Philips enhanced multi-frame
  MP-RAGE and Siemens mosaic DWI whose pixels were zeroed by their authors.

Truth the code under test did not produce: the headers as pydicom reads them (PatientIDs,
image types), dcm2niix's own conversion of the same DICOM (voxels, affine, b-values), and
PHI planted into copies of the real files.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import shutil
import subprocess
import warnings
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pydicom
import pytest
from typer.testing import CliRunner

from hepatokit.cli import app
from hepatokit.manifest import Manifest

DATA = Path(__file__).resolve().parents[2] / "data"
HEUDICONV = DATA / "heudiconv"
PYDICOM_DATA = DATA / "pydicom_data"
NICOM = Path(nib.__file__).parent / "nicom" / "tests" / "data"
DWI_FOLDER = "heudiconv/b0dwiForFmap"
runner = CliRunner()


def _dcm2niix() -> str:
    import dcm2niix

    path = Path(str(dcm2niix.bin))
    return str(path) if path.exists() else str(shutil.which("dcm2niix"))


def _reference(folder: Path, out: Path) -> tuple[nib.Nifti1Image, list[float], dict]:
    """dcm2niix's own conversion of ``folder`` (the reference tool): image, b-values, sidecar."""
    out.mkdir(parents=True)
    subprocess.run(
        [_dcm2niix(), "-b", "y", "-z", "n", "-f", "ref", "-o", str(out), str(folder)],
        check=True,
        capture_output=True,
    )
    bvals = [float(b) for b in (out / "ref.bval").read_text().split()]
    return nib.load(out / "ref.nii"), bvals, json.loads((out / "ref.json").read_text())


def _real_raw(root: Path) -> Path:
    """The vendored real sets and nibabel's zero-pixel files, as a user's DICOM export."""
    raw = root / "raw"
    shutil.copytree(HEUDICONV, raw / "heudiconv", ignore=shutil.ignore_patterns("*.md", "LICENSE"))
    shutil.copytree(
        PYDICOM_DATA, raw / "pydicom_data", ignore=shutil.ignore_patterns("*.md", "LICENSE")
    )
    (raw / "nibabel").mkdir()
    for name in ("philips_mprage.dcm.gz", "siemens_dwi_0.dcm.gz", "siemens_dwi_1000.dcm.gz"):
        (raw / "nibabel" / name[:-3]).write_bytes(gzip.decompress((NICOM / name).read_bytes()))
    return raw


def _patient_ids(raw: Path) -> dict[str, str]:
    """Every file's PatientID as pydicom reads it (relative path → id)."""
    out = {}
    for p in sorted(raw.rglob("*.dcm")):
        ds = pydicom.dcmread(p, stop_before_pixels=True)
        out[p.relative_to(raw).as_posix()] = str(ds.get("PatientID", "") or "")
    return out


def _labels(path: Path, pids: list[str]) -> dict[str, str]:
    stages = {p: f"S{i % 4 + 1}" for i, p in enumerate(pids)}
    path.write_text(
        "patient_id,stage\n" + "".join(f'"{p}",{s}\n' for p, s in stages.items()),
        encoding="utf-8",
    )
    return stages


@pytest.fixture(scope="module")
def real_published(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """``hepatokit build lifs`` and ``hepatokit publish build`` (the CLI, as a user runs them)
    over every real set, with a labels table keyed by the files' real PatientIDs."""
    root = tmp_path_factory.mktemp("real_build")
    raw = _real_raw(root)
    pid_of_file = _patient_ids(raw)
    pids = sorted({p for p in pid_of_file.values() if p})
    stages = _labels(root / "labels.csv", pids)
    key = root / "key"
    key.write_text("a real-data test key")
    build, hf = root / "build", root / "hf"
    res = runner.invoke(
        app,
        ["-q", "-w", "1", "build", "lifs", "--raw", str(raw), "--out", str(build),
         "--labels", str(root / "labels.csv"), "--key-file", str(key)],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["-q", "-w", "1", "publish", "build", str(build), "--out", str(hf)])
    assert res.exit_code == 0, res.output
    return {"root": root, "raw": raw, "build": build, "hf": hf, "pid_of_file": pid_of_file,
            "stages": stages}  # fmt: skip


def _original_ids(build: Path) -> dict[str, str]:
    p = pd.read_parquet(build / "private" / "pseudonyms.parquet")
    return dict(zip(p["subject_id"], p["original_patient_id"], strict=True))


def test_real_subject_labelled_published_and_loaded_like_dcm2niix(real_published, tmp_path):
    import hepatokit as hk

    build, hf, raw = real_published["build"], real_published["hf"], real_published["raw"]
    subjects = pd.read_parquet(build / "subjects.parquet")
    original = _original_ids(build)
    # the one real subject whose pixels are real and whose series is a LiFS sequence
    dwi_pid = real_published["pid_of_file"][f"{DWI_FOLDER}/b0dwi_for_fmap+00001.dcm"]
    assert [original[s] for s in subjects["subject_id"]] == [dwi_pid]
    row = subjects.iloc[0]
    assert row["stage"] == real_published["stages"][dwi_pid] and list(row["sequences"]) == ["DWI"]
    assert row["vendor"] == "Vendor A"  # Manufacturer SIEMENS → the recipe's pseudonym
    # published, and read back offline with datasets.load_dataset
    ds = hk.load_lifs(hf, track="noncontrast", cache_dir=str(tmp_path / "cache"))
    rows = [r for split in ds.values() for r in split]
    assert len(rows) == 1 and rows[0]["subject_id"] == row["subject_id"]
    assert rows[0]["T1W"] is None and rows[0]["T2W"] is None
    got = rows[0]["DWI"]
    ref, bvals, _ = _reference(raw / DWI_FOLDER, tmp_path / "ref")
    assert got.shape == ref.shape == (150, 152, 81, 3)
    assert np.array_equal(np.asarray(got.dataobj), np.asarray(ref.dataobj))  # same voxels
    assert np.asarray(ref.dataobj).max() > 1000  # real pixels, not zeros
    assert np.allclose(got.affine, ref.affine, atol=1e-4)
    meta = json.loads(rows[0]["DWI_meta"])  # the published sidecar: b-values per volume
    assert meta["BValues"] == meta["bvals"] == bvals == [5.0, 5.0, 1500.0]


def test_every_real_input_kept_or_excluded_with_a_reason(real_published):
    build, raw = real_published["build"], real_published["raw"]
    summary = Manifest(build).check()
    assert summary.inputs == summary.kept + summary.excluded
    rows = Manifest(build).rows().to_pylist()
    from hepatokit.curation.mri.index.stage import raw_sources

    sources = raw_sources(build)
    index = {sources[r["item_id"]]: r for r in rows if r["stage"] == "index"}
    assert sorted(index) == sorted(p.relative_to(raw).as_posix() for p in raw.rglob("*.dcm"))
    assert all(r["reason"] for r in rows if r["outcome"] == "excluded")
    reason = {k: r["reason"] for k, r in index.items()}
    pid_of_file = real_published["pid_of_file"]
    for path, pid in pid_of_file.items():
        if not pid:  # anonymised to an empty PatientID: the subject is unknown
            assert reason[path] == "no_patient_id", path
    assert reason["heudiconv/Phoenix/99+PhoenixDocument/99+PhoenixDocument+00001.dcm"] == (
        "non_image"
    )
    # nibabel's Philips MP-RAGE: recognised and converted, but its pixels are all zero
    qc = {r["item_id"]: r for r in rows if r["stage"] == "qc"}
    mprage = [i for i, s in sources.items() if s == "nibabel/philips_mprage.dcm"]
    assert mprage and all(qc[i]["reason"] == "qc:empty" for i in mprage)
    # every labelled patient without a published volume is excluded, with the reason
    labels = [r for r in rows if r["stage"] == "labels"]
    assert len(labels) == len(real_published["stages"])
    assert sorted(r["reason"] or "" for r in labels) == [""] + ["no_images"] * (len(labels) - 1)


def test_phi_audit_passes_on_real_headers_and_writes_beside_a_published_folder(
    real_published, tmp_path
):
    build, hf, raw = real_published["build"], real_published["hf"], real_published["raw"]
    audit = json.loads((build / "reports" / "phi_audit.json").read_text())
    assert audit["hits"] == [] and audit["values"] > 50
    # the vendors' private copies of technical text are skipped, with the reason
    assert audit["skipped"].get("in_public_header_text", 0) >= 1
    before = sorted(p.relative_to(hf).as_posix() for p in hf.rglob("*"))
    res = runner.invoke(app, ["-q", "-w", "1", "audit", "phi", str(hf), "--raw", str(raw)])
    assert res.exit_code == 0, res.output
    assert sorted(p.relative_to(hf).as_posix() for p in hf.rglob("*")) == before  # untouched
    beside = hf.parent / f"{hf.name}.phi_audit"
    assert (beside / "phi_audit.md").is_file() and "PASS" in (beside / "phi_audit.md").read_text()
    res = runner.invoke(app, ["-q", "audit", "phi", str(build), "--published", str(hf)])
    assert res.exit_code == 0, res.output
    assert (build / "reports" / "published" / "phi_audit.json").is_file()
    assert sorted(p.relative_to(hf).as_posix() for p in hf.rglob("*")) == before
    res = runner.invoke(
        app, ["-q", "audit", "phi", str(hf), "--raw", str(raw), "--out", str(hf / "r")]
    )
    assert res.exit_code != 0 and "published folder" in res.output
    assert not (hf / "r").exists()


def test_series_of_real_headers_match_the_files_and_dcm2niix(real_published, tmp_path):
    build, raw = real_published["build"], real_published["raw"]
    series = pd.read_parquet(build / "series.parquet")
    phi = pd.read_parquet(build / "private" / "instances_phi.parquet")
    raw_of = dict(zip(phi["item_id"], phi["path"], strict=True))
    series = series.astype(object).where(series.notna(), None)
    by_file = {raw_of[i]: r for r in series.to_dict("records") for i in r["item_ids"]}
    # the mosaic DWI: b-values from the Siemens CSA header = dcm2niix's bval file
    _, bvals, sidecar = _reference(raw / DWI_FOLDER, tmp_path / "dwi")
    dwi = by_file[f"{DWI_FOLDER}/b0dwi_for_fmap+00001.dcm"]
    assert dwi["label"] == "DWI"
    assert sorted(dwi["b_values"]) == sorted(set(bvals)) == [5.0, 1500.0]
    assert dwi["echo_time"] == pytest.approx(sidecar["EchoTime"] * 1000)
    assert dwi["repetition_time"] == pytest.approx(sidecar["RepetitionTime"] * 1000)
    # 3 files (one mosaic each) of 81 slices: dcm2niix's 150 × 152 × 81 × 3
    assert dwi["n_images"] == 3 and "243 images in 3 file(s)" in dwi["evidence"]
    # the 35-slice mosaic EPI volume in one file is not "too few images"; BOLD EPI is no
    # LiFS sequence
    ref, _, epi_sidecar = _reference_one(raw / "heudiconv" / "axasc35.dcm", tmp_path / "epi")
    epi = by_file["heudiconv/axasc35.dcm"]
    assert ref.shape[2] == 35 and f"{ref.shape[2]} images in 1 file(s)" in epi["evidence"]
    assert epi["label"] is None and epi["reason"] == "other"
    assert epi["echo_time"] == pytest.approx(epi_sidecar["EchoTime"] * 1000)
    # derived images (ImageType DERIVED\...\MPR) and localizers are not volumes to publish
    for path in (
        "heudiconv/MRI_102TD_PHA_S.MR.Chen_Matthews_1.3.1.2022.11.16.15.50.20.357.31204541.dcm",
        "pydicom_data/MR-SIEMENS-DICOM-WithOverlays.dcm",
    ):
        image_type = pydicom.dcmread(raw / path, stop_before_pixels=True).ImageType
        assert image_type[0] == "DERIVED"
        assert by_file[path]["label"] is None, path
    # the Philips T5 spin echo (protocol T1W/SE/1024, TE 27, TR 350; three instances of one
    # slice position): past the recipe's T1W echo-time range (≤ 20 ms), so no rule matches;
    # excluded at the series stage with that reason, never published as a one-slice volume
    mr2 = pydicom.dcmread(raw / "pydicom_data" / "MR2_UNCR.dcm", stop_before_pixels=True)
    assert mr2.ProtocolName.startswith("T1W/SE") and float(mr2.EchoTime) > 20
    for name in ("MR2_UNCR", "MR2_J2KR", "MR2_J2KI"):
        row = by_file[f"pydicom_data/{name}.dcm"]
        assert row["label"] is None and row["reason"] == "other", row["evidence"]
        assert row["echo_time"] == pytest.approx(float(mr2.EchoTime))
    # nibabel's Philips enhanced MP-RAGE (zero pixels): T1W from the functional groups
    assert by_file["nibabel/philips_mprage.dcm"]["label"] == "T1W"


def _reference_one(path: Path, out: Path) -> tuple[nib.Nifti1Image, None, dict]:
    folder = out / "in"
    folder.mkdir(parents=True)
    shutil.copy(path, folder)
    subprocess.run(
        [_dcm2niix(), "-b", "y", "-z", "n", "-f", "ref", "-o", str(out), str(folder)],
        check=True,
        capture_output=True,
    )
    return nib.load(out / "ref.nii"), None, json.loads((out / "ref.json").read_text())


@pytest.mark.parametrize("name", ["pydicom_data", "nibabel"])
def test_a_real_set_without_a_publishable_volume_builds_and_says_why(
    real_published, tmp_path, name
):
    """Each real set on its own: ``build lifs`` completes (exit 0) with every file excluded
    for its reason; ``publish build`` then refuses, saying there is nothing to publish."""
    raw = real_published["raw"] / name
    pids = sorted({p for f, p in real_published["pid_of_file"].items() if p and f.startswith(name)})
    _labels(tmp_path / "labels.csv", pids)
    (tmp_path / "key").write_text("k")
    build = tmp_path / "build"
    res = runner.invoke(
        app,
        ["-q", "-w", "1", "build", "lifs", "--raw", str(raw), "--out", str(build),
         "--labels", str(tmp_path / "labels.csv"), "--key-file", str(tmp_path / "key")],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    summary = Manifest(build).check()
    assert summary.kept == 0 and summary.inputs == summary.excluded > 0
    rows = Manifest(build).rows().to_pylist()
    assert all(r["reason"] for r in rows if r["outcome"] == "excluded")
    assert {r["reason"] for r in rows if r["stage"] == "labels"} == {"no_images"}
    res = runner.invoke(app, ["-q", "publish", "build", str(build), "--out", str(tmp_path / "hf")])
    assert res.exit_code != 0 and "nothing to publish" in res.output


# ----------------------------------------------------------------------------- planted PHI
PLANTED_FOLDERS = ("Müller^Hans-Jürgen 王小东", "ACC7741902 19790412")
PLANTED = {
    "PatientName": "Müller^Hans-Jürgen",
    "PatientID": "HKX-Ü-40912",
    "OtherPatientIDs": "MRN-5518823",
    "PatientBirthDate": "19790412",
    "StudyDate": "20210917",
    "SeriesDate": "20210917",
    "AcquisitionDate": "20210917",
    "ContentDate": "20210917",
    "AccessionNumber": "ACC7741902",
    "InstitutionName": "Klinikum Süd-Ost Hannover",
    "InstitutionAddress": "Wiesenstraße 12, Hannover",
    "InstitutionalDepartmentName": "Radiologie Haus Grünewald",
    "StationName": "MRSTATION7Q",
    "DeviceSerialNumber": "SN88811X",
    "StudyID": "STUDY9931",
    "OperatorsName": "Schäfer^Ilse",
    "ReferringPhysicianName": "王^芳",
    "ImageComments": "Hans-Jürgen Müller, claustrophobic, Zimmer 12",
    "PatientComments": "Telefon Oberkirchnerin Wiebke",
}
PLANTED_PRIVATE = "Quellhaus Mühlenbeck Xaver"  # (0011,1001) of a private block


def _plant(src: Path, dst: Path, pid: str) -> None:
    """A copy of a real file with PHI planted in its header (pixels untouched)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # values longer than their VR allows
        ds = pydicom.dcmread(src)
        ds.SpecificCharacterSet = "ISO_IR 192"
        for keyword, value in PLANTED.items():
            setattr(ds, keyword, value)
        ds.PatientID = pid
        block = ds.private_block(0x0011, "HEPATOKIT PLANTED", create=True)
        block.add_new(0x01, "LO", PLANTED_PRIVATE)
        dst.parent.mkdir(parents=True, exist_ok=True)
        ds.save_as(dst, enforce_file_format=False)


def _needles() -> list[str]:
    """Every planted string, also in the other forms a leak could take."""
    out = set(PLANTED.values()) | {PLANTED_PRIVATE, *PLANTED_FOLDERS, "HKX-Ü-40913"}
    for v in list(out):
        out |= {v.replace("^", " "), *v.split("^"), *v.split(" ")}
        if v.isdigit() and len(v) == 8:
            out.add(f"{v[:4]}-{v[4:6]}-{v[6:]}")
    return sorted(v for v in out if len(v) >= 3 and v not in {"Hannover", "Haus", "12,"})


def _published_bytes(hf: Path):
    """(file, bytes) of every published file, every parquet cell (binary cells inflated when
    gzipped) and the inflated content of any gzip file: what a downloader can read."""
    import pyarrow.parquet as pq

    for p in sorted(hf.rglob("*")):
        if not p.is_file():
            continue
        data = p.read_bytes()
        yield p.name, data
        if data[:2] == b"\x1f\x8b":
            yield p.name, gzip.decompress(data)
        if p.suffix == ".parquet":
            table = pq.read_table(p)
            yield p.name, str(table.schema).encode() + repr(table.schema.metadata).encode()
            for name in table.column_names:
                for cell in table.column(name).to_pylist():
                    blobs = cell.values() if isinstance(cell, dict) else [cell]
                    for b in blobs:
                        if isinstance(b, bytes):
                            yield f"{p.name}:{name}", b
                            if b[:2] == b"\x1f\x8b":
                                yield f"{p.name}:{name}", gzip.decompress(b)
                        elif b is not None:
                            yield f"{p.name}:{name}", json.dumps(b, ensure_ascii=False).encode()


def test_planted_phi_in_real_files_never_reaches_a_published_byte(tmp_path: Path) -> None:
    """PHI planted into copies of the real files (names in Latin-1 and CJK scripts, IDs,
    dates, institution, station, serial, accession, comments, a private tag, folder names):
    the real subject is published, and no planted string is in any published byte."""
    from hepatokit.curation.mri.deid.phi_audit import audit_phi
    from hepatokit.pipelines.dataset import build_dataset
    from hepatokit.publish import publish_build

    raw = tmp_path / "raw"
    folder = raw.joinpath(*PLANTED_FOLDERS)
    for src in sorted((HEUDICONV / "b0dwiForFmap").glob("*.dcm")):
        _plant(src, folder / "dMRI" / src.name, "HKX-Ü-40912")
    _plant(HEUDICONV / "axasc35.dcm", folder / "EPI" / "axasc35.dcm", "HKX-Ü-40912")
    phoenix = HEUDICONV / "Phoenix" / "99+PhoenixDocument" / "99+PhoenixDocument+00001.dcm"
    _plant(phoenix, folder / "SR" / "phoenix.dcm", "HKX-Ü-40912")
    _plant(PYDICOM_DATA / "MR2_UNCR.dcm", raw / "王小东 2" / "mr2.dcm", "HKX-Ü-40913")
    labels = tmp_path / "labels.csv"
    labels.write_text("patient_id,stage\nHKX-Ü-40912,S3\nHKX-Ü-40913,S1\n", encoding="utf-8")
    key = tmp_path / "key"
    key.write_text("planted")
    build, hf = tmp_path / "build", tmp_path / "hf"
    summary = build_dataset(
        recipe="lifs", raw=raw, out=build, labels=labels, workers=1, key_file=key
    )  # raises if the build's PHI audit finds anything
    assert summary.phi.ok and summary.phi.values > 20
    publish_build(build=build, out=hf, workers=1)
    subjects = pd.read_parquet(build / "subjects.parquet")
    assert [_original_ids(build)[s] for s in subjects["subject_id"]] == ["HKX-Ü-40912"]
    assert list(subjects["sequences"][0]) == ["DWI"] and subjects["stage"][0] == "S3"
    # every published byte, every decoded cell: none of the planted strings, in any encoding
    forms = set()
    for v in _needles():
        for enc in ("utf-8", "latin-1", "gb18030", "utf-16-le"):
            with contextlib.suppress(UnicodeEncodeError):
                if len(v.encode(enc)) >= 6:  # shorter byte strings occur in voxels by chance
                    forms.add((v, enc, v.encode(enc).lower()))
    leaks, seen, blobs = [], set(), 0
    for where, data in _published_bytes(hf):
        low, blobs = data.lower(), blobs + len(data)
        leaks += [(where, v, enc) for v, enc, form in forms if form in low]
        seen |= {s for s in subjects["subject_id"] if s.encode() in data}
    assert leaks == []
    assert seen == set(subjects["subject_id"]) and blobs > 3 * 150 * 152 * 81 * 2  # voxels read
    # the audit of the published folder agrees (report beside it, none inside), and finds a
    # planted value that is copied in (recall)
    result = audit_phi(build=hf, raw=raw, extra_values=_needles(), workers=1)
    assert result.ok, result.hits
    assert (tmp_path / "hf.phi_audit" / "phi_audit.json").is_file()
    (hf / "notes.md").write_text("scanned at Klinikum Süd-Ost Hannover\n", encoding="utf-8")
    leaked = audit_phi(build=build, published=hf, workers=1)
    assert not leaked.ok and {h.tag for h in leaked.hits} == {"InstitutionName"}
