"""A trained linear head tied to its encoder: save, load, apply (numpy; no torch needed).

File format: one ``.npz`` holding ``weight`` (float32 ``[C, D]``), ``bias`` (float32 ``[C]``)
and ``meta`` (a JSON string: classes, encoder spec and identity, feature dim, training
protocol). :meth:`LinearHead.check_encoder` refuses an encoder whose identity differs from
the one the head was trained on (other weights → meaningless logits).
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hepatokit.atomic import write_bytes_atomic
from hepatokit.errors import DataFormatError

if TYPE_CHECKING:
    from hepatokit.baselines.encoders import Encoder

__all__ = ["HEAD_FORMAT", "LinearHead", "load_head", "save_head"]

HEAD_FORMAT = "hepatokit-linear-head/1"


@dataclass
class LinearHead:
    """``logits = features @ weight.T + bias`` over ``classes``.

    Attributes
    ----------
    weight, bias:
        float32 ``[C, D]`` and ``[C]``.
    classes:
        Class names in logit order.
    encoder_spec, encoder_identity:
        The encoder the features came from (:attr:`Encoder.identity`).
    info:
        Training protocol and figures (method, C, iterations, losses...).
    """

    weight: np.ndarray
    bias: np.ndarray
    classes: tuple[str, ...]
    encoder_spec: str
    encoder_identity: str
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.weight = np.asarray(self.weight, dtype=np.float32)
        self.bias = np.asarray(self.bias, dtype=np.float32)
        if self.weight.ndim != 2 or self.bias.shape != (self.weight.shape[0],):
            raise DataFormatError(
                f"head weight {self.weight.shape} and bias {self.bias.shape} do not match"
            )
        if len(self.classes) != self.weight.shape[0]:
            raise DataFormatError(
                f"head has {self.weight.shape[0]} outputs but {len(self.classes)} classes"
            )

    @property
    def feature_dim(self) -> int:
        return int(self.weight.shape[1])

    def logits(self, features: np.ndarray) -> np.ndarray:
        """``[N, D]`` features → ``[N, C]`` logits (float64)."""
        x = np.asarray(features, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.feature_dim:
            raise DataFormatError(
                f"features of shape {x.shape} for a head expecting [N, {self.feature_dim}]",
                hint="embed with the encoder the head was trained on",
            )
        return x @ self.weight.T.astype(np.float64) + self.bias.astype(np.float64)

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        """Softmax probabilities ``[N, C]``."""
        z = self.logits(features)
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return np.asarray(e / e.sum(axis=1, keepdims=True))

    def predict(self, features: np.ndarray) -> np.ndarray:
        """Predicted class indices ``[N]``."""
        return np.asarray(self.logits(features).argmax(axis=1))

    def predict_names(self, features: np.ndarray) -> list[str]:
        return [self.classes[i] for i in self.predict(features)]

    def check_encoder(self, encoder: Encoder) -> None:
        """Raise if ``encoder`` is not the one this head was trained on."""
        if encoder.identity != self.encoder_identity:
            raise DataFormatError(
                f"head trained on encoder {self.encoder_spec!r} "
                f"(identity {self.encoder_identity[:12]}), given {encoder.spec!r} "
                f"(identity {encoder.identity[:12]})",
                hint="load the same encoder spec and weights the head was trained with",
            )
        if encoder.feature_dim != self.feature_dim:
            raise DataFormatError(
                f"encoder gives {encoder.feature_dim}-d features, head expects {self.feature_dim}"
            )

    def meta(self) -> dict[str, Any]:
        return {
            "format": HEAD_FORMAT,
            "classes": list(self.classes),
            "encoder_spec": self.encoder_spec,
            "encoder_identity": self.encoder_identity,
            "feature_dim": self.feature_dim,
            "info": self.info,
        }


def save_head(head: LinearHead, path: str | Path) -> Path:
    """Write ``head`` to ``path`` (``.npz``) atomically; byte-stable for equal heads."""
    meta = json.dumps(head.meta(), sort_keys=True, default=str)
    arrays = {"weight": head.weight, "bias": head.bias, "meta": np.array(meta)}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, arr in arrays.items():
            npy = io.BytesIO()
            np.save(npy, arr, allow_pickle=False)
            # fixed timestamp: same head → same bytes (np.savez stamps the current time)
            zf.writestr(
                zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0)),
                npy.getvalue(),
                compress_type=zipfile.ZIP_DEFLATED,
            )
    return write_bytes_atomic(path, buf.getvalue())


def load_head(path: str | Path) -> LinearHead:
    """Read a head written by :func:`save_head`.

    Raises
    ------
    DataFormatError
        Missing file, not an npz, or not a hepatokit head.
    """
    p = Path(path)
    if not p.is_file():
        raise DataFormatError(
            "linear head file not found", path=p, hint="train one with `hepatokit baseline probe`"
        )
    try:
        with np.load(p, allow_pickle=False) as z:
            weight, bias, meta = z["weight"], z["bias"], json.loads(str(z["meta"]))
    except (OSError, ValueError, KeyError) as exc:
        raise DataFormatError(f"not a hepatokit linear head: {exc}", path=p) from exc
    if meta.get("format") != HEAD_FORMAT:
        raise DataFormatError(f"unknown head format {meta.get('format')!r}", path=p)
    return LinearHead(
        weight=weight,
        bias=bias,
        classes=tuple(meta["classes"]),
        encoder_spec=meta["encoder_spec"],
        encoder_identity=meta["encoder_identity"],
        info=meta.get("info", {}),
    )
