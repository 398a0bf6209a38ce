"""The decisions of ingest (pure: no file is read or written).

:func:`pre_exclusions` excludes the entries that are not patches to decode (a discovery
problem, a label outside the recipe's classes); :func:`ingest_rows` turns every entry and
its outcome (the per-file result, or its pre-exclusion) into the rows of
``patches.parquet``, ``hashes.parquet``, the raw QC scores, the patch metadata text, the
raw paths (private) and the ``ingest`` ledger. Raw folder and file names may name
patients: the non-private rows hold :func:`neutral_patch_path` instead, and each slide id
its keyed pseudonym (:mod:`hepatokit.pseudonyms`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hepatokit.contracts.hepatobench import neutral_patch_path
from hepatokit.curation.patho.ingest.discover import PatchEntry
from hepatokit.manifest import ManifestRow, excluded, kept, stable_id

__all__ = ["IngestRows", "class_map", "ingest_rows", "pre_exclusions"]

log = logging.getLogger("hepatokit.curation.patho.ingest.stage")
STAGE = "ingest"


@dataclass
class IngestRows:
    """The rows ingest writes, and the counts of its summary."""

    patches: list[dict[str, Any]] = field(default_factory=list)
    hashes: list[dict[str, Any]] = field(default_factory=list)
    scores: list[dict[str, Any]] = field(default_factory=list)
    metadata: list[dict[str, str]] = field(default_factory=list)
    sources: list[dict[str, str]] = field(default_factory=list)  # id → raw path (private)
    ledger: list[ManifestRow] = field(default_factory=list)
    excluded: dict[str, int] = field(default_factory=dict)
    kept: int = 0


def class_map(classes: Sequence[str], aliases: Mapping[str, str]) -> dict[str, str]:
    """Lower-case label or alias → recipe class (aliases to unknown classes are dropped)."""
    mapping = {c.lower(): c for c in classes}
    for alias, target in aliases.items():
        if target in classes:
            mapping[alias.lower()] = target
    return mapping


def pre_exclusions(
    entries: Sequence[PatchEntry], classes: Mapping[str, str], names: Sequence[str]
) -> dict[int, tuple[str, str]]:
    """``{entry index: (reason, detail)}`` of the entries excluded before any decode.

    ``classes`` is :func:`class_map`'s mapping, ``names`` the recipe's classes (for the
    message).
    """
    pre: dict[int, tuple[str, str]] = {}
    for k, e in enumerate(entries):
        if e.problem is not None:
            pre[k] = (e.problem, e.detail or e.problem)
        elif e.label is None or e.label.lower() not in classes:
            pre[k] = ("unknown_class", f"label {e.label!r} is not one of {', '.join(names)}")
    return pre


def ingest_rows(
    entries: Sequence[PatchEntry],
    pre: Mapping[int, tuple[str, str]],
    pre_sizes: Mapping[int, int | None],
    results: Mapping[int, dict[str, Any]],
    classes: Mapping[str, str],
    extensions: set[str],
    slides: Mapping[str, str],
) -> IngestRows:
    """Every entry's rows, in entry order.

    Parameters
    ----------
    entries
        The discovered files.
    pre, pre_sizes
        :func:`pre_exclusions`, and the size in bytes of each pre-excluded entry that is a
        regular file (else None).
    results
        The per-file result of every other entry (see
        :func:`~hepatokit.curation.patho.ingest.analyse.analyse_file`).
    classes, extensions
        :func:`class_map`'s mapping; the image extensions (lower case).
    slides
        Original slide id → its keyed pseudonym (the only form the rows hold).
    """
    out = IngestRows()
    for k, e in enumerate(entries):
        pid = stable_id("patch", e.rel) if not e.id_extra else stable_id("patch", e.rel, e.id_extra)
        if k in pre:
            reason, detail = pre[k]
            r: dict[str, Any] = {"reason": reason, "detail": detail, "bytes": pre_sizes.get(k)}
        else:
            r = results[k]
        out.sources.append({"id": pid, "path": e.rel})
        name = neutral_patch_path(pid, e.rel)
        if r["reason"] is None and not any(e.rel.lower().endswith(x) for x in extensions):
            log.info("%s: image with an unexpected extension, kept", name)
        out.patches.append(
            {
                "id": pid, "path": name, "class": classes.get((e.label or "").lower()),
                "slide_id": None if e.slide_id is None else slides[e.slide_id],
                "width": r.get("width"), "height": r.get("height"),
                "mode": r.get("mode"), "bytes": r.get("bytes"), "md5": r.get("md5"),
                "format": r.get("format"), "ingest_reason": r["reason"],
            }
        )  # fmt: skip
        _outcome(out, pid, e, r)
    return out


def _outcome(out: IngestRows, pid: str, e: PatchEntry, r: dict[str, Any]) -> None:
    """The ledger row of one entry, and its hash / score / metadata rows when kept."""
    checksum = f"md5:{r['md5']}" if r.get("md5") else None
    common: dict[str, Any] = {"kind": "patch", "stage": STAGE,
                              "source": neutral_patch_path(pid, e.rel),
                              "size": r.get("bytes")}  # fmt: skip
    if r["reason"] is not None:
        out.excluded[r["reason"]] = out.excluded.get(r["reason"], 0) + 1
        out.ledger.append(
            excluded(pid, reason=r["reason"], checksum=checksum, detail=r.get("detail"), **common)
        )
        return
    out.kept += 1
    note = "resized" if r.get("resized") else None
    out.ledger.append(kept(pid, checksum=checksum, detail=note, **common))
    out.hashes.append(
        {"id": pid, "md5": r["md5"], "pixel_sha256": r["pixel_sha256"],
         "phash": r["phash"], "dhash": r["dhash"]}
    )  # fmt: skip
    out.scores.append({"id": pid, **r["scores"]})
    out.metadata += [{"id": pid, "value": v} for v in r.get("meta") or []]
