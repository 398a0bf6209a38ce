"""The index's per-file records as Arrow tables: what an index worker does and returns.

Kept apart from :mod:`.index` so that a worker process imports only pydicom, numpy and
pyarrow (its start-up is on the critical path of a parallel index), not the recipe,
pseudonym and manifest machinery the parent needs.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from hepatokit.contracts.lifs import INSTANCE_SCHEMA
from hepatokit.curation.mri.dicom.tags import (
    PHI_COLUMNS,
    PUBLIC_COLUMNS,
    HeaderRecord,
    read_header,
)

__all__ = [
    "INSTANCE_SCHEMA",
    "RECORD_SCHEMA",
    "columns_table",
    "list_array",
    "read_chunk",
    "record_table",
    "warm_worker",
]

#: one header record per file, as the workers return them (public columns typed as in
#: :data:`INSTANCE_SCHEMA`, identifying ones as text)
RECORD_SCHEMA = pa.schema(
    [("path", pa.string()), ("reason", pa.string()), ("detail", pa.string())]
    + [INSTANCE_SCHEMA.field(c) for c in PUBLIC_COLUMNS]
    + [(c, pa.string()) for c in PHI_COLUMNS]
)


def record_table(rels: Sequence[str], records: Sequence[HeaderRecord]) -> pa.Table:
    """Records as a table of :data:`RECORD_SCHEMA`, built column by column."""
    columns: dict[str, list[Any]] = {
        "path": list(rels),
        "reason": [r.reason for r in records],
        "detail": [r.detail for r in records],
    }
    for c in PUBLIC_COLUMNS:
        columns[c] = [r.public.get(c) for r in records]
    for c in PHI_COLUMNS:
        columns[c] = [r.phi.get(c) for r in records]
    return columns_table(columns, RECORD_SCHEMA)


def warm_worker() -> None:
    """A no-op task: unpickling it in a new worker imports this module (pydicom, pyarrow)."""


def read_chunk(task: tuple[str, tuple[str, ...]]) -> pa.Table:
    """Worker task: read the headers of ``(root, relative paths)``; a file whose read raises
    becomes a ``corrupt`` record (read_header itself classifies every ordinary failure)."""
    root, rels = task
    records = []
    for rel in rels:
        try:
            records.append(read_header(os.path.join(root, rel)))  # noqa: PTH118 (hot loop)
        except Exception as exc:
            records.append(HeaderRecord("corrupt", f"{type(exc).__name__}: {exc}"[:300]))
    return record_table(rels, records)


def columns_table(columns: dict[str, list[Any]], schema: pa.Schema) -> pa.Table:
    """A table of ``schema`` from Python column lists; ``list<double>`` columns are built from
    one flat value array (pyarrow converts nested Python lists ~10× slower)."""
    arrays = []
    for field in schema:
        values = columns[field.name]
        if pa.types.is_list(field.type):
            arrays.append(list_array(values, field.type))
        else:
            arrays.append(pa.array(values, type=field.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def list_array(values: Sequence[list[Any] | None], type_: pa.DataType) -> pa.Array:
    lengths = np.fromiter((0 if v is None else len(v) for v in values), np.int32, len(values))
    offsets = np.zeros(len(values) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    flat = pa.array(
        list(itertools.chain.from_iterable(v for v in values if v is not None)),
        type=type_.value_type,
    )
    mask = pa.array([v is None for v in values], type=pa.bool_())
    return pa.ListArray.from_arrays(pa.array(offsets), flat, type=type_, mask=mask)
