"""The region model: an encoder (frozen foundation ViT + LoRA adapters, or the built-in small
CNN) and a light progressive-upsampling decoder that outputs tumor / non-tumor logits per pixel.

Encoder specs
-------------
``builtin:seg-cnn``
    A small CNN (~0.2 M parameters, stride 8, receptive field ~150 px) trained whole with its
    head; no pretrained weights exist for it, so no LoRA. The CPU default (tests, the demo).
``monai-vit:<tiny|small|base|large>``
    MONAI's ViT (no torchvision needed) at patch 16, randomly initialised with a fixed seed;
    ``large`` is ViT-L/16 (24 layers, 1024 wide, ~303 M parameters). Frozen + LoRA.
``local:<file.pt>``
    A local checkpoint: ``{"spec": "monai-vit:large", "state_dict": ...}`` (the base weights of
    a MONAI ViT, e.g. converted from a foundation model), or a folder saved by
    ``transformers`` (``config.json`` + weights). Frozen + LoRA.
``hf:<repo>`` / ``timm:<name>``
    A Hub model through ``transformers`` (``ViTModel`` family) or ``timm`` (UNI, Virchow2,
    GigaPath: ``timm:hf-hub:MahmoodLab/UNI``); loading follows those libraries' own caches.
    Frozen + LoRA.

LoRA (``peft``) goes on the attention projections (rank 16, alpha 16 by default, the PFM
segmentation recipe). A saved model holds only what was trained (adapters + decoder, or the
whole built-in CNN) and the spec + a fingerprint of the base encoder it adapts.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hepatokit.errors import DataFormatError
from hepatokit.quant.segment.networks import lora_vit, seg_cnn

if TYPE_CHECKING:
    from torch import nn

__all__ = [
    "CLASSES",
    "LoraSettings",
    "RegionModelSpec",
    "build_region_model",
    "count_lora_parameters",
    "load_region_model",
    "save_region_model",
]

CLASSES = ("non_tumor", "tumor")
SCHEMA = "hepatokit.region_model/1"
MODEL_FILE = "region_model.json"
WEIGHTS_FILE = "trained_weights.pt"
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class LoraSettings:
    """LoRA rank, alpha, dropout and target modules (``None``: the backend's attention)."""

    rank: int = 16
    alpha: int = 16
    dropout: float = 0.0
    target_modules: str | None = None


@dataclass(frozen=True)
class RegionModelSpec:
    """Everything needed to rebuild a region model before loading its trained weights."""

    encoder: str = "builtin:seg-cnn"
    model_mpp: float = 8.0
    window: int = 96
    lora: LoraSettings | None = None
    classes: tuple[str, ...] = CLASSES
    base_fingerprint: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["classes"] = list(self.classes)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RegionModelSpec:
        lora = d.get("lora")
        return cls(
            encoder=str(d["encoder"]),
            model_mpp=float(d["model_mpp"]),
            window=int(d["window"]),
            lora=LoraSettings(**lora) if lora else None,
            classes=tuple(d.get("classes", CLASSES)),
            base_fingerprint=d.get("base_fingerprint"),
            extra=dict(d.get("extra") or {}),
        )


def _torch() -> Any:
    import torch

    return torch


def build_region_model(spec: RegionModelSpec) -> nn.Module:
    """The untrained model of ``spec`` (base weights loaded, adapters and decoder fresh)."""
    torch = _torch()
    if spec.encoder == "builtin:seg-cnn":
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(spec.extra.get("seed", 0)))
            return seg_cnn(len(CLASSES))
    if spec.encoder.startswith("torchscript:"):
        raise DataFormatError(
            "a TorchScript encoder cannot take LoRA adapters",
            hint="use monai-vit:, local:, timm: or hf: for the region model",
        )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(spec.extra.get("seed", 0)))
        return lora_vit(
            spec.encoder, spec.window, spec.lora or LoraSettings(), n_classes=len(CLASSES)
        )


def trainable_state(model: nn.Module) -> dict[str, Any]:
    """The trained tensors only: adapters + decoder (LoRA), or everything (built-in CNN)."""
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()
            if k in names or (_is_buffer_of_trained(k, names))}  # fmt: skip


def _is_buffer_of_trained(key: str, names: set[str]) -> bool:
    prefix = key.rsplit(".", 1)[0] + "."
    return any(n.startswith(prefix) for n in names)


def base_fingerprint(model: nn.Module) -> str:
    """SHA-256 over the frozen (base) tensors' names and bytes."""
    h = hashlib.sha256()
    trained = {n for n, p in model.named_parameters() if p.requires_grad}
    for name, t in sorted(model.state_dict().items()):
        if name in trained or t.device.type == "meta":
            continue
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().view(-1).view(_torch().uint8).numpy().tobytes())
    return h.hexdigest()


def count_lora_parameters(model: nn.Module) -> int:
    """Number of LoRA adapter parameters (``lora_A`` / ``lora_B``) in ``model``."""
    return sum(p.numel() for n, p in model.named_parameters() if "lora_" in n)


def save_region_model(
    model: nn.Module, spec: RegionModelSpec, out: str | os.PathLike[str], *,
    training: dict[str, Any] | None = None,
) -> Path:  # fmt: skip
    """Write ``out/region_model.json`` (spec, classes, base fingerprint, training record) and
    ``out/trained_weights.pt`` (only the trained tensors). Atomic; returns ``out``."""
    import io

    from hepatokit._version import __version__
    from hepatokit.atomic import write_bytes_atomic, write_json_atomic

    torch = _torch()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    torch.save(trainable_state(model), buf)
    write_bytes_atomic(out / WEIGHTS_FILE, buf.getvalue())
    meta = {
        "schema": SCHEMA,
        "spec": spec.as_dict(),
        "weights": WEIGHTS_FILE,
        "weights_sha256": hashlib.sha256(buf.getvalue()).hexdigest(),
        "training": training or {},
        "hepatokit": __version__,
    }
    write_json_atomic(out / MODEL_FILE, meta)
    return out


def load_region_model(model_dir: str | os.PathLike[str]) -> tuple[nn.Module, RegionModelSpec]:
    """Rebuild the base encoder from the saved spec, check its fingerprint, load the trained
    tensors; the model is returned in eval mode on the CPU."""
    torch = _torch()
    d = Path(model_dir)
    meta_path = d / MODEL_FILE
    if not meta_path.is_file():
        raise DataFormatError(
            f"not a region model folder (no {MODEL_FILE})",
            path=d,
            hint="train one with `hepatokit quant regions-train`",
        )
    meta = json.loads(meta_path.read_text())
    if meta.get("schema") != SCHEMA:
        raise DataFormatError(f"unknown region model schema {meta.get('schema')!r}", path=meta_path)
    spec = RegionModelSpec.from_dict(meta["spec"])
    model = build_region_model(spec)
    if spec.base_fingerprint and base_fingerprint(model) != spec.base_fingerprint:
        raise DataFormatError(
            f"the base encoder {spec.encoder!r} differs from the one the model was trained on",
            path=meta_path,
            hint="load the same base weights (same spec and files) as at training",
        )
    raw = (d / WEIGHTS_FILE).read_bytes()
    if hashlib.sha256(raw).hexdigest() != meta.get("weights_sha256"):
        raise DataFormatError("trained weights do not match their checksum", path=d / WEIGHTS_FILE)
    import io

    state = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
    missing, unexpected = model.load_state_dict(state, strict=False)
    trained = set(trainable_state(model))
    if unexpected or (trained - set(state)):
        raise DataFormatError(
            f"trained weights do not fit the model: missing {sorted(trained - set(state))[:3]}, "
            f"unexpected {sorted(unexpected)[:3]}",
            path=d / WEIGHTS_FILE,
        )
    del missing
    model.eval()
    return model, spec
