"""The per-item features later stages need (hashes + raw QC scores), computed once.

``patho ingest`` fills ``hashes.parquet`` and ``cache/qc_scores.parquet`` from its own decode.
Items that reach QC without them (tiles written by ``patho tile``, a build from an older
run) are decoded here, once, and both tables are completed together.
"""

from __future__ import annotations

from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from hepatokit.atomic import write_parquet_atomic
from hepatokit.contracts import check_schema, write_table
from hepatokit.contracts.common import read_raw_root
from hepatokit.contracts.hepatobench import HASH_SCHEMA, HASHES, SCORES
from hepatokit.curation.patho.features.analysis import analyse_patch_bytes
from hepatokit.curation.patho.qc.measures import QC_CHECKS, QC_VERSION
from hepatokit.errors import BuildStateError
from hepatokit.parallel import map_items

__all__ = ["HASH_SCHEMA", "SCORE_SCHEMA", "ensure_features", "item_file"]

SCORE_SCHEMA = pa.schema(
    [("id", pa.string())] + [(c, pa.float64()) for c in QC_CHECKS],
    metadata={b"hepatokit.qc_version": QC_VERSION.encode()},
)


@dataclass(frozen=True)
class _Job:
    path: str
    dhash: bool


def item_file(build: Path, kind: str, rel: str) -> Path:
    """Absolute path of an item: patches are relative to the raw root, tiles to BUILD."""
    if kind == "tile":
        return Path(build) / rel
    root = read_raw_root(build)
    if root is None:
        raise BuildStateError(
            "private/raw_root.json is missing", path=build, hint="re-run `hepatokit patho ingest`"
        )
    return root / rel


def _compute(job: _Job) -> dict[str, Any]:
    data = Path(job.path).read_bytes()
    a = analyse_patch_bytes(data, dhash=job.dhash)
    return {
        "md5": a.hashes.md5,
        "pixel_sha256": a.hashes.pixel_sha256,
        "phash": a.hashes.phash,
        "dhash": a.hashes.dhash,
        "scores": a.scores.as_dict(),
    }


def _read(path: Path, schema: pa.Schema, contract: str | None = None) -> pa.Table:
    """The cached table, or an empty one when absent or made by other score definitions;
    checked against table ``contract`` of the build contract when given."""
    if not path.is_file():
        return schema.empty_table()
    want = (schema.metadata or {}).get(b"hepatokit.qc_version")
    if want is not None:
        have = (pq.read_schema(path).metadata or {}).get(b"hepatokit.qc_version")
        if have != want:  # scores of an older hepatokit: recompute them all
            return schema.empty_table()
    table = pq.read_table(path)
    if contract is not None:
        check_schema(table.schema, contract, path=path)
    return table.cast(schema)


def ensure_features(
    build: Path,
    items: pa.Table,
    *,
    dhash: bool = False,
    workers: int | None = None,
    executor: Executor | None = None,
) -> tuple[pa.Table, pa.Table, dict[str, str]]:
    """Hashes and scores for every item of ``items`` (columns id, path, kind).

    Returns
    -------
    (hashes, scores, errors)
        Tables restricted to ``items`` (in their order) and ``{id: error}`` of items that
        could not be decoded (the caller excludes them as ``corrupt``).
    """
    build = Path(build)
    hashes = _read(build / HASHES, HASH_SCHEMA, HASHES)
    scores = _read(build / SCORES, SCORE_SCHEMA)
    have_h = set(hashes.column("id").to_pylist())
    have_s = set(scores.column("id").to_pylist())
    if dhash and len(hashes):
        no_dhash = {
            i
            for i, d in zip(
                hashes.column("id").to_pylist(), hashes.column("dhash").to_pylist(), strict=True
            )
            if d is None
        }
        have_h -= no_dhash  # fmt: skip
    ids = items.column("id").to_pylist()
    missing = [k for k, i in enumerate(ids) if i not in have_h or i not in have_s]
    errors: dict[str, str] = {}
    if missing:
        kinds = items.column("kind").to_pylist()
        paths = items.column("path").to_pylist()
        jobs = [_Job(str(item_file(build, kinds[k], paths[k])), dhash) for k in missing]
        results = map_items(_compute, jobs, workers=workers, executor=executor, description="hash")
        new_h, new_s = [], []
        for k, res in zip(missing, results, strict=True):
            if not res.ok or res.value is None:
                errors[ids[k]] = res.error or "unknown error"
                continue
            v = res.value
            new_h.append({"id": ids[k], **{c: v[c] for c in HASH_SCHEMA.names[1:]}})
            new_s.append({"id": ids[k], **v["scores"]})
        drop = {ids[k] for k in missing}
        keep_h = pa.compute.invert(pa.compute.is_in(hashes.column("id"), pa.array(sorted(drop))))
        keep_s = pa.compute.invert(pa.compute.is_in(scores.column("id"), pa.array(sorted(drop))))
        hashes = pa.concat_tables(
            [hashes.filter(keep_h), pa.Table.from_pylist(new_h, schema=HASH_SCHEMA)]
        )
        scores = pa.concat_tables(
            [scores.filter(keep_s), pa.Table.from_pylist(new_s, schema=SCORE_SCHEMA)]
        )
        write_table(build, HASHES, hashes)
        scores = scores.replace_schema_metadata(SCORE_SCHEMA.metadata)
        write_parquet_atomic(build / SCORES, scores)
    return _align(hashes, ids), _align(scores, ids), errors


def _align(table: pa.Table, ids: list[str]) -> pa.Table:
    """Rows of ``table`` for ``ids`` in that order (ids without a row are skipped)."""
    pos = {i: k for k, i in enumerate(table.column("id").to_pylist())}
    take = [pos[i] for i in ids if i in pos]
    return table.take(pa.array(take, pa.int64()))
