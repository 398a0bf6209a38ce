"""HepatoBench for torch: patches → normalised ``[3, H, W]`` float tensors.

:class:`HepatoBenchTransform` takes a PIL image, a ``{"bytes", "path"}`` cell or raw bytes,
converts to RGB, resizes (bilinear) to ``size`` if given, scales to 0–1 and normalises with
``mean``/``std`` (ImageNet statistics by default, what most pathology encoders expect).
:class:`HepatoBenchImages` (map-style) and :func:`iterable_hepatobench` (streaming) yield
``(image, label)``, ``label`` = class index or -1 when withheld.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "HepatoBenchImages", "HepatoBenchTransform",
           "iterable_hepatobench"]  # fmt: skip

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class HepatoBenchTransform:
    """PIL image / encoded bytes → ``[3, size, size]`` float32 tensor (see module doc)."""

    def __init__(
        self,
        size: int | None = 224,
        *,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
    ):
        self.size = size
        self.mean = np.asarray(mean, dtype=np.float32).reshape(3, 1, 1)
        self.std = np.asarray(std, dtype=np.float32).reshape(3, 1, 1)

    def __call__(self, image: Any) -> Any:
        import torch
        from PIL import Image

        if isinstance(image, dict):
            image = image.get("bytes") or open(image["path"], "rb").read()  # noqa: SIM115
        if isinstance(image, bytes | bytearray):
            image = Image.open(io.BytesIO(image))
        image = image.convert("RGB")
        if self.size is not None and image.size != (self.size, self.size):
            image = image.resize((self.size, self.size), Image.Resampling.BILINEAR)
        arr = np.asarray(image, dtype=np.float32).transpose(2, 0, 1) / 255.0
        return torch.from_numpy((arr - self.mean) / self.std)

    def batch(self, batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        """The batched form for ``Dataset.with_transform``: ``image`` → tensors."""
        out = dict(batch)
        out["image"] = [self(img) for img in batch["image"]]
        out["label"] = [-1 if y is None else y for y in batch["label"]]
        return out


class HepatoBenchImages:
    """Map-style dataset over a HepatoBench ``Dataset``: ``(image, label)``."""

    def __init__(self, dataset: Any, *, transform: HepatoBenchTransform | None = None):
        self.dataset = dataset
        self.transform = transform or HepatoBenchTransform()

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple[Any, int]:
        row = self.dataset[index]
        label = row["label"]
        return self.transform(row["image"]), -1 if label is None else int(label)


def iterable_hepatobench(dataset: Any, *, transform: HepatoBenchTransform | None = None) -> Any:
    """A torch ``IterableDataset`` over a streaming HepatoBench ``IterableDataset`` (rows dealt
    round-robin to DataLoader workers; each decodes only its own)."""
    from hepatokit.loaders.torch_iter import RoundRobinStream

    tf = transform or HepatoBenchTransform()

    def convert(row: dict[str, Any]) -> tuple[Any, int]:
        label = row["label"]
        return tf(row["image"]), -1 if label is None else int(label)

    return RoundRobinStream(dataset.decode(False), convert)
