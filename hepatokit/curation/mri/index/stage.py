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

Speed: workers read chunks of files and return their records as Arrow tables (cheap to send
between processes, no per-row Python objects in the parent); the parent only concatenates
them, and turns the columns into the ledger, pseudonyms and tables in one pass.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from hepatokit.atomic import write_json_atomic, write_parquet_atomic
from hepatokit.curation.mri import INDEX_WORKER_MODULES
from hepatokit.curation.mri.config import mri_config
from hepatokit.curation.mri.deid.keys import (
    SitePseudonymizer,
    load_deid_key,
    subject_key,
    subject_pseudonym,
)
from hepatokit.curation.mri.dicom.tags import (
    PHI_COLUMNS,
    HeaderRecord,
    read_header,
)
from hepatokit.curation.mri.index.records import (
    INSTANCE_SCHEMA,
    RECORD_SCHEMA,
    read_chunk,
    record_table,
    warm_worker,
)
from hepatokit.errors import DataFormatError
from hepatokit.manifest import Manifest, provenance, stable_id
from hepatokit.parallel import default_workers, make_executor, map_items
from hepatokit.recipe import build_recipe
from hepatokit.safeio import walk_tree

__all__ = [
    "INSTANCE_SCHEMA",
    "IndexSummary",
    "index_dicom",
    "list_raw_files",
    "pseudonymous_path",
    "raw_sources",
]

log = logging.getLogger("hepatokit.curation.mri.index.stage")

PHI_SCHEMA = pa.schema(
    [("item_id", pa.string()), ("path", pa.string()), ("subject_id", pa.string())]
    + [(c, pa.string()) for c in PHI_COLUMNS]
)
#: ``private/index_cache.parquet``: the records keyed on path + size + mtime
_CACHE_SCHEMA = pa.schema(
    [RECORD_SCHEMA.field("path"), ("size", pa.int64()), ("mtime_ns", pa.int64())]
    + [f for f in RECORD_SCHEMA if f.name != "path"]
)
#: files per task sent to a worker (bounds: progress granularity vs per-task overhead)
_CHUNK_MIN, _CHUNK_MAX = 16, 512


@dataclass(frozen=True)
class IndexSummary:
    """What ``index_dicom`` did: files seen, kept images, excluded, headers actually read."""

    files: int
    kept: int
    excluded: int
    headers_read: int
    subjects: int
    instances_path: Path


def list_raw_files(
    raw: Path, problems: dict[str, tuple[str, str]] | None = None
) -> list[tuple[str, int, int]]:
    """Every file under ``raw`` as ``(relative posix path, size, mtime_ns)``, sorted.

    The tree is walked with :func:`hepatokit.safeio.walk_tree` (symlinked folders followed
    once). Entries that are not data get size -1 and, in ``problems``, their reason and
    detail: unreadable folders, FIFOs / devices, broken links, symlink loops, names that
    are not UTF-8 (listed by their printable form).
    """
    out: list[tuple[str, int, int]] = []
    for w in walk_tree(raw):
        if w.problem is not None:
            if problems is not None:
                problems[w.shown] = (w.problem, w.detail or w.problem)
            out.append((w.shown, -1, 0))
            continue
        out.append((w.rel, w.size, w.mtime_ns))
    out.sort()
    return out


def _load_cache(path: Path) -> pa.Table | None:
    """An earlier run's cache (None if there is none, or it is unreadable or of another layout)."""
    if not path.is_file():
        return None
    try:
        table = pq.read_table(path)
    except Exception as exc:  # a damaged cache only costs a re-read
        log.warning("ignoring unreadable index cache %s: %s", path, exc)
        return None
    if table.schema != _CACHE_SCHEMA:
        log.info("index cache %s has another layout (older version): re-reading", path)
        return None
    return table


def _chunk_sizes(n: int, workers: int) -> list[int]:
    """Files per task, shrinking towards the end (guided scheduling): each task takes a
    quarter of one worker's share of what is left, within [16, 512] files, so that the
    workers run out of work at nearly the same time."""
    sizes, left = [], n
    while left > 0:
        size = min(left, max(_CHUNK_MIN, min(_CHUNK_MAX, -(-left // (4 * workers)))))
        sizes.append(size)
        left -= size
    return sizes


def _read_all(
    root: str, todo: list[str], *, workers: int | None, executor: Executor | None
) -> list[pa.Table]:
    """Record tables of every file in ``todo``, read in parallel chunks. A chunk whose worker
    died is read again one file at a time, so only the file that kills a worker is lost."""
    if not todo:
        return []
    n_workers = getattr(executor, "_max_workers", None) or workers or 1
    chunks, start = [], 0
    for size in _chunk_sizes(len(todo), n_workers):
        chunks.append(tuple(todo[start : start + size]))
        start += size
    results = map_items(
        read_chunk,
        [(root, chunk) for chunk in chunks],
        executor=executor,
        workers=workers,
        chunksize=1,
        description=f"index DICOM headers ({len(chunks)} tasks)",
    )
    tables = []
    for chunk, res in zip(chunks, results, strict=True):
        if res.ok and res.value is not None:
            tables.append(res.value)
            continue
        log.warning(
            "a worker failed on %d files (%s): reading them one by one", len(chunk), res.error
        )
        singles = map_items(
            read_header,
            [os.path.join(root, rel) for rel in chunk],  # noqa: PTH118
            executor=executor,
            workers=workers,
            description="index DICOM headers (retry)",
        )
        tables.append(
            record_table(
                chunk,
                [
                    r.value if r.ok and r.value is not None else HeaderRecord("corrupt", r.error)
                    for r in singles
                ],
            )
        )
    return tables


def index_dicom(
    *,
    raw: str | os.PathLike[str],
    out: str | os.PathLike[str],
    recipe: str | os.PathLike[str] | None = None,
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
        Recipe path or name (default: ``BUILD/recipe.yaml`` or the packaged ``lifs``).
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
    with contextlib.ExitStack() as stack:
        if executor is None and (workers if workers is not None else default_workers()) > 1:
            executor = stack.enter_context(
                make_executor(workers=workers, preload=INDEX_WORKER_MODULES)
            )
        if executor is not None:
            # the workers start (the forkserver importing the readers first) in a thread, while
            # this process lists the tree; pyarrow imports pandas on its first conversion: here
            # too, now rather than after the reads
            starter = threading.Thread(target=_start_workers, args=(executor, workers), daemon=True)
            starter.start()
            stack.callback(starter.join)  # before the pool shuts down, even on an early error
            pa.array([0])
        return _index(raw_root, Path(out), recipe, executor, workers, key_file, demo_key)


def _start_workers(executor: Executor, workers: int | None) -> None:
    """Submit a no-op per worker so that the pool starts them now (blocks until forked)."""
    for _ in range(getattr(executor, "_max_workers", None) or workers or 1):
        try:
            executor.submit(warm_worker)
        except RuntimeError:  # the pool was shut down (the index stopped early): nothing to do
            return


def _index(
    raw_root: Path,
    build: Path,
    recipe: str | os.PathLike[str] | None,
    executor: Executor | None,
    workers: int | None,
    key_file: str | os.PathLike[str] | None,
    demo_key: bool,
) -> IndexSummary:
    """:func:`index_dicom` once its executor is settled."""
    rec = build_recipe(build, None if recipe is None else os.fspath(recipe), default="lifs")
    cfg = mri_config(rec)
    key = load_deid_key(config=cfg.deid, key_file=key_file, demo_key=demo_key)
    private = build / "private"
    problems: dict[str, tuple[str, str]] = {}
    files = list_raw_files(raw_root, problems)
    cache_path = private / "index_cache.parquet"
    cache = _load_cache(cache_path) if cfg.index.cache else None
    tables: list[pa.Table] = []
    known: set[str] = set()
    if cache is not None:
        current = {rel: (size, mtime) for rel, size, mtime in files if size >= 0}
        hits = [
            current.get(rel) == (size, mtime)
            for rel, size, mtime in zip(
                cache["path"].to_pylist(),
                cache["size"].to_pylist(),
                cache["mtime_ns"].to_pylist(),
                strict=True,
            )
        ]
        reused = cache.filter(pa.array(hits, type=pa.bool_())).drop_columns(["size", "mtime_ns"])
        tables.append(reused.select(RECORD_SCHEMA.names))
        known = set(reused["path"].to_pylist())
    unreadable = [rel for rel, size, _ in files if size < 0]
    if unreadable:
        default = ("not_dicom", "unreadable (broken link or no permission)")
        tables.append(
            record_table(
                unreadable, [HeaderRecord(*problems.get(rel, default)) for rel in unreadable]
            )
        )
    todo = [rel for rel, size, _ in files if size >= 0 and rel not in known]
    tables += _read_all(os.fspath(raw_root), todo, workers=workers, executor=executor)
    records = _in_file_order(tables, files)
    write_json_atomic(private / "raw_root.json", {"raw_root": str(raw_root)})
    summary = _write_tables(
        build,
        raw_root,
        files,
        records,
        cfg,
        key,
        rec.sha256,
        read=len(todo),
        also_write={cache_path: _with_stat(records, files)},
    )
    log.info(
        "index: %d files, %d images kept, %d excluded, %d headers read",
        summary.files,
        summary.kept,
        summary.excluded,
        summary.headers_read,
    )
    return summary


def _in_file_order(tables: list[pa.Table], files: Sequence[tuple[str, int, int]]) -> pa.Table:
    """The record tables as one, one row per listed file, in the listing's order."""
    table = pa.concat_tables([t.cast(RECORD_SCHEMA) for t in tables]) if tables else None
    if table is None:
        return RECORD_SCHEMA.empty_table()
    paths = table["path"].to_pylist()
    if paths == [rel for rel, _, _ in files]:  # the usual case: read chunks in listing order
        return table
    position = {rel: i for i, (rel, _, _) in enumerate(files)}
    if len(paths) != len(files) or len(position) != len(files):
        raise AssertionError("index: records and listed files differ")  # a bug, not bad data
    order = np.empty(len(files), dtype=np.int64)
    order[[position[p] for p in paths]] = np.arange(len(paths))
    return table.take(pa.array(order))


def _with_stat(records: pa.Table, files: Sequence[tuple[str, int, int]]) -> pa.Table:
    """``records`` (in file order) with each file's size and mtime: the cache table."""
    table = records.append_column("size", pa.array([f[1] for f in files], pa.int64()))
    table = table.append_column("mtime_ns", pa.array([f[2] for f in files], pa.int64()))
    return table.select(_CACHE_SCHEMA.names).cast(_CACHE_SCHEMA)


def _same_pixels(root: Path, first: str | None, second: str | None) -> bool:
    """Whether two files (paths relative to the raw ``root``) that share a SOPInstanceUID
    hold the same pixels: same pixel-data bytes, else the same decoded array. Read only for
    duplicated UIDs (rare). Pixels that cannot be decoded here (a transfer syntax without a
    decoder installed) are not provably different: the file stays a plain duplicate."""
    import pydicom

    if first is None or second is None:
        return True
    try:
        a = pydicom.dcmread(root / first, force=True)
        b = pydicom.dcmread(root / second, force=True)
        if a.get("PixelData") is None and b.get("PixelData") is None:
            return True
        if a.get("PixelData") == b.get("PixelData"):
            return True
    except Exception:  # unreadable: not provably different
        return True
    try:
        pixels_a, pixels_b = a.pixel_array, b.pixel_array
    except Exception:  # no decoder for one of them: not provably different
        return True
    return bool(np.array_equal(pixels_a, pixels_b))


def pseudonymous_path(item_id: str, subject_id: str | None = None) -> str:
    """The non-identifying name of a raw file in non-private tables (raw folder and file
    names carry patient names): ``sub-<subject>/<item_id>`` for a kept image,
    ``excluded/<item_id>`` otherwise. The raw path is kept only in ``private/``."""
    return f"sub-{subject_id}/{item_id}" if subject_id else f"excluded/{item_id}"


def raw_sources(build: str | os.PathLike[str]) -> dict[str, str]:
    """item_id → raw path (relative to the raw root) of every indexed file, from
    ``BUILD/private/sources.parquet``."""
    table = pq.read_table(Path(build) / "private" / "sources.parquet")
    return dict(zip(table["item_id"].to_pylist(), table["source"].to_pylist(), strict=True))


def _scrub(detail: str | None, raw_root: Path, rel: str, pseudo: str) -> str | None:
    """An exclusion detail without the raw path (error messages quote file names)."""
    if not detail:
        return detail
    full = os.path.join(raw_root, rel)  # noqa: PTH118
    detail = detail.replace(full, pseudo).replace(str(raw_root), "RAW")
    return detail.replace(rel, pseudo) if rel else detail


def _write_tables(
    build: Path,
    raw_root: Path,
    files: Sequence[tuple[str, int, int]],
    records: pa.Table,
    cfg: Any,
    key: bytes,
    recipe_sha: str,
    *,
    read: int,
    also_write: dict[Path, pa.Table],
) -> IndexSummary:
    """Ledger, ``instances.parquet`` and the private tables from the records (file order),
    and the ``also_write`` tables; the tables are written in threads (pyarrow releases the
    GIL), the ledger once they are all written."""
    col = {
        name: records[name].to_pylist()
        for name in (
            "reason", "detail", "patient_id", "institution", "manufacturer", "model",
            "sop_uid", "field_strength",
        )
    }  # fmt: skip
    sites = SitePseudonymizer(cfg.deid, key).prepare(
        (inst, manu)
        for reason, inst, manu in zip(
            col["reason"], col["institution"], col["manufacturer"], strict=True
        )
        if reason is None
    )
    item_ids = [stable_id("file", rel) for rel, _, _ in files]
    outcomes: list[str] = []
    ledger_reasons: list[str | None] = []
    ledger_details: list[str | None] = []
    sources: list[str] = []  # the non-identifying names (raw paths only in private/)
    subjects: dict[str, str] = {}
    site_rows: set[tuple[str, str, str]] = set()
    site_of: dict[tuple[Any, ...], tuple[str, str, str]] = {}
    seen_sop: dict[str, str] = {}
    kept_at: list[int] = []
    subject_ids, strengths, site_ids = [], [], []
    reasons, details, pids, sops = col["reason"], col["detail"], col["patient_id"], col["sop_uid"]
    path_of_item = dict(zip(item_ids, records["path"].to_pylist(), strict=True))
    institutions, makers, models = col["institution"], col["manufacturer"], col["model"]
    for i, item in enumerate(item_ids):
        reason, pid, sop = reasons[i], pids[i], sops[i]
        if reason is None and not pid:
            reason, detail = "no_patient_id", "PatientID is empty: the subject is unknown"
        elif reason is None and sop and sop in seen_sop:
            first = seen_sop[sop]
            if _same_pixels(raw_root, path_of_item.get(first), path_of_item.get(item)):
                reason, detail = f"duplicate_of:{first}", "same SOPInstanceUID as another file"
            else:
                reason = f"sop_conflict:{first}"
                detail = (
                    "same SOPInstanceUID as another file but different pixel data: one of "
                    "them is not what its UID says (the first in path order is kept); check "
                    "the export"
                )
                log.warning("%s: %s", item, detail)
        else:
            detail = details[i]
        if reason is not None:
            outcomes.append("excluded")
            ledger_reasons.append(reason)
            pseudo = pseudonymous_path(item)
            ledger_details.append(_scrub(detail, raw_root, files[i][0], pseudo))
            sources.append(pseudo)
            continue
        outcomes.append("kept")
        ledger_reasons.append(None)
        ledger_details.append(None)
        if sop:
            seen_sop[sop] = item
        institution = institutions[i]
        original = subject_key(pid, institution, cfg.deid.subject_key)
        sid = subjects.get(original)
        if sid is None:
            sid = subjects[original] = subject_pseudonym(
                original, key, length=cfg.deid.subject_id_length
            )
        fs = col["field_strength"][i]
        if fs is not None and fs > 100:  # gauss (old GE headers) → tesla
            fs = fs / 10000.0
        site_key = (institution, makers[i], models[i], fs)
        site = site_of.get(site_key)
        if site is None:
            site = site_of[site_key] = _site_pseudonyms(sites, *site_key, site_rows)
        kept_at.append(i)
        sources.append(pseudonymous_path(item, sid))
        subject_ids.append(sid)
        strengths.append(fs)
        site_ids.append(site)
    added: dict[str, list[Any]] = {
        "item_id": [item_ids[i] for i in kept_at],
        "subject_id": subject_ids,
        "field_strength": strengths,
        "center": [s[0] for s in site_ids],
        "vendor": [s[1] for s in site_ids],
        "scanner": [s[2] for s in site_ids],
    }
    kept_rows = records.take(pa.array(kept_at, type=pa.int64()))
    sizes = pa.array([files[i][1] for i in kept_at], pa.int64())
    derived = {name: pa.array(values) for name, values in added.items()}
    derived["size"] = sizes
    public = {**derived, "path": pa.array([sources[i] for i in kept_at], pa.string())}
    private = build / "private"
    ordered = sorted(site_rows)
    outputs = {
        build / "instances.parquet": _assemble(kept_rows, public, INSTANCE_SCHEMA),
        private / "sources.parquet": pa.table(
            {"item_id": item_ids, "source": [rel for rel, _, _ in files], "name": sources}
        ),
        private / "instances_phi.parquet": _assemble(kept_rows, derived, PHI_SCHEMA),
        private / "pseudonyms.parquet": pa.table(
            {
                "original_patient_id": [k.split("\x1f")[-1] for k in sorted(subjects)],
                "original_key": sorted(subjects),
                "subject_id": [subjects[k] for k in sorted(subjects)],
            }
        ),
        private / "sites.parquet": pa.table(
            {
                "kind": [r[0] for r in ordered],
                "original": [r[1] for r in ordered],
                "pseudonym": [r[2] for r in ordered],
            }
        ),
        **also_write,
    }
    with ThreadPoolExecutor(max_workers=len(outputs), thread_name_prefix="index-write") as pool:
        writes = [pool.submit(write_parquet_atomic, p, t) for p, t in outputs.items()]
        ledger: dict[str, list[Any]] = {
            "item_id": item_ids,
            "kind": ["file"] * len(files),
            "outcome": outcomes,
            "source": sources,
            "size": [max(size, 0) for _, size, _ in files],
            "reason": ledger_reasons,
            "detail": ledger_details,
        }
        inst_path = writes[0].result()
        for written in writes[1:]:
            written.result()
    Manifest(build).record_columns(
        "index",
        ledger,
        introduces=True,
        provenance_info=provenance(stage="mri.index", recipe_sha256=recipe_sha),
    )
    return IndexSummary(
        files=len(files),
        kept=len(kept_at),
        excluded=len(files) - len(kept_at),
        headers_read=read,
        subjects=len(set(subjects.values())),
        instances_path=inst_path,
    )


def _assemble(kept_rows: pa.Table, derived: dict[str, pa.Array], schema: pa.Schema) -> pa.Table:
    """A table of ``schema``: each column from ``derived`` if computed here, else the record."""
    arrays = [
        derived[f.name].cast(f.type) if f.name in derived else kept_rows[f.name].cast(f.type)
        for f in schema
    ]
    return pa.Table.from_arrays(arrays, schema=schema)


def _site_pseudonyms(
    sites: SitePseudonymizer,
    institution: str | None,
    manufacturer: str | None,
    model: str | None,
    field_strength: float | None,
    site_rows: set[tuple[str, str, str]],
) -> tuple[str, str, str]:
    """(center, vendor, scanner) pseudonyms of one site; records real → pseudonym rows."""
    center = sites.center(institution)
    vendor = sites.vendor(manufacturer)
    scanner = sites.scanner(vendor, model, field_strength)
    site_rows.add(("center", institution or "", center))
    site_rows.add(("vendor", manufacturer or "", vendor))
    site_rows.add(("scanner", f"{model or ''} {field_strength} T", scanner))
    return center, vendor, scanner
