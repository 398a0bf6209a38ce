"""Real scanner DICOM no one here made, read from installed wheels (offline):

* nibabel's ``nicom/tests/data`` (nibabel is a dependency): Siemens mosaic DWI (b=0 and
  b=1000, one file per volume), a Siemens mosaic resting-state EPI, a Siemens quantitative
  T1 map, a Philips enhanced multi-frame MP-RAGE (176 frames);
* pydicom's test files: Toshiba MR in explicit / implicit little endian, big endian, RLE,
  JPEG-LS and JPEG 2000 lossless transfer syntaxes; Philips (DICOMDIR study).

Truth: pydicom's reading of the same files, and what the files are (their vendors' tags).
"""

from __future__ import annotations

import gzip
import io
import shutil
from pathlib import Path

import nibabel as nib
import pandas as pd
import pydicom
import pydicom.data
import pytest

from hepatokit.curation.mri.convert.stage import convert_volumes
from hepatokit.curation.mri.deid.phi_audit import audit_phi
from hepatokit.curation.mri.dicom.tags import read_header
from hepatokit.curation.mri.index.stage import index_dicom, raw_sources
from hepatokit.curation.mri.series.stage import recognise_series
from hepatokit.manifest import Manifest

NICOM = Path(nib.__file__).parent / "nicom" / "tests" / "data"
PYDICOM = Path(pydicom.data.get_testdata_file("MR_small.dcm")).parent
TOSHIBA = [
    "MR_small.dcm",
    "MR_small_implicit.dcm",
    "MR_small_bigendian.dcm",
    "MR_small_RLE.dcm",
    "MR_small_jpeg_ls_lossless.dcm",
    "MR_small_jp2klossless.dcm",
]

pytestmark = pytest.mark.skipif(not NICOM.is_dir(), reason="nibabel without its test data")


def _raw_tree(root: Path) -> Path:
    raw = root / "raw"
    for name, folder in (
        ("siemens_dwi_0.dcm.gz", "Siemens DWI"),
        ("siemens_dwi_1000.dcm.gz", "Siemens DWI"),
        ("philips_mprage.dcm.gz", "Philips MF"),
    ):
        (raw / folder).mkdir(parents=True, exist_ok=True)
        data = gzip.decompress((NICOM / name).read_bytes())
        ds = pydicom.dcmread(io.BytesIO(data))
        if not ds.PatientID:  # the Siemens files were anonymised to an empty PatientID
            ds.PatientID = "SIEMENS-DWI-01"  # (the index excludes those: `no_patient_id`)
            ds.save_as(raw / folder / name[:-3])
        else:
            (raw / folder / name[:-3]).write_bytes(data)
    (raw / "Siemens EPI").mkdir()
    shutil.copy(NICOM / "csa_slice_norm.dcm", raw / "Siemens EPI")  # pixel data stripped
    # one mosaic volume alone in its series (one file per volume: a 1-volume EPI run)
    ds = pydicom.dcmread(io.BytesIO(gzip.decompress((NICOM / "siemens_dwi_0.dcm.gz").read_bytes())))
    ds.PatientID, ds.SeriesInstanceUID = "SIEMENS-EPI-01", pydicom.uid.generate_uid()
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
    ds.save_as(raw / "Siemens EPI" / "one_volume.dcm")
    shutil.copy(NICOM / "decimal_rescale.dcm", raw / "Siemens EPI")
    (raw / "Toshiba").mkdir()
    for name in TOSHIBA:
        shutil.copy(PYDICOM / name, raw / "Toshiba" / name)
    return raw


@pytest.fixture(scope="module")
def real_build(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("real")
    raw = _raw_tree(root)
    key = root / "key"
    key.write_text("k")
    build = root / "build"
    index_dicom(raw=raw, out=build, workers=1, key_file=key)
    recognise_series(build=build)
    return raw, build


@pytest.mark.parametrize("name", TOSHIBA)
def test_transfer_syntaxes_read_like_pydicom(name: str) -> None:
    rec = read_header(PYDICOM / name)
    ds = pydicom.dcmread(PYDICOM / name, stop_before_pixels=True)
    assert rec.reason is None, rec.detail
    assert rec.public["echo_time"] == float(ds.EchoTime)
    assert rec.public["repetition_time"] == float(ds.RepetitionTime)
    assert rec.public["rows"] == ds.Rows and rec.public["sop_uid"] == ds.SOPInstanceUID
    assert rec.phi["manufacturer"] == ds.Manufacturer == "TOSHIBA_MEC"
    assert rec.public == read_header(PYDICOM / "MR_small.dcm").public  # same image


def test_every_real_file_in_the_ledger(real_build) -> None:
    raw, build = real_build
    rows = Manifest(build).rows().to_pylist()
    sources = raw_sources(build)
    files = sorted(p.relative_to(raw).as_posix() for p in raw.rglob("*") if p.is_file())
    assert sorted(sources[r["item_id"]] for r in rows if r["stage"] == "index") == files
    index = {sources[r["item_id"]]: r for r in rows if r["stage"] == "index"}
    kept = {k for k, r in index.items() if r["outcome"] == "kept"}
    assert "Philips MF/philips_mprage.dcm" in kept
    assert {"Siemens DWI/siemens_dwi_0.dcm", "Siemens DWI/siemens_dwi_1000.dcm"} <= kept
    assert index["Siemens EPI/csa_slice_norm.dcm"]["reason"] == "corrupt"  # no pixel data
    dups = [k for k, r in index.items() if str(r["reason"]).startswith("duplicate_of")]
    assert len(dups) == len(TOSHIBA) - 1  # one SOP instance in six transfer syntaxes


def test_enhanced_mosaic_and_dwi_are_recognised(real_build) -> None:
    _, build = real_build
    series = pd.read_parquet(build / "series.parquet")
    phi = pd.read_parquet(build / "private" / "instances_phi.parquet")
    raw_of = dict(zip(phi["item_id"], phi["path"], strict=True))
    by_folder = {raw_of[r["item_ids"][0]]: r for r in series.to_dict("records")}
    dwi = by_folder["Siemens DWI/siemens_dwi_0.dcm"]
    assert dwi["label"] == "DWI" and list(dwi["b_values"]) == [0.0, 1000.0]
    assert "96 images in 2 file(s)" in dwi["evidence"]  # 48-slice mosaics
    mprage = by_folder["Philips MF/philips_mprage.dcm"]
    assert mprage["label"] == "T1W", mprage["evidence"]  # TE/TR from the functional groups
    assert mprage["echo_time"] == pytest.approx(3.513)
    epi = by_folder["Siemens EPI/one_volume.dcm"]  # 1 file, 48 slices: not too few
    assert epi["reason"] != "too_few_images" and epi["label"] is not None, epi["evidence"]
    assert not series["reason"].fillna("").str.startswith("too_few_images").any() or all(
        "Toshiba" in raw_of[r["item_ids"][0]] or "decimal" in raw_of[r["item_ids"][0]]
        for r in series.to_dict("records")
        if str(r["reason"]).startswith("too_few_images")
    )  # only true single 2D images are too few


def test_real_series_convert_and_pass_the_phi_audit(real_build) -> None:
    raw, build = real_build
    summary = convert_volumes(build=build, workers=1)
    assert summary.failed == 0
    vols = pd.read_parquet(build / "volumes.parquet")
    by_seq = {r["sequence"]: r for r in vols.to_dict("records")}
    dwi = nib.load(build / by_seq["DWI"]["path"])
    assert dwi.shape[-1] == 2 and dwi.shape[2] == 48  # two mosaic volumes of 48 slices
    t1 = nib.load(build / by_seq["T1W"]["path"])
    assert sorted(t1.shape) == [176, 256, 256]  # the enhanced multi-frame volume
    result = audit_phi(build=build, workers=1)
    assert result.ok, result.hits  # real headers' values: none in the non-private outputs
    assert result.values > 10
    # and a real header copied into the build is found (recall on real data)
    shutil.copy(raw / "Philips MF" / "philips_mprage.dcm", build / "leak.dcm")
    try:
        assert not audit_phi(build=build, workers=1, report=False).ok
    finally:
        (build / "leak.dcm").unlink()


@pytest.mark.slow
def test_build_lifs_on_vendor_and_real_data(tmp_path: Path) -> None:
    """``build lifs`` (index → … → labels → split → audits) over the real files and one
    study per vendor family (planted names and institutions in four scripts, folder names =
    patient IDs): completes, the labels table is keyed by PatientID, the PHI audit passes."""
    from hepatokit.pipelines.dataset import build_dataset
    from tests.curation.mri.vendor_protocols import VENDORS, write_study

    raw = _raw_tree(tmp_path)
    pids = ["SIEMENS-DWI-01", "SIEMENS-EPI-01", "R3.2.2 Enhanced Dicom Phantom"]
    for vendor in (*VENDORS, "ge_mprage"):
        pid = f"{vendor}-王小东-{len(pids)}" if vendor == "uih" else f"{vendor}-{len(pids)}"
        write_study(raw, vendor, "no_flip_no_bolus_time", pid)
        pids.append(pid)
    labels = tmp_path / "labels.csv"
    labels.write_text(
        "patient_id,stage\n" + "".join(f'"{p}",S{i % 4 + 1}\n' for i, p in enumerate(pids)),
        encoding="utf-8",
    )
    key = tmp_path / "key"
    key.write_text("k")
    out = tmp_path / "build"
    summary = build_dataset(
        recipe="lifs", raw=raw, out=out, labels=labels, workers=1, key_file=key
    )  # raises if an audit fails
    assert summary.phi.ok and summary.leakage.ok
    subjects = pd.read_parquet(out / "subjects.parquet")
    pseudonyms = pd.read_parquet(out / "private" / "pseudonyms.parquet")
    pid_of = dict(zip(pseudonyms["subject_id"], pseudonyms["original_patient_id"], strict=True))
    stage_of = {p: f"S{i % 4 + 1}" for i, p in enumerate(pids)}
    got = {pid_of[s]: st for s, st in zip(subjects["subject_id"], subjects["stage"], strict=True)}
    assert set(got) == set(pids[3:])  # the real samples' pixels are zeroed: QC `empty`
    assert all(got[p] == stage_of[p] for p in got)
    full = {"T1W", "T2W", "DWI", "GED1", "GED2", "GED3", "GED4"}
    seqs = {
        pid_of[s]: set(q)
        for s, q in zip(subjects["subject_id"], subjects["sequences"], strict=True)
    }
    assert all(seqs[p] == full for p in pids[3:7]), seqs
    qc = Manifest(out).rows().to_pandas()
    assert set(qc[qc["stage"] == "qc"]["reason"].dropna()) == {"qc:empty"}
