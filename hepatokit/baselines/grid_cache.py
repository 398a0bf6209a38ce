"""Preprocessed-grid cache of the staging baseline: each volume preprocessed once, stored
memory-mapped, gathered into batches without loader workers.

Like MONAI's ``PersistentDataset`` (one file per item, named by a hash, written through a
temporary file and a rename) with three differences: the name hashes the *content* of the
source (a checksum of the item's source files, or of the volume itself) rather than the
item's description (file paths), so an edited file at the same path misses; the
preprocessing parameters (grid, spacing, sequences, normalisation) and the storage dtype are
part of the key, so a change of grid misses too (MONAI leaves the transform out unless
``hash_transform`` is given); and entries are ``.npy`` files read with ``mmap_mode="r"``
(no unpickling, no copy through worker shared memory) in a compact dtype:

``float32``
    lossless.
``float16``
    relative error ≤ 2⁻¹¹ (half an ulp of an 11-bit significand); for volumes normalised
    to 0–1 (``percentile``) an absolute error ≤ 2⁻¹² ≈ 2.4e-4.
``uint8``
    per channel ``lo + q · step`` with ``step = (max - min) / 255``: absolute error ≤
    ``step / 2`` (≤ 1/510 ≈ 2.0e-3 for 0–1 volumes); the per-channel ``lo, step`` sit in
    ``<key>.scale.npy`` beside the grid.

Entries are written atomically (:mod:`hepatokit.atomic`): a killed build leaves whole
entries only, and the next build computes just the missing ones (resumable). Dequantisation
runs on the batch, on the device (:meth:`CachedVolumes.decode`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch.utils.data import Dataset

from hepatokit.atomic import atomic_path
from hepatokit.errors import DataFormatError

__all__ = ["CACHE_DTYPES", "CachedVolumes", "GridCache", "cache_volumes", "quantisation_bound"]

CacheDtype = Literal["float32", "float16", "uint8"]
CACHE_DTYPES: tuple[str, ...] = ("float32", "float16", "uint8")
#: bump when the stored layout changes (old entries then miss)
FORMAT = 1


def quantisation_bound(volume: np.ndarray, dtype: str) -> np.ndarray:
    """Per channel, the largest ``|cached - volume|`` the dtype allows (``[C]``)."""
    v = np.asarray(volume, dtype=np.float32).reshape(volume.shape[0], -1)
    if dtype == "float32":
        return np.zeros(len(v))
    if dtype == "float16":
        return np.abs(v).max(1) * 2.0**-11 + 2.0**-25  # + half the smallest subnormal
    if dtype == "uint8":
        return (v.max(1) - v.min(1)) / 510.0 * (1 + 1e-6) + 1e-7
    raise DataFormatError(f"unknown cache dtype {dtype!r}", hint=", ".join(CACHE_DTYPES))


class GridCache:
    """A folder of preprocessed volumes keyed by source content + parameters + dtype.

    Parameters
    ----------
    folder:
        Where entries live (created on first write; shareable between runs and splits).
    dtype:
        ``float32``, ``float16`` or ``uint8`` (see the module docstring for the bounds).
    params:
        Everything that shapes the preprocessing (grid, spacing, sequences, normalisation):
        JSON-serialisable; another value gives other keys (invalidation).
    """

    def __init__(self, folder: str | Path, *, dtype: str, params: dict[str, Any]):
        if dtype not in CACHE_DTYPES:
            raise DataFormatError(f"unknown cache dtype {dtype!r}", hint=", ".join(CACHE_DTYPES))
        self.folder = Path(folder)
        self.dtype = dtype
        self._salt = json.dumps(
            {"format": FORMAT, "dtype": dtype, "params": params}, sort_keys=True, default=list
        )
        self.hits = 0
        self.misses = 0

    def key(self, source: str) -> str:
        """The entry name of a source content key."""
        return hashlib.sha256(f"{self._salt}\n{source}".encode()).hexdigest()[:32]

    def path(self, source: str) -> Path:
        return self.folder / f"{self.key(source)}.npy"

    def has(self, source: str) -> bool:
        path = self.path(source)
        return path.is_file() and (self.dtype != "uint8" or _scale(path).is_file())

    def put(self, source: str, volume: Any) -> None:
        """Store a computed ``[C, X, Y, Z]`` volume (array or tensor) as ``source``'s entry."""
        self.misses += 1
        path = self.path(source)
        self._write(path, _scale(path), volume)

    def open(self, source: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(grid, lo, step)`` of a stored entry, the grid memory-mapped."""
        path = self.path(source)
        grid = np.load(path, mmap_mode="r")
        if self.dtype == "uint8":
            lo, step = np.load(_scale(path))
        else:
            lo = np.zeros(grid.shape[0], dtype=np.float32)
            step = np.ones(grid.shape[0], dtype=np.float32)
        return grid, lo, step

    def get(
        self, source: str, compute: Callable[[], Any]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`open` the entry of a source, storing ``compute()`` first on a miss."""
        if self.has(source):
            self.hits += 1
        else:
            self.put(source, compute())
        return self.open(source)

    def _write(self, path: Path, scale: Path, volume: Any) -> None:
        v = volume.detach().cpu().numpy() if isinstance(volume, torch.Tensor) else volume
        v = np.asarray(v, dtype=np.float32)
        if v.ndim != 4:
            raise DataFormatError(f"expected a volume [C, X, Y, Z], got shape {v.shape}")
        if not np.isfinite(v).all():
            raise DataFormatError("the volume has NaN or infinite values; cannot cache it")
        if self.dtype == "float16" and np.abs(v).max(initial=0.0) > 65504.0:
            raise DataFormatError(
                "the volume exceeds float16's range (±65504)",
                hint="normalise the volumes, or use cache float32 or uint8",
            )
        if self.dtype == "uint8":
            flat = v.reshape(len(v), -1)
            lo = flat.min(1)
            step = (flat.max(1) - lo) / 255.0
            safe = np.where(step > 0, step, 1.0)[:, None]
            q = np.rint((flat - lo[:, None]) / safe).clip(0, 255).astype(np.uint8)
            stored: np.ndarray = q.reshape(v.shape)
            with atomic_path(scale, suffix=".npy", durable=False) as tmp:  # before the grid
                np.save(tmp, np.stack([lo, step]).astype(np.float32))
        else:
            stored = v.astype(self.dtype)
        with atomic_path(path, suffix=".npy", durable=False) as tmp:
            np.save(tmp, np.ascontiguousarray(stored))


def _scale(path: Path) -> Path:
    return path.with_suffix(".scale.npy")


class CachedVolumes(Dataset[tuple[torch.Tensor, int]]):
    """``(volume, label)`` items of a dataset through a :class:`GridCache`.

    ``dataset[i]`` gives the dequantised float32 volume (any DataLoader can read it);
    :meth:`gather` + :meth:`decode` give whole batches: a gather of the memory-mapped grids
    in the storage dtype (a quarter of float32's bytes for ``uint8``) on the host, the
    dequantisation on the batch's device.
    """

    def __init__(
        self,
        grids: Sequence[np.ndarray],
        lo: np.ndarray,
        step: np.ndarray,
        labels: np.ndarray,
        *,
        dtype: str,
        case_ids: Sequence[str] | None = None,
    ):
        self.grids = list(grids)
        self.lo = torch.from_numpy(np.asarray(lo, dtype=np.float32))
        self.step = torch.from_numpy(np.asarray(step, dtype=np.float32))
        self.labels = np.asarray(labels, dtype=np.int64)
        self.dtype = dtype
        self.case_ids = (
            [str(i) for i in range(len(self.grids))] if case_ids is None else list(case_ids)
        )

    def __len__(self) -> int:
        return len(self.grids)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        raw = torch.from_numpy(np.array(self.grids[i]))[None]
        return self.decode(raw, self.lo[i : i + 1], self.step[i : i + 1])[0], int(self.labels[i])

    def gather(self, indices: Sequence[int], *, pin: bool = False) -> tuple[torch.Tensor, ...]:
        """``(raw [B, C, X, Y, Z] storage dtype, lo [B, C], step [B, C], labels [B])``."""
        first = self.grids[indices[0]]
        out = torch.empty((len(indices), *first.shape), dtype=_torch_dtype(first.dtype),
                          pin_memory=pin)  # fmt: skip
        dst = out.numpy()
        for j, i in enumerate(indices):
            dst[j] = self.grids[i]
        idx = torch.as_tensor(list(indices))
        return out, self.lo[idx], self.step[idx], torch.from_numpy(self.labels[list(indices)])

    def decode(self, raw: torch.Tensor, lo: torch.Tensor, step: torch.Tensor) -> torch.Tensor:
        """Dequantised float32 batch, on ``raw``'s device."""
        x = raw.float()
        if self.dtype == "uint8":
            shape = (*lo.shape, 1, 1, 1)
            lo = lo.to(x.device, non_blocking=True).view(shape)
            step = step.to(x.device, non_blocking=True).view(shape)
            x = x.mul_(step).add_(lo)
        return x


def _torch_dtype(dtype: np.dtype[Any]) -> torch.dtype:
    return {np.dtype(np.uint8): torch.uint8, np.dtype(np.float16): torch.float16}.get(
        np.dtype(dtype), torch.float32
    )


def content_key(volume: Any) -> str:
    """A content key of an in-memory volume: sha256 of its float32 bytes and shape."""
    v = volume.detach().cpu().numpy() if isinstance(volume, torch.Tensor) else volume
    v = np.ascontiguousarray(v, dtype=np.float32)
    return hashlib.sha256(repr(v.shape).encode() + v.tobytes()).hexdigest()


def cache_volumes(
    dataset: Any,
    cache: GridCache,
    *,
    source_key: Callable[[int], str] | None = None,
    labels: np.ndarray | None = None,
    workers: int = 0,
    progress: str | None = None,
) -> CachedVolumes:
    """Every item of ``dataset`` (``(volume, label)``) through ``cache``.

    ``source_key(i)`` names item *i*'s source content without preprocessing it (e.g. the
    checksums of its files); by default ``dataset.source_key`` when present, else the
    content of the item's volume (the dataset is then read once per call). With a source
    key and ``workers`` > 0 the missing entries are computed by that many DataLoader
    worker processes (``dataset`` must pickle).
    """
    key_of = source_key or getattr(dataset, "source_key", None)
    if labels is None:
        labels = getattr(dataset, "labels", None)
    keys = None if key_of is None else [key_of(i) for i in range(len(dataset))]
    filled = set()
    if keys is not None and workers > 0:
        filled = _fill(dataset, cache, keys, workers=workers, progress=progress)
    grids, los, steps, ys = [], [], [], []
    indices: Any = range(len(dataset))
    if progress and not filled:
        from hepatokit.progress import track

        indices = track(indices, progress, total=len(dataset))
    for i in indices:
        item: Any = None if keys is not None else dataset[i]
        source = keys[i] if keys is not None else content_key(item[0])

        def compute(i: int = i, item: Any = item) -> Any:
            return (dataset[i] if item is None else item)[0]

        grid, lo, step = cache.open(source) if i in filled else cache.get(source, compute)
        grids.append(grid)
        los.append(lo)
        steps.append(step)
        if labels is None:
            ys.append(int((dataset[i] if item is None else item)[1]))
    y = np.asarray(labels if labels is not None else ys, dtype=np.int64)
    empty = np.zeros((0, 0), dtype=np.float32)
    return CachedVolumes(
        grids, np.stack(los) if los else empty, np.stack(steps) if steps else empty, y,
        dtype=cache.dtype,
        case_ids=getattr(dataset, "case_ids", None),
    )  # fmt: skip


class _Missing(Dataset[tuple[int, Any]]):
    def __init__(self, dataset: Any, indices: list[int]) -> None:
        self.dataset, self.indices = dataset, indices

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, j: int) -> tuple[int, Any]:
        return self.indices[j], self.dataset[self.indices[j]][0]


def _fill(
    dataset: Any, cache: GridCache, keys: list[str], *, workers: int, progress: str | None
) -> set[int]:
    """Compute and store the missing entries in ``workers`` processes; their indices."""
    from torch.utils.data import DataLoader

    missing = [i for i, k in enumerate(keys) if not cache.has(k)]
    cache.hits += len(keys) - len(missing)
    if not missing:
        return set(range(len(keys)))
    dl = DataLoader(_Missing(dataset, missing), batch_size=None, num_workers=workers)
    items: Any = dl
    if progress:
        from hepatokit.progress import track

        items = track(dl, progress, total=len(missing))
    for i, volume in items:
        cache.put(keys[int(i)], volume)
    return set(range(len(keys)))
