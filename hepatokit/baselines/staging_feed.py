"""Batches of the staging baseline on the device: from a DataLoader, or straight from the
grid cache (:class:`hepatokit.baselines.grid_cache.CachedVolumes`) with a prefetch thread
and pinned memory; augmentation as torch ops on the device batch.

The batch order of both paths comes from the same seeded ``DataLoader`` sampler, so a
``float32`` cache trains exactly as the uncached datasets do.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from hepatokit.baselines.devices import DevicePlan
from hepatokit.baselines.grid_cache import CachedVolumes

__all__ = ["augment_batch", "batch_order", "device_batches", "to_device"]

#: host batches gathered ahead of the one being computed
PREFETCH = 2


def to_device(x: torch.Tensor, plan: DevicePlan) -> torch.Tensor:
    x = x.to(plan.torch_device(), non_blocking=plan.pin_memory).float()
    return _layout(x, plan)


def _layout(x: torch.Tensor, plan: DevicePlan) -> torch.Tensor:
    if plan.channels_last and x.ndim == 5:
        x = x.contiguous(memory_format=torch.channels_last_3d)
    return x


class _Indices(Dataset[int]):
    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> int:
        return i


def batch_order(n: int, batch_size: int, *, shuffle: bool, seed: int) -> list[list[int]]:
    """The index batches a seeded ``DataLoader(shuffle=shuffle)`` would give."""
    dl = DataLoader(
        _Indices(n),
        batch_size=batch_size,
        shuffle=shuffle,
        generator=torch.Generator().manual_seed(seed) if shuffle else None,
        collate_fn=list,
    )
    return list(dl)


def device_batches(
    ds: Any,
    *,
    batch_size: int,
    num_workers: int,
    plan: DevicePlan,
    shuffle: bool,
    seed: int,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """``(x float32 [B, C, X, Y, Z], y [B])`` on the plan's device, in the seeded order.

    A :class:`CachedVolumes` is gathered by a background thread ``PREFETCH`` batches ahead
    (into pinned memory on CUDA) and dequantised on the device; any other dataset goes
    through a ``DataLoader`` with ``num_workers`` workers.
    """
    device = plan.torch_device()
    if not isinstance(ds, CachedVolumes):
        dl = DataLoader(
            ds,
            batch_size=batch_size,
            shuffle=shuffle,
            num_workers=num_workers,
            pin_memory=plan.pin_memory,
            generator=torch.Generator().manual_seed(seed) if shuffle else None,
        )
        for x, y in dl:
            yield to_device(x, plan), torch.as_tensor(y).to(device)
        return
    order = batch_order(len(ds), batch_size, shuffle=shuffle, seed=seed)
    for raw, lo, step, y in _prefetched(ds, order, pin=plan.pin_memory):
        x = ds.decode(raw.to(device, non_blocking=plan.pin_memory), lo, step)
        yield _layout(x, plan), y.to(device, non_blocking=plan.pin_memory)


def _prefetched(
    ds: CachedVolumes, order: list[list[int]], *, pin: bool
) -> Iterator[tuple[torch.Tensor, ...]]:
    """``ds.gather`` of each batch of ``order``, computed ``PREFETCH`` batches ahead."""
    if not order:
        return
    # numpy copies release the GIL: PREFETCH threads gather PREFETCH batches side by side
    with ThreadPoolExecutor(PREFETCH, thread_name_prefix="grid-prefetch") as pool:
        pending: deque[Future[tuple[torch.Tensor, ...]]] = deque()
        for b in order[:PREFETCH]:
            pending.append(pool.submit(ds.gather, b, pin=pin))
        nxt = len(pending)
        while pending:
            batch = pending.popleft().result()
            if nxt < len(order):
                pending.append(pool.submit(ds.gather, order[nxt], pin=pin))
                nxt += 1
            yield batch


def augment_batch(
    x: torch.Tensor, generator: torch.Generator, *, gain: float = 0.1
) -> torch.Tensor:
    """Random flips along each spatial axis (p = 0.5, per sample) and a per-sample,
    per-channel intensity gain in ``[1 - gain, 1 + gain]`` (zero channels — missing
    sequences — stay zero), as batch ops on ``x``'s device. The draws come from
    ``generator`` (CPU) whatever the device, so a seed gives the same augmentation on a
    CPU and a GPU."""
    b, c = int(x.shape[0]), int(x.shape[1])
    flips = torch.rand((b, 3), generator=generator) < 0.5
    gains = 1.0 + (torch.rand((b, c), generator=generator) * 2.0 - 1.0) * gain
    flips = flips.to(x.device)
    for axis in range(3):
        mask = flips[:, axis].view(b, 1, 1, 1, 1)
        x = torch.where(mask, x.flip(2 + axis), x)
    return x * gains.to(x.device, x.dtype).view(b, c, 1, 1, 1)
