"""In-memory data with planted signal for the baseline tests (no files, no loaders)."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

#: one base colour per HepatoBench class (TUM FIB INF NEC NOR REA STE)
CLASS_COLOURS = np.array(
    [
        [150, 40, 120],
        [230, 150, 190],
        [90, 60, 170],
        [200, 120, 200],
        [180, 80, 150],
        [120, 100, 160],
        [245, 235, 240],
    ],
    dtype=np.float64,
)
CLASSES = ("TUM", "FIB", "INF", "NEC", "NOR", "REA", "STE")


def colour_patches(n: int, seed: int, size: int = 48) -> tuple[list[np.ndarray], np.ndarray]:
    """``n`` uint8 RGB patches whose mean colour is their class's (imbalanced classes)."""
    rng = np.random.default_rng(seed)
    probs = np.array([0.3, 0.25, 0.15, 0.1, 0.1, 0.05, 0.05])
    labels = rng.choice(len(CLASSES), size=n, p=probs)
    images = []
    for y in labels:
        base = CLASS_COLOURS[y] + rng.normal(0, 12, size=3)
        img = base + rng.normal(0, 25, size=(size, size, 3))
        images.append(np.clip(img, 0, 255).astype(np.uint8))
    return images, labels.astype(np.int64)


class VolumeSet(Dataset):
    """``(volume [C, X, Y, Z], stage)``: a bright blob whose intensity grows with the stage."""

    def __init__(
        self, n: int, seed: int, channels: int = 3, grid=(32, 32, 16), missing: float = 0.0
    ) -> None:
        rng = np.random.default_rng(seed)
        self.labels = rng.choice(4, size=n, p=[0.35, 0.2, 0.15, 0.3]).astype(np.int64)
        xs = np.stack(np.meshgrid(*[np.linspace(-1, 1, g) for g in grid], indexing="ij"))
        blob = np.exp(-((xs**2).sum(0)) / 0.3)
        vols = []
        for y in self.labels:
            v = rng.normal(0, 1.0, size=(channels, *grid)) + (0.6 * y) * blob[None]
            for c in range(channels):
                if rng.random() < missing:
                    v[c] = 0.0
            vols.append(v.astype(np.float32))
        self.volumes = torch.from_numpy(np.stack(vols))

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        return self.volumes[i], int(self.labels[i])
