"""What the index writes: ``instances.parquet``, the private tables and the ``index`` ledger.

The tables are assembled from the records and the :class:`~.decide.FileDecisions` without any
I/O (:func:`index_tables`), then written in threads (pyarrow releases the GIL); the ledger is
recorded once they are all written.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from hepatokit.atomic import write_parquet_atomic
from hepatokit.contracts import TABLE_SCHEMAS, check_schema, start_build
from hepatokit.contracts.lifs import INSTANCES, INSTANCES_PHI, PSEUDONYMS, SITES, SOURCES
from hepatokit.curation.mri.dicom.tags import PHI_COLUMNS
from hepatokit.curation.mri.index.decide import FileDecisions
from hepatokit.curation.mri.index.records import INSTANCE_SCHEMA
from hepatokit.manifest import Manifest, provenance

__all__ = ["PHI_SCHEMA", "index_tables", "ledger_columns", "raw_sources", "write_index"]

#: ``private/instances_phi.parquet``: the identifying values of every kept image
PHI_SCHEMA = pa.schema(
    [("item_id", pa.string()), ("path", pa.string()), ("subject_id", pa.string())]
    + [(c, pa.string()) for c in PHI_COLUMNS]
)

Listing = Sequence[tuple[str, int, int]]


def _assemble(kept_rows: pa.Table, derived: dict[str, pa.Array], schema: pa.Schema) -> pa.Table:
    """A table of ``schema``: each column from ``derived`` if computed here, else the record."""
    arrays = [
        derived[f.name].cast(f.type) if f.name in derived else kept_rows[f.name].cast(f.type)
        for f in schema
    ]
    return pa.Table.from_arrays(arrays, schema=schema)


def index_tables(
    build: Path, files: Listing, records: pa.Table, d: FileDecisions
) -> dict[Path, pa.Table]:
    """Every table the index writes, by path: ``instances.parquet`` (pseudonymous paths) and
    ``private/`` ``sources``, ``instances_phi`` (raw paths), ``pseudonyms``, ``sites``."""
    kept_rows = records.take(pa.array(d.kept_at, type=pa.int64()))
    derived = {
        "item_id": pa.array([d.item_ids[i] for i in d.kept_at]),
        "subject_id": pa.array(d.subject_ids),
        "field_strength": pa.array(d.strengths),
        "center": pa.array([s[0] for s in d.sites]),
        "vendor": pa.array([s[1] for s in d.sites]),
        "scanner": pa.array([s[2] for s in d.sites]),
        "size": pa.array([files[i][1] for i in d.kept_at], pa.int64()),
    }
    public = {**derived, "path": pa.array([d.sources[i] for i in d.kept_at], pa.string())}
    originals = sorted(d.subjects)
    sites = sorted(d.site_rows)
    return {
        build / INSTANCES: _assemble(kept_rows, public, INSTANCE_SCHEMA),
        build / SOURCES: pa.table(
            {"item_id": d.item_ids, "source": [rel for rel, _, _ in files], "name": d.sources}
        ),
        build / INSTANCES_PHI: _assemble(kept_rows, derived, PHI_SCHEMA),
        build / PSEUDONYMS: pa.table(
            {
                "original_patient_id": [k.split("\x1f")[-1] for k in originals],
                "original_key": originals,
                "subject_id": [d.subjects[k] for k in originals],
            }
        ),
        build / SITES: pa.table(
            {
                "kind": [r[0] for r in sites],
                "original": [r[1] for r in sites],
                "pseudonym": [r[2] for r in sites],
            }
        ),
    }


def ledger_columns(files: Listing, d: FileDecisions) -> dict[str, list[Any]]:
    """The ``index`` ledger (every listed file, kept or excluded) as manifest columns."""
    return {
        "item_id": d.item_ids,
        "kind": ["file"] * len(files),
        "outcome": d.outcomes,
        "source": d.sources,
        "size": [max(size, 0) for _, size, _ in files],
        "reason": d.reasons,
        "detail": d.details,
    }


def write_index(
    build: Path,
    tables: Mapping[Path, pa.Table],
    ledger: dict[str, list[Any]],
    *,
    recipe_sha256: str | None,
) -> None:
    """Write ``tables`` in threads (an error in any is raised), then record the ``index``
    ledger (``build.json`` too: an index starts a LiFS build). The tables of the build
    contract are checked against it first."""
    start_build(build, "lifs")
    for path, table in tables.items():
        name = path.relative_to(build).as_posix()
        if name in TABLE_SCHEMAS:
            check_schema(table.schema, name, path=path)
    with ThreadPoolExecutor(max_workers=len(tables), thread_name_prefix="index-write") as pool:
        writes = [pool.submit(write_parquet_atomic, p, t) for p, t in tables.items()]
        for written in writes:
            written.result()
    Manifest(build).record_columns(
        "index",
        ledger,
        introduces=True,
        provenance_info=provenance(stage="mri.index", recipe_sha256=recipe_sha256),
    )


def raw_sources(build: str | os.PathLike[str]) -> dict[str, str]:
    """item_id → raw path (relative to the raw root) of every indexed file, from
    ``BUILD/private/sources.parquet``."""
    table = pq.read_table(Path(build) / SOURCES)
    return dict(zip(table["item_id"].to_pylist(), table["source"].to_pylist(), strict=True))
