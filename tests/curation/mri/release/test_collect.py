"""The decisions of ``mri import-release`` without files: what each case's outcome becomes in
the ledger and the subjects' tables, and one job per case with its vendor's pseudonyms.

Truth is the planted outcomes below: which files a worker kept, excluded or never read.
"""

from __future__ import annotations

from pathlib import Path

from hepatokit.curation.mri.release.layout import ReleaseCase, ReleaseLayout, VendorInfo
from hepatokit.curation.mri.release.rows import collect
from hepatokit.curation.mri.release.stage import plan_cases
from hepatokit.curation.mri.release.volumes import CaseJob, CaseResult, FileOutcome
from hepatokit.parallel import ItemResult

SEQS = ("T1W", "T2W", "GED4")
INFO = VendorInfo("Vendor A", "Scanner A", "Center 1")


def _case(cid: str, stage: str | None, files: tuple[str, ...]) -> ReleaseCase:
    return ReleaseCase(cid, "A", stage, "train", f"Vendor_A/{cid}-A", files)


def _job(case: ReleaseCase, sid: str) -> CaseJob:
    return CaseJob(case, sid, "/root", "/build", SEQS, INFO)


def test_cases_become_subjects_ledger_rows_and_private_rows() -> None:
    good = _job(_case("1", "S2", ("a/T1.nii.gz", "a/T2.nii.gz")), "sid1")
    empty = _job(_case("2", "S4", ("b/T1.nii.gz", "b/x.txt")), "sid2")
    broken = _job(_case("3", None, ("c/T1.nii.gz",)), "sid3")
    results = [
        ItemResult(
            good,
            CaseResult(
                files=[
                    FileOutcome("a/T1.nii.gz", 10, "h1", sequence="T1W", output="v/1_T1W"),
                    FileOutcome("a/T2.nii.gz", 9, None, "corrupt", "bad gzip"),
                ],
                volumes={"T1W": "v/1_T1W", "mask_GED4": "v/1_mask"},
                squeezed=["T1W"],
            ),
            None,
        ),
        ItemResult(  # read, but no sequence at all: its kept file is excluded after all
            empty,
            CaseResult(
                files=[
                    FileOutcome("b/T1.nii.gz", 5, "h2", "not_3d", "2D"),
                    FileOutcome("b/x.txt", 1, "h3"),
                ]
            ),
            None,
        ),
        ItemResult(broken, None, "RuntimeError: worker died"),
    ]
    got = collect(results, SEQS)
    fates = [(r.source, r.outcome, r.reason) for r in got.ledger]
    assert fates == [
        ("a/T1.nii.gz", "kept", None),
        ("a/T2.nii.gz", "excluded", "corrupt"),
        ("b/T1.nii.gz", "excluded", "not_3d"),
        ("b/x.txt", "excluded", "no_sequence_in_case"),
        ("c/T1.nii.gz", "excluded", "corrupt"),
    ]
    assert got.ledger[-1].detail == "RuntimeError: worker died"
    assert [s["subject_id"] for s in got.subjects] == ["sid1"] and got.squeezed == 1
    (row,) = got.subjects
    assert (row["stage"], row["cirrhosis"], row["significant_fibrosis"]) == ("S2", 0, 1)
    assert row["sequences"] == ["T1W"] and row["volume_T2W"] is None
    assert (row["mask_GED4"], row["release_split"], row["vendor"]) == (
        "v/1_mask",
        "train",
        "Vendor A",
    )
    assert got.private == [
        {
            "original_patient_id": "1-A",
            "original_key": "A\x1f1",
            "subject_id": "sid1",
            "release_case": "1-A",
            "release_folder": "Vendor_A/1-A",
            "release_split": "train",
        }
    ]


def test_one_job_per_case_with_its_vendor() -> None:
    layout = ReleaseLayout(
        cases=[_case("1", "S1", ()), ReleaseCase("2", "zz", None, None, "Vendor_zz/2-zz", ())]
    )
    jobs = plan_cases(layout, ["s1", "s2"], Path("/r"), Path("/b"), SEQS, 1, {"A": INFO})
    assert [j.subject_id for j in jobs] == ["s1", "s2"]
    assert jobs[0].info == INFO and jobs[0].compress_level == 1 and jobs[0].sequences == SEQS
    assert jobs[1].info == VendorInfo("Vendor Z", "zz", None)  # unknown code: its first letter
