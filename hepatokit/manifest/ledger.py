"""The ledger of a build folder: one Parquet file per stage under ``BUILD/manifest/``, read
back as the final outcome of every input item; and the run provenance stored with it."""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import json
import os
import platform
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from hepatokit._version import __version__
from hepatokit.atomic import write_parquet_atomic
from hepatokit.contracts.common import MANIFEST_DIR
from hepatokit.errors import ManifestError
from hepatokit.manifest.rows import (
    MANIFEST_SCHEMA,
    ManifestRow,
    ManifestSummary,
    clean_detail,
    reason_family,
)

__all__ = ["Manifest", "merge_outcomes", "provenance"]

_TRACKED_PACKAGES = (
    "pydicom",
    "dcm2niix",
    "nibabel",
    "SimpleITK",
    "pillow",
    "imagehash",
    "openslide-python",
    "openslide-bin",
    "pyarrow",
    "datasets",
    "huggingface-hub",
    "torch",
    "monai",
    "scikit-learn",
    "numpy",
)


def _package_versions() -> dict[str, str]:
    versions: dict[str, str] = {}
    for name in _TRACKED_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def provenance(
    *,
    stage: str,
    recipe_sha256: str | None = None,
    seed: int | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Run provenance stored with each stage's ledger: versions, recipe hash, seed, time."""
    info: dict[str, Any] = {
        "stage": stage,
        "hepatokit": __version__,
        "python": platform.python_version(),
        "packages": _package_versions(),
        "recipe_sha256": recipe_sha256,
        "seed": seed,
        "time_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }
    if extra:
        info.update(dict(extra))
    return info


class Manifest:
    """The ledger of a build folder (``BUILD/manifest/``)."""

    def __init__(self, build_dir: str | os.PathLike[str]):
        self.build_dir = Path(build_dir)
        self.folder = self.build_dir / MANIFEST_DIR

    # ---------------------------------------------------------------- writing
    def record(
        self,
        stage: str,
        rows: Iterable[ManifestRow],
        *,
        introduces: bool = False,
        provenance_info: Mapping[str, Any] | None = None,
    ) -> Path:
        """Replace the ledger of ``stage`` with ``rows`` (atomic).

        Parameters
        ----------
        stage
            Stage name; one file per stage, so re-running a stage is idempotent.
        rows
            One row per item the stage saw. An item may appear once per stage.
        introduces
            True for stages whose rows *are* the inputs (index, ingest, tile, labels).
        provenance_info
            Stored in the parquet metadata (see :func:`provenance`).
        """
        rows = list(rows)
        columns = {name: [getattr(r, name) for r in rows] for name in MANIFEST_SCHEMA.names}
        return self._write(stage, columns, introduces, provenance_info)

    def record_columns(
        self,
        stage: str,
        columns: Mapping[str, Sequence[Any]],
        *,
        introduces: bool = False,
        provenance_info: Mapping[str, Any] | None = None,
    ) -> Path:
        """:meth:`record` for a stage that has its rows as columns (one sequence per field of
        :class:`ManifestRow`; ``stage`` defaults to the stage's name, ``source``, ``size``,
        ``checksum``, ``reason`` and ``detail`` to nulls): no row objects for stages with
        many items. Same checks.

        Raises
        ------
        ManifestError
            An outcome that is not ``kept``/``excluded``, an excluded item without a reason,
            an item reported twice, columns of different lengths.
        """
        n = len(columns["item_id"])
        defaults = {"stage": [stage] * n}
        full = {
            name: list(columns[name]) if name in columns else defaults.get(name, [None] * n)
            for name in MANIFEST_SCHEMA.names
        }
        if any(len(values) != n for values in full.values()):
            raise ManifestError(f"stage {stage!r}: manifest columns of different lengths")
        for item, outcome, reason in zip(
            full["item_id"], full["outcome"], full["reason"], strict=True
        ):
            if outcome not in ("kept", "excluded") or (outcome == "excluded" and not reason):
                raise ManifestError(
                    f"stage {stage!r}: item {item!r} has outcome {outcome!r}, reason {reason!r}",
                    hint="an outcome is 'kept' or 'excluded', and an exclusion needs a reason",
                )
        return self._write(stage, full, introduces, provenance_info)

    def _write(
        self,
        stage: str,
        columns: Mapping[str, list[Any]],
        introduces: bool,
        provenance_info: Mapping[str, Any] | None,
    ) -> Path:
        ids = columns["item_id"]
        if len(set(ids)) != len(ids):
            dup = [i for i, n in Counter(ids).items() if n > 1]
            raise ManifestError(
                f"stage {stage!r} reported {len(dup)} item(s) twice, e.g. {dup[0]!r}",
                hint="a stage must report each item exactly once",
            )
        path = self.folder / f"{stage}.parquet"
        seq = self._seq_of(path)
        columns = {**columns, "detail": [clean_detail(d) for d in columns["detail"]]}
        table = pa.table(dict(columns), schema=MANIFEST_SCHEMA)
        meta = {
            b"hepatokit.seq": str(seq).encode(),
            b"hepatokit.introduces": b"1" if introduces else b"0",
            b"hepatokit.provenance": json.dumps(provenance_info or {}, sort_keys=True).encode(),
        }
        table = table.replace_schema_metadata(meta)
        return write_parquet_atomic(path, table)

    def _seq_of(self, path: Path) -> int:
        if path.exists():
            return int(pq.read_schema(path).metadata[b"hepatokit.seq"])
        seqs = [s for s, _, _ in self._stage_files()]
        return max(seqs, default=-1) + 1

    def _stage_files(self) -> list[tuple[int, Path, bool]]:
        out: list[tuple[int, Path, bool]] = []
        if not self.folder.is_dir():
            return out
        for path in sorted(self.folder.glob("*.parquet")):
            meta = pq.read_schema(path).metadata or {}
            seq = int(meta.get(b"hepatokit.seq", b"0"))
            out.append((seq, path, meta.get(b"hepatokit.introduces") == b"1"))
        return sorted(out)

    # ---------------------------------------------------------------- reading
    def stages(self) -> list[str]:
        """Stage names in the order they were first recorded."""
        return [p.stem for _, p, _ in self._stage_files()]

    def rows(self) -> pa.Table:
        """All rows of all stages (stage order), with the schema :data:`MANIFEST_SCHEMA`."""
        tables = [pq.read_table(p).cast(MANIFEST_SCHEMA) for _, p, _ in self._stage_files()]
        if not tables:
            return MANIFEST_SCHEMA.empty_table()
        return pa.concat_tables(tables).replace_schema_metadata(None)

    def provenance(self) -> dict[str, dict[str, Any]]:
        """Provenance per stage, as recorded."""
        out = {}
        for _, path, _ in self._stage_files():
            meta = pq.read_schema(path).metadata or {}
            out[path.stem] = json.loads(meta.get(b"hepatokit.provenance", b"{}"))
        return out

    def final(self) -> pa.Table:
        """One row per input item with its final outcome (first exclusion wins)."""
        rows = (
            row for _, path, _ in self._stage_files() for row in pq.read_table(path).to_pylist()
        )
        return pa.Table.from_pylist(merge_outcomes(rows), schema=MANIFEST_SCHEMA)

    def check(self) -> ManifestSummary:
        """Check ``inputs == kept + excluded`` and that every item was introduced.

        Raises
        ------
        ManifestError
            If an item appears at a stage without being registered by an introducing stage,
            or if an item has no outcome.
        """
        introduced: set[str] = set()
        seen: dict[str, str] = {}
        for _, path, introduces in self._stage_files():
            ids = pq.read_table(path, columns=["item_id"]).column(0).to_pylist()
            if introduces:
                introduced.update(ids)
            for item in ids:
                seen.setdefault(item, path.stem)
        orphans = sorted(set(seen) - introduced)
        if orphans:
            raise ManifestError(
                f"{len(orphans)} item(s) reported but never registered as inputs, "
                f"e.g. {orphans[0]!r} first seen at stage {seen[orphans[0]]!r}",
                path=self.folder,
                hint="the introducing stage (index / ingest / tile / labels) must list every input",
            )
        table = self.final()
        outcomes = table.column("outcome").to_pylist()
        n_kept = outcomes.count("kept")
        n_excl = outcomes.count("excluded")
        if n_kept + n_excl != len(introduced) or len(table) != len(introduced):
            raise ManifestError(
                f"inputs={len(introduced)} but kept={n_kept} + excluded={n_excl}",
                path=self.folder,
            )
        reasons = Counter(
            reason_family(r)
            for r, o in zip(table.column("reason").to_pylist(), outcomes, strict=True)
            if o == "excluded"
        )
        kinds = Counter(table.column("kind").to_pylist())
        return ManifestSummary(
            inputs=len(introduced),
            kept=n_kept,
            excluded=n_excl,
            by_reason=dict(sorted(reasons.items())),
            by_kind=dict(sorted(kinds.items())),
        )

    def excluded_ids(self, stages: Sequence[str] | None = None) -> set[str]:
        """Ids excluded at any of ``stages`` (all stages if None)."""
        out: set[str] = set()
        for _, path, _ in self._stage_files():
            if stages is not None and path.stem not in stages:
                continue
            t = pq.read_table(path, columns=["item_id", "outcome"]).to_pylist()
            out.update(r["item_id"] for r in t if r["outcome"] == "excluded")
        return out


def merge_outcomes(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The final row of every item from its rows in stage order, sorted by ``item_id``.

    An item's first exclusion is final; until then its latest ``kept`` row stands, with
    ``source``, ``size`` and ``checksum`` carried over from earlier rows where it has none.
    """
    final: dict[str, dict[str, Any]] = {}
    for row in rows:
        prev = final.get(row["item_id"])
        if prev is not None and prev["outcome"] == "excluded":
            continue
        merged = dict(row)
        if prev is not None:
            for key in ("source", "size", "checksum"):
                if merged[key] is None:
                    merged[key] = prev[key]
        final[row["item_id"]] = merged
    return [final[k] for k in sorted(final)]
