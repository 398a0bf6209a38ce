"""A torch ``IterableDataset`` over a ``datasets.IterableDataset`` that shares rows among
DataLoader workers (imports torch: import this module lazily)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import torch.utils.data

__all__ = ["RoundRobinStream"]


def _all_rows(rows: Any) -> Iterator[dict[str, Any]]:
    """Every row of a ``datasets.IterableDataset``, even inside a DataLoader worker (where
    iterating it directly would give this worker only its share of the parquet shards)."""
    for batch in rows.iter(batch_size=32):
        n = len(next(iter(batch.values())))
        for i in range(n):
            yield {k: v[i] for k, v in batch.items()}


class RoundRobinStream(torch.utils.data.IterableDataset):
    """Yield ``convert(row)`` for every row exactly once across the DataLoader's workers;
    rows for which ``convert`` returns None are skipped.

    With at least as many parquet shards as workers, each worker streams its own shards
    (``datasets`` splits them); otherwise every worker reads the (undecoded) rows and
    converts only rows ``i`` with ``i % num_workers == worker id``.
    """

    def __init__(self, rows: Any, convert: Callable[[dict[str, Any]], Any]):
        super().__init__()
        self.rows = rows
        self.convert = convert

    def __iter__(self) -> Iterator[Any]:
        info = torch.utils.data.get_worker_info()
        if info is None or getattr(self.rows, "num_shards", 1) >= info.num_workers:
            source: Iterator[dict[str, Any]] = iter(self.rows)
            worker, n = 0, 1
        else:
            source, worker, n = _all_rows(self.rows), info.id, info.num_workers
        for i, row in enumerate(source):
            if i % n != worker:
                continue
            out = self.convert(row)
            if out is not None:
                yield out
