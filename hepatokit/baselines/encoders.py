"""Frozen image encoders for the linear probe and HepatoQuant, loaded from a spec string.

Specs
-----
``builtin:tiny-cnn``
    A small CNN built in-process with a fixed seed (tests, the demo; no download).
``timm:<name>``
    ``timm.create_model(name, pretrained=True, num_classes=0)`` (timm's own weight download
    and cache; ``timm:hf-hub:<repo>`` works too).
``timm:<name>@<file>``
    ``timm.create_model(name, num_classes=0)`` with the weights of a local checkpoint file
    (``.safetensors``, ``.bin``, ``.pth``), offline.
``hf:<repo>``
    A Hugging Face Hub model. The pathology foundation models of :data:`KNOWN_HUB_MODELS`
    (UNI, UNI2-h, Virchow, Virchow2, Prov-GigaPath, H-optimus-0, Phikon, Phikon-v2, CONCH v1.5;
    names matched case-insensitively) load as their model cards say: the card's
    ``timm.create_model`` arguments (or ``transformers`` class), pooling and preprocessing.
    Other repos: timm's ``hf-hub:`` path when timm is installed, else ``transformers``.
    Gated models need their licence accepted on the Hub and ``HF_TOKEN`` set.
``local:<folder>``
    A model folder on disk, e.g. ``huggingface-cli download MahmoodLab/UNI2-h --local-dir
    UNI2-h``: a timm folder (``config.json`` with ``architecture``) or a transformers one.
    Card arguments apply when the folder is named like a known model (``UNI2-h``).
``torchscript:<file>``
    A TorchScript module mapping ``[B, 3, H, W]`` float images to ``[B, D]`` features.

Every encoder has an :attr:`Encoder.identity`: a SHA-256 over the spec, the preprocessing
and the weights' bytes, so cached embeddings and saved heads are tied to exact weights.
"""

from __future__ import annotations

import hashlib
import json
import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hepatokit.baselines.encoder_cards import (
    KNOWN_HUB_MODELS,
    CardModel,
    card_create_kwargs,
    card_model,
)
from hepatokit.baselines.encoder_loaders import (
    hub_model,
    local_model,
    require,
    split_checkpoint,
    timm_model,
)
from hepatokit.baselines.preprocess import IMAGENET_MEAN, IMAGENET_STD, Preprocess
from hepatokit.errors import DataFormatError

if TYPE_CHECKING:
    import torch

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "KNOWN_HUB_MODELS",
    "CardModel",
    "Encoder",
    "Preprocess",
    "build_tiny_cnn",
    "card_create_kwargs",
    "card_model",
    "load_encoder",
    "parse_encoder_spec",
]

log = logging.getLogger("hepatokit.baselines.encoders")

KINDS = ("builtin", "timm", "hf", "local", "torchscript")


@dataclass
class Encoder:
    """A frozen encoder in eval mode, with its preprocessing and identity.

    ``embed(batch)`` maps a preprocessed batch ``[B, 3, S, S]`` to features ``[B, D]``.
    """

    spec: str
    model: torch.nn.Module
    preprocess: Preprocess
    feature_dim: int
    identity: str
    pool: Callable[[Any], Any] | None = field(default=None, repr=False)

    def embed(self, batch: torch.Tensor) -> torch.Tensor:
        out = self.model(batch)
        if self.pool is not None:
            out = self.pool(out)
        if out.ndim != 2:
            out = out.flatten(1)
        return out

    def to(self, device: str | torch.device) -> Encoder:
        self.model.to(device)
        return self

    def describe(self) -> dict[str, Any]:
        return {
            "spec": self.spec,
            "identity": self.identity,
            "feature_dim": self.feature_dim,
            "preprocess": self.preprocess.describe(),
        }


def parse_encoder_spec(spec: str) -> tuple[str, str]:
    """Split ``kind:name``; raise a clear error for an unknown kind or an empty name."""
    kind, sep, name = spec.partition(":")
    if not sep or kind not in KINDS or not name:
        raise DataFormatError(
            f"bad encoder spec {spec!r}",
            hint="use builtin:tiny-cnn, timm:<model name>[@<checkpoint file>], hf:<hub repo>, "
            "local:<model folder> or torchscript:<file>",
        )
    return kind, name


def build_tiny_cnn(seed: int = 0, width: int = 32) -> torch.nn.Module:
    """The built-in encoder: 3 conv blocks + global mean/max pooling, seeded init.

    Output: ``[B, 4 * width]`` features (mean- and max-pooled channels of the last two blocks),
    enough to separate colour/texture classes of synthetic patches; scaled ×10 so that their
    spread is of order 1, like a foundation model's embeddings (the probe's learning rates
    assume that).
    """
    import torch
    from torch import nn

    class TinyCNN(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.b1 = nn.Sequential(nn.Conv2d(3, width // 2, 3, stride=2, padding=1), nn.ReLU())
            self.b2 = nn.Sequential(nn.Conv2d(width // 2, width, 3, stride=2, padding=1), nn.ReLU())
            self.b3 = nn.Sequential(nn.Conv2d(width, width, 3, stride=2, padding=1), nn.ReLU())

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h2 = self.b2(self.b1(x))
            h3 = self.b3(h2)
            pooled = [h2.mean((2, 3)), h2.amax((2, 3)), h3.mean((2, 3)), h3.amax((2, 3))]
            return torch.cat(pooled, 1) * 10.0

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = TinyCNN()
    return model


def fingerprint(spec: str, preprocess: Preprocess, model: torch.nn.Module) -> str:
    """SHA-256 of the spec, the preprocessing and every weight tensor (names, dtypes, bytes)."""
    import torch

    h = hashlib.sha256()
    h.update(json.dumps({"spec": spec, "pre": preprocess.describe()}, sort_keys=True).encode())
    state = model.state_dict()
    for name in sorted(state):
        t = state[name]
        if not isinstance(t, torch.Tensor):
            continue
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}".encode())
        flat = t.detach().to("cpu").contiguous().reshape(-1)
        if flat.numel():
            h.update(flat.view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def _freeze(model: torch.nn.Module) -> torch.nn.Module:
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def _probe_dim(model: torch.nn.Module, pre: Preprocess, pool: Callable[[Any], Any] | None) -> int:
    import torch

    with torch.inference_mode():
        out = model(torch.zeros(1, 3, pre.size, pre.size))
        if pool is not None:
            out = pool(out)
    return int(out.flatten(1).shape[1])


def load_encoder(
    spec: str,
    *,
    device: str = "cpu",
    input_size: int | None = None,
    mean: tuple[float, float, float] | None = None,
    std: tuple[float, float, float] | None = None,
) -> Encoder:
    """Load a frozen encoder (eval mode, no gradients) from a spec string.

    Parameters
    ----------
    spec:
        See the module docstring.
    device:
        Where the model's weights go.
    input_size, mean, std:
        Override the preprocessing (pixels, per-channel RGB mean/std on a 0–1 scale);
        needed for TorchScript files that do not carry it (default 224, ImageNet).

    Raises
    ------
    DataFormatError
        Bad spec, missing or unreadable TorchScript file.
    DependencyMissingError
        timm / transformers needed but not installed.
    """
    kind, name = parse_encoder_spec(spec)
    require("torch", spec)  # names the extra where torch is missing
    model, pre, pool = _model_of(kind, name, spec)
    pre = Preprocess(
        size=input_size or pre.size,
        mean=mean or pre.mean,
        std=std or pre.std,
        resize=None if input_size else pre.resize,
        interpolation=pre.interpolation,
    )
    model = _freeze(model)
    dim = _probe_dim(model, pre, pool)
    identity = fingerprint(spec if kind != "torchscript" else "torchscript", pre, model)
    encoder = Encoder(
        spec=spec, model=model, preprocess=pre, feature_dim=dim, identity=identity, pool=pool
    )
    log.info("encoder %s: %d-d features, identity %s", spec, dim, identity[:12])
    return encoder.to(device)


def _model_of(
    kind: str, name: str, spec: str
) -> tuple[Any, Preprocess, Callable[[Any], Any] | None]:
    """(model, its preprocessing, pooling of its output or None) of a parsed spec."""
    if kind == "builtin":
        if name != "tiny-cnn":
            raise DataFormatError(f"unknown built-in encoder {name!r}", hint="use tiny-cnn")
        return build_tiny_cnn(), Preprocess(size=64), None
    if kind == "torchscript":
        return _torchscript(Path(name)), Preprocess(), None
    if kind == "timm":
        name, checkpoint = split_checkpoint(name)
        card = card_model(name.split(":", 1)[1]) if name.startswith("hf-hub:") else None
        model, pre = timm_model(spec, name, card, checkpoint=checkpoint)
        return model, pre, None
    if kind == "local":
        return local_model(spec, Path(name).expanduser())
    return hub_model(spec, name)


def _torchscript(path: Path) -> Any:
    import torch

    if not path.is_file():
        raise DataFormatError("TorchScript encoder file not found", path=path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return torch.jit.load(str(path), map_location="cpu")
    except (RuntimeError, ValueError) as exc:
        raise DataFormatError(f"not a TorchScript module: {exc}", path=path) from exc
