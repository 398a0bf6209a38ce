"""The index's decisions from header records alone (no file read): ledger rules, gauss →
tesla, pseudonyms, scrubbed details. Truth: HMAC-SHA256 computed here with hmac/hashlib,
hand-written records."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from hepatokit.curation.mri.config import DeidConfig, Pseudonym
from hepatokit.curation.mri.index.decide import (
    decide_files,
    file_exclusion,
    pseudonymous_path,
    scrub_detail,
    tesla,
)
from hepatokit.manifest import stable_id

KEY = b"unit-test-key-0123456789abcdef"


def _mac16(text: str) -> str:
    return hmac.new(KEY, b"subject\x1f" + text.encode(), hashlib.sha256).hexdigest()[:16]


def _columns(rows: list[dict]) -> dict[str, list]:
    names = ("reason", "detail", "patient_id", "institution", "manufacturer", "model",
             "sop_uid", "field_strength")  # fmt: skip
    return {n: [r.get(n) for r in rows] for n in names}


RAW = "/data/raw export"
ROWS = [  # in file order
    {"rel": "a/1.dcm", "patient_id": "P1", "institution": "Hosp A", "manufacturer": "GE",
     "model": "Signa", "sop_uid": "1.1", "field_strength": 15000.0},  # gauss
    {"rel": "a/2.dcm", "reason": "not_dicom", "detail": f"cannot read {RAW}/a/2.dcm"},
    {"rel": "a/3.dcm", "patient_id": "", "sop_uid": "1.3"},
    {"rel": "b/dup.dcm", "patient_id": "P1", "institution": "Hosp A", "manufacturer": "GE",
     "model": "Signa", "sop_uid": "1.1", "field_strength": 1.5},
    {"rel": "b/odd.dcm", "patient_id": "P1", "institution": "Hosp A", "manufacturer": "GE",
     "model": "Signa", "sop_uid": "1.1", "field_strength": 1.5},
    {"rel": "c/4.dcm", "patient_id": "P1", "institution": "Hosp B", "manufacturer": "Acme",
     "model": "X", "sop_uid": "1.4", "field_strength": 3.0},
    {"rel": "c/5.dcm", "patient_id": "P2", "institution": "Hosp A", "manufacturer": "GE",
     "model": "Signa", "sop_uid": None, "field_strength": 1.5},
]  # fmt: skip


def _decide(same: set[tuple[str, str]], deid: DeidConfig | None = None):
    asked: list[tuple[str, str]] = []

    def same_pixels(first: str, second: str) -> bool:
        asked.append((first, second))
        return (first, second) in same

    rels = [r["rel"] for r in ROWS]
    d = decide_files(
        rels,
        _columns(ROWS),
        deid=deid or DeidConfig(vendors=[Pseudonym(match="GE", pseudonym="Vendor A")]),
        key=KEY,
        raw_root=RAW,
        same_pixels=same_pixels,
    )
    return d, asked


def test_ledger_rules_in_file_order():
    d, asked = _decide(same={("a/1.dcm", "b/dup.dcm")})
    first = stable_id("file", "a/1.dcm")
    assert d.item_ids == [stable_id("file", r["rel"]) for r in ROWS]
    assert d.reasons == [None, "not_dicom", "no_patient_id", f"duplicate_of:{first}",
                         f"sop_conflict:{first}", None, None]  # fmt: skip
    assert d.outcomes == ["kept", "excluded", "excluded", "excluded", "excluded", "kept", "kept"]
    # pixels are compared only for a UID already kept, against the file that holds it
    assert asked == [("a/1.dcm", "b/dup.dcm"), ("a/1.dcm", "b/odd.dcm")]
    assert d.kept_at == [0, 5, 6]


def test_details_name_no_raw_path():
    d, _ = _decide(same=set())
    item = d.item_ids[1]
    assert d.details[1] == f"cannot read excluded/{item}"
    assert all(RAW not in (x or "") and "a/2.dcm" not in (x or "") for x in d.details)
    assert d.sources[1] == f"excluded/{item}"


def test_pseudonyms_and_tesla():
    d, _ = _decide(same=set())
    p1, p2 = _mac16("P1"), _mac16("P2")
    assert d.subject_ids == [p1, p1, p2]  # one subject per PatientID (default subject_key)
    assert d.subjects == {"P1": p1, "P2": p2}
    assert d.sources[0] == f"sub-{p1}/{d.item_ids[0]}"
    assert d.strengths == [1.5, 3.0, 1.5]  # 15000 gauss → 1.5 T
    centers = {s[0] for s in d.sites}
    assert [s[1] for s in d.sites] == ["Vendor A", "Vendor ?1", "Vendor A"]
    assert d.sites[0] == d.sites[2] and len(centers) == 2
    assert ("scanner", "Signa 1.5 T", "A1.5T") in d.site_rows
    assert ("vendor", "Acme", "Vendor ?1") in d.site_rows


def test_subject_key_with_institution():
    d, _ = _decide(same=set(), deid=DeidConfig(subject_key="institution+patient_id"))
    assert d.subject_ids == [_mac16("Hosp A\x1fP1"), _mac16("Hosp B\x1fP1"),
                             _mac16("Hosp A\x1fP2")]  # fmt: skip


@pytest.mark.parametrize(
    ("value", "expected"),
    [(15000.0, 1.5), (30000.0, 3.0), (3.0, 3.0), (100.0, 100.0), (None, None)],
)
def test_tesla(value, expected):
    assert tesla(value) == expected


def test_file_exclusion_keeps_header_reason_first():
    never = lambda: pytest.fail("pixels must not be compared")  # noqa: E731
    assert file_exclusion("truncated", "x", patient_id="", kept_with_sop="f1",
                          same_pixels=never) == ("truncated", "x")  # fmt: skip
    assert file_exclusion(None, None, patient_id="P", kept_with_sop=None,
                          same_pixels=never) == (None, None)  # fmt: skip


def test_scrub_and_names():
    assert scrub_detail(None, "/r", "a.dcm", "excluded/x") is None
    assert scrub_detail("bad /r/d/a.dcm in /r", "/r", "d/a.dcm", "P") == "bad P in RAW"
    assert pseudonymous_path("f1") == "excluded/f1"
    assert pseudonymous_path("f1", "abc") == "sub-abc/f1"
