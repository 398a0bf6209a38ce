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
The report (``reports/phi_audit.json`` / ``.md``) shows masked values only. A published
dataset folder (``published=``, or a dataset folder passed as ``build``) is scanned whole and
its report is written outside it (``BUILD/reports/published/``, or ``<FOLDER>.phi_audit/``
beside it, or ``report_dir``): nothing is ever added to a folder that is published.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Mapping
from concurrent.futures import Executor
from pathlib import Path

from hepatokit.contracts.common import MANIFEST_DIR, PRIVATE, RAW_ROOT, RECIPE, REPORTS
from hepatokit.curation.mri.deid.phi_values import (
    FREE_TEXT_KEYWORDS,
    add_value,
    collect_header_text,
    collect_phi_values,
    csv_values,
)
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
    "is_published_folder",
    "phi_report_dir",
    "schema_text",
]

log = logging.getLogger("hepatokit.curation.mri.deid.phi_audit")

#: the audit's result and hit types (shared with the histology audit)
PhiAuditResult = IdentifierAuditResult
PhiHit = IdentifierHit


def schema_text(build: Path) -> list[str]:
    """Recipe and schema text of a build: its ``recipe.yaml`` and the column names of its
    tables (a one-word value equal to one of their words is not looked for). A folder
    without a recipe (a published dataset) gets the packaged ``lifs`` recipe's text."""
    out = [" ".join(PUBLIC_COLUMNS), " ".join(PHI_COLUMNS)]
    recipe = build / RECIPE
    if not recipe.is_file():
        from hepatokit.recipe import recipe_path

        recipe = recipe_path("lifs")
    out.append(recipe.read_text(encoding="utf-8", errors="replace"))
    return out


def is_published_folder(folder: str | os.PathLike[str]) -> bool:
    """Whether ``folder`` is a dataset folder written by ``publish build`` (``croissant.json``
    and ``dataset_meta.json``, no manifest) rather than a build."""
    folder = Path(folder)
    return (
        (folder / "croissant.json").is_file()
        and (folder / "dataset_meta.json").is_file()
        and not (folder / MANIFEST_DIR).is_dir()
    )


def phi_report_dir(
    *,
    build: str | os.PathLike[str],
    published: str | os.PathLike[str] | None = None,
    report_dir: str | os.PathLike[str] | None = None,
) -> Path:
    """Where :func:`audit_phi` writes its report: ``report_dir`` if given, else
    ``BUILD/reports/published/`` with ``published``, ``<FOLDER>.phi_audit/`` beside a
    published dataset folder passed as ``build``, else ``BUILD/reports/``."""
    build = Path(build)
    if report_dir is not None:
        return Path(report_dir)
    if published is not None:
        return build / REPORTS / "published"
    if is_published_folder(build):
        return build.parent / f"{build.name}.phi_audit"
    return build / REPORTS


def audit_phi(
    *,
    build: str | os.PathLike[str],
    raw: str | os.PathLike[str] | None = None,
    workers: int | None = None,
    executor: Executor | None = None,
    extra_values: Iterable[str] = (),
    report: bool = True,
    phi_values: Mapping[str, str] | None = None,
    public_text: Iterable[str] | None = None,
    published: str | os.PathLike[str] | None = None,
    report_dir: str | os.PathLike[str] | None = None,
) -> PhiAuditResult:
    """Scan ``build`` (except ``private/``), or the dataset folder ``published``, for every PHI
    value of the raw headers.

    Parameters
    ----------
    build
        The build folder. A dataset folder written by ``publish build`` is accepted too: it
        is scanned whole (``raw`` is then required) and its report goes beside it.
    raw
        The raw DICOM root (default: ``BUILD/private/raw_root.json``).
    extra_values
        More strings to look for (e.g. the clinical CSV's patient IDs).
    report
        Write ``phi_audit.json`` and ``.md`` (masked values only): to ``report_dir`` if
        given, else ``BUILD/reports/`` for a build, ``BUILD/reports/published/`` with
        ``published``, ``<FOLDER>.phi_audit/`` beside a dataset folder passed as ``build``.
    phi_values, public_text
        Values already collected by :func:`collect_header_text` (value → tag, and the
        technical header text), to audit several builds of one raw tree without reading its
        headers again (without ``public_text`` no value is skipped as
        ``in_public_header_text``).
    published
        A dataset folder written by ``publish build`` from ``build``: every file scanned.
    report_dir
        Where the report goes; never inside the folder scanned when it is published.

    Raises
    ------
    BuildStateError
        The folder is missing, or ``report_dir`` lies inside a published folder.
    """
    build = Path(build)
    folder, exclude = _scan_scope(build, published)
    out_dir = phi_report_dir(build=build, published=published, report_dir=report_dir)
    if report and not exclude and _inside(out_dir, folder):
        raise BuildStateError(
            "the PHI report would be written into the published folder",
            path=out_dir,
            hint=f"give a report folder outside {folder} (--out)",
        )
    if phi_values is not None:
        values, text = dict(phi_values), set(public_text or ())
    else:
        values, text = collect_header_text(
            _raw_root(build, raw), workers=workers, executor=executor
        )
    for v in extra_values:
        add_value(values, str(v), "extra")
    return audit_identifiers(
        folder=folder,
        identifiers=values,
        exclude=exclude,
        ignore_text=schema_text(build),
        report_dir=out_dir if report else None,
        workers=workers,
        executor=executor,
        public_text=sorted(text),
        free_text_origins=FREE_TEXT_KEYWORDS,
    )


def _scan_scope(
    build: Path, published: str | os.PathLike[str] | None
) -> tuple[Path, tuple[str, ...]]:
    """The folder to scan and the sub-folders left out: a build without ``private/``, a
    published folder whole."""
    if not build.is_dir():
        raise BuildStateError("build folder not found", path=build)
    if published is not None:
        folder = Path(published)
        if not folder.is_dir():
            raise BuildStateError("published dataset folder not found", path=folder)
        return folder, ()
    return build, (() if is_published_folder(build) else (PRIVATE,))


def _inside(path: Path, folder: Path) -> bool:
    path, folder = path.resolve(), folder.resolve()
    return path == folder or folder in path.parents


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
