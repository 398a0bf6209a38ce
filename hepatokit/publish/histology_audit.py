"""The PHI audit of a histology (HepatoBench) build and of the dataset published from it.

What can identify a patient in a histology build is not in a DICOM header: it is in the
names (a slide id that is a file name such as ``SMITHJOHN-S21-4455``, the patch file names,
their folders) and in the images' metadata (PNG text chunks, EXIF, JPEG comments, TIFF
descriptions). The audit

1. collects those values from the build: every original slide id (the tables hold keyed
   pseudonyms; the originals are in ``BUILD/private/slide_pseudonyms.parquet``, and an old
   build's tables hold them as they are), the raw file stem of every patch of
   ``patches.parquet`` (raw file names from ``BUILD/private/patch_sources.parquet``) and of
   the tiled slides (``BUILD/private/slides.parquet``), and the metadata text ingest found
   in the raw patches (``BUILD/private/patch_metadata.parquet``), plus any
   ``extra_values``;
2. scans, with the engine both datasets share (:mod:`hepatokit.identifier_audit`: decoded
   text, Unicode-aware, whole tokens), every file of the build outside ``private/`` (its
   tables, ledgers and reports hold neutral names and slide pseudonyms only; the tile PNGs,
   written from pixels, are skipped) or every file of a published dataset folder; there,
   every embedded image must also carry no metadata at all
   (:func:`hepatokit.imagemeta.metadata_text`), whatever its text.

Hits are reported masked.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from hepatokit.contracts.common import PRIVATE, RECIPE, REPORTS
from hepatokit.contracts.hepatobench import (
    CURATED,
    PATCH_METADATA,
    PATCHES,
    SLIDES,
    TILES,
    TILES_DIR,
)
from hepatokit.contracts.items import raw_patch_paths
from hepatokit.contracts.tables import TABLE_SCHEMAS
from hepatokit.errors import BuildStateError
from hepatokit.imagemeta import metadata_text
from hepatokit.pseudonyms import slide_originals

__all__ = ["HistologyPhiAudit", "audit_histology_phi", "histology_phi_values"]

log = logging.getLogger("hepatokit.publish.histology_audit")


@dataclass
class HistologyPhiAudit:
    """Audit outcome: ``ok`` when nothing was found."""

    values: int
    files_scanned: int
    images_checked: int
    hits: list[Any] = field(default_factory=list)  # IdentifierHit

    @property
    def ok(self) -> bool:
        return not self.hits

    def __str__(self) -> str:
        state = "PASS" if self.ok else f"FAIL ({len(self.hits)} hit(s))"
        return (
            f"histology PHI audit: {self.values} value(s), {self.files_scanned} file(s), "
            f"{self.images_checked} image(s) checked: {state}"
        )


def histology_phi_values(build: str | os.PathLike[str]) -> dict[str, str]:
    """Identifying values of a histology build: value → tag (``slide_id``, ``file_name``,
    ``image_metadata``)."""
    build = Path(build)
    values: dict[str, str] = {}

    def add(value: object, tag: str) -> None:
        if value is None:
            return
        text = str(value).strip()
        if text:  # too short / numeric: the engine skips it and records why
            values.setdefault(text, tag)

    originals = slide_originals(build)  # pseudonym → original slide id
    for original in sorted(set(originals.values())):
        add(original, "slide_id")
    for name in (PATCHES, TILES, CURATED):
        path = build / name
        if not path.is_file():
            continue
        table = pq.read_table(path)
        cols = table.column_names
        for sid in set(table.column("slide_id").to_pylist()) if "slide_id" in cols else ():
            if sid not in originals:  # an original id (a build keyed before ingest did it)
                add(sid, "slide_id")
        if "path" in cols and name == PATCHES:
            # the names of image files only: a folder's other files (``Thumbs.db``,
            # ``labels.csv``) are excluded at ingest by reason, never shown or published by
            # name, and their stems are common words (``thumbs`` is a folder of the report)
            images = (
                table.column("format").to_pylist() if "format" in cols else [True] * table.num_rows
            )
            raw = raw_patch_paths(build)  # the raw names (the table holds neutral ones)
            ids, rels = table.column("id").to_pylist(), table.column("path").to_pylist()
            for pid, rel, fmt in zip(ids, rels, images, strict=True):
                if fmt:
                    add(Path(str(raw.get(pid, rel))).stem, "file_name")
    slides = build / SLIDES  # tiled slides: their raw file names
    if slides.is_file():
        table = pq.read_table(slides)
        if "file" in table.column_names:
            for rel in table.column("file").to_pylist():
                add(Path(str(rel)).stem, "file_name")
    meta = build / PATCH_METADATA
    if meta.is_file():
        for v in set(pq.read_table(meta).column("value").to_pylist()):
            add(v, "image_metadata")
    return values


def _schema_text(build: Path) -> list[str]:
    """The build's recipe and its tables' column names: a one-word value equal to one of
    their words (a patch named ``background.png``) is not looked for in the build."""
    out = [" ".join(schema.names) for schema in TABLE_SCHEMAS.values()]
    recipe = build / RECIPE
    if recipe.is_file():
        out.append(recipe.read_text(encoding="utf-8", errors="replace"))
    return out


def _images_with_metadata(folder: Path) -> tuple[int, list[str]]:
    """How many images the parquet files under ``folder`` embed, and the names of those that
    still carry any metadata (:func:`hepatokit.imagemeta.metadata_text`)."""
    n, found = 0, []
    for path in sorted(folder.rglob("*.parquet")):
        if PRIVATE in path.relative_to(folder).parts[:1]:
            continue
        table = pq.read_table(path)
        for name in table.column_names:
            kind = table.column(name).type
            if not (pa.types.is_struct(kind) and kind.get_field_index("bytes") >= 0):
                continue
            for cell in table.column(name).to_pylist():
                if cell and isinstance(cell.get("bytes"), bytes):
                    n += 1
                    if metadata_text(cell["bytes"]):
                        found.append(f"{path.relative_to(folder).as_posix()}:{cell.get('path')}")
    return n, found


def audit_histology_phi(
    *,
    build: str | os.PathLike[str],
    published: str | os.PathLike[str] | None = None,
    extra_values: Iterable[str] = (),
    report: bool = True,
    workers: int | None = None,
    executor: Executor | None = None,
) -> HistologyPhiAudit:
    """Audit a histology build's shareable files (no ``published``), or the ``published``
    dataset folder, for the build's identifying values, with the shared engine
    (:func:`hepatokit.identifier_audit.audit_identifiers`); every image a published
    parquet embeds must also carry no metadata at all.

    Parameters
    ----------
    build
        The build folder (values from its tables and ``private/patch_metadata.parquet``).
    published
        A dataset folder written by ``publish build``: every file scanned.
    extra_values
        More strings to look for.
    workers, executor
        Parallelism over files (see :func:`hepatokit.parallel.map_items`; 1: inline, as a
        ``--workers 1`` run asks).
    report
        Write the report: ``BUILD/reports/phi_audit.{json,md}`` for the build (read by
        ``publish build``), ``BUILD/reports/published/phi_audit.{json,md}`` for a
        published folder (masked values only).
    """
    from hepatokit.identifier_audit import IdentifierHit, audit_identifiers, write_report

    build = Path(build)
    if not build.is_dir():
        raise BuildStateError("build folder not found", path=build)
    values = histology_phi_values(build)
    for v in extra_values:
        if str(v).strip():
            values.setdefault(str(v).strip(), "extra")
    exclude: tuple[str, ...]
    ignore: list[str] = []
    if published is not None:
        folder, exclude, report_dir = Path(published), (), build / REPORTS / "published"
    else:
        # every shareable file of the build: tables, ledgers, reports (not private/; not the
        # tile PNGs, written from pixels only, in folders named by pseudonym)
        folder, exclude, report_dir = build, (PRIVATE, TILES_DIR), build / REPORTS
        ignore = _schema_text(build)
    result = audit_identifiers(folder=folder, identifiers=values, exclude=exclude,
                               ignore_text=ignore, own_report=report_dir, workers=workers,
                               executor=executor)  # fmt: skip
    images, with_meta = _images_with_metadata(folder) if published is not None else (0, [])
    result.hits += [IdentifierHit(name, "image_metadata", "(any)", "image") for name in with_meta]
    if report:
        write_report(report_dir, result, title="PHI audit (histology)")
    return HistologyPhiAudit(result.values, result.files_scanned, images, list(result.hits))
