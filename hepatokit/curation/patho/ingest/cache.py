"""Resumable ingest: per-file results keyed on the file (path, size, mtime) and the options.

A re-run of ``patho ingest`` (after adding files, or after an interruption that left the
cache of an earlier complete run) decodes only files that are new or changed; the others'
results (sizes, hashes, QC scores, rejection reasons, metadata text) come from
``BUILD/private/cache/ingest.parquet`` (private: it holds raw file names and metadata text).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from hepatokit.atomic import write_parquet_atomic
from hepatokit.contracts.hepatobench import INGEST_CACHE

__all__ = ["IngestCache"]

_SCHEMA = pa.schema(
    [("path", pa.string()), ("size", pa.int64()), ("mtime_ns", pa.int64()), ("key", pa.string()),
     ("result", pa.string())]
)  # fmt: skip


class IngestCache:
    """Previous per-file results of ``ingest`` in ``build``, for options ``key``."""

    def __init__(self, build: Path, key: str):
        self.path = Path(build) / INGEST_CACHE
        self.key = key
        self._old: dict[str, tuple[int, int, str, str]] = {}
        if self.path.is_file():
            try:
                for r in pq.read_table(self.path).to_pylist():
                    self._old[r["path"]] = (r["size"], r["mtime_ns"], r["key"], r["result"])
            except Exception:  # a damaged cache only costs a full re-run
                self._old = {}
        self._new: list[dict[str, Any]] = []

    @staticmethod
    def stat(path: Path) -> tuple[int, int] | None:
        try:
            st = os.stat(path)  # noqa: PTH116 - one syscall for size and mtime
        except OSError:
            return None
        return st.st_size, st.st_mtime_ns

    def get(self, rel: str, stat: tuple[int, int] | None) -> dict[str, Any] | None:
        """The cached result of ``rel`` if the file and options are unchanged."""
        old = self._old.get(rel)
        if old is None or stat is None or (old[0], old[1], old[2]) != (*stat, self.key):
            return None
        result: dict[str, Any] = json.loads(old[3])
        return result

    def put(self, rel: str, stat: tuple[int, int] | None, result: dict[str, Any]) -> None:
        if stat is None:
            return
        self._new.append({"path": rel, "size": stat[0], "mtime_ns": stat[1], "key": self.key,
                          "result": json.dumps(result, sort_keys=True)})  # fmt: skip

    def save(self) -> None:
        write_parquet_atomic(self.path, pa.Table.from_pylist(self._new, schema=_SCHEMA))
