"""``mri index``: one header read per raw file → ``instances.parquet`` + the ``index`` ledger.

Every file under RAW is listed (sorted, relative POSIX paths) and registered in the manifest
as ``stable_id("file", path)``: kept images go to ``BUILD/instances.parquet`` (technical
columns + pseudonyms only), everything else is excluded with a reason (``not_dicom``,
``truncated``, ``corrupt``, ``dicomdir``, ``non_image``, ``no_patient_id``,
``duplicate_of:<id>``). Identifying values go to ``BUILD/private/instances_phi.parquet``.

Resumable: ``BUILD/private/index_cache.parquet`` keeps each file's header record keyed on
path + size + mtime, so a second run over an unchanged tree reads no header at all.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from hepatokit.atomic import write_json_atomic, write_parquet_atomic
from hepatokit.curation.mri.config import mri_config
from hepatokit.curation.mri.deid import (
    SitePseudonymizer,
    load_deid_key,
    subject_key,
    subject_pseudonym,
)
from hepatokit.curation.mri.dicom_tags import PHI_COLUMNS, HeaderRecord, read_header
from hepatokit.errors import DataFormatError
from hepatokit.manifest import Manifest, ManifestRow, excluded, kept, provenance, stable_id
from hepatokit.parallel import map_items
from hepatokit.recipe import build_recipe

__all__ = ["INSTANCE_SCHEMA", "IndexSummary", "index_dicom", "list_raw_files"]

log = logging.getLogger("hepatokit.curation.mri.index")

_LIST_F = pa.list_(pa.float64())
#: schema of ``instances.parquet`` (one row per kept DICOM image file)
INSTANCE_SCHEMA = pa.schema(
    [
        ("item_id", pa.string()),
        ("path", pa.string()),
        ("size", pa.int64()),
        ("subject_id", pa.string()),
        ("center", pa.string()),
        ("vendor", pa.string()),
        ("scanner", pa.string()),
        ("sop_class_uid", pa.string()),
        ("modality", pa.string()),
        ("study_uid", pa.string()),
        ("series_uid", pa.string()),
        ("sop_uid", pa.string()),
        ("series_number", pa.int64()),
        ("instance_number", pa.int64()),
        ("field_strength", pa.float64()),
        ("series_description", pa.string()),
        ("protocol_name", pa.string()),
        ("sequence_name", pa.string()),
        ("scanning_sequence", pa.string()),
        ("sequence_variant", pa.string()),
        ("image_type", pa.string()),
        ("echo_time", pa.float64()),
        ("repetition_time", pa.float64()),
        ("flip_angle", pa.float64()),
        ("b_value", pa.float64()),
        ("b_value_source", pa.string()),
        ("acquisition_number", pa.int64()),
        ("temporal_position", pa.int64()),
        ("contrast_agent", pa.string()),
        ("orientation", _LIST_F),
        ("position", _LIST_F),
        ("pixel_spacing", _LIST_F),
        ("slice_thickness", pa.float64()),
        ("rows", pa.int64()),
        ("columns", pa.int64()),
        ("frames", pa.int64()),
    ]
)
PHI_SCHEMA = pa.schema(
    [("item_id", pa.string()), ("path", pa.string()), ("subject_id", pa.string())]
    + [(c, pa.string()) for c in PHI_COLUMNS]
)
_CACHE_SCHEMA = pa.schema(
    [
        ("path", pa.string()),
        ("size", pa.int64()),
        ("mtime_ns", pa.int64()),
        ("reason", pa.string()),
        ("detail", pa.string()),
        ("public", pa.string()),
        ("phi", pa.string()),
    ]
)


@dataclass(frozen=True)
class IndexSummary:
    """What ``index_dicom`` did: files seen, kept images, excluded, headers actually read."""

    files: int
    kept: int
    excluded: int
    headers_read: int
    subjects: int
    instances_path: Path


def list_raw_files(raw: Path) -> list[tuple[str, int, int]]:
    """Every file under ``raw`` as ``(relative posix path, size, mtime_ns)``, sorted.

    Unreadable entries (broken links) get size -1.
    """
    out: list[tuple[str, int, int]] = []
    root = os.fspath(raw)
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        rel_dir = os.path.relpath(dirpath, root).replace(os.sep, "/")
        prefix = "" if rel_dir == "." else rel_dir + "/"
        for name in filenames:
            try:
                st = os.stat(os.path.join(dirpath, name))  # noqa: PTH116, PTH118 (hot loop)
            except OSError:
                out.append((prefix + name, -1, 0))
                continue
            out.append((prefix + name, st.st_size, st.st_mtime_ns))
    out.sort()
    return out


def _load_cache(path: Path) -> dict[str, dict[str, Any]]:
    if not path.is_file():
        return {}
    try:
        rows = pq.read_table(path).to_pylist()
    except Exception as exc:  # a damaged cache only costs a re-read
        log.warning("ignoring unreadable index cache %s: %s", path, exc)
        return {}
    return {r["path"]: r for r in rows}


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
    build = Path(out)
    rec = build_recipe(build, None if recipe is None else os.fspath(recipe), default="lifs")
    cfg = mri_config(rec)
    key = load_deid_key(config=cfg.deid, key_file=key_file, demo_key=demo_key)
    private = build / "private"
    files = list_raw_files(raw_root)
    cache_path = private / "index_cache.parquet"
    cache = _load_cache(cache_path) if cfg.index.cache else {}
    records: dict[str, HeaderRecord] = {}
    todo: list[str] = []
    for rel, size, mtime in files:
        hit = cache.get(rel)
        if hit is not None and hit["size"] == size and hit["mtime_ns"] == mtime and size >= 0:
            records[rel] = HeaderRecord(
                hit["reason"], hit["detail"], json.loads(hit["public"]), json.loads(hit["phi"])
            )
        elif size < 0:
            records[rel] = HeaderRecord("not_dicom", "unreadable (broken link or no permission)")
        else:
            todo.append(rel)
    root = os.fspath(raw_root)
    results = map_items(
        read_header,
        [os.path.join(root, rel) for rel in todo],  # noqa: PTH118 (tens of thousands)
        executor=executor,
        workers=workers,
        description="index DICOM headers",
    )
    for rel, res in zip(todo, results, strict=True):
        if res.ok and res.value is not None:
            records[rel] = res.value
        else:
            records[rel] = HeaderRecord("corrupt", res.error)
    cache_rows = [
        {
            "path": rel,
            "size": size,
            "mtime_ns": mtime,
            "reason": records[rel].reason,
            "detail": records[rel].detail,
            "public": json.dumps(records[rel].public, sort_keys=True),
            "phi": json.dumps(records[rel].phi, sort_keys=True),
        }
        for rel, size, mtime in files
    ]
    write_parquet_atomic(cache_path, pa.Table.from_pylist(cache_rows, schema=_CACHE_SCHEMA))
    write_json_atomic(private / "raw_root.json", {"raw_root": str(raw_root)})
    summary = _write_tables(build, files, records, cfg, key, rec.sha256, read=len(todo))
    log.info(
        "index: %d files, %d images kept, %d excluded, %d headers read",
        summary.files,
        summary.kept,
        summary.excluded,
        summary.headers_read,
    )
    return summary


def _write_tables(
    build: Path,
    files: Sequence[tuple[str, int, int]],
    records: dict[str, HeaderRecord],
    cfg: Any,
    key: bytes,
    recipe_sha: str,
    *,
    read: int,
) -> IndexSummary:
    sites = SitePseudonymizer(cfg.deid, key).prepare(
        (r.phi.get("institution"), r.phi.get("manufacturer"))
        for r in records.values()
        if r.reason is None
    )
    ledger: list[ManifestRow] = []
    public_rows: list[dict[str, Any]] = []
    phi_rows: list[dict[str, Any]] = []
    subjects: dict[str, str] = {}
    site_rows: set[tuple[str, str, str]] = set()
    seen_sop: dict[str, str] = {}
    for rel, size, _ in files:
        item = stable_id("file", rel)
        rec = records[rel]
        common: dict[str, Any] = {
            "kind": "file",
            "stage": "index",
            "source": rel,
            "size": max(size, 0),
        }
        reason, detail = rec.reason, rec.detail
        pid = rec.phi.get("patient_id") if reason is None else None
        if reason is None and not pid:
            reason, detail = "no_patient_id", "PatientID is empty: the subject is unknown"
        sop = rec.public.get("sop_uid")
        if reason is None and sop and sop in seen_sop:
            reason, detail = f"duplicate_of:{seen_sop[sop]}", "same SOPInstanceUID as another file"
        if reason is not None:
            ledger.append(excluded(item, reason=reason, detail=detail, **common))
            continue
        assert pid is not None
        if sop:
            seen_sop[sop] = item
        original = subject_key(pid, rec.phi.get("institution"), cfg.deid.subject_key)
        sid = subject_pseudonym(original, key, length=cfg.deid.subject_id_length)
        subjects[original] = sid
        fs = rec.public.get("field_strength")
        if fs is not None and fs > 100:  # gauss (old GE headers) → tesla
            fs = fs / 10000.0
        center = sites.center(rec.phi.get("institution"))
        vendor = sites.vendor(rec.phi.get("manufacturer"))
        scanner = sites.scanner(vendor, rec.phi.get("model"), fs)
        site_rows.add(("center", rec.phi.get("institution") or "", center))
        site_rows.add(("vendor", rec.phi.get("manufacturer") or "", vendor))
        site_rows.add(("scanner", f"{rec.phi.get('model') or ''} {fs} T", scanner))
        row = dict(rec.public)
        row.update(item_id=item, path=rel, size=size, subject_id=sid, field_strength=fs)
        row.update(center=center, vendor=vendor, scanner=scanner)
        public_rows.append(row)
        phi_rows.append({"item_id": item, "path": rel, "subject_id": sid, **rec.phi})
        ledger.append(kept(item, **common))
    private = build / "private"
    inst_path = write_parquet_atomic(
        build / "instances.parquet",
        pa.Table.from_pylist(
            [{k: r.get(k) for k in INSTANCE_SCHEMA.names} for r in public_rows],
            schema=INSTANCE_SCHEMA,
        ),
    )
    write_parquet_atomic(
        private / "instances_phi.parquet",
        pa.Table.from_pylist(
            [{k: r.get(k) for k in PHI_SCHEMA.names} for r in phi_rows], schema=PHI_SCHEMA
        ),
    )
    write_parquet_atomic(
        private / "pseudonyms.parquet",
        pa.table(
            {
                "original_patient_id": [k.split("\x1f")[-1] for k in sorted(subjects)],
                "original_key": sorted(subjects),
                "subject_id": [subjects[k] for k in sorted(subjects)],
            }
        ),
    )
    ordered = sorted(site_rows)
    write_parquet_atomic(
        private / "sites.parquet",
        pa.table(
            {
                "kind": [r[0] for r in ordered],
                "original": [r[1] for r in ordered],
                "pseudonym": [r[2] for r in ordered],
            }
        ),
    )
    Manifest(build).record(
        "index",
        ledger,
        introduces=True,
        provenance_info=provenance(stage="mri.index", recipe_sha256=recipe_sha),
    )
    n_kept = len(public_rows)
    return IndexSummary(
        files=len(files),
        kept=n_kept,
        excluded=len(files) - n_kept,
        headers_read=read,
        subjects=len(set(subjects.values())),
        instances_path=inst_path,
    )
