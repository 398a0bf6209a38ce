"""``dedup_ledger``: hand-made decisions to ledger rows and kept ids, no files."""

from __future__ import annotations

from hepatokit.curation.patho.dedup.exact import DedupDecision
from hepatokit.curation.patho.dedup.stage import dedup_ledger


def test_ledger_of_clusters_and_singletons() -> None:
    decisions = [
        DedupDecision("b", "c1", "b", 0, "exact", None),
        DedupDecision("c", "c1", "b", 3, "near", "duplicate_of:b"),
        DedupDecision("d", "c2", None, 0, "exact", "label_conflict"),
        DedupDecision("e", "c2", None, 0, "exact", "label_conflict"),
    ]
    rows, kept_ids = dedup_ledger(["a", "b", "c", "d", "e"], ["patch", "patch", "tile",
                                  "patch", "patch"], decisions)  # fmt: skip
    assert kept_ids == ["a", "b"]
    assert [(r.item_id, r.outcome, r.reason) for r in rows] == [
        ("a", "kept", None),
        ("b", "kept", None),
        ("c", "excluded", "duplicate_of:b"),
        ("d", "excluded", "label_conflict"),
        ("e", "excluded", "label_conflict"),
    ]
    assert rows[0].detail is None
    assert rows[1].detail == "representative of cluster c1"
    assert rows[2].kind == "tile" and rows[2].detail == "cluster c1, near, phash distance 3"
    assert all(r.stage == "dedup" for r in rows)
