"""The schemas of a build's main tables, checked when a table is written and when it is read.

A table may carry more columns than its contract (later additions are additive); every
column the contract names must be there with its type. A mismatch raises
:class:`hepatokit.errors.DataFormatError` naming the file and the column.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from hepatokit.atomic import write_parquet_atomic
from hepatokit.contracts import common, hepatobench, lifs
from hepatokit.errors import DataFormatError

__all__ = ["TABLE_SCHEMAS", "check_file", "check_schema", "read_table", "write_table"]

#: file name (relative to BUILD) → the columns it must have (name and type)
TABLE_SCHEMAS: dict[str, pa.Schema] = {
    common.SPLITS: common.SPLITS_SCHEMA,
    lifs.INSTANCES: lifs.INSTANCE_SCHEMA,
    lifs.SERIES: lifs.SERIES_SCHEMA,
    lifs.VOLUMES: lifs.VOLUME_SCHEMA,
    lifs.ALL_SERIES: lifs.VOLUME_SCHEMA,
    lifs.VOLUME_QC: lifs.VOLUME_QC_SCHEMA,
    lifs.REGISTRATION: lifs.REGISTRATION_SCHEMA,
    # the volume_<SEQ> columns follow the recipe's sequences: only the fixed ones are checked
    lifs.SUBJECTS: lifs.subjects_schema(()),
    hepatobench.PATCHES: hepatobench.PATCH_SCHEMA,
    hepatobench.TILES: hepatobench.TILES_SCHEMA,
    hepatobench.QC: hepatobench.QC_SCHEMA,
    hepatobench.HASHES: hepatobench.HASH_SCHEMA,
    hepatobench.CLUSTERS: hepatobench.CLUSTER_SCHEMA,
    hepatobench.CURATED: hepatobench.CURATED_SCHEMA,
    hepatobench.SLIDE_PSEUDONYMS: hepatobench.SLIDE_PSEUDONYM_SCHEMA,
}


def _contract(name: str) -> pa.Schema:
    try:
        return TABLE_SCHEMAS[name]
    except KeyError:
        raise KeyError(f"{name!r} is not a table of the build contract") from None


def check_schema(
    schema: pa.Schema, name: str, *, path: str | os.PathLike[str] | None = None,
    columns: list[str] | None = None,
) -> None:  # fmt: skip
    """Raise :class:`DataFormatError` when ``schema`` lacks a column of table ``name``'s
    contract or has it with another type (only ``columns`` when given)."""
    where = os.fspath(path) if path is not None else name
    contract = _contract(name)
    for field in contract:
        if columns is not None and field.name not in columns:
            continue
        if field.name not in schema.names:
            raise DataFormatError(
                f"column {field.name!r} is missing ({name} has {', '.join(contract.names)})",
                path=where,
                hint="rebuild it with the stage that writes it (see docs/contracts.md)",
            )
        got = schema.field(field.name).type
        if got != field.type:
            raise DataFormatError(
                f"column {field.name!r} is {got}, the contract of {name} says {field.type}",
                path=where,
                hint="rebuild it with the stage that writes it (see docs/contracts.md)",
            )


def check_file(
    build: str | os.PathLike[str], name: str, *, columns: list[str] | None = None
) -> Path:
    """``build/name`` after checking its schema (all or some ``columns``; read from the
    parquet footer only)."""
    path = Path(build) / name
    check_schema(pq.read_schema(path), name, path=path, columns=columns)
    return path


def read_table(
    build: str | os.PathLike[str], name: str, *, columns: list[str] | None = None
) -> pa.Table:
    """Read table ``name`` of ``build`` (all or some ``columns``), checked against its contract."""
    path = Path(build) / name
    table = pq.read_table(path, columns=columns)
    check_schema(table.schema, name, path=path, columns=columns)
    return table


def write_table(build: str | os.PathLike[str], name: str, table: Any, **kwargs: Any) -> Path:
    """Check ``table`` against its contract, then write it atomically to ``build/name``."""
    path = Path(build) / name
    if not isinstance(table, pa.Table):  # as write_parquet_atomic converts it
        table = pa.Table.from_pandas(table, preserve_index=False)
    check_schema(table.schema, name, path=path)
    return write_parquet_atomic(path, table, **kwargs)
