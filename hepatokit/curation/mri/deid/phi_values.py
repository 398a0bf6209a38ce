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

import contextlib
import hashlib
import logging
import os
import re
from concurrent.futures import Executor
from pathlib import Path
from typing import Any, cast

from pydicom.dataelem import RawDataElement
from pydicom.multival import MultiValue

from hepatokit.curation.mri.dicom.scan import scan_elements
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


#: the VRs whose values :func:`_collect_element` keeps whatever the keyword
_VALUE_VRS = frozenset({"SQ", "PN", "DA", "DT"})


class _Seen:
    """What one worker has collected already, to skip the elements that add nothing new.

    Most header values are the same on every slice of a series, and :func:`add_value` is
    idempotent (a value's origin is its first non-weak origin, else its first one), so an
    element whose raw bytes (with its tag, VR, encoding, character set and private creator)
    were collected before into the same ``out`` cannot change it. ``done`` holds those
    elements (bytes longer than 64 as a 128-bit BLAKE2 digest: a run of files keeps no
    per-slice vendor headers in memory); ``dull`` the ``(tag, raw VR)`` of public elements
    that can never give a value (neither a name, date, ID, sequence nor public text:
    decided by keyword and VR, both fixed by tag and raw VR), never converted.

    Measured on ``synth mri --patients 120`` (22,711 headers, one process): ~1.2 ms CPU a
    file before (pydicom's conversion of every element, ~80 a file, ~75 % of it under a
    profiler), ~0.37 ms with this skip, ~0.2 ms with :func:`_read`'s scanner too
    (bench/RESULTS.md)."""

    __slots__ = ("done", "dull")

    def __init__(self) -> None:
        self.done: set[tuple[Any, ...]] = set()
        self.dull: set[tuple[int, str | None]] = set()


def _collect_element(elem: Any, out: dict[str, str], public: set[str], seen: _Seen) -> bool:
    """Keep the identifying values of one converted element; whether it can hold any."""
    if elem.VR == "SQ":
        for item in elem.value or []:
            _collect_dataset(item, out, public, seen)
        return True
    tag = elem.keyword or f"({elem.tag.group:04X},{elem.tag.element:04X})"
    keep = (
        elem.VR in _VALUE_VRS
        or elem.keyword in PUBLIC_TEXT_KEYWORDS
        or elem.keyword in ID_KEYWORDS
        or elem.tag.is_private
    )
    value = elem.value
    if value is None or value == "":
        return keep
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
        _collect_private(elem, values, out, tag)
    return keep


def _collect_private(elem: Any, values: list[Any], out: dict[str, str], tag: str) -> None:
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


def _collect_dataset(ds: Any, out: dict[str, str], public: set[str], seen: _Seen) -> None:
    """Collect every element of ``ds`` (sequences included) into ``out`` / ``public``,
    converting only the elements :class:`_Seen` cannot rule out."""
    charset = None
    for raw in ds.elements():
        if not isinstance(raw, RawDataElement):  # converted already (a sequence read whole)
            _collect_element(raw, out, public, seen)
            continue
        tag = raw.tag
        private = (tag >> 16) & 1
        if not private and (tag, raw.VR) in seen.dull:
            continue
        key = None
        if isinstance(raw.value, bytes):
            if charset is None:
                charset = repr(ds._character_set)
            creator = None
            if private:
                owner = ds.get_item((tag & 0xFFFF0000) | ((tag >> 8) & 0xFF), keep_deferred=True)
                creator = getattr(owner, "value", None)
            value = raw.value  # a long one (a vendor's private header) kept as its digest
            if len(value) > 64:
                value = hashlib.blake2b(value, digest_size=16).digest()
            key = (tag, raw.VR, value, charset, raw.is_implicit_VR, raw.is_little_endian,
                   repr(creator))  # fmt: skip
            if key in seen.done:
                continue
        if not _collect_element(ds[tag], out, public, seen) and not private:
            seen.dull.add((tag, raw.VR))
        if key is not None:
            seen.done.add(key)


_PIXEL_TAGS = frozenset({0x7FE00010, 0x7FE00009, 0x7FE00008})


class _BeforePixels(frozenset[int]):
    """The tags ``dcmread(stop_before_pixels=True)`` reads: every tag until the pixel data
    (one object a file: it stops including at the first pixel data tag)."""

    stopped = False

    def __contains__(self, tag: object) -> bool:
        if tag in _PIXEL_TAGS:
            self.stopped = True
        return not self.stopped


def _read(path: str) -> tuple[Any, Any]:
    """``(file meta, dataset)`` of a header, as ``dcmread(path, stop_before_pixels=True,
    force=True)`` reads them: the plain case with the index's :func:`.scan.scan_elements`
    (few large reads) wrapped in ``Dataset`` s, anything else with ``dcmread`` itself. The
    collection of 4,543 synthetic headers fell from 1.69 s to 0.9 s CPU with it."""
    import pydicom
    from pydicom.uid import PrivateTransferSyntaxes

    with contextlib.suppress(Exception), open(path, "rb") as fh:
        if fh.read(132)[128:] == b"DICM":
            scanned = scan_elements(fh, _BeforePixels(), defer_size=1 << 62)
            if scanned is not None:
                # the scan declines big endian and deflated itself; pydicom's private
                # transfer syntaxes are left to dcmread
                meta, elements, _implicit = scanned
                uid = bytes(meta[0x00020010].value or b"")
                syntax = uid.rstrip(b"\x00 ").decode("ascii", "replace")
                if syntax not in PrivateTransferSyntaxes:
                    return pydicom.Dataset(cast(Any, meta)), pydicom.Dataset(cast(Any, elements))
    ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)  # anything else
    return getattr(ds, "file_meta", None), ds


def _collect_files(paths: list[str]) -> tuple[dict[str, str], set[str]]:
    """The values and public text of the headers of ``paths``, in order, into one ``out``."""
    import warnings

    out: dict[str, str] = {}
    public: set[str] = set()
    seen = _Seen()
    for path in paths:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                meta, ds = _read(path)
            except Exception:
                continue
            try:
                if meta is not None:
                    _collect_dataset(meta, out, public, seen)
                _collect_dataset(ds, out, public, seen)
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
    # contiguous runs of files (the values' first origins stay in file order), several a
    # worker; each run shares one :class:`_Seen`
    n = max(1, min(len(files), 8 * (workers or os.cpu_count() or 1)))
    runs = [files[len(files) * i // n : len(files) * (i + 1) // n] for i in range(n)]
    results = map_items(
        _collect_files, runs, executor=executor, workers=workers, description="collect PHI"
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
