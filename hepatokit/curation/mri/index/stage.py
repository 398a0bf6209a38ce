"""``mri index``: one header read per raw file → ``instances.parquet`` + the ``index`` ledger.

Every file under RAW is listed (sorted, relative POSIX paths) and registered in the manifest
as ``stable_id("file", path)``: kept images go to ``BUILD/instances.parquet`` (technical
columns + pseudonyms only), everything else is excluded with a reason (``not_dicom``,
``truncated``, ``corrupt``, ``dicomdir``, ``non_image``, ``no_patient_id``,
``duplicate_of:<id>``). Identifying values go to ``BUILD/private/instances_phi.parquet``.
Raw folder and file names carry patient names, so the non-private tables (the ``path``
column of ``instances.parquet``, the ledger's ``source`` and exclusion details) name a file
by :func:`pseudonymous_path` (``sub-<subject>/<item_id>``); the raw path is kept only in
``private/`` (``sources.parquet``, ``instances_phi.parquet``).

Resumable: ``BUILD/private/index_cache.parquet`` keeps each file's header record keyed on
path + size + mtime, so a second run over an unchanged tree reads no header at all.

The stage reads (:mod:`.read`: listing, cache, headers in parallel chunks), decides
(:mod:`.decide`: ledger rules, pseudonyms; pure) and writes (:mod:`.write`).
"""

from __future__ import annotations

import functools
import logging
import os
from concurrent.futures import Executor
from dataclasses import astuple, dataclass
from pathlib import Path

import pyarrow as pa

from hepatokit.atomic import write_json_atomic
from hepatokit.contracts.common import RAW_ROOT
from hepatokit.contracts.lifs import INDEX_CACHE, INSTANCES
from hepatokit.curation.mri import INDEX_WORKER_MODULES
from hepatokit.curation.mri.config import DeidConfig, IndexConfig, deid_section, index_section
from hepatokit.curation.mri.deid.keys import load_deid_key
from hepatokit.curation.mri.index.decide import DECIDE_COLUMNS, decide_files, pseudonymous_path
from hepatokit.curation.mri.index.read import (
    in_file_order,
    list_raw_files,
    load_cache,
    read_all,
    reuse_cache,
    same_pixels,
    unreadable_records,
    with_stat,
)
from hepatokit.curation.mri.index.records import INSTANCE_SCHEMA, warm_worker
from hepatokit.curation.mri.index.write import (
    index_tables,
    ledger_columns,
    raw_sources,
    write_index,
)
from hepatokit.errors import DataFormatError
from hepatokit.parallel import start_pool
from hepatokit.recipe import stage_section

__all__ = [
    "INSTANCE_SCHEMA",
    "IndexSummary",
    "index_dicom",
    "list_raw_files",
    "pseudonymous_path",
    "raw_sources",
]

log = logging.getLogger("hepatokit.curation.mri.index.stage")

Listing = list[tuple[str, int, int]]


@dataclass(frozen=True)
class IndexSummary:
    """What ``index_dicom`` did: files seen, kept images, excluded, headers actually read."""

    files: int
    kept: int
    excluded: int
    headers_read: int
    subjects: int
    instances_path: Path


def index_dicom(
    *,
    raw: str | os.PathLike[str],
    out: str | os.PathLike[str],
    recipe: str | os.PathLike[str] | None = None,
    index: IndexConfig | None = None,
    deid: DeidConfig | None = None,
    recipe_sha256: str | None = None,
    workers: int | None = None,
    executor: Executor | None = None,
    key_file: str | os.PathLike[str] | None = None,
    demo_key: bool = False,
) -> IndexSummary:
    """Index every file under ``raw`` into ``out`` (the build folder).

    Parameters
    ----------
    raw
        Root of the DICOM export (any folder layout).
    out
        Build folder; ``instances.parquet``, ``manifest/index.parquet`` and ``private/``.
    recipe
        Recipe path or name (default: ``BUILD/recipe.yaml`` or the packaged ``lifs``), read
        only for the sections not given.
    index, deid, recipe_sha256
        The recipe's ``index`` and ``deid`` sections and its hash (for the ledger's
        provenance), as a pipeline resolved them; given both sections, no recipe is read.
    workers, executor
        Parallelism (see :func:`hepatokit.parallel.map_items`).
    key_file, demo_key
        Where the pseudonym key comes from (see :func:`~.deid.load_deid_key`).
    """
    raw_root = Path(raw).resolve()
    if not raw_root.is_dir():
        raise DataFormatError(
            "raw input is not a folder", path=os.fspath(raw), hint="give the DICOM root"
        )
    build = Path(out)
    given = None if index is None or deid is None else (index, deid, recipe_sha256)
    index, deid, sha = stage_section(
        build,
        given,
        None if recipe is None else os.fspath(recipe),
        default="lifs",
        pick=lambda rec: (index or index_section(rec), deid or deid_section(rec), rec.sha256),
    )
    key = load_deid_key(config=deid, key_file=key_file, demo_key=demo_key)
    # the workers start (the forkserver importing the readers first) in a thread while this
    # process lists the tree
    with start_pool(
        executor=executor, workers=workers, preload=INDEX_WORKER_MODULES, warm=warm_worker
    ) as pool:
        if pool is not None:
            pa.array([0])  # pyarrow imports pandas on its first conversion: now, not after reads
        files, records, read = _read_records(
            raw_root, build, use_cache=index.cache, workers=workers, executor=pool
        )
    write_json_atomic(build / RAW_ROOT, {"raw_root": str(raw_root)})
    rels = [rel for rel, _, _ in files]
    d = decide_files(
        rels,
        {name: records[name].to_pylist() for name in DECIDE_COLUMNS},
        deid=deid,
        key=key,
        raw_root=raw_root,
        same_pixels=functools.partial(same_pixels, raw_root),
    )
    tables = index_tables(build, files, records, d)
    tables[build / INDEX_CACHE] = with_stat(records, files)
    write_index(build, tables, ledger_columns(files, d), recipe_sha256=sha)
    summary = IndexSummary(
        files=len(files),
        kept=len(d.kept_at),
        excluded=len(files) - len(d.kept_at),
        headers_read=read,
        subjects=len(set(d.subjects.values())),
        instances_path=build / INSTANCES,
    )
    log.info("index: %d files, %d images kept, %d excluded, %d headers read", *astuple(summary)[:4])
    return summary


def _read_records(
    raw_root: Path,
    build: Path,
    *,
    use_cache: bool,
    workers: int | None,
    executor: Executor | None,
) -> tuple[Listing, pa.Table, int]:
    """The listing of ``raw_root``, one record per listed file (file order): cached ones
    reused, unreadable entries recorded, every other header read; and how many were read."""
    problems: dict[str, tuple[str, str]] = {}
    files = list_raw_files(raw_root, problems)
    cache = load_cache(build / INDEX_CACHE) if use_cache else None
    tables: list[pa.Table] = []
    known: set[str] = set()
    if cache is not None:
        reused, known = reuse_cache(cache, files)
        tables.append(reused)
    unreadable = unreadable_records(files, problems)
    if unreadable is not None:
        tables.append(unreadable)
    todo = [rel for rel, size, _ in files if size >= 0 and rel not in known]
    tables += read_all(os.fspath(raw_root), todo, workers=workers, executor=executor)
    return files, in_file_order(tables, files), len(todo)
