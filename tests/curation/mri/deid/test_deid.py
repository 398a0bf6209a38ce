"""Keyed pseudonyms: deterministic per key, unguessable without it, a clear error with none."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from hepatokit.curation.mri.config import DeidConfig, Pseudonym, ScannerPseudonym
from hepatokit.curation.mri.deid.keys import (
    DEMO_KEY,
    SitePseudonymizer,
    load_deid_key,
    subject_pseudonym,
)
from hepatokit.errors import PHIError


@given(st.text(min_size=1, max_size=40), st.binary(min_size=1, max_size=32))
def test_pseudonym_is_keyed_and_stable(original: str, key: bytes) -> None:
    a = subject_pseudonym(original, key)
    assert a == subject_pseudonym(original, key)
    assert len(a) == 16 and all(c in "0123456789abcdef" for c in a)
    assert a != subject_pseudonym(original, key + b"x")
    assert original not in a or len(original) < 3


def test_key_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HEPATOKIT_DEID_KEY", raising=False)
    monkeypatch.delenv("HEPATOKIT_DEID_KEY_FILE", raising=False)
    with pytest.raises(PHIError, match="HEPATOKIT_DEID_KEY"):
        load_deid_key()
    assert load_deid_key(demo_key=True) == DEMO_KEY
    monkeypatch.setenv("HEPATOKIT_DEID_KEY", "from-env")
    assert load_deid_key() == b"from-env"
    key = tmp_path / "k"
    key.write_text("from-file\n")
    assert load_deid_key(key_file=key) == b"from-file"
    monkeypatch.delenv("HEPATOKIT_DEID_KEY")
    monkeypatch.setenv("HEPATOKIT_DEID_KEY_FILE", str(key))
    assert load_deid_key() == b"from-file"
    (tmp_path / "empty").write_text("")
    with pytest.raises(PHIError, match="empty"):
        load_deid_key(key_file=tmp_path / "empty")


def test_site_pseudonyms() -> None:
    cfg = DeidConfig(
        vendors=[Pseudonym("(?i)siemens", "Vendor A"), Pseudonym("(?i)^ge", "Vendor B")],
        scanners=[ScannerPseudonym("A1.5T", vendor="Vendor A", field_strength=1.5)],
    )
    sites = [
        ("HOSPITAL ONE", "SIEMENS"),
        ("CLINIC TWO", "GE MEDICAL SYSTEMS"),
        ("THIRD PLACE", "Acme MR"),
    ]
    p = SitePseudonymizer(cfg, b"key").prepare(sites)
    assert p.vendor("SIEMENS") == "Vendor A" and p.vendor("GE MEDICAL SYSTEMS") == "Vendor B"
    assert p.vendor("Acme MR") == "Vendor ?1"
    assert p.center("HOSPITAL ONE") == "Center 1"  # first by vendor pseudonym
    assert p.center("CLINIC TWO") == "Center 2"
    assert {p.center(s[0]) for s in sites} == {"Center 1", "Center 2", "Center 3"}
    assert p.scanner("Vendor A", "Aera", 1.5) == "A1.5T"
    assert p.scanner("Vendor B", "MR750", 3.0) == "B3T"
