"""Embed images with a frozen encoder, streaming batches, with an on-disk cache.

The cache is keyed by (encoder identity, image MD5): ``CACHE/<identity>/`` holds append-only
shards ``<name>.npy`` (float32 ``[n, D]``) + ``<name>.keys.txt`` (one MD5 a line; written
last, so a shard without its keys file is an interrupted write and is ignored). A run embeds
only the images whose MD5 is not in any shard, then writes one new shard; a second run with
the same encoder computes nothing.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hepatokit.atomic import atomic_path, write_json_atomic, write_text_atomic
from hepatokit.baselines.devices import DevicePlan
from hepatokit.errors import DataFormatError

if TYPE_CHECKING:
    from torch.utils.data import Dataset

    from hepatokit.baselines.encoders import Encoder, Preprocess

__all__ = ["EmbeddingCache", "EmbeddingResult", "embed_dataset", "embed_images"]

log = logging.getLogger("hepatokit.baselines.embeddings")


class EmbeddingCache:
    """Append-only per-encoder store of embeddings keyed by image MD5."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def folder(self, identity: str) -> Path:
        return self.root / identity[:32]

    def load(self, identity: str) -> dict[str, np.ndarray]:
        """Every cached embedding of this encoder: MD5 → ``[D]`` float32 (memory-mapped)."""
        found: dict[str, np.ndarray] = {}
        folder = self.folder(identity)
        if not folder.is_dir():
            return found
        for keys_file in sorted(folder.glob("*.keys.txt")):
            feats_file = keys_file.with_name(keys_file.name[: -len(".keys.txt")] + ".npy")
            if not feats_file.is_file():
                log.warning("%s: embedding shard without features, ignored", keys_file)
                continue
            keys = keys_file.read_text().split()
            feats = np.load(feats_file, mmap_mode="r")
            if feats.ndim != 2 or feats.shape[0] != len(keys):
                log.warning("%s: shard shape %s does not match its keys", feats_file, feats.shape)
                continue
            for i, k in enumerate(keys):
                found.setdefault(k, feats[i])
        return found

    def add(self, identity: str, keys: Sequence[str], features: np.ndarray, meta: Any) -> Path:
        """Write a new shard (features first, keys last: the keys file commits the shard)."""
        if len(keys) != features.shape[0]:
            raise ValueError("keys and features differ in length")
        folder = self.folder(identity)
        name = hashlib.sha256("\n".join(keys).encode()).hexdigest()[:16]
        feats_path = folder / f"{name}.npy"
        with atomic_path(feats_path, suffix=".npy") as tmp, open(tmp, "wb") as fh:
            np.save(fh, np.ascontiguousarray(features, dtype=np.float32))
        write_text_atomic(folder / f"{name}.keys.txt", "".join(f"{k}\n" for k in keys))
        meta_path = folder / "encoder.json"
        if not meta_path.exists():
            write_json_atomic(meta_path, meta)
        return feats_path


@dataclass
class EmbeddingResult:
    """Embeddings in input order plus what the run had to compute.

    ``features``: float32 ``[N, D]``; ``n_computed``: images that went through the encoder;
    ``n_cached``: images read from the cache; ``seconds``: wall time of the encoder pass.
    """

    features: np.ndarray
    n_computed: int
    n_cached: int
    seconds: float

    @property
    def images_per_second(self) -> float:
        return self.n_computed / self.seconds if self.seconds > 0 else float("nan")


class _Preprocessed:
    """Dataset view: item ``indices[i]`` of ``base``, image through ``preprocess``."""

    def __init__(self, base: Any, indices: Sequence[int], preprocess: Preprocess, key: Any):
        self.base = base
        self.indices = list(indices)
        self.preprocess = preprocess
        self.key = key

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> Any:
        item = self.base[self.indices[i]]
        image = item[self.key] if self.key is not None else item
        return self.preprocess.prepare(image)  # uint8 for 8-bit images; normalised on device


def _run_encoder(
    encoder: Encoder,
    dataset: Any,
    *,
    plan: DevicePlan,
    batch_size: int,
    num_workers: int,
) -> np.ndarray:
    import torch
    from torch.utils.data import DataLoader

    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=False,
        num_workers=num_workers,
        pin_memory=plan.pin_memory,
        persistent_workers=False,
        prefetch_factor=4 if num_workers > 0 else None,
    )
    device = plan.torch_device()
    encoder.to(device)
    if plan.channels_last:
        encoder.model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    from hepatokit.progress import track

    chunks: list[np.ndarray] = []
    with torch.inference_mode():
        for batch in track(loader, f"embedding ({encoder.spec})", total=len(loader)):
            x = encoder.preprocess.normalize(batch.to(device, non_blocking=plan.pin_memory))
            if plan.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with plan.autocast():
                feats = encoder.embed(x)
            chunks.append(feats.float().cpu().numpy())
    if not chunks:
        return np.zeros((0, encoder.feature_dim), dtype=np.float32)
    return np.concatenate(chunks).astype(np.float32, copy=False)


def embed_dataset(
    encoder: Encoder,
    dataset: Dataset[Any] | Sequence[Any],
    keys: Sequence[str],
    *,
    cache: EmbeddingCache | None = None,
    plan: DevicePlan | None = None,
    batch_size: int = 64,
    num_workers: int = 0,
    image_key: Any = None,
) -> EmbeddingResult:
    """Embed ``dataset`` (aligned with ``keys``, the images' MD5s), reading/filling the cache.

    Parameters
    ----------
    encoder:
        A frozen encoder from :func:`~hepatokit.baselines.encoders.load_encoder`.
    dataset:
        Map-style dataset; item ``i`` is an image (PIL, ``uint8 [H, W, 3]``, tensor
        ``[3, H, W]``) or a mapping/tuple holding it under ``image_key``.
    keys:
        One content key (MD5 of the image file) per item; equal keys are embedded once.
    cache:
        The on-disk cache; ``None`` computes everything and stores nothing.
    plan:
        Device/precision plan (default: CPU, fp32). On CUDA: bf16 autocast, pinned memory.
    batch_size, num_workers:
        DataLoader settings (decoding and preprocessing run in the workers).

    Returns
    -------
    EmbeddingResult
        ``features`` float32 ``[len(dataset), D]`` in dataset order.
    """
    plan = plan or DevicePlan()
    if len(keys) != len(dataset):  # type: ignore[arg-type]
        raise DataFormatError(f"{len(keys)} keys for {len(dataset)} images")  # type: ignore[arg-type]
    cached = cache.load(encoder.identity) if cache is not None else {}
    first_index: dict[str, int] = {}
    for i, k in enumerate(keys):
        if k not in cached:
            first_index.setdefault(k, i)
    todo_keys = list(first_index)
    todo_idx = [first_index[k] for k in todo_keys]
    start = time.perf_counter()
    computed = np.zeros((0, encoder.feature_dim), dtype=np.float32)
    if todo_idx:
        view = _Preprocessed(dataset, todo_idx, encoder.preprocess, image_key)
        computed = _run_encoder(
            encoder, view, plan=plan, batch_size=batch_size, num_workers=num_workers
        )
        if cache is not None:
            cache.add(encoder.identity, todo_keys, computed, encoder.describe())
    seconds = time.perf_counter() - start
    fresh = {k: computed[j] for j, k in enumerate(todo_keys)}
    out = np.empty((len(keys), encoder.feature_dim), dtype=np.float32)
    for i, k in enumerate(keys):
        out[i] = fresh[k] if k in fresh else cached[k]
    n_cached = sum(1 for k in keys if k not in fresh)
    log.info("%s: %d images embedded, %d from cache", encoder.spec, len(todo_keys), n_cached)
    return EmbeddingResult(out, n_computed=len(todo_keys), n_cached=n_cached, seconds=seconds)


def embed_images(
    encoder: Encoder,
    images: Sequence[Any],
    *,
    plan: DevicePlan | None = None,
    batch_size: int = 64,
    num_workers: int = 0,
) -> np.ndarray:
    """Embed in-memory images (no cache): float32 ``[N, D]``. HepatoQuant's tile path."""
    plan = plan or DevicePlan()
    view = _Preprocessed(images, range(len(images)), encoder.preprocess, None)
    return _run_encoder(encoder, view, plan=plan, batch_size=batch_size, num_workers=num_workers)
