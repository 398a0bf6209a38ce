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
``BUILD/patches.parquet`` (``ingest_reason`` is null for kept files). Hashes go to
``hashes.parquet`` and the raw QC scores to ``cache/qc_scores.parquet`` (same decode).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from hepatokit.atomic import write_parquet_atomic
from hepatokit.curation.patho.config import DedupConfig, IngestConfig
from hepatokit.curation.patho.features.analysis import PatchRejected, analyse_patch_bytes
from hepatokit.curation.patho.features.hashing import hash_versions
from hepatokit.curation.patho.features.table import HASH_SCHEMA, SCORE_SCHEMA
from hepatokit.curation.patho.ingest.cache import IngestCache
from hepatokit.curation.patho.layout import (
    HASHES,
    PATCH_METADATA,
    PATCHES,
    SCORES,
    write_raw_root,
)
from hepatokit.errors import DataFormatError
from hepatokit.manifest import Manifest, ManifestRow, excluded, kept, provenance, stable_id
from hepatokit.parallel import map_items
from hepatokit.recipe import bounded_search, build_recipe
from hepatokit.safeio import TooLargeError, read_bounded, walk_tree
from hepatokit.tables import read_table

__all__ = ["IngestSummary", "PatchEntry", "discover_patches", "ingest_patches"]

log = logging.getLogger("hepatokit.curation.patho.ingest.stage")
STAGE = "ingest"


@dataclass(frozen=True)
class PatchEntry:
    """One file to ingest: path relative to the raw root, label as found, slide id."""

    rel: str
    label: str | None
    slide_id: str | None
    problem: str | None = None  # not a patch to decode: the exclusion reason
    detail: str | None = None
    id_extra: str = ""  # makes the id of a repeated table row unique


@dataclass(frozen=True)
class _Task:
    path: str
    expected_size: tuple[int, int] | None
    size_policy: str
    dhash: bool
    image_extensions: frozenset[str]
    max_bytes: int


@dataclass(frozen=True)
class IngestSummary:
    """Counts of one ingest run."""

    files: int
    kept: int
    excluded: dict[str, int]

    def __str__(self) -> str:
        ex = ", ".join(f"{k}={v}" for k, v in sorted(self.excluded.items())) or "none"
        return f"{self.files} files: {self.kept} kept, excluded: {ex}"


def _slide_from_path(rel: str, regex: re.Pattern[str]) -> str | None:
    m = bounded_search(regex, rel, key="ingest.slide_id_regex")
    if not m:
        return None
    named = m.groupdict()
    for key in ("slide", "slide_id"):
        if key in named:
            return m.group(key)
    return m.group(1) if m.groups() else m.group(0)


def discover_patches(
    root: Path, cfg: IngestConfig, *, allow_outside_root: bool = False
) -> tuple[Path, list[PatchEntry]]:
    """The raw root and every file to ingest (sorted by relative path).

    Raises
    ------
    DataFormatError
        ROOT missing, or a table without the configured columns.
    """
    root = Path(root)
    if not root.exists():
        raise DataFormatError("raw root does not exist", path=root, hint="check the ROOT path")
    layout = cfg.layout
    if layout == "auto":
        layout = "table" if root.is_file() else "folders"
    regex = re.compile(cfg.slide_id_regex)
    if layout == "table":
        return root.parent, _discover_table(root, cfg, regex, allow_outside_root=allow_outside_root)
    if not root.is_dir():
        raise DataFormatError("the class-folder layout needs a folder", path=root)
    root = _class_root(root, cfg)
    entries = []
    for w in walk_tree(root):
        label = w.shown.split("/", 1)[0] if "/" in w.shown else None
        if w.problem is not None:
            entries.append(PatchEntry(w.shown, label, None, w.problem, w.detail))
        elif label is None:
            entries.append(
                PatchEntry(
                    w.rel,
                    None,
                    None,
                    "no_class_folder",
                    "file directly in ROOT: patches go in ROOT/<CLASS>/",
                )
            )
        else:
            entries.append(PatchEntry(w.rel, label, _slide_from_path(w.rel, regex)))
    return root, sorted(entries, key=lambda e: e.rel)


def _class_root(root: Path, cfg: IngestConfig) -> Path:
    """``root``, or its ``patches/`` subfolder when only that one holds the class folders."""
    sub = root / "patches"
    if sub.is_dir() and not any(
        d.is_dir() and d.name != "patches" and not d.name.startswith(".") for d in root.iterdir()
    ):
        log.info("using %s as the class-folder root", sub)
        return sub
    return root


def _discover_table(
    path: Path, cfg: IngestConfig, regex: re.Pattern[str], *, allow_outside_root: bool = False
) -> list[PatchEntry]:
    if path.suffix.lower() not in (".parquet", ".csv", ".tsv"):
        raise DataFormatError(
            "a table layout needs a .csv, .tsv or .parquet file", path=path,
            hint="give a folder for the class-folder layout",
        )  # fmt: skip
    table = read_table(path, what="patch table")
    cols = table.columns
    for col in (cfg.table_path_column, cfg.table_label_column):
        if col not in cols:
            raise DataFormatError(
                f"column {col!r} missing (columns: {', '.join(cols)})",
                path=path,
                hint="set ingest.table_path_column / table_label_column in the recipe",
            )
    root = path.parent.resolve()
    out = []
    first_row: dict[str, int] = {}
    for row, line in zip(table.rows, table.lines, strict=True):
        rel = row[cfg.table_path_column].strip()
        label = row[cfg.table_label_column].strip() or None
        slide = row.get(cfg.table_slide_column, "").strip()
        slide_id = slide or _slide_from_path(rel, regex)
        if not rel:
            out.append(PatchEntry(f"<line {line}>", label, None, "missing",
                                  f"line {line}: empty path", id_extra=str(line)))  # fmt: skip
            continue
        if rel in first_row:
            out.append(PatchEntry(rel, label, slide_id, "duplicate_row",
                                  f"line {line}: same path as line {first_row[rel]}",
                                  id_extra=str(line)))  # fmt: skip
            continue
        first_row[rel] = line
        if not allow_outside_root and not _inside(root, rel):
            out.append(PatchEntry(rel, label, slide_id, "outside_root",
                                  f"line {line}: the path leads outside the table's folder; "
                                  "pass --allow-outside-root to read it"))  # fmt: skip
            continue
        out.append(PatchEntry(rel, label, slide_id))
    return out


def _inside(root: Path, rel: str) -> bool:
    """Whether ``rel`` (relative to ``root``, links resolved) stays inside ``root``."""
    p = Path(rel)
    if p.is_absolute():
        return False
    try:
        return (root / p).resolve().is_relative_to(root)
    except (OSError, RuntimeError):  # a link loop
        return False


def _class_map(classes: tuple[str, ...], aliases: dict[str, str]) -> dict[str, str]:
    mapping = {c.lower(): c for c in classes}
    for alias, target in aliases.items():
        if target in classes:
            mapping[alias.lower()] = target
    return mapping


def _analyse(task: _Task) -> dict[str, Any]:
    """Per-file worker: read bytes once, decode once, return the row or the rejection."""
    try:
        data = read_bounded(task.path, task.max_bytes)
    except FileNotFoundError:
        return {"reason": "missing", "detail": "file listed but not found", "bytes": None}
    except TooLargeError as exc:
        return {"reason": "too_large", "detail": f"{exc} (ingest.max_file_mb)", "bytes": None}
    except OSError as exc:
        reason = "not_regular_file" if exc.errno == 22 else "unreadable"
        return {"reason": reason, "detail": exc.strerror or type(exc).__name__, "bytes": None}
    import hashlib

    md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
    try:
        a = analyse_patch_bytes(
            data, expected_size=task.expected_size, size_policy=task.size_policy, dhash=task.dhash
        )
    except PatchRejected as rej:
        reason, detail = rej.reason, rej.detail
        if reason == "not_image" and Path(task.path).suffix.lower() in task.image_extensions:
            reason = "corrupt"  # named as an image, holds no decodable image
            detail = "empty file" if not data else f"image extension but {detail}"
        return {"reason": reason, "detail": detail, "bytes": len(data), "md5": md5}
    from hepatokit.imagemeta import metadata_text, metadata_values

    return {
        "reason": None,
        "bytes": len(data),
        "md5": md5,
        # text the file's metadata holds (removed at publish; the PHI audit looks for it)
        "meta": metadata_values(data) if metadata_text(data) else [],
        "width": a.width,
        "height": a.height,
        "mode": a.mode,
        "format": a.format,
        "resized": a.resized,
        "pixel_sha256": a.hashes.pixel_sha256,
        "phash": a.hashes.phash,
        "dhash": a.hashes.dhash,
        "scores": a.scores.as_dict(),
    }


def ingest_patches(
    *,
    root: str | os.PathLike[str],
    out: str | os.PathLike[str],
    recipe: str | os.PathLike[str] | None = None,
    workers: int | None = None,
    executor: Executor | None = None,
    allow_outside_root: bool = False,
) -> IngestSummary:
    """Ingest a class-folder tree or a patch table into ``out`` (see the module docstring).

    Parameters
    ----------
    root
        Class-folder root, or a CSV / parquet table of ``path, label[, slide_id]``.
    out
        Build folder (created).
    recipe
        Recipe path or name (default: ``BUILD/recipe.yaml`` or the packaged hepatobench).
    workers, executor
        Parallelism (see :func:`hepatokit.parallel.map_items`).
    allow_outside_root
        A table's paths may lead outside the table's folder (absolute, ``../``); else such
        rows are excluded as ``outside_root``.
    """
    build = Path(out)
    build.mkdir(parents=True, exist_ok=True)
    rec = build_recipe(build, None if recipe is None else Path(recipe), default="hepatobench")
    cfg = rec.section("ingest", IngestConfig)
    dcfg = rec.section("dedup", DedupConfig)
    raw_root, entries = discover_patches(Path(root), cfg, allow_outside_root=allow_outside_root)
    write_raw_root(build, raw_root)
    classes = _class_map(rec.classes, cfg.class_aliases)
    exts = {e.lower() for e in cfg.extensions}
    expected = (cfg.expected_size[0], cfg.expected_size[1]) if cfg.expected_size else None

    opts_key = json.dumps([expected, cfg.size_policy, dcfg.dhash, sorted(exts), cfg.max_file_mb])
    cache = IngestCache(build, opts_key)
    todo: list[int] = []
    tasks: list[_Task] = []
    pre: dict[int, tuple[str, str]] = {}
    by_index: dict[int, dict[str, Any]] = {}
    stats: dict[int, tuple[int, int] | None] = {}
    max_bytes = int(cfg.max_file_mb * (1 << 20))
    for k, e in enumerate(entries):
        if e.problem is not None:
            pre[k] = (e.problem, e.detail or e.problem)
            continue
        if e.label is None or e.label.lower() not in classes:
            pre[k] = ("unknown_class", f"label {e.label!r} is not one of {', '.join(rec.classes)}")
            continue
        stats[k] = IngestCache.stat(raw_root / e.rel)
        cached = cache.get(e.rel, stats[k])
        if cached is not None:
            by_index[k] = cached
            continue
        todo.append(k)
        tasks.append(
            _Task(
                str(raw_root / e.rel),
                expected,
                cfg.size_policy,
                dcfg.dhash,
                frozenset(exts),
                max_bytes,
            )
        )
    if by_index:
        log.info("ingest: %d unchanged file(s) reused from the cache", len(by_index))
    results = map_items(_analyse, tasks, workers=workers, executor=executor, description="ingest")
    for k, res in zip(todo, results, strict=True):
        by_index[k] = (
            res.value if res.ok and res.value else {"reason": "corrupt", "detail": res.error}
        )
    for k in sorted(by_index):
        if by_index[k].get("reason") not in ("missing", "unreadable"):
            cache.put(entries[k].rel, stats.get(k), by_index[k])
    patch_rows, hash_rows, score_rows, manifest_rows = [], [], [], []
    meta_rows: list[dict[str, str]] = []
    counts: dict[str, int] = {}
    n_kept = 0
    for k, e in enumerate(entries):
        pid = stable_id("patch", e.rel) if not e.id_extra else stable_id("patch", e.rel, e.id_extra)
        cls = classes.get((e.label or "").lower())
        if k in pre:
            pre_reason, pre_detail = pre[k]
            r: dict[str, Any] = {"reason": pre_reason, "detail": pre_detail, "bytes": None}
            path = raw_root / e.rel
            with contextlib.suppress(OSError):
                if path.is_file():
                    r["bytes"] = path.stat().st_size
        else:
            r = by_index[k]
            if r["reason"] is None and not any(e.rel.lower().endswith(x) for x in exts):
                log.info("%s: image with an unexpected extension, kept", e.rel)
        patch_rows.append(
            {
                "id": pid, "path": e.rel, "class": cls, "slide_id": e.slide_id,
                "width": r.get("width"), "height": r.get("height"), "mode": r.get("mode"),
                "bytes": r.get("bytes"), "md5": r.get("md5"), "format": r.get("format"),
                "ingest_reason": r["reason"],
            }
        )  # fmt: skip
        checksum = f"md5:{r['md5']}" if r.get("md5") else None
        common: dict[str, Any] = {
            "kind": "patch",
            "stage": STAGE,
            "source": e.rel,
            "size": r.get("bytes"),
        }
        if r["reason"] is None:
            n_kept += 1
            note = "resized" if r.get("resized") else None
            manifest_rows.append(kept(pid, checksum=checksum, detail=note, **common))
            hash_rows.append(
                {"id": pid, "md5": r["md5"], "pixel_sha256": r["pixel_sha256"],
                 "phash": r["phash"], "dhash": r["dhash"]}
            )  # fmt: skip
            score_rows.append({"id": pid, **r["scores"]})
            meta_rows += [{"id": pid, "value": v} for v in r.get("meta") or []]
        else:
            counts[r["reason"]] = counts.get(r["reason"], 0) + 1
            manifest_rows.append(
                excluded(
                    pid, reason=r["reason"], checksum=checksum, detail=r.get("detail"), **common
                )
            )
    _write_tables(build, patch_rows, hash_rows, score_rows)
    write_parquet_atomic(
        build / PATCH_METADATA,
        pa.Table.from_pylist(
            meta_rows, schema=pa.schema([("id", pa.string()), ("value", pa.string())])
        ),
    )
    if meta_rows:
        log.info(
            "ingest: %d patch(es) carry text metadata (never published: publish rebuilds every "
            "image without it)", len({r["id"] for r in meta_rows}),
        )  # fmt: skip
    _record(build, manifest_rows, rec.sha256, rec.seed)
    cache.save()
    return IngestSummary(files=len(entries), kept=n_kept, excluded=counts)


PATCH_SCHEMA = pa.schema(
    [
        ("id", pa.string()), ("path", pa.string()), ("class", pa.string()),
        ("slide_id", pa.string()), ("width", pa.int32()), ("height", pa.int32()),
        ("mode", pa.string()), ("bytes", pa.int64()), ("md5", pa.string()),
        ("format", pa.string()), ("ingest_reason", pa.string()),
    ]
)  # fmt: skip


def _write_tables(build: Path, patches: list[dict], hashes: list[dict], scores: list[dict]) -> None:
    write_parquet_atomic(build / PATCHES, pa.Table.from_pylist(patches, schema=PATCH_SCHEMA))
    write_parquet_atomic(build / HASHES, pa.Table.from_pylist(hashes, schema=HASH_SCHEMA))
    write_parquet_atomic(build / SCORES, pa.Table.from_pylist(scores, schema=SCORE_SCHEMA))


def _record(build: Path, rows: list[ManifestRow], recipe_sha: str, seed: int) -> None:
    info = provenance(
        stage=STAGE, recipe_sha256=recipe_sha, seed=seed, extra={"hash_versions": hash_versions()}
    )
    Manifest(build).record(STAGE, rows, introduces=True, provenance_info=info)
