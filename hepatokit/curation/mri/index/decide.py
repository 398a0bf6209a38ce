"""What the index decides for each listed file, from its header record alone (no file is read).

The ledger rules (a kept image needs a PatientID; a second file with a SOPInstanceUID already
kept is a ``duplicate_of`` it, or a ``sop_conflict`` when its pixels differ), the gauss → tesla
fix of old headers, the subject and site pseudonyms, and the non-identifying names that stand
for raw paths in every non-private table. Pure functions over the record columns: whether two
files hold the same pixels is asked of a callable (the stage passes one that reads them).
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hepatokit.curation.mri.config import DeidConfig
from hepatokit.curation.mri.deid.keys import SitePseudonymizer, subject_key, subject_pseudonym
from hepatokit.manifest import stable_id

__all__ = [
    "DECIDE_COLUMNS",
    "FileDecisions",
    "decide_files",
    "file_exclusion",
    "pseudonymous_path",
    "scrub_detail",
    "tesla",
]

log = logging.getLogger("hepatokit.curation.mri.index.decide")

#: the record columns the rules and pseudonyms look at
DECIDE_COLUMNS = (
    "reason", "detail", "patient_id", "institution", "manufacturer", "model", "sop_uid",
    "field_strength",
)  # fmt: skip

Site = tuple[str, str, str]


@dataclass
class FileDecisions:
    """The outcome of every listed file (file order) and the kept images' derived columns.

    ``reasons[i]`` None means kept; ``sources[i]`` is the file's non-identifying name. The kept
    images (rows ``kept_at`` of the records) get ``subject_ids``, ``strengths`` (tesla) and
    ``sites`` (center, vendor, scanner pseudonyms); ``subjects`` maps each original subject
    key to its pseudonym, ``site_rows`` holds the (kind, original, pseudonym) of every site.
    """

    item_ids: list[str]
    reasons: list[str | None] = field(default_factory=list)
    details: list[str | None] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    kept_at: list[int] = field(default_factory=list)
    subject_ids: list[str] = field(default_factory=list)
    strengths: list[float | None] = field(default_factory=list)
    sites: list[Site] = field(default_factory=list)
    subjects: dict[str, str] = field(default_factory=dict)
    site_rows: set[Site] = field(default_factory=set)

    @property
    def outcomes(self) -> list[str]:
        """``kept`` or ``excluded`` per file."""
        return ["excluded" if r is not None else "kept" for r in self.reasons]


def pseudonymous_path(item_id: str, subject_id: str | None = None) -> str:
    """The non-identifying name of a raw file in non-private tables (raw folder and file
    names carry patient names): ``sub-<subject>/<item_id>`` for a kept image,
    ``excluded/<item_id>`` otherwise. The raw path is kept only in ``private/``."""
    return f"sub-{subject_id}/{item_id}" if subject_id else f"excluded/{item_id}"


def scrub_detail(
    detail: str | None, raw_root: str | os.PathLike[str], rel: str, pseudo: str
) -> str | None:
    """An exclusion detail without the raw path (error messages quote file names): the file's
    full path and its relative path become ``pseudo``, the raw root ``RAW``."""
    if not detail:
        return detail
    full = os.path.join(raw_root, rel)  # noqa: PTH118
    detail = detail.replace(full, pseudo).replace(str(raw_root), "RAW")
    return detail.replace(rel, pseudo) if rel else detail


def tesla(field_strength: float | None) -> float | None:
    """MagneticFieldStrength in tesla: values over 100 are gauss (old GE headers)."""
    if field_strength is not None and field_strength > 100:
        return field_strength / 10000.0
    return field_strength


def file_exclusion(
    reason: str | None,
    detail: str | None,
    *,
    patient_id: str | None,
    kept_with_sop: str | None,
    same_pixels: Callable[[], bool],
) -> tuple[str | None, str | None]:
    """The ledger rule of one file: its header's own exclusion, else ``no_patient_id``, else
    ``duplicate_of:<id>`` / ``sop_conflict:<id>`` when ``kept_with_sop`` (the item already kept
    with the same SOPInstanceUID) is given. A reason of None keeps the file."""
    if reason is None and not patient_id:
        return "no_patient_id", "PatientID is empty: the subject is unknown"
    if reason is None and kept_with_sop is not None:
        if same_pixels():
            return f"duplicate_of:{kept_with_sop}", "same SOPInstanceUID as another file"
        return f"sop_conflict:{kept_with_sop}", (
            "same SOPInstanceUID as another file but different pixel data: one of "
            "them is not what its UID says (the first in path order is kept); check "
            "the export"
        )
    return reason, detail


class _Pseudonyms:
    """Subject and site pseudonyms, each computed once per distinct original."""

    def __init__(self, deid: DeidConfig, key: bytes, sites: SitePseudonymizer, out: FileDecisions):
        self.deid, self.key, self.sites, self.out = deid, key, sites, out
        self._site_of: dict[tuple[Any, ...], Site] = {}

    def subject(self, patient_id: str, institution: str | None) -> str:
        original = subject_key(patient_id, institution, self.deid.subject_key)
        sid = self.out.subjects.get(original)
        if sid is None:
            sid = self.out.subjects[original] = subject_pseudonym(
                original, self.key, length=self.deid.subject_id_length
            )
        return sid

    def site(
        self, institution: str | None, maker: str | None, model: str | None, fs: float | None
    ) -> Site:
        """(center, vendor, scanner) pseudonyms of one site; records real → pseudonym rows."""
        found = self._site_of.get((institution, maker, model, fs))
        if found is not None:
            return found
        center = self.sites.center(institution)
        vendor = self.sites.vendor(maker)
        scanner = self.sites.scanner(vendor, model, fs)
        rows = self.out.site_rows
        rows.add(("center", institution or "", center))
        rows.add(("vendor", maker or "", vendor))
        rows.add(("scanner", f"{model or ''} {fs} T", scanner))
        found = self._site_of[(institution, maker, model, fs)] = (center, vendor, scanner)
        return found


def decide_files(
    rels: Sequence[str],
    col: Mapping[str, Sequence[Any]],
    *,
    deid: DeidConfig,
    key: bytes,
    raw_root: str | os.PathLike[str],
    same_pixels: Callable[[str, str], bool],
) -> FileDecisions:
    """Decide every listed file (relative paths ``rels``, in file order).

    ``col`` holds the :data:`DECIDE_COLUMNS` of the records, one value per file;
    ``same_pixels(first, second)`` (relative paths) tells a duplicate from a UID conflict.
    """
    sites = SitePseudonymizer(deid, key).prepare(
        (inst, manu)
        for reason, inst, manu in zip(
            col["reason"], col["institution"], col["manufacturer"], strict=True
        )
        if reason is None
    )
    out = FileDecisions(item_ids=[stable_id("file", rel) for rel in rels])
    names = _Pseudonyms(deid, key, sites, out)
    seen_sop: dict[str, int] = {}
    for i, item in enumerate(out.item_ids):
        sop = col["sop_uid"][i]
        first = seen_sop.get(sop) if sop else None
        reason, detail = file_exclusion(
            col["reason"][i],
            col["detail"][i],
            patient_id=col["patient_id"][i],
            kept_with_sop=None if first is None else out.item_ids[first],
            same_pixels=functools.partial(same_pixels, rels[first or 0], rels[i]),
        )
        if reason is not None:
            if reason.startswith("sop_conflict:"):
                log.warning("%s: %s", item, detail)
            pseudo = pseudonymous_path(item)
            out.reasons.append(reason)
            out.details.append(scrub_detail(detail, raw_root, rels[i], pseudo))
            out.sources.append(pseudo)
            continue
        out.reasons.append(None)
        out.details.append(None)
        if sop:
            seen_sop[sop] = i
        inst, fs = col["institution"][i], tesla(col["field_strength"][i])
        sid = names.subject(col["patient_id"][i], inst)
        out.kept_at.append(i)
        out.sources.append(pseudonymous_path(item, sid))
        out.subject_ids.append(sid)
        out.strengths.append(fs)
        out.sites.append(names.site(inst, col["manufacturer"][i], col["model"][i], fs))
    return out
