"""``mri register`` on a curated build of the synthetic studies: every volume is accounted
for, the manifest stays consistent, and sequences the generator placed in one world frame
(no planted motion) stay near the identity."""

from __future__ import annotations

import shutil

import pandas as pd

from hepatokit.curation.mri.register.stage import register_sequences
from hepatokit.manifest import Manifest


def test_register_a_curated_build(curated_lifs, tmp_path):
    build = tmp_path / "build"
    shutil.copytree(curated_lifs.build, build)
    s = register_sequences(build=build, workers=2)
    table = pd.read_parquet(build / "registration" / "registration.parquet")
    subjects = curated_lifs.table("subjects.parquet")
    expected = {
        (r["subject_id"], q)
        for r in subjects.to_dict("records")
        for q in ("T1W", "T2W", "DWI", "GED1", "GED2", "GED3", "GED4")
        if r[f"volume_{q}"] is not None
    }
    assert set(zip(table["subject_id"], table["sequence"], strict=True)) == expected
    assert s.subjects == len(subjects)
    assert set(table["status"]) <= {"reference", "ok", "flagged", "no_reference"}
    ok = table[table["status"] == "ok"]
    assert len(ok) >= 0.8 * s.pairs
    # one world frame in truth: the accepted transforms stay close to the identity
    assert ok["translation_mm"].median() <= 2.0, ok[["sequence", "translation_mm"]]
    summary = Manifest(build).check()  # every reported file was introduced by the index
    ledger = pd.read_parquet(build / "manifest" / "register.parquet")
    assert (ledger["outcome"] == "kept").all() and len(ledger) > 0
    assert summary.inputs == curated_lifs.summary.manifest.inputs
