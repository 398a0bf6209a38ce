"""The manifest ledger: inputs = kept + excluded, first exclusion wins, idempotent re-runs."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from hepatokit.errors import ManifestError
from hepatokit.manifest import Manifest, excluded, file_digest, kept, stable_id


def test_final_outcome_first_exclusion_wins(tmp_path):
    m = Manifest(tmp_path)
    m.record(
        "ingest",
        [kept(f"p{i}", kind="patch", stage="ingest", source=f"a/{i}.png") for i in range(4)],
        introduces=True,
    )
    m.record(
        "qc",
        [
            kept("p0", kind="patch", stage="qc"),
            excluded("p1", kind="patch", stage="qc", reason="blur", detail="lap=3.1"),
            kept("p2", kind="patch", stage="qc"),
            kept("p3", kind="patch", stage="qc"),
        ],
    )
    m.record(
        "dedup",
        [
            kept("p0", kind="patch", stage="dedup"),
            excluded("p2", kind="patch", stage="dedup", reason="duplicate_of:p0"),
            kept("p3", kind="patch", stage="dedup"),
        ],
    )
    final = {r["item_id"]: r for r in m.final().to_pylist()}
    assert final["p1"]["reason"] == "blur" and final["p1"]["stage"] == "qc"
    assert final["p2"]["reason"] == "duplicate_of:p0"
    assert final["p0"]["outcome"] == "kept" and final["p0"]["source"] == "a/0.png"
    summary = m.check()
    assert (summary.inputs, summary.kept, summary.excluded) == (4, 2, 2)
    assert summary.by_reason == {"blur": 1, "duplicate_of": 1}
    assert m.stages() == ["ingest", "qc", "dedup"]


def test_rerun_replaces_stage_rows_and_keeps_order(tmp_path):
    m = Manifest(tmp_path)
    m.record("index", [kept("a", kind="file", stage="index")], introduces=True)
    m.record("series", [excluded("a", kind="file", stage="series", reason="localizer")])
    m.record("index", [kept("a", kind="file", stage="index")], introduces=True)  # re-run
    assert len(m.rows()) == 2
    assert m.stages() == ["index", "series"]
    assert m.check().excluded == 1


def test_item_never_introduced_breaks_invariant(tmp_path):
    m = Manifest(tmp_path)
    m.record("ingest", [kept("a", kind="patch", stage="ingest")], introduces=True)
    m.record("qc", [excluded("ghost", kind="patch", stage="qc", reason="blur")])
    with pytest.raises(ManifestError, match="never registered"):
        m.check()


def test_duplicate_rows_in_one_stage_rejected(tmp_path):
    m = Manifest(tmp_path)
    rows = [kept("a", kind="patch", stage="s"), kept("a", kind="patch", stage="s")]
    with pytest.raises(ManifestError, match="twice"):
        m.record("s", rows, introduces=True)


def test_excluded_needs_reason():
    with pytest.raises(ValueError, match="reason"):
        excluded("a", kind="patch", stage="s", reason="")


def test_provenance_recorded(tmp_path):
    from hepatokit.manifest import provenance

    m = Manifest(tmp_path)
    info = provenance(stage="ingest", recipe_sha256="abc", seed=7)
    m.record("ingest", [kept("a", kind="patch", stage="ingest")], introduces=True,
             provenance_info=info)  # fmt: skip
    got = m.provenance()["ingest"]
    assert got["seed"] == 7 and got["recipe_sha256"] == "abc"
    assert "pydicom" in got["packages"] and got["hepatokit"]


def test_stable_id_and_digest(tmp_path):
    assert stable_id("patch", "a/b.png") == stable_id("patch", "a/b.png")
    assert stable_id("patch", "a/b.png") != stable_id("patch", "a/c.png")
    f = tmp_path / "x.bin"
    f.write_bytes(b"abc")
    assert file_digest(f, "md5") == "md5:900150983cd24fb0d6963f7d28e17f72"


@settings(max_examples=40, deadline=None)
@given(
    outcomes=st.lists(
        st.tuples(st.booleans(), st.booleans()), min_size=1, max_size=30
    )  # (excluded at qc, excluded at dedup)
)
def test_invariant_property(tmp_path_factory, outcomes):
    build = tmp_path_factory.mktemp("b")
    m = Manifest(build)
    ids = [f"i{n}" for n in range(len(outcomes))]
    m.record("ingest", [kept(i, kind="patch", stage="ingest") for i in ids], introduces=True)
    qc_rows, dd_rows = [], []
    for i, (ex_qc, ex_dd) in zip(ids, outcomes, strict=True):
        if ex_qc:
            qc_rows.append(excluded(i, kind="patch", stage="qc", reason="blur"))
            continue
        qc_rows.append(kept(i, kind="patch", stage="qc"))
        dd_rows.append(
            excluded(i, kind="patch", stage="dedup", reason="duplicate_of:i0")
            if ex_dd
            else kept(i, kind="patch", stage="dedup")
        )
    m.record("qc", qc_rows)
    m.record("dedup", dd_rows)
    s = m.check()
    assert s.inputs == len(ids) == s.kept + s.excluded
    assert s.kept == sum(1 for a, b in outcomes if not a and not b)


def test_record_columns_equals_record_of_rows(tmp_path):
    """The column form writes the same ledger as the row form, and checks the same things."""
    rows = [
        kept("a", kind="file", stage="index", source="x/a.dcm", size=3),
        excluded("b", kind="file", stage="index", reason="corrupt", source="x/b", detail="eof"),
    ]
    by_rows = Manifest(tmp_path / "rows")
    by_rows.record("index", rows, introduces=True)
    by_columns = Manifest(tmp_path / "columns")
    by_columns.record_columns(
        "index",
        {
            "item_id": ["a", "b"],
            "kind": ["file", "file"],
            "outcome": ["kept", "excluded"],
            "source": ["x/a.dcm", "x/b"],
            "size": [3, None],
            "reason": [None, "corrupt"],
            "detail": [None, "eof"],
        },
        introduces=True,
    )
    assert by_columns.rows().equals(by_rows.rows())
    assert by_columns.check().as_dict() == by_rows.check().as_dict()
    bad = {"item_id": ["a", "b"], "kind": ["file", "file"], "outcome": ["kept", "excluded"]}
    with pytest.raises(ManifestError, match="reason"):
        by_columns.record_columns("index", bad)
    twice = {"item_id": ["a", "a"], "kind": ["file"] * 2, "outcome": ["kept"] * 2}
    with pytest.raises(ManifestError, match="twice"):
        by_columns.record_columns("index", twice)


def test_merge_outcomes_first_exclusion_is_final_and_fields_carry_over():
    from hepatokit.manifest.ledger import merge_outcomes

    def row(item, stage, outcome, reason=None, source=None):
        return {"item_id": item, "stage": stage, "outcome": outcome, "reason": reason,
                "source": source, "size": 7 if source else None, "checksum": None}  # fmt: skip

    rows = [
        row("b", "ingest", "kept", source="raw/b.png"),
        row("a", "ingest", "kept", source="raw/a.png"),
        row("a", "qc", "excluded", reason="blur"),
        row("b", "qc", "kept"),
        row("a", "dedup", "excluded", reason="duplicate_of:b"),  # later exclusion ignored
        row("a", "labels", "kept"),
    ]
    final = merge_outcomes(rows)
    assert [r["item_id"] for r in final] == ["a", "b"]
    a, b = final
    assert (a["stage"], a["outcome"], a["reason"]) == ("qc", "excluded", "blur")
    assert (a["source"], a["size"]) == ("raw/a.png", 7)  # carried into the exclusion too
    assert (b["stage"], b["outcome"], b["source"], b["size"]) == ("qc", "kept", "raw/b.png", 7)
