"""The manifest: a provenance ledger of every input item and what happened to it.

Each stage writes its own ledger file, ``BUILD/manifest/<stage>.parquet``, atomically and
in full, so re-running a stage replaces its rows instead of appending duplicates. A stage
that *introduces* items (``mri index``, ``patho ingest``, ``patho tile``, ``mri labels``)
registers them; later stages only report on items already registered.

The final outcome of an item is ``excluded`` (with the reason of the earliest stage that
excluded it) if any stage excluded it, else ``kept``. The invariant
``inputs == kept + excluded`` is checked by :meth:`Manifest.check`.
"""

from hepatokit.manifest.ids import file_digest, stable_id
from hepatokit.manifest.ledger import Manifest, provenance
from hepatokit.manifest.rows import (
    MANIFEST_SCHEMA,
    ManifestRow,
    ManifestSummary,
    Outcome as Outcome,
    clean_detail,
    excluded,
    kept,
)

__all__ = [
    "MANIFEST_SCHEMA",
    "Manifest",
    "ManifestRow",
    "ManifestSummary",
    "clean_detail",
    "excluded",
    "file_digest",
    "kept",
    "provenance",
    "stable_id",
]
