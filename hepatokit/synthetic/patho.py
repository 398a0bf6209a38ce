"""Synthetic HepatoBench-like patch sets: ``hepatokit synth patho OUT --patches N``.

Writes ``OUT/patches/<CLASS>/slide-<NNN>_<hex>.<ext>`` (class-folder layout), the same files as
a table (``OUT/patches_table.csv``: ``path,label,slide_id``, paths relative to ``OUT``) and
``OUT/truth.json`` listing every file with its planted kind. See ``docs/synthetic_patho.md``.

The plan (which file is what) is made up front in this process from the seed; the pixels are
rendered and written in chunks on the :mod:`hepatokit.parallel` executor, one spec at a time,
so memory stays flat for ``--patches 140000``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hepatokit._version import __version__
from hepatokit.atomic import write_json_atomic, write_text_atomic
from hepatokit.errors import HepatokitError
from hepatokit.manifest import stable_id
from hepatokit.parallel import map_items
from hepatokit.synthetic.patho_plan import (
    CLASS_PROPORTIONS,
    SLIDE_REGEX,
    UNKNOWN_CLASS_FOLDER,
    plan_patches,
)
from hepatokit.synthetic.patho_planted import PatchSpec, realize
from hepatokit.synthetic.tissue import CLASSES

__all__ = ["CLASS_PROPORTIONS", "SCHEMA", "PatchSetSummary", "generate_patches", "plan_patches"]

log = logging.getLogger("hepatokit.synthetic.patho")

SCHEMA = "hepatokit.synthetic.patho/1"


@dataclass
class PatchSetSummary:
    """What :func:`generate_patches` wrote."""

    out: Path
    files: int
    clean: int
    per_kind: dict[str, int] = field(default_factory=dict)
    slides: int = 0

    def __str__(self) -> str:
        planted = ", ".join(f"{k} {v}" for k, v in sorted(self.per_kind.items()) if k != "clean")
        return (
            f"{self.files} files in {self.out / 'patches'} ({self.clean} clean patches from "
            f"{self.slides} slides; planted: {planted}); truth in {self.out / 'truth.json'}"
        )


# ---------------------------------------------------------------- writing


@dataclass(frozen=True)
class _Chunk:
    root: str
    specs: tuple[PatchSpec, ...]
    marker: str  # JSON of the chunk's truth rows, written once all its files are written


def _truth_row(spec: PatchSpec, data: bytes, extra: dict[str, Any]) -> dict[str, Any]:
    size: list[int] | None = None
    if spec.kind not in ("corrupt", "not_image"):
        size = list(spec.params.get("size", [150, 150]))
    source = spec.source.path if spec.source is not None else spec.params.get("conflict_with")
    params = {k: v for k, v in spec.params.items() if k not in ("content", "conflict_with")}
    params.update(extra)
    return {
        "path": spec.path,
        "id": stable_id("patch", spec.path),
        "class": spec.folder_class,
        "tissue": spec.tissue,
        "slide_id": spec.slide_id,
        "kind": spec.kind,
        "source": source,
        "source_id": None if source is None else stable_id("patch", source),
        "format": None if spec.kind == "not_image" else spec.fmt.rstrip("9").replace("_LZW", ""),
        "width": None if size is None else size[0],
        "height": None if size is None else size[1],
        "bytes": len(data),
        "md5": hashlib.md5(data).hexdigest(),
        "params": params,
    }


def _write_file(path: Path, data: bytes) -> None:
    """Temp file + rename (atomic for readers); no per-file fsync: the set is regenerable
    from the seed, and fsync of 10⁵ small files would dominate the run."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def _finished_rows(chunk: _Chunk) -> list[dict[str, Any]] | None:
    """The rows of a chunk an interrupted run already wrote (files checked by MD5), or None."""
    marker = Path(chunk.marker)
    try:
        rows: list[dict[str, Any]] = json.loads(marker.read_text())
    except (OSError, ValueError):
        return None
    if [r["path"] for r in rows] != [s.path for s in chunk.specs]:
        return None
    for r in rows:
        try:
            data = (Path(chunk.root) / r["path"]).read_bytes()
        except OSError:
            return None
        if hashlib.md5(data).hexdigest() != r["md5"]:
            return None
    return rows


def _write_chunk(chunk: _Chunk) -> list[dict[str, Any]]:
    done = _finished_rows(chunk)
    if done is not None:
        return done
    root = Path(chunk.root)
    rows = []
    for spec in chunk.specs:
        data, extra = realize(spec)
        _write_file(root / spec.path, data)
        rows.append(_truth_row(spec, data, extra))
    write_json_atomic(chunk.marker, rows)
    return rows


def _remove_stale(out: Path, keep: set[str]) -> None:
    """Remove files a previous run listed in ``truth.json`` that this plan does not write."""
    old = out / "truth.json"
    if not old.exists():
        return
    try:
        listed = [f["path"] for f in json.loads(old.read_text())["files"]]
    except (ValueError, KeyError, TypeError):
        return
    for rel in listed:
        if rel not in keep:
            (out / "patches" / rel).unlink(missing_ok=True)


def generate_patches(
    out: str | Path,
    *,
    patches: int = 2000,
    seed: int = 0,
    workers: int | None = None,
    chunk: int = 128,
) -> PatchSetSummary:
    """Write a synthetic HepatoBench-like patch set with planted ground truth.

    Parameters
    ----------
    out
        Output folder: ``patches/<CLASS>/…``, ``patches_table.csv``, ``truth.json``.
    patches
        Number of clean 150×150 patches (planted files come on top, about 11 % more).
    seed
        Same seed → byte-identical files.
    workers
        Processes (default: all usable CPUs); the work is split in chunks of ``chunk`` files.

    Returns
    -------
    PatchSetSummary
        Counts of what was written.
    """
    if patches < 1:
        raise HepatokitError(f"--patches must be at least 1, got {patches}")
    out = Path(out)
    specs = plan_patches(patches, seed)
    _remove_stale(out, {s.path for s in specs})
    root = out / "patches"
    root.mkdir(parents=True, exist_ok=True)
    key = hashlib.sha256(f"{SCHEMA}:{__version__}:{seed}:{patches}:{chunk}".encode()).hexdigest()
    progress = out / ".synth-progress" / key[:16]  # per-chunk markers: an interrupted run resumes
    chunks = [
        _Chunk(str(root), tuple(specs[i : i + chunk]), str(progress / f"{i // chunk:06d}.json"))
        for i in range(0, len(specs), chunk)
    ]
    results = map_items(
        _write_chunk, chunks, workers=workers, chunksize=1, description="synth patches"
    )
    rows: list[dict[str, Any]] = []
    for res in results:
        if not res.ok:
            raise HepatokitError(f"could not write synthetic patches: {res.error}", path=root)
        assert res.value is not None
        rows.extend(res.value)
    rows.sort(key=lambda r: r["path"])
    truth = _truth(rows, patches, seed)
    _write_table(out / "patches_table.csv", rows)
    write_json_atomic(out / "truth.json", truth)
    shutil.rmtree(out / ".synth-progress", ignore_errors=True)
    for tmp in root.rglob(".*.tmp"):  # left by an interrupted run
        tmp.unlink(missing_ok=True)
    per_kind = truth["counts"]["per_kind"]
    n_slides = len({r["slide_id"] for r in rows if r["slide_id"]})
    return PatchSetSummary(out, len(rows), per_kind.get("clean", 0), per_kind, n_slides)


def _truth(rows: list[dict[str, Any]], patches: int, seed: int) -> dict[str, Any]:
    per_kind: dict[str, int] = {}
    clean: dict[str, int] = dict.fromkeys(CLASSES, 0)
    folders: dict[str, int] = {}
    for r in rows:
        per_kind[r["kind"]] = per_kind.get(r["kind"], 0) + 1
        folders[r["class"]] = folders.get(r["class"], 0) + 1
        if r["kind"] == "clean":
            clean[r["class"]] += 1
    near = [[r["path"], r["source"]] for r in rows if r["kind"] == "near_dup_of"]
    groups: dict[str, list[str]] = {}
    for r in rows:
        if r["kind"] in ("exact_dup_of", "reencoded_of"):
            groups.setdefault(r["source"], [r["source"]]).append(r["path"])
    return {
        "schema": SCHEMA,
        "seed": seed,
        "patches": patches,
        "root": "patches",
        "table": "patches_table.csv",
        "classes": list(CLASSES),
        "class_proportions": CLASS_PROPORTIONS,
        "patch_size": [150, 150],
        "mpp": 0.5,
        "magnification": 20,
        "slide_id_regex": SLIDE_REGEX,
        "unknown_class_folder": UNKNOWN_CLASS_FOLDER,
        "counts": {
            "files": len(rows),
            "per_kind": dict(sorted(per_kind.items())),
            "clean_per_class": clean,
            "files_per_folder": dict(sorted(folders.items())),
        },
        "near_dup_pairs": sorted(near),
        "exact_dup_groups": sorted(sorted(g) for g in groups.values()),
        "files": rows,
    }


def _write_table(path: Path, rows: list[dict[str, Any]]) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["path", "label", "slide_id"])
    for r in rows:
        writer.writerow([f"patches/{r['path']}", r["class"], r["slide_id"] or ""])
    write_text_atomic(path, buf.getvalue())
