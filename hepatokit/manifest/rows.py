"""Manifest rows: the ledger schema, one item's outcome at one stage, and the summary of the
final outcomes."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import pyarrow as pa

__all__ = [
    "MANIFEST_SCHEMA",
    "ManifestRow",
    "ManifestSummary",
    "Outcome",
    "clean_detail",
    "excluded",
    "kept",
    "reason_family",
]

Outcome = Literal["kept", "excluded"]

MANIFEST_SCHEMA = pa.schema(
    [
        pa.field("item_id", pa.string(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("source", pa.string()),
        pa.field("size", pa.int64()),
        pa.field("checksum", pa.string()),
        pa.field("stage", pa.string(), nullable=False),
        pa.field("outcome", pa.string(), nullable=False),
        pa.field("reason", pa.string()),
        pa.field("detail", pa.string()),
    ]
)


@dataclass(frozen=True)
class ManifestRow:
    """One item's outcome at one stage.

    ``source`` is a path relative to the raw root (never absolute: the manifest must not leak
    where the raw data lives); ``checksum`` is ``"<algo>:<hex>"``.
    """

    item_id: str
    kind: str
    stage: str
    outcome: Outcome
    source: str | None = None
    size: int | None = None
    checksum: str | None = None
    reason: str | None = None
    detail: str | None = None

    def __post_init__(self) -> None:
        if self.outcome not in ("kept", "excluded"):
            raise ValueError(f"outcome must be 'kept' or 'excluded', got {self.outcome!r}")
        if self.outcome == "excluded" and not self.reason:
            raise ValueError(f"excluded item {self.item_id!r} needs a reason")


_ADDRESS = re.compile(r"<([\w.]+(?: \w+)*) object at 0x[0-9a-fA-F]+>|\bat 0x[0-9a-fA-F]{6,}\b")
_ABSOLUTE = re.compile(r"(?<![\w.~/])/(?:[^/\s'\"():,;]+/)+([^/\s'\"():,;]+)")


def clean_detail(detail: str | None) -> str | None:
    """A ledger detail that is the same on every run and names no raw location: memory
    addresses (``<_io.BytesIO object at 0x7f…>``, from a library's error text) dropped, and
    absolute paths cut to their last component (``…/IM0001``: the ``source`` column holds
    the path relative to the raw root; the folders above it may name a patient)."""
    if not detail:
        return detail
    detail = _ADDRESS.sub(lambda m: f"<{m.group(1)}>" if m.group(1) else "", detail)
    return _ABSOLUTE.sub(lambda m: f"…/{m.group(1)}", detail)


def kept(item_id: str, *, kind: str, stage: str, **fields: Any) -> ManifestRow:
    """A ``kept`` row (keyword fields: source, size, checksum, detail)."""
    return ManifestRow(item_id=item_id, kind=kind, stage=stage, outcome="kept", **fields)


def excluded(item_id: str, *, kind: str, stage: str, reason: str, **fields: Any) -> ManifestRow:
    """An ``excluded`` row; ``reason`` is a short code (``corrupt``, ``duplicate_of:<id>``...)."""
    return ManifestRow(
        item_id=item_id, kind=kind, stage=stage, outcome="excluded", reason=reason, **fields
    )


@dataclass(frozen=True)
class ManifestSummary:
    """Counts of the final outcomes: ``inputs == kept + excluded`` always."""

    inputs: int
    kept: int
    excluded: int
    by_reason: dict[str, int] = field(default_factory=dict)
    by_kind: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def reason_family(reason: str | None) -> str:
    """``duplicate_of:abc`` → ``duplicate_of``; reasons with an id are counted by family."""
    if reason is None:
        return "unknown"
    return reason.split(":", 1)[0]
