"""The PHI audit's ``in_public_header_text`` skip: a private or free-text value that is only
technical header text (a Siemens private copy of the image type, an SR text equal to a series
description) is not looked for; names, IDs and dates always are (planted truth)."""

from __future__ import annotations

import json
from pathlib import Path

from hepatokit.curation.mri.deid.phi_values import add_value
from hepatokit.identifier_audit import audit_identifiers

IMAGE_TYPE = "ORIGINAL\\PRIMARY\\DIFFUSION\\NONE\\MB\\ND\\MOSAIC"
PUBLIC = [IMAGE_TYPE, "AAHead_Scout_32ch-head-coil", "Liver Zimmermann protocol"]


def _folder(tmp_path: Path) -> Path:
    out = tmp_path / "build"
    out.mkdir(exist_ok=True)
    rows = {"image_type": IMAGE_TYPE, "series_description": "AAHead_Scout_32ch-head-coil",
            "note": "Liver Zimmermann protocol", "ward": "Station Quellental"}  # fmt: skip
    (out / "series.json").write_text(json.dumps(rows), encoding="utf-8")
    return out


def test_private_and_free_text_copies_of_public_text_are_skipped_with_the_reason(tmp_path):
    values = {
        "DIFFUSION/NONE/MB/ND": "(0051,1016)",  # Siemens private copy of the image type
        "AAHead_Scout_32ch-head-coil": "TextValue",  # SR text = a series description
        "Station Quellental": "(0029,1010)",  # private, not public text: looked for
    }
    r = audit_identifiers(folder=_folder(tmp_path), identifiers=values, public_text=PUBLIC,
                          free_text_origins={"TextValue"})  # fmt: skip
    assert r.skipped.get("in_public_header_text") == 2
    assert [(h.tag, h.file) for h in r.hits] == [("(0029,1010)", "series.json")]
    # without the public text, the same values are (false) hits
    r = audit_identifiers(folder=_folder(tmp_path), identifiers=values)
    assert {h.tag for h in r.hits} == {"(0051,1016)", "TextValue", "(0029,1010)"}


def test_names_ids_and_dates_are_never_skipped_as_public_text(tmp_path):
    values: dict[str, str] = {}
    add_value(values, "Zimmermann", "(0029,1020)")  # first seen in a private tag ...
    add_value(values, "Zimmermann", "PatientName")  # ... then as the patient's name
    add_value(values, "Zimmermann", "(0029,1030)")
    assert values == {"Zimmermann": "PatientName"}
    r = audit_identifiers(folder=_folder(tmp_path), identifiers=values, public_text=PUBLIC,
                          free_text_origins={"TextValue"})  # fmt: skip
    assert [h.tag for h in r.hits] == ["PatientName"]  # in a public text, still a hit
    assert "in_public_header_text" not in r.skipped
