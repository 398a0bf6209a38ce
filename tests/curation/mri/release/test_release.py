"""`mri import-release`: the released LiFS layout → subjects.parquet + volumes (synthetic tree)."""

from __future__ import annotations

import gzip
import json

import nibabel as nib
import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from hepatokit.cli import app
from hepatokit.curation.mri.release.layout import scan_release, sequence_of
from hepatokit.curation.mri.release.stage import import_release
from hepatokit.errors import DataFormatError
from hepatokit.manifest import Manifest, stable_id

ALL = ["T1", "T2", "DWI_800", "GED1", "GED2", "GED3", "GED4"]
TRAIN = "LiQA_training_data"
VAL = "LiQA_val/Data"
TEST = "LiQA_test/Data"


def _volume(seed: int, shape=(8, 7, 5)) -> nib.Nifti1Image:
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 1000, shape).astype(np.int16)
    affine = np.diag([0.99, 0.99, 1.75, 1.0])
    affine[:3, 3] = [-4.0, 3.0, seed]
    img = nib.Nifti1Image(data, affine)
    img.header["descrip"] = b"PatientName=Doe^John"
    return img


def _case(root, where, vendor, name, files, *, seed=0, four_d=(), extra=None):
    folder = root / where / f"Vendor_{vendor}" / name
    folder.mkdir(parents=True)
    truth = {}
    for i, stem in enumerate(files):
        img = _volume(seed * 100 + i)
        truth[stem] = img
        if stem in four_d:
            img = nib.Nifti1Image(np.asanyarray(img.dataobj)[..., None], img.affine, img.header)
        nib.save(img, folder / f"{stem}.nii.gz")
    for fname, data in (extra or {}).items():
        (folder / fname).write_bytes(data)
    return folder, truth


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    """A small tree in the CARE-Liver layout with every planted oddity (ground truth returned)."""
    root = tmp_path_factory.mktemp("release") / "CARE-Liver"
    t = {}
    _, t["1053-A"] = _case(root, TRAIN, "A", "1053-A-S3", [*ALL, "mask_GED4"], seed=1)
    _, t["1054-A"] = _case(
        root, TRAIN, "A", "1054-A-S1", ["T1", "T2WI", "GED2", "GED4"], seed=2, four_d=("GED2",)
    )
    _, t["1060-B1"] = _case(root, TRAIN, "B1", "1060-B1-S4", ALL, seed=3, extra={"notes.txt": b"x"})
    _, t["1053-B2"] = _case(
        root,
        TRAIN,
        "B2",
        "1053-B2-S3",
        ["T1", "T2", "T2WI"],
        seed=4,
        extra={"GED1.nii.gz": b"\x1f\x8bnot gzip"},
    )
    _, t["2001-A"] = _case(root, VAL, "A", "2001-A", ["T1", "T2", "DWI_800"], seed=5)
    _, t["2002-B2"] = _case(root, VAL, "B2", "2002-B2", ["T1"], seed=6)
    _case(root, VAL, "B2", "badname", ["T1"], seed=7)
    _, t["3001-A"] = _case(root, TEST, "A", "3001-A", ["T1"], seed=8)
    folder, t["1053-C"] = _case(root, TEST, "C", "1053-C", ["T1", "T2"], seed=9)
    two = _volume(99)
    nib.save(
        nib.Nifti1Image(np.stack([two.get_fdata()] * 2, -1).astype(np.int16), two.affine),
        folder / "DWI.nii.gz",
    )
    _case(root, TEST, "C", "3003-C", [], extra={"T1.nii.gz": b"garbage"})
    (root / "README.md").write_text("release notes")
    build = tmp_path_factory.mktemp("build")
    summary = import_release(root=root, out=build, demo_key=True, workers=1)
    return root, build, summary, t


def _subjects(build):
    rows = pq.read_table(build / "subjects.parquet").to_pylist()
    pseudo = pq.read_table(build / "private" / "pseudonyms.parquet").to_pylist()
    by_case = {p["original_patient_id"]: p["subject_id"] for p in pseudo}
    return {case: next(r for r in rows if r["subject_id"] == sid) for case, sid in by_case.items()}


def test_subjects_labels_vendors_and_repeated_ids(release):
    _, build, summary, _ = release
    subj = _subjects(build)
    assert sorted(subj) == sorted(
        ["1053-A", "1054-A", "1060-B1", "1053-B2", "2001-A", "2002-B2", "3001-A", "1053-C"]
    )
    assert summary.subjects == 8
    # ID 1053 under three vendors: three different patients, three pseudonyms
    assert len({subj[c]["subject_id"] for c in ("1053-A", "1053-B2", "1053-C")}) == 3
    assert [subj[c]["stage"] for c in ("1053-A", "1054-A", "1060-B1", "1053-B2")] == [
        "S3",
        "S1",
        "S4",
        "S3",
    ]
    assert (subj["1060-B1"]["cirrhosis"], subj["1060-B1"]["significant_fibrosis"]) == (1, 1)
    assert (subj["1054-A"]["cirrhosis"], subj["1054-A"]["significant_fibrosis"]) == (0, 0)
    assert subj["2001-A"]["stage"] is None and subj["2001-A"]["cirrhosis"] is None
    assert {
        c: (r["vendor"], r["scanner"], r["center"]) for c, r in subj.items() if c.startswith("10")
    } == {
        "1053-A": ("Vendor A", "A", "Center 1"),
        "1054-A": ("Vendor A", "A", "Center 1"),
        "1060-B1": ("Vendor B", "B1", "Center 2"),
        "1053-B2": ("Vendor B", "B2", "Center 2"),
        "1053-C": ("Vendor C", "C", "Center 3"),
    }
    assert {c: r["release_split"] for c, r in subj.items()} == {
        "1053-A": "train", "1054-A": "train", "1060-B1": "train", "1053-B2": "train",
        "2001-A": "validation", "2002-B2": "validation", "3001-A": "test", "1053-C": "test",
    }  # fmt: skip
    for sid in (r["subject_id"] for r in subj.values()):  # no release id in public outputs
        assert len(sid) == 16 and "1053" not in sid


def test_missing_sequences_variants_mask_and_4d_squeeze(release):
    _, build, _, truth = release
    subj = _subjects(build)
    assert subj["1053-A"]["sequences"] == ["T1W", "T2W", "DWI", "GED1", "GED2", "GED3", "GED4"]
    assert subj["1054-A"]["sequences"] == ["T1W", "T2W", "GED2", "GED4"]  # T2WI → T2W
    assert subj["1054-A"]["volume_DWI"] is None and subj["1054-A"]["mask_GED4"] is None
    assert subj["1053-B2"]["sequences"] == ["T1W", "T2W"]  # corrupt GED1 left out
    assert subj["1053-C"]["sequences"] == ["T1W", "T2W"]  # 2-frame DWI left out
    sid = subj["1053-A"]["subject_id"]
    assert subj["1053-A"]["mask_GED4"] == f"volumes/sub-{sid}/sub-{sid}_mask_GED4.nii.gz"
    # the 4D singleton GED2 is squeezed; voxels and geometry unchanged; header text scrubbed
    r = subj["1054-A"]
    img = nib.load(build / r["volume_GED2"])
    src = truth["1054-A"]["GED2"]
    assert img.shape == (8, 7, 5)
    assert np.array_equal(np.asanyarray(img.dataobj), np.asanyarray(src.dataobj))
    assert np.allclose(img.affine, src.affine)
    assert b"Doe" not in img.header["descrip"].tobytes()
    assert b"Doe" not in gzip.decompress((build / r["volume_T2W"]).read_bytes())
    side = json.loads((build / r["volume_GED2"].replace(".nii.gz", ".json")).read_text())
    assert side["SourceShape"] == [8, 7, 5, 1] and side["Shape"] == [8, 7, 5]
    assert side["Sequence"] == "GED2" and side["Vendor"] == "Vendor A"
    t2 = nib.load(build / r["volume_T2W"])
    assert np.array_equal(np.asanyarray(t2.dataobj), np.asanyarray(truth["1054-A"]["T2WI"].dataobj))


def test_every_file_in_the_manifest_with_its_reason(release):
    root, build, summary, _ = release
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    final = {r["source"]: r for r in Manifest(build).final().to_pylist()}
    assert sorted(final) == files
    assert Manifest(build).check().inputs == len(files)
    reasons = {s: r["reason"] for s, r in final.items() if r["outcome"] == "excluded"}
    assert reasons == {
        "README.md": "unknown_file",
        f"{TRAIN}/Vendor_B1/1060-B1-S4/notes.txt": "unknown_file",
        f"{TRAIN}/Vendor_B2/1053-B2-S3/GED1.nii.gz": "corrupt",
        f"{TRAIN}/Vendor_B2/1053-B2-S3/T2WI.nii.gz": "duplicate_sequence",
        f"{VAL}/Vendor_B2/badname/T1.nii.gz": "unrecognised_case_folder",
        f"{TEST}/Vendor_C/1053-C/DWI.nii.gz": "not_3d",
        f"{TEST}/Vendor_C/3003-C/T1.nii.gz": "corrupt",
    }
    assert final[f"{TRAIN}/Vendor_A/1053-A-S3/T1.nii.gz"]["item_id"] == stable_id(
        "file", f"{TRAIN}/Vendor_A/1053-A-S3/T1.nii.gz"
    )
    assert summary.squeezed == 1 and summary.excluded["corrupt"] == 2
    report = (build / "reports" / "import_release.md").read_text()
    assert "| train | Vendor B (B1) | 0 | 0 | 0 | 1 | 0 |" in report


def test_reimport_is_byte_identical_and_skips_finished_volumes(release, tmp_path):
    root, build, _, _ = release
    vol = next((build / "volumes").rglob("*_T1W.nii.gz"))
    before = {p: p.read_bytes() for p in (build / "volumes").rglob("*") if p.is_file()}
    mtime = vol.stat().st_mtime_ns
    subjects = (build / "subjects.parquet").read_bytes()
    import_release(root=root, out=build, demo_key=True, workers=1)
    assert (build / "subjects.parquet").read_bytes() == subjects
    assert vol.stat().st_mtime_ns == mtime  # not rewritten
    assert {p: p.read_bytes() for p in (build / "volumes").rglob("*") if p.is_file()} == before
    other = tmp_path / "fresh"
    import_release(root=root, out=other, demo_key=True, workers=2)  # process pool
    assert (other / "subjects.parquet").read_bytes() == subjects


def test_split_and_audit_work_on_the_import(release, tmp_path):
    from hepatokit.splits import audit_leakage, split_build

    _, build, _, _ = release
    split_build(build=build)
    split = dict(
        zip(
            *pq.read_table(build / "splits.parquet", columns=["id", "split"]).to_pydict().values(),
            strict=True,
        )
    )
    subj = _subjects(build)
    want = {"train": "train", "validation": "validation"}
    for case, row in subj.items():
        expected = (
            "test_ood" if row["vendor"] == "Vendor C" else want.get(row["release_split"], "test_id")
        )
        assert split[row["subject_id"]] == expected, case
    assert audit_leakage(build=build).ok


def test_same_case_twice_gets_two_pseudonyms_and_the_audit_flags_it(tmp_path):
    from hepatokit.splits import audit_leakage, split_build

    root = tmp_path / "rel"
    _case(root, TRAIN, "A", "7-A-S2", ["T1"], seed=1)
    _case(root, VAL, "A", "7-A", ["T1"], seed=2)
    _case(root, TRAIN, "B1", "8-B1-S1", ["T1"], seed=3)
    build = tmp_path / "b"
    summary = import_release(root=root, out=build, demo_key=True, workers=1)
    assert summary.subjects == 3
    split_build(build=build)
    report = audit_leakage(build=build)
    assert [f.kind for f in report.findings] == ["same_patient"]


def test_layout_parsing_and_cli(release, tmp_path):
    names = ["T1.nii.gz", "t2wi.nii", "DWI_800.nii.gz", "GED3.nii.gz", "mask_GED4.nii.gz"]
    assert [sequence_of(n) for n in names] == ["T1W", "T2W", "DWI", "GED3", "mask_GED4"]
    assert sequence_of("x.nii.gz") is None and sequence_of("T1.txt") is None
    root = release[0]
    layout = scan_release(root)
    assert len(layout.cases) == 9 and len(layout.unplaced) == 2
    res = CliRunner().invoke(
        app,
        [
            "-q",
            "-w",
            "1",
            "mri",
            "import-release",
            str(root),
            "--out",
            str(tmp_path / "cli"),
            "--demo-key",
        ],
    )
    assert res.exit_code == 0, res.output
    assert (tmp_path / "cli" / "subjects.parquet").read_bytes() == (
        release[1] / "subjects.parquet"
    ).read_bytes()
    with pytest.raises(DataFormatError, match="no case folder"):
        import_release(root=tmp_path / "cli" / "reports", out=tmp_path / "x", demo_key=True)


def test_bare_vendor_folders_have_no_release_split_and_are_assigned(tmp_path):
    from hepatokit.splits import split_build

    root = tmp_path / "bare"
    for i in range(6):
        _case(root, ".", "A", f"{i}-A-S{1 + i % 4}", ["T1"], seed=i)
        _case(root, ".", "C", f"{i}-C", ["T1"], seed=10 + i)
    build = tmp_path / "b"
    import_release(root=root, out=build, demo_key=True, workers=1)
    rows = pq.read_table(build / "subjects.parquet").to_pylist()
    assert {r["release_split"] for r in rows} == {None}
    result = split_build(build=build)
    assert result.plan.method == "stratified"
    assert result.summary.groups["test_ood"] == 6 and result.summary.groups["train"] == 4
