"""Tile classifiers for HepatoQuant: the frozen encoder + linear head of ``baseline probe``.

A classifier is anything with an ``identity`` mapping (recorded in the report) and a
``classify(images, xy)`` method; tests use an oracle that returns the planted class per tile.
An optional ``probabilities(images, xy)`` method (``[N, C]``) is used by overlapping tiles
(``QuantSettings.tile_overlap``); without it a tile's class counts as a one-hot vote.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

__all__ = ["ProbeTileClassifier", "TileClassifier"]


class TileClassifier(Protocol):
    """Classifies a batch of tiles."""

    classes: tuple[str, ...]
    identity: dict[str, Any]

    def classify(self, images: np.ndarray, xy: np.ndarray) -> np.ndarray:
        """Class index per tile.

        Parameters
        ----------
        images
            uint8 RGB tiles, shape (N, patch, patch, 3).
        xy
            Level-0 top-left coordinates of the tiles, shape (N, 2) (oracles use them).
        """
        ...


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass
class ProbeTileClassifier:
    """Frozen encoder (``hepatokit.baselines.load_encoder``) + trained linear head.

    The head records the encoder identity it was trained on; a mismatch is an error.
    """

    encoder_spec: str
    head_path: Path
    device: str = "auto"
    batch_size: int = 64
    classes: tuple[str, ...] = field(init=False)
    identity: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        from hepatokit.baselines import load_encoder, load_head, select_device

        self.head_path = Path(self.head_path)
        self._plan = select_device(self.device)
        self._encoder = load_encoder(self.encoder_spec, device=str(self._plan.device))
        self._head = load_head(self.head_path)
        self._head.check_encoder(self._encoder)
        self.classes = tuple(self._head.classes)
        self.identity = {
            "encoder_spec": self.encoder_spec,
            "encoder_identity": self._encoder.identity,
            "head_file": self.head_path.name,
            "head_sha256": _sha256(self.head_path),
        }

    def classify(self, images: np.ndarray, xy: np.ndarray) -> np.ndarray:
        from hepatokit.baselines import embed_images

        if len(images) == 0:
            return np.zeros(0, dtype=np.int64)
        feats = embed_images(
            self._encoder, list(images), plan=self._plan, batch_size=self.batch_size
        )
        return np.asarray(self._head.predict(feats), dtype=np.int64)

    def probabilities(self, images: np.ndarray, xy: np.ndarray) -> np.ndarray:
        """Softmax class probabilities per tile, shape (N, C) (the head's ``predict_proba``)."""
        from hepatokit.baselines import embed_images

        if len(images) == 0:
            return np.zeros((0, len(self.classes)), dtype=np.float64)
        feats = embed_images(
            self._encoder, list(images), plan=self._plan, batch_size=self.batch_size
        )
        return np.asarray(self._head.predict_proba(feats), dtype=np.float64)
