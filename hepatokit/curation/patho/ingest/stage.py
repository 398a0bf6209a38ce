"""``patho ingest``: find every patch file, decode it once, record it in the manifest.

Two layouts are read:

* **class folders** ``ROOT/<CLASS>/.../<file>``: the class is the first folder under ROOT
  (case-insensitive, through ``ingest.class_aliases``); files directly in ROOT are not
  patches (e.g. a README): they are inputs excluded as ``no_class_folder``. The tree is
  walked with :func:`hepatokit.safeio.walk_tree`: symlinked folders followed once, and
  unreadable folders, FIFOs / devices, broken links and non-UTF-8 names recorded as
  excluded inputs (never skipped silently, never opened); files are read with a size
  bound (``ingest.max_file_mb``, else ``too_large``).
* **a table** (CSV or parquet) with a path column (relative to the table's folder), a label
  column and optionally a slide column (names in the recipe).

Every file found becomes one manifest row (kept, or excluded with ``corrupt``,
``not_image``, ``unknown_class``, ``wrong_size``, ``missing``...) and one row of
``BUILD/patches.parquet`` (``ingest_reason`` is null for kept files). Raw folder and file
names may name patients: ``patches.parquet`` and the manifest name each file by a neutral
``patch/<id>.<ext>``, the raw relative path is kept in ``BUILD/private/patch_sources.parquet``
only; the slide id read from the name (or the table) is stored as its keyed pseudonym
(:mod:`hepatokit.pseudonyms`), the original only in
``BUILD/private/slide_pseudonyms.parquet``. Hashes go to
``hashes.parquet`` and the raw QC scores to ``cache/qc_scores.parquet`` (same decode).

Read (discover the files, measure each once: :mod:`.analyse`, unchanged files from the
cache) → decide (:mod:`.rows`, pure) → write (tables, ledger, cache).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from hepatokit.atomic import write_parquet_atomic
from hepatokit.contracts import start_build, write_table
from hepatokit.contracts.common import write_raw_root
from hepatokit.contracts.hepatobench import (
    HASH_SCHEMA,
    HASHES,
    PATCH_METADATA,
    PATCH_SCHEMA,
    PATCH_SOURCE_SCHEMA,
    PATCH_SOURCES,
    PATCHES,
    SCORES,
)
from hepatokit.curation.patho.config import (
    FeaturesConfig,
    IngestConfig,
    features_section,
    stage_provenance,
)
from hepatokit.curation.patho.features.hashing import hash_versions
from hepatokit.curation.patho.features.table import SCORE_SCHEMA
from hepatokit.curation.patho.ingest.analyse import FileTask, analyse_file
from hepatokit.curation.patho.ingest.cache import IngestCache
from hepatokit.curation.patho.ingest.discover import PatchEntry, discover_patches
from hepatokit.curation.patho.ingest.rows import (
    IngestRows,
    class_map,
    ingest_rows,
    pre_exclusions,
)
from hepatokit.manifest import Manifest
from hepatokit.parallel import map_items
from hepatokit.pseudonyms import build_key, write_slide_pseudonyms
from hepatokit.recipe import stage_section

__all__ = ["IngestSummary", "ingest_patches"]

log = logging.getLogger("hepatokit.curation.patho.ingest.stage")
STAGE = "ingest"


@dataclass(frozen=True)
class IngestSummary:
    """Counts of one ingest run."""

    files: int
    kept: int
    excluded: dict[str, int]

    def __str__(self) -> str:
        ex = ", ".join(f"{k}={v}" for k, v in sorted(self.excluded.items())) or "none"
        return f"{self.files} files: {self.kept} kept, excluded: {ex}"


def ingest_patches(
    *,
    root: str | os.PathLike[str],
    out: str | os.PathLike[str],
    ingest: IngestConfig | None = None,
    features: FeaturesConfig | None = None,
    classes: Sequence[str] | None = None,
    recipe: str | os.PathLike[str] | None = None,
    workers: int | None = None,
    executor: Executor | None = None,
    allow_outside_root: bool = False,
    key_file: str | os.PathLike[str] | None = None,
) -> IngestSummary:
    """Ingest a class-folder tree or a patch table into ``out`` (see the module docstring).

    Parameters
    ----------
    root
        Class-folder root, or a CSV / parquet table of ``path, label[, slide_id]``.
    out
        Build folder (created).
    ingest, features, classes
        The recipe's ``ingest`` and ``features`` sections and its classes; each not given
        is read from ``recipe`` (default ``BUILD/recipe.yaml``, else the packaged
        hepatobench).
    workers, executor
        Parallelism (see :func:`hepatokit.parallel.map_items`).
    allow_outside_root
        A table's paths may lead outside the table's folder (absolute, ``../``); else such
        rows are excluded as ``outside_root``.
    key_file
        File holding the pseudonym key of the slide ids (else ``$HEPATOKIT_DEID_KEY``, else
        the build's own key: :func:`hepatokit.pseudonyms.build_key`).
    """
    build = Path(out)
    build.mkdir(parents=True, exist_ok=True)
    rec_path = None if recipe is None else os.fspath(recipe)
    cfg = stage_section(build, ingest, rec_path, default="hepatobench",
                        pick=lambda rec: rec.section("ingest", IngestConfig))  # fmt: skip
    feats = stage_section(build, features, rec_path, default="hepatobench", pick=features_section)
    names = tuple(stage_section(build, classes, rec_path, default="hepatobench",
                                pick=lambda rec: rec.classes))  # fmt: skip
    raw_root, entries = discover_patches(Path(root), cfg, allow_outside_root=allow_outside_root)
    write_raw_root(build, raw_root)
    mapping = class_map(names, cfg.class_aliases)
    pre = pre_exclusions(entries, mapping, names)
    results, cache = _measure(build, raw_root, entries, pre, cfg, feats, workers, executor)
    exts = {e.lower() for e in cfg.extensions}
    originals = (e.slide_id for e in entries if e.slide_id is not None)
    slides = write_slide_pseudonyms(build, STAGE, originals, build_key(build, key_file))
    rows = ingest_rows(entries, pre, _sizes(raw_root, entries, pre), results, mapping, exts,
                       slides)  # fmt: skip
    _write(build, rows)
    cache.save()
    return IngestSummary(files=len(entries), kept=rows.kept, excluded=rows.excluded)


def _measure(
    build: Path,
    raw_root: Path,
    entries: list[PatchEntry],
    pre: dict[int, tuple[str, str]],
    cfg: IngestConfig,
    feats: FeaturesConfig,
    workers: int | None,
    executor: Executor | None,
) -> tuple[dict[int, dict[str, Any]], IngestCache]:
    """The per-file result of every entry not pre-excluded: from the cache when the file and
    the options are unchanged, else read and decoded on the executor; the cache updated."""
    exts = {e.lower() for e in cfg.extensions}
    expected = (cfg.expected_size[0], cfg.expected_size[1]) if cfg.expected_size else None
    opts_key = json.dumps([expected, cfg.size_policy, feats.dhash, sorted(exts), cfg.max_file_mb])
    cache = IngestCache(build, opts_key)
    max_bytes = int(cfg.max_file_mb * (1 << 20))
    todo: list[int] = []
    tasks: list[FileTask] = []
    by_index: dict[int, dict[str, Any]] = {}
    stats: dict[int, tuple[int, int] | None] = {}
    for k, e in enumerate(entries):
        if k in pre:
            continue
        stats[k] = IngestCache.stat(raw_root / e.rel)
        cached = cache.get(e.rel, stats[k])
        if cached is not None:
            by_index[k] = cached
            continue
        todo.append(k)
        tasks.append(FileTask(str(raw_root / e.rel), expected, cfg.size_policy, feats.dhash,
                              frozenset(exts), max_bytes))  # fmt: skip
    if by_index:
        log.info("ingest: %d unchanged file(s) reused from the cache", len(by_index))
    results = map_items(analyse_file, tasks, workers=workers, executor=executor,
                        description="ingest")  # fmt: skip
    for k, res in zip(todo, results, strict=True):
        by_index[k] = (
            res.value if res.ok and res.value else {"reason": "corrupt", "detail": res.error}
        )
    for k in sorted(by_index):
        if by_index[k].get("reason") not in ("missing", "unreadable"):
            cache.put(entries[k].rel, stats.get(k), by_index[k])
    return by_index, cache


def _sizes(
    raw_root: Path, entries: list[PatchEntry], pre: dict[int, tuple[str, str]]
) -> dict[int, int | None]:
    """The size of each pre-excluded entry that is a regular file (None otherwise)."""
    sizes: dict[int, int | None] = {}
    for k in pre:
        sizes[k] = None
        path = raw_root / entries[k].rel
        with contextlib.suppress(OSError):
            if path.is_file():
                sizes[k] = path.stat().st_size
    return sizes


_METADATA_SCHEMA = pa.schema([("id", pa.string()), ("value", pa.string())])


def _write(build: Path, rows: IngestRows) -> None:
    """The tables, the metadata text (private) and the ledger of one ingest run (and
    ``build.json``: an ingest starts a HepatoBench build)."""
    start_build(build, "hepatobench")
    write_table(build, PATCHES, pa.Table.from_pylist(rows.patches, schema=PATCH_SCHEMA))
    write_table(build, HASHES, pa.Table.from_pylist(rows.hashes, schema=HASH_SCHEMA))
    write_parquet_atomic(build / SCORES, pa.Table.from_pylist(rows.scores, schema=SCORE_SCHEMA))
    write_parquet_atomic(
        build / PATCH_METADATA, pa.Table.from_pylist(rows.metadata, schema=_METADATA_SCHEMA)
    )
    write_parquet_atomic(
        build / PATCH_SOURCES, pa.Table.from_pylist(rows.sources, schema=PATCH_SOURCE_SCHEMA)
    )
    if rows.metadata:
        log.info(
            "ingest: %d patch(es) carry text metadata (never published: publish rebuilds every "
            "image without it)", len({r["id"] for r in rows.metadata}),
        )  # fmt: skip
    info = stage_provenance(build, stage=STAGE, extra={"hash_versions": hash_versions()})
    Manifest(build).record(STAGE, rows.ledger, introduces=True, provenance_info=info)
