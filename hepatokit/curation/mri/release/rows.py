"""What ``mri import-release`` records of each case, decided from the workers' outcomes:
the subject's pseudonym, its ``subjects.parquet`` row, its private row, and a ledger row per
file."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hepatokit.curation.mri.deid.keys import subject_pseudonym
from hepatokit.curation.mri.release.layout import MASK, ReleaseCase
from hepatokit.curation.mri.release.volumes import CaseJob, CaseResult, FileOutcome
from hepatokit.manifest import ManifestRow, excluded, kept, stable_id
from hepatokit.parallel import ItemResult

__all__ = ["STAGE", "Collected", "collect", "pseudonyms"]

log = logging.getLogger("hepatokit.curation.mri.release.rows")
STAGE = "import-release"


def pseudonyms(cases: list[ReleaseCase], key: bytes, length: int) -> list[str]:
    """One subject id per case; a repeated (ID, vendor) gets its own id (the audit flags it)."""
    seen: Counter[str] = Counter()
    out = []
    for case in cases:
        seen[case.original_key] += 1
        text = case.original_patient_id
        if seen[case.original_key] > 1:
            log.warning(
                "case %s appears again in %s: imported under a second pseudonym",
                case.original_patient_id,
                case.folder,
            )
            text = f"{text}\x1f{case.folder}"
        out.append(subject_pseudonym(text, key, length=length))
    return out


@dataclass
class Collected:
    """The records of the imported cases: ledger rows (every file), subjects, private rows."""

    ledger: list[ManifestRow] = field(default_factory=list)
    subjects: list[dict[str, Any]] = field(default_factory=list)
    private: list[dict[str, Any]] = field(default_factory=list)
    squeezed: int = 0


def collect(
    results: Sequence[ItemResult[CaseJob, CaseResult]], sequences: tuple[str, ...]
) -> Collected:
    """Each case's files into the ledger; a case with at least one readable sequence also
    into the subjects and private rows (else its kept files become ``no_sequence_in_case``).
    A worker that failed on the whole case excludes all its files as ``corrupt``."""
    out = Collected()
    for res in results:
        job = res.item
        if res.value is None:  # the worker failed on the whole case: every file excluded
            outcome = CaseResult(
                files=[FileOutcome(r, 0, None, "corrupt", res.error) for r in job.case.files]
            )
        else:
            outcome = res.value
        has_sequence = any(s in sequences for s in outcome.volumes)
        for f in outcome.files:
            if f.reason is None and not has_sequence:
                f.reason, f.detail = "no_sequence_in_case", "the case has no readable sequence"
            out.ledger.append(_ledger_row(f, job))
        if not has_sequence:
            log.warning("case %s has no readable sequence: not imported", job.case.folder)
            continue
        out.squeezed += len(outcome.squeezed)
        out.subjects.append(_subject_row(job, outcome, sequences))
        out.private.append(_private_row(job))
    return out


def _ledger_row(f: FileOutcome, job: CaseJob) -> ManifestRow:
    item = stable_id("file", f.rel)
    common: dict[str, Any] = {
        "kind": "file",
        "stage": STAGE,
        "source": f.rel,
        "size": f.size,
        "checksum": f.checksum,
    }
    if f.reason is None:
        return kept(item, detail=f"{f.sequence} → {f.output}", **common)
    return excluded(item, reason=f.reason, detail=f.detail, **common)


def _subject_row(job: CaseJob, res: CaseResult, sequences: tuple[str, ...]) -> dict[str, Any]:
    stage = job.case.stage
    row: dict[str, Any] = {
        "subject_id": job.subject_id,
        "center": job.info.center,
        "vendor": job.info.vendor,
        "scanner": job.info.scanner,
        "field_strength": None,
        "stage": stage,
        "cirrhosis": None if stage is None else int(stage == "S4"),
        "significant_fibrosis": None if stage is None else int(stage != "S1"),
        "sequences": [s for s in sequences if s in res.volumes],
    }
    for s in sequences:
        row[f"volume_{s}"] = res.volumes.get(s)
    row["mask_GED4"] = res.volumes.get(MASK)
    row["release_split"] = job.case.release_split
    return row


def _private_row(job: CaseJob) -> dict[str, Any]:
    return {
        "original_patient_id": job.case.original_patient_id,
        "original_key": job.case.original_key,
        "subject_id": job.subject_id,
        "release_case": Path(job.case.folder).name,
        "release_folder": job.case.folder,
        "release_split": job.case.release_split,
    }
