"""Read ``BUILD/splits.parquet`` (``id``, ``group``, ``split``) for publishing."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pyarrow.parquet as pq

from hepatokit.contracts.common import SPLITS
from hepatokit.errors import BuildStateError

__all__ = ["read_split_assignment"]


def read_split_assignment(
    build: Path, ids: Sequence[str], *, allowed: Sequence[str] = ()
) -> dict[str, str]:
    """The split of every curated item ``ids`` (id → split name).

    Items the split stage deliberately left out (``left_out`` in the file's metadata, e.g.
    unlabelled subjects) are absent from the result: they are not published.

    Raises
    ------
    BuildStateError
        No ``splits.parquet``; an item without a split; a split id that is not a curated
        item (the splits are stale); a split name outside ``allowed`` (if given).
    """
    path = build / SPLITS
    if not path.is_file():
        raise BuildStateError(
            f"no {SPLITS} in the build",
            path=build,
            hint="run `hepatokit split BUILD` before publishing",
        )
    meta = (pq.read_schema(path).metadata or {}).get(b"hepatokit.split", b"{}")
    left_out = set(json.loads(meta).get("left_out", []))
    table = pq.read_table(path, columns=["id", "split"]).to_pylist()
    split_of: dict[str, str] = {}
    for row in table:
        if row["id"] in split_of and split_of[row["id"]] != row["split"]:
            raise BuildStateError(f"item {row['id']!r} is in two splits", path=path)
        split_of[row["id"]] = row["split"]
    wanted = set(ids) - left_out
    missing = sorted(wanted - set(split_of))
    stale = sorted(set(split_of) - wanted)
    if missing or stale:
        example = (missing or stale)[0]
        raise BuildStateError(
            f"splits.parquet does not match the curated table: {len(missing)} item(s) "
            f"without a split, {len(stale)} split id(s) not curated (e.g. {example!r})",
            path=path,
            hint="re-run `hepatokit split` after the last curation stage",
        )
    if allowed:
        bad = sorted({s for s in split_of.values() if s not in allowed})
        if bad:
            raise BuildStateError(
                f"unknown split name(s) {', '.join(bad)}; the recipe allows {', '.join(allowed)}",
                path=path,
                hint="fix the recipe's publish.splits or re-run the split stage",
            )
    return {i: split_of[i] for i in ids if i in split_of}
