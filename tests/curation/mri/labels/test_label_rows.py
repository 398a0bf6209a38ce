"""The decisions of ``mri labels`` without a build: which CSV rows are kept or excluded and
why, duplicates and conflicts, and the subjects' rows.

Truth is the planted CSV below: each row's fate follows from its patient id, its stage
notation and whether that patient has images.
"""

from __future__ import annotations

import pandas as pd

from hepatokit.curation.mri.config import LabelsConfig
from hepatokit.curation.mri.labels.stage import label_rows, resolve_duplicates, subject_rows

CSV = pd.DataFrame(
    {
        "patient_id": ["P1", "", "P2", "P3", "P4", "P4", "P5", "P5"],
        "stage": ["F3", "2", "stage 9", "S1", "4", "S4", "S2", "S3"],
        "site": ["A"] * 8,
    }
)
KEYS = {"P1": "sub1", "P2": "sub2", "P4": "sub4", "P5": "sub5", "P3": "sub3"}
IMAGED = {"sub1", "sub2", "sub4", "sub5"}  # P3 has a pseudonym but no converted image


def test_each_row_kept_or_excluded_with_its_reason() -> None:
    ledger, by_subject = label_rows(CSV, LabelsConfig(), "patient_id", KEYS, IMAGED, "l.csv")
    got = [(r.outcome, r.reason) for r in ledger]
    assert got == [
        ("kept", None),
        ("excluded", "no_patient_id"),
        ("excluded", "unknown_stage"),  # stage 9: no S1-S4
        ("excluded", "no_images"),
        ("kept", None),
        ("kept", None),
        ("kept", None),
        ("kept", None),
    ]
    assert all(r.source == "l.csv" and r.kind == "label_row" for r in ledger)
    assert {s: [st for _, st in v] for s, v in by_subject.items()} == {
        "sub1": ["S3"],
        "sub4": ["S4", "S4"],
        "sub5": ["S2", "S3"],
    }
    stages: dict[str, str | None] = {}
    final = resolve_duplicates(ledger, by_subject, stages)
    assert stages == {"sub1": "S3", "sub4": "S4", "sub5": None}
    reasons = [r.reason for r in final]
    assert reasons[5] == f"duplicate_of:{ledger[4].item_id}"  # the same stage again
    assert reasons[6:] == ["conflicting_labels", "conflicting_labels"]


def test_institution_and_patient_id_key() -> None:
    keys = {"A\x1fP1": "sub1"}
    cfg = LabelsConfig(center_column="site")
    ledger, by_subject = label_rows(
        CSV.iloc[:1], cfg, "institution+patient_id", keys, {"sub1"}, "l.csv"
    )
    assert [r.outcome for r in ledger] == ["kept"] and list(by_subject) == ["sub1"]


def test_subject_rows() -> None:
    vols = pd.DataFrame(
        {
            "subject_id": ["sub1", "sub1", "sub2"],
            "sequence": ["GED4", "T1W", "T2W"],
            "series_id": ["a", "b", "c"],
            "path": ["v/1_GED4", "v/1_T1W", "v/2_T2W"],
        }
    )
    series = pd.DataFrame(
        {
            "series_id": ["a", "b", "c", "x"],
            "subject_id": ["sub1", "sub1", "sub2", "sub1"],
            "center": ["C1", "C1", "C2", "C9"],  # x: not a converted volume, not counted
            "vendor": ["V1", "V1", "V2", "V9"],
            "scanner": ["S1", None, "S2", "S9"],
            "field_strength": [3.0, 3.0, 1.5, 1.5],
        }
    )
    rows = subject_rows(vols, series, {"sub1": "S4"}, LabelsConfig(), ("T1W", "T2W", "GED4"))
    one, two = rows
    assert (one["subject_id"], one["center"], one["scanner"], one["field_strength"]) == (
        "sub1",
        "C1",
        "S1",
        3.0,
    )
    assert (one["stage"], one["cirrhosis"], one["significant_fibrosis"]) == ("S4", 1, 1)
    assert one["sequences"] == ["T1W", "GED4"]  # the recipe's order
    assert one["volume_GED4"] == "v/1_GED4" and one["volume_T2W"] is None
    assert (two["stage"], two["cirrhosis"], two["significant_fibrosis"]) == (None, None, None)
