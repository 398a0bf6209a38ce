"""The LiFS splits of ``run_staging`` through the grid cache (``OUT/grid_cache/``).

An entry is named by the content of the row's source volumes (sha256 of each sequence's
stored NIfTI bytes, read from the dataset's arrow rows without decoding them, plus the
row's registration fields) and by the preprocessing (sequences, spacing, grid,
normalisation, missing-sequence policy) and the dtype: a new release of a volume, another
grid or another normalisation misses; the same volume in another split or a later run hits.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

from hepatokit.baselines.grid_cache import CachedVolumes, GridCache, cache_volumes

__all__ = ["RowContent", "cached_split", "preprocessing_params"]

log = logging.getLogger("hepatokit.baselines.staging")

#: row fields besides the images that shape the fused volume (``grid="reference"``)
_GEOMETRY_FIELDS = ("registration_reference",)


class RowContent:
    """``key(i)``: the content key of row ``i`` of a datasets ``Dataset`` (undecoded)."""

    def __init__(self, dataset: Any, sequences: Any):
        self.sequences = list(sequences)
        names = set(dataset.column_names)
        wanted = [s for s in self.sequences if s in names]
        extra = [c for c in dataset.column_names if c.startswith("transform_")]
        extra += [c for c in _GEOMETRY_FIELDS if c in names]
        self.columns = wanted + sorted(extra)
        self.arrow = dataset.select_columns(self.columns).with_format("arrow")

    def key(self, row: int) -> str:
        record = self.arrow[row].to_pylist()[0]
        h = hashlib.sha256()
        for seq in self.sequences:
            h.update(f"\0{seq}\0".encode())
            h.update(_cell_bytes(record.get(seq)))
        rest = {c: record[c] for c in self.columns if c not in self.sequences}
        h.update(json.dumps(rest, sort_keys=True, default=str).encode())
        return h.hexdigest()


def _cell_bytes(cell: Any) -> bytes:
    """The stored bytes of an image cell (``{"bytes", "path"}``); a marker when missing."""
    if cell is None:
        return b"<missing>"
    data = cell.get("bytes") if isinstance(cell, dict) else cell
    if data is None and isinstance(cell, dict) and cell.get("path"):
        data = Path(cell["path"]).read_bytes()
    return b"<missing>" if data is None else bytes(data)


def preprocessing_params(transform: Any) -> dict[str, Any]:
    """What shapes a fused volume, from a ``LifsVolumeTransform``."""
    return {
        "sequences": list(transform.sequences),
        "spacing": list(transform.spacing),
        "grid": list(transform.spatial_size),
        "normalize": transform.normalize,
        "missing": transform.missing,
        "layout": transform.grid,
        "reference": list(transform.reference),
    }


def cached_split(
    split: Any, folder: Path, dtype: str, *, name: str, workers: int = 0
) -> CachedVolumes:
    """A ``VolumeSplit`` (rows, transform, labels, case ids) through ``folder``'s cache;
    missing entries computed by ``workers`` loader processes (0: in this one)."""
    rows = RowContent(split.dataset, split.transform.sequences)
    cache = GridCache(folder, dtype=dtype, params=preprocessing_params(split.transform))
    out = cache_volumes(
        split,
        cache,
        source_key=lambda i: rows.key(split.indices[i]),
        labels=split.labels,
        workers=workers,
        progress=f"grid cache: {name}",
    )
    out.case_ids = list(split.case_ids)
    log.info("grid cache %s: %d hits, %d computed (%s)", name, cache.hits, cache.misses, folder)
    return out
