"""``audit phi``: find any raw-header PHI value anywhere in a build's non-private outputs.

1. Collect (:mod:`.phi_values`): every raw file under RAW is read once (whole header,
   sequences included, every file: excluded ones like DICOMDIR and SR carry PHI too, text
   decoded with its Specific Character Set by pydicom) and every identifying value is kept:
   person names (VR PN, whole, with spaces, and per component), dates (DA / DT, also as
   ``YYYY-MM-DD``), patient / other IDs, accession, study ID, institution, address,
   department, station, device serial, free-text comments, the text of private elements.
2. Scan (:func:`hepatokit.identifier_audit.audit_identifiers`): the decoded text of every
   file under BUILD except ``private/`` (never published), Unicode-aware, whole tokens;
   values that cannot identify anyone (too short, numeric-only, one dictionary word, a word
   of the recipe or of the tables' column names) are skipped, each recorded with its reason.

Any hit makes the audit fail (exit 1 from the CLI; ``publish build`` refuses the build).
The report (``reports/phi_audit.json`` / ``.md``) shows masked values only.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Mapping
from concurrent.futures import Executor
from pathlib import Path

from hepatokit.contracts.common import PRIVATE, RAW_ROOT, RECIPE, REPORTS
from hepatokit.curation.mri.deid.phi_values import add_value, collect_phi_values, csv_values
from hepatokit.curation.mri.dicom.tags import PHI_COLUMNS, PUBLIC_COLUMNS
from hepatokit.errors import BuildStateError, DataFormatError
from hepatokit.identifier_audit import (
    IdentifierAuditResult,
    IdentifierHit,
    audit_identifiers,
)

__all__ = [
    "PhiAuditResult",
    "PhiHit",
    "audit_phi",
    "collect_phi_values",
    "csv_values",
    "schema_text",
]

log = logging.getLogger("hepatokit.curation.mri.deid.phi_audit")

#: the audit's result and hit types (shared with the histology audit)
PhiAuditResult = IdentifierAuditResult
PhiHit = IdentifierHit


def schema_text(build: Path) -> list[str]:
    """Recipe and schema text of a build: its ``recipe.yaml`` and the column names of its
    tables (a one-word value equal to one of their words is not looked for)."""
    out = [" ".join(PUBLIC_COLUMNS), " ".join(PHI_COLUMNS)]
    recipe = build / RECIPE
    if recipe.is_file():
        out.append(recipe.read_text(encoding="utf-8", errors="replace"))
    return out


def audit_phi(
    *,
    build: str | os.PathLike[str],
    raw: str | os.PathLike[str] | None = None,
    workers: int | None = None,
    executor: Executor | None = None,
    extra_values: Iterable[str] = (),
    report: bool = True,
    phi_values: Mapping[str, str] | None = None,
) -> PhiAuditResult:
    """Scan ``build`` (except ``private/``) for every PHI value of the raw headers.

    Parameters
    ----------
    raw
        The raw DICOM root (default: ``BUILD/private/raw_root.json``).
    extra_values
        More strings to look for (e.g. the clinical CSV's patient IDs).
    report
        Write ``BUILD/reports/phi_audit.json`` and ``.md`` (masked values only).
    phi_values
        Values already collected by :func:`collect_phi_values` (value → tag), to audit
        several builds of one raw tree without reading its headers again.
    """
    build = Path(build)
    if not build.is_dir():
        raise BuildStateError("build folder not found", path=build)
    if phi_values is not None:
        values = dict(phi_values)
    else:
        values = collect_phi_values(_raw_root(build, raw), workers=workers, executor=executor)
    for v in extra_values:
        add_value(values, str(v), "extra")
    return audit_identifiers(
        folder=build,
        identifiers=values,
        exclude=(PRIVATE,),
        ignore_text=schema_text(build),
        report_dir=build / REPORTS if report else None,
        workers=workers,
        executor=executor,
    )


def _raw_root(build: Path, raw: str | os.PathLike[str] | None) -> Path:
    if raw is None:
        info = build / RAW_ROOT
        if not info.is_file():
            raise BuildStateError(
                "no raw root recorded", path=build, hint="pass --raw RAW (the DICOM root)"
            )
        raw = json.loads(info.read_text())["raw_root"]
    if not Path(raw).is_dir():
        raise DataFormatError("raw input is not a folder", path=str(raw))
    return Path(raw)
