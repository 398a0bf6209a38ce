"""PHI values of raw headers and clinical tables: what the PHI audit looks for.

Every raw file is read once (whole header, sequences included; excluded files like DICOMDIR
and SR carry PHI too) and every identifying value kept: person names (VR PN, whole, with
spaces, and each component of ≥ 5 characters), dates (DA / DT, also as ``YYYY-MM-DD``),
patient / other IDs, accession, study ID, institution, address, department, station, device
serial, free-text comments, and the text of private elements (not folder names: a folder
named after a tool or a site matched its name in the build's metadata, and a folder named
after a patient repeats the header's PatientName or PatientID). Which of them the audit
looks for (and which it skips as too short, numeric, dictionary words) is decided and
recorded by :func:`hepatokit.identifier_audit.audit_identifiers`.
"""

from __future__ import annotations

import logging
import os
import re
from concurrent.futures import Executor
from pathlib import Path
from typing import Any

from pydicom.multival import MultiValue

from hepatokit.curation.mri.index.stage import list_raw_files
from hepatokit.parallel import map_items

__all__ = [
    "FREE_TEXT_KEYWORDS",
    "ID_KEYWORDS",
    "MIN_LEN",
    "PUBLIC_TEXT_KEYWORDS",
    "add_value",
    "collect_header_text",
    "collect_phi_values",
    "csv_values",
]

log = logging.getLogger("hepatokit.curation.mri.deid.phi_values")

#: keywords whose whole value is identifying
ID_KEYWORDS = frozenset(
    {
        "PatientID",
        "OtherPatientIDs",
        "IssuerOfPatientID",
        "AccessionNumber",
        "StudyID",
        "InstitutionName",
        "InstitutionAddress",
        "InstitutionalDepartmentName",
        "StationName",
        "DeviceSerialNumber",
        "PatientAddress",
        "PatientTelephoneNumbers",
        "ReferringPhysicianAddress",
        "ReferringPhysicianTelephoneNumbers",
        "MedicalRecordLocator",
        "ImageComments",
        "StudyComments",
        "PatientComments",
        "AdditionalPatientHistory",
        "RequestedProcedureComments",
        "TextValue",
        "PerformedProcedureStepID",
        "ScheduledProcedureStepID",
        "RequestedProcedureID",
        "AdmissionID",
        "ContentCreatorName",
        "PatientBirthName",
        "PatientMotherBirthName",
        "MilitaryRank",
        "RegionOfResidence",
        "CountryOfResidence",
        "EthnicGroup",
        "Occupation",
        "PatientInsurancePlanCodeSequence",
        "DetectorID",
        "GantryID",
        "PlateID",
        "CassetteID",
    }
)
#: free-text keywords among :data:`ID_KEYWORDS` (the audit skips such a value when it is
#: only technical header text, see :data:`PUBLIC_TEXT_KEYWORDS`)
FREE_TEXT_KEYWORDS = frozenset(
    {
        "ImageComments",
        "StudyComments",
        "PatientComments",
        "AdditionalPatientHistory",
        "RequestedProcedureComments",
        "TextValue",
    }
)
#: technical text the build publishes by design (the index's public columns): a private or
#: free-text value found inside one of these identifies no one
PUBLIC_TEXT_KEYWORDS = frozenset(
    {
        "SeriesDescription",
        "ProtocolName",
        "SequenceName",
        "PulseSequenceName",
        "ScanningSequence",
        "SequenceVariant",
        "ImageType",
        "ContrastBolusAgent",
    }
)
_TEXT_VRS = frozenset({"LO", "SH", "ST", "LT", "UT", "PN", "UC"})
MIN_LEN = 4


# ----------------------------------------------------------------------------- collect
def _weak(tag: str) -> bool:
    """An origin whose values the audit may skip as technical text (private, free text)."""
    return tag.startswith("(") or tag in FREE_TEXT_KEYWORDS


def add_value(out: dict[str, str], value: str, tag: str) -> None:
    """Keep ``value`` (stripped, not empty): the audit decides which values it looks for and
    records the others as skipped, with the reason. A value seen under several origins keeps
    the first one, except that a name, ID or date replaces a private or free-text origin (a
    patient name copied into a private tag is still never skipped as technical text)."""
    value = value.strip().strip("\x00").strip()
    if value:
        old = out.get(value)
        if old is None or (_weak(old) and not _weak(tag)):
            out[value] = tag


def _collect_dataset(ds: Any, out: dict[str, str], public: set[str]) -> None:
    for elem in ds:
        if elem.VR == "SQ":
            for item in elem.value or []:
                _collect_dataset(item, out, public)
            continue
        tag = elem.keyword or f"({elem.tag.group:04X},{elem.tag.element:04X})"
        value = elem.value
        if value is None or value == "":
            continue
        values = list(value) if isinstance(value, MultiValue | list | tuple) else [value]
        if elem.keyword in PUBLIC_TEXT_KEYWORDS:
            public.add("\\".join(str(v) for v in values))
        elif elem.VR == "PN":
            for v in values:
                text = str(v)
                add_value(out, text, tag)
                add_value(out, text.replace("^", " ").strip(), tag)
                for part in re.split(r"[\^=\s]+", text):
                    add_value(out, part, tag)
        elif elem.VR in ("DA", "DT"):
            for v in values:
                text = str(v).strip()
                if re.fullmatch(r"\d{8}.*", text):
                    add_value(out, text[:8], tag)
                    add_value(out, f"{text[:4]}-{text[4:6]}-{text[6:8]}", tag)
        elif elem.keyword in ID_KEYWORDS and elem.VR not in ("SQ", "OB", "OW", "UN"):
            for v in values:
                add_value(out, str(v), tag)
        elif elem.tag.is_private and elem.tag.element >= 0x1000:
            for v in values:
                if isinstance(v, bytes):
                    try:
                        v = v.decode("ascii")
                    except UnicodeDecodeError:
                        continue
                    if not v.isprintable():
                        continue
                elif elem.VR not in _TEXT_VRS:
                    continue
                text = str(v)
                if re.search(r"[^\W\d_]", text):
                    add_value(out, text, tag)


def _collect_one(path: str) -> tuple[dict[str, str], set[str]]:
    import warnings

    import pydicom

    out: dict[str, str] = {}
    public: set[str] = set()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True, force=True, defer_size=4096)
        except Exception:
            return out, public
        meta = getattr(ds, "file_meta", None)
        try:
            if meta is not None:
                _collect_dataset(meta, out, public)
            _collect_dataset(ds, out, public)
        except Exception as exc:  # a damaged element: keep what was collected
            log.debug("%s: stopped collecting at a damaged element: %s", path, exc)
    return out, public


def collect_header_text(
    raw: str | os.PathLike[str], *, workers: int | None = None, executor: Executor | None = None
) -> tuple[dict[str, str], set[str]]:
    """Every identifying value of every header under ``raw`` → the tag it came from, and the
    technical text of the same headers (:data:`PUBLIC_TEXT_KEYWORDS`, multi-values joined
    with a backslash as DICOM stores them)."""
    root = Path(raw)
    files = [str(root / rel) for rel, size, _ in list_raw_files(root) if size > 0]
    results = map_items(
        _collect_one, files, executor=executor, workers=workers, description="collect PHI"
    )
    values: dict[str, str] = {}
    public: set[str] = set()
    for res in results:
        found, text = res.value or ({}, set())
        for value, tag in found.items():
            add_value(values, value, tag)
        public |= text
    return values, public


def collect_phi_values(
    raw: str | os.PathLike[str], *, workers: int | None = None, executor: Executor | None = None
) -> dict[str, str]:
    """Every identifying value of every header under ``raw`` → the tag it came from."""
    return collect_header_text(raw, workers=workers, executor=executor)[0]


def csv_values(path: str | os.PathLike[str]) -> list[str]:
    """Identifying cells of a clinical CSV (IDs, dates; short codes like ``S3`` are skipped)."""
    import csv

    out: list[str] = []
    with open(path, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            for value in row.values():
                text = (value or "").strip()
                if re.fullmatch(r"\d{8}", text):
                    out += [text, f"{text[:4]}-{text[4:6]}-{text[6:8]}"]
                elif len(text) >= MIN_LEN:
                    out.append(text)
    return out
