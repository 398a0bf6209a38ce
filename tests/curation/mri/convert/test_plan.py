"""The decisions of ``mri convert`` without dcm2niix or files: which series become which
jobs, how they are batched into dcm2niix runs, and the rows and ledger of an outcome.

Truth is the small planted series table below: its labels, instance items and UIDs say
which outputs must exist and which runs may share dcm2niix.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from hepatokit.curation.mri.config import ConvertConfig
from hepatokit.curation.mri.convert.plan import batches, outcome, plan_jobs
from hepatokit.parallel import ItemResult

SERIES = pd.DataFrame(
    {
        "subject_id": ["b", "a", "a", "a"],
        "series_id": ["s4", "s2", "s1", "s3"],
        "series_uid": ["u4", "u2", "u1", "u1"],  # s1 and s3: two parts of one split series
        "label": ["T2W", "DWI", "T1W", None],  # s3 not recognised
        "reason": [None, None, None, "localizer"],
        "center": ["C1"] * 4,
        "vendor": ["V1"] * 4,
        "scanner": ["S1"] * 4,
        "field_strength": [1.5, 3.0, 3.0, np.nan],
        "seconds_after_injection": [np.nan] * 4,
        "timing_source": [None] * 4,
        "item_ids": [["i7"], ["i3", "i4"], ["i1", "i2"], ["i5", "i6"]],
    }
)
ITEMS = [f"i{k}" for k in range(1, 8)]
INSTANCES = {
    "path": {i: f"raw/{i}.dcm" for i in ITEMS},
    "b_value": {**dict.fromkeys(ITEMS, np.nan), "i3": 0.0, "i4": 800.0},
    "contrast_agent": {**dict.fromkeys(ITEMS), "i2": " Gadovist "},
}


def _jobs(all_series: bool = False):
    return plan_jobs(Path("/b"), SERIES, Path("/raw"), INSTANCES, ConvertConfig(), all_series)


def test_one_job_per_recognised_series_in_subject_order() -> None:
    jobs = _jobs()
    assert [j.stem for j in jobs] == [
        "volumes/sub-a/sub-a_T1W",
        "volumes/sub-a/sub-a_DWI",
        "volumes/sub-b/sub-b_T2W",
    ]
    t1 = jobs[0]
    assert t1.files == ("/raw/raw/i1.dcm", "/raw/raw/i2.dcm")
    assert t1.series["contrast_agent"] == "Gadovist"  # the first non-empty agent, stripped
    assert t1.series["field_strength"] == 3.0 and t1.series["reason"] is None
    assert jobs[1].index_b_values == (0.0, 800.0)
    assert jobs[2].series["seconds_after_injection"] is None  # NaN → None (JSON-able)


def test_all_series_converts_every_series_under_its_id() -> None:
    jobs = _jobs(all_series=True)
    assert [j.stem for j in jobs][:3] == [
        "all_series/sub-a/sub-a_series-s1",
        "all_series/sub-a/sub-a_series-s2",
        "all_series/sub-a/sub-a_series-s3",
    ]
    assert all(j.sequence is None for j in jobs) and len(jobs) == 4


def test_parts_of_one_split_series_never_share_a_dcm2niix_run() -> None:
    groups = batches(_jobs(all_series=True))
    for group in groups:
        uids = [j.series_uid for j in group]
        assert len(set(uids)) == len(uids)
        assert len({j.series["subject_id"] for j in group}) == 1
    by_stem = {j.stem: k for k, g in enumerate(groups) for j in g}
    assert (
        by_stem["all_series/sub-a/sub-a_series-s1"] != by_stem["all_series/sub-a/sub-a_series-s3"]
    )
    assert sorted(by_stem) == sorted(j.stem for j in _jobs(all_series=True))


def test_outcome_rows_and_ledger() -> None:
    jobs = _jobs()
    results = [
        ItemResult(jobs[0], "converted", None),
        ItemResult(jobs[1], None, "RuntimeError: no volume"),
        ItemResult(jobs[2], "skipped", None),
    ]
    items = dict(zip(SERIES["series_id"], SERIES["item_ids"], strict=True))
    changed = {jobs[2].stem: (jobs[2], "1 of 1 file(s) changed")}
    rows, ledger, counts = outcome(jobs, results, changed, items.__getitem__, False)
    assert counts == {"converted": 1, "skipped": 1, "failed": 2}
    assert [(r["series_id"], r["status"], r["path"]) for r in rows] == [
        ("s1", "ok", "volumes/sub-a/sub-a_T1W.nii.gz"),
        ("s2", "failed", None),
        ("s4", "ok", "volumes/sub-b/sub-b_T2W.nii.gz"),
        ("s4", "changed_since_index", None),
    ]
    outcomes = [(r.item_id, r.outcome, r.reason) for r in ledger]
    assert outcomes == [
        ("i1", "kept", None),
        ("i2", "kept", None),
        ("i3", "excluded", "conversion_failed"),
        ("i4", "excluded", "conversion_failed"),
        ("i7", "kept", None),
        ("i7", "excluded", "changed_since_index"),
    ]
    _, ledger, _ = outcome(jobs, results, {}, items.__getitem__, True)
    assert ledger == []  # --all-series leaves the manifest alone
