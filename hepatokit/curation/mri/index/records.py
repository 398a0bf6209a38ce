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
        ("inversion_time", pa.float64()),
        ("slices", pa.int64()),  # images in the file: frames × mosaic tiles
    ]
)
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
