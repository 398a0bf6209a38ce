"""Scanning a folder for the audit's values: every file's decoded text (and relative path),
in parallel over files, hits collected with masked values and masked paths."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from concurrent.futures import Executor
from pathlib import Path

from hepatokit.buildlock import LOCK_NAME
from hepatokit.errors import BuildStateError, DataFormatError
from hepatokit.identifier_audit.decode import NUMBERS, file_texts
from hepatokit.identifier_audit.normalise import (
    Firsts,
    by_first,
    match_tokens,
    normalise,
    tokens_of,
)
from hepatokit.identifier_audit.report import (
    REPORT_FILES,
    IdentifierAuditResult,
    IdentifierHit,
    write_report,
)
from hepatokit.identifier_audit.values import (
    MIN_LENGTH,
    MIN_LENGTH_PRIVATE,
    Needles,
    mask,
    prepare_needles,
)
from hepatokit.parallel import map_items

__all__ = ["audit_identifiers", "files_to_scan", "identifier_field", "safe_path"]

#: one scan finding: (masked relative path, where in the file, origin\x1fvalue, 0), or the
#: file's size in characters as (masked relative path, "", "", size)
_Found = tuple[str, str, str, int]


def _scan_job(job: tuple[list[str], str, Needles]) -> list[_Found]:
    paths, root, needles = job
    firsts = by_first(needles)
    found: list[_Found] = []
    for p in paths:
        rel = safe_path(Path(os.path.relpath(p, root)).as_posix(), needles, firsts)
        size = 0
        seen: set[str] = set()
        for where, text in file_texts(p, relative=Path(os.path.relpath(p, root)).as_posix()):
            size += len(text)
            if where.startswith(NUMBERS):
                where, hits = where[len(NUMBERS) :], identifier_field(text, needles)
            else:
                hits = [
                    n
                    for form in set(normalise(text))
                    for n in match_tokens(tokens_of(form), needles, firsts=firsts)
                ]
            for n in hits:
                key = needles[n]
                if key not in seen:
                    seen.add(key)
                    found.append((rel, where, key, 0))
        found.append((rel, "", "", size))
    return found


def identifier_field(text: str, needles: Mapping[tuple[str, ...], str]) -> list[tuple[str, ...]]:
    """The needles of a numeric field (its values one a line, :data:`.decode.NUMBERS`) when
    it is a field of identifiers: more than half of its distinct values are each a whole
    needle (a column of patient IDs or dates stored as numbers). Otherwise none: a number
    of a numeric field that equals a digits-only identifier (a numeric patient name, ID or
    accession) is a size, count or measurement that hepatokit computed (on a 610-patient
    build an output size met a numeric patient name; with realistic 6-digit IDs, such
    sizes met one in 90 % of builds: bench/RESULTS.md), and hepatokit reads identifiers as
    text, never as numbers; the same identifier in any text (a string cell, a JSON string,
    a name, a CSV) is always found."""
    values = set(text.split("\n")) - {""}
    hits = [t for t in (tuple(tokens_of(v.lower())) for v in values) if t in needles]
    return hits if 2 * len(hits) > len(values) else []


def safe_path(rel: str, needles: Mapping[tuple[str, ...], str], firsts: Firsts) -> str:
    """``rel`` with every component that holds a value masked (the report leaks nothing)."""
    parts = rel.split("/")
    for i, part in enumerate(parts):
        for form in set(normalise(part)):
            if match_tokens(tokens_of(form), needles, firsts=firsts):
                parts[i] = mask(part)
                break
    return "/".join(parts)


def files_to_scan(
    folder: Path, exclude: Iterable[str], skip_files: Iterable[str | os.PathLike[str]] = ()
) -> list[Path]:
    """Every file under ``folder`` in sorted walk order, except the top-level ``exclude``,
    the files ``skip_files`` (paths) and a run's lock file
    (:data:`hepatokit.buildlock.LOCK_NAME`: the writer's pid, host and start time, removed
    when the run ends, never published; scanning it made the report's counts differ from
    run to run)."""
    skip = set(exclude)
    unscanned: dict[Path, set[str]] = {}  # folder (resolved) -> names in it not scanned
    for p in map(Path, skip_files):
        unscanned.setdefault(p.parent.resolve(), set()).add(p.name)
    out: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        if Path(dirpath) == folder:
            dirnames[:] = [d for d in dirnames if d not in skip]
        dirnames.sort()
        here = unscanned.get(Path(dirpath).resolve(), set()) if unscanned else set()
        out.extend(Path(dirpath) / f for f in sorted(filenames) if f != LOCK_NAME and f not in here)
    return out


def audit_identifiers(
    *,
    folder: str | os.PathLike[str],
    identifiers: Mapping[str, str],
    exclude: Iterable[str] = ("private",),
    ignore_text: Iterable[str] = (),
    min_length: int = MIN_LENGTH,
    min_length_private: int = MIN_LENGTH_PRIVATE,
    report_dir: str | os.PathLike[str] | None = None,
    workers: int | None = None,
    executor: Executor | None = None,
    public_text: Iterable[str] = (),
    free_text_origins: Iterable[str] = (),
    own_report: str | os.PathLike[str] | None = None,
) -> IdentifierAuditResult:
    """Look for identifying values in every file of ``folder`` (except ``exclude``).

    Parameters
    ----------
    folder
        The build or published folder to audit.
    identifiers
        Value → where it came from (a DICOM keyword, ``(gggg,eeee)`` for a private element,
        a column or ``file name``); the report shows the origin and a masked value.
    exclude
        Top-level folder names not scanned (never published; default ``private``).
    ignore_text
        Recipe and schema text (YAML, column names): a one-word value that is a word of it
        is skipped as ``recipe_or_schema_word``.
    min_length, min_length_private
        Shorter values are skipped as ``too_short`` (the second for unnamed private tags).
    report_dir
        Write ``phi_audit.json`` and ``phi_audit.md`` there (masked values only).
    own_report
        Where the caller writes this audit's report when ``report_dir`` is not given.
        The report an earlier run left in ``report_dir`` (or ``own_report``) is not scanned:
        this run rewrites it, and scanning it made a re-run (or a run resumed after a kill)
        count other files than the first run.
    workers, executor
        Parallelism over files (see :func:`hepatokit.parallel.map_items`).
    public_text, free_text_origins
        Technical header text published by design (series descriptions, image types,
        sequence names): a value of an unnamed private element or of a ``free_text_origins``
        origin found in a row inside one of them is skipped as ``in_public_header_text``.

    Returns
    -------
    IdentifierAuditResult
        ``ok`` False when any value was found; the hits (file, origin, masked value, where
        in the file) and the skipped values counted per reason.
    """
    root = Path(folder)
    if not root.is_dir():
        raise BuildStateError("folder to audit not found", path=root)
    needles, skipped, examples = prepare_needles(
        identifiers, min_length=min_length, min_length_private=min_length_private,
        ignore_text=ignore_text, public_text=public_text, free_text_origins=free_text_origins,
    )  # fmt: skip
    mine = report_dir if report_dir is not None else own_report
    own = [Path(mine) / name for name in REPORT_FILES] if mine is not None else []
    files = [str(p) for p in files_to_scan(root, exclude, own)]
    if len(files) < 64:  # a process pool costs more than scanning a few files
        workers, executor = 1, None
    n_jobs = max(1, min(len(files), 4 * (workers or os.cpu_count() or 1)))
    jobs = [(files[i::n_jobs], str(root), needles) for i in range(n_jobs)] if files else []
    results = map_items(
        _scan_job, jobs, executor=executor, workers=workers, description="scan for identifiers"
    )
    found: list[_Found] = []
    for res in results:
        if not res.ok:
            raise DataFormatError(f"identifier scan failed: {res.error}")
        found.extend(res.value or [])
    hits, n_chars = _hits(found)
    values = len({v for v in needles.values()})
    result = IdentifierAuditResult(values, len(files), n_chars, hits, dict(skipped), examples)
    if report_dir is not None:
        write_report(Path(report_dir), result)
    return result


def _hits(found: Iterable[_Found]) -> tuple[list[IdentifierHit], int]:
    """The hits (masked values, sorted by file, where, origin) and the characters scanned."""
    hits: list[IdentifierHit] = []
    n_chars = 0
    for rel, where, key, size in found:
        if not key:
            n_chars += size
            continue
        tag, value = key.split("\x1f", 1)
        hits.append(IdentifierHit(rel, tag, mask(value), where))
    hits.sort(key=lambda h: (h.file, h.where, h.tag))
    return hits, n_chars
