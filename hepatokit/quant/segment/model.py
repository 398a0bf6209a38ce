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
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hepatokit.errors import DataFormatError, DependencyMissingError

if TYPE_CHECKING:
    import torch
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

#: MONAI ViT sizes: hidden, MLP, layers, heads
VIT_SIZES: dict[str, tuple[int, int, int, int]] = {
    "tiny": (64, 128, 2, 2),
    "small": (384, 1536, 12, 6),
    "base": (768, 3072, 12, 12),
    "large": (1024, 4096, 24, 16),
}
#: attention projections per backend (regular expressions on module names, for peft)
LORA_TARGETS: dict[str, str] = {
    "monai": r".*attn\.(qkv|out_proj)",
    "timm": r".*attn\.(qkv|proj)",
    "hf": r".*attention\.(attention\.(query|key|value)|output\.dense)",
}


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


def _gn(ch: int) -> nn.Module:
    from torch import nn

    return nn.GroupNorm(min(8, ch // 4) or 1, ch)


def _conv(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> nn.Module:
    from torch import nn

    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=dilation, dilation=dilation, bias=False),
        _gn(cout),
        nn.ReLU(inplace=True),
    )


def _seg_cnn() -> nn.Module:
    """The built-in encoder + decoder (U-shaped, stride 8, dilated context)."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    class SegCNN(nn.Module):
        stride = 8

        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Sequential(  # /4: 4×4 patches (32 µm at 1.25×), then a 3×3 conv
                nn.Conv2d(3, 32, 4, stride=4, bias=False),
                _gn(32),
                nn.ReLU(inplace=True),
                _conv(32, 32),
            )
            self.context = nn.Sequential(
                _conv(32, 48, 2),
                _conv(48, 48, dilation=2),
                _conv(48, 48, dilation=4),
                _conv(48, 48, dilation=8),
            )  # fmt: skip /8, receptive field ~250 px
            self.fuse = nn.Sequential(_conv(48 + 32, 32), nn.Conv2d(32, len(CLASSES), 1))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            f4 = self.stem(x)
            f8 = self.context(f4)
            up = F.interpolate(f8, size=f4.shape[-2:], mode="bilinear", align_corners=False)
            out = self.fuse(torch.cat([up, f4], 1))
            return F.interpolate(out, size=x.shape[-2:], mode="bilinear", align_corners=False)

    return SegCNN()


class _Tokens:
    """Turns a backbone's output into patch tokens ``[B, N, D]``."""

    def __init__(self, kind: str, skip: int) -> None:
        self.kind, self.skip = kind, skip

    def __call__(self, model: Any, x: Any) -> Any:
        if self.kind == "monai":
            out = model(x)[0]
        elif self.kind == "timm":
            out = model.forward_features(x)
        else:
            out = model(pixel_values=x).last_hidden_state
        return out[:, self.skip :]


def _require(module: str, spec: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise DependencyMissingError(
            f"encoder {spec!r} needs the {module!r} package, which cannot be imported: {exc}",
            hint=f"pip install {module} (or use builtin:seg-cnn)",
        ) from exc


def _monai_vit(size: str, window: int, spec: str) -> Any:
    import torch
    from monai.networks.nets import ViT

    if size not in VIT_SIZES:
        raise DataFormatError(f"unknown ViT size {size!r} in {spec!r}; one of {sorted(VIT_SIZES)}")
    if window % 16:
        raise DataFormatError(f"window {window} is not a multiple of the ViT's 16 px patches")
    hidden, mlp, layers, heads = VIT_SIZES[size]
    fork = torch.random.fork_rng(devices=[])
    with fork:
        torch.manual_seed(0)
        return ViT(in_channels=3, img_size=(window, window), patch_size=(16, 16),
                   hidden_size=hidden, mlp_dim=mlp, num_layers=layers, num_heads=heads,
                   spatial_dims=2, qkv_bias=True, classification=False)  # fmt: skip


def _backbone(spec: str, window: int) -> tuple[Any, _Tokens, int, int, str]:
    """(model, tokens, width, patch, backend) of a ViT spec."""
    kind, _, name = spec.partition(":")
    if kind == "monai-vit":
        return _monai_vit(name, window, spec), _Tokens("monai", 0), VIT_SIZES[name][0], 16, "monai"
    if kind == "local":
        p = Path(name)
        if p.is_dir():
            transformers = _require("transformers", spec)
            m = transformers.AutoModel.from_pretrained(str(p), local_files_only=True)
            cfg = m.config
            return m, _Tokens("hf", 1), cfg.hidden_size, cfg.patch_size, "hf"
        if not p.is_file():
            raise DataFormatError("local encoder checkpoint not found", path=p)
        torch = _torch()
        blob = torch.load(p, map_location="cpu", weights_only=True)
        base = str(blob.get("spec", "")) if isinstance(blob, dict) else ""
        if not base.startswith("monai-vit:") or "state_dict" not in blob:
            raise DataFormatError(
                "a local checkpoint must hold {'spec': 'monai-vit:<size>', 'state_dict': ...}",
                path=p,
            )
        model = _monai_vit(base.partition(":")[2], window, spec)
        model.load_state_dict(blob["state_dict"])
        return model, _Tokens("monai", 0), VIT_SIZES[base.partition(":")[2]][0], 16, "monai"
    if kind == "timm":
        timm = _require("timm", spec)
        model = timm.create_model(name, pretrained=True, num_classes=0, dynamic_img_size=True)
        patch = int(model.patch_embed.patch_size[0])
        return (
            model,
            _Tokens("timm", int(model.num_prefix_tokens)),
            model.num_features,
            patch,
            "timm",
        )
    if kind == "hf":
        transformers = _require("transformers", spec)
        m = transformers.AutoModel.from_pretrained(name)
        return m, _Tokens("hf", 1), m.config.hidden_size, m.config.patch_size, "hf"
    raise DataFormatError(
        f"bad region-model encoder spec {spec!r}",
        hint="builtin:seg-cnn, monai-vit:<size>, local:<file>, timm:<name> or hf:<repo>",
    )


def _progressive_head(width: int, patch: int) -> nn.Module:
    """1×1 projection, then ×2 bilinear upsampling + conv per step back to full resolution."""
    from torch import nn

    steps = max(1, round(math.log2(patch)))
    layers: list[nn.Module] = [nn.Conv2d(width, 64, 1), _gn(64), nn.ReLU(inplace=True)]
    ch = 64
    for _ in range(steps):
        nxt = max(16, ch // 2)
        layers += [nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                   _conv(ch, nxt)]  # fmt: skip
        ch = nxt
    layers.append(nn.Conv2d(ch, len(CLASSES), 1))
    return nn.Sequential(*layers)


def _vit_model(spec: RegionModelSpec) -> nn.Module:
    import peft
    import torch.nn.functional as F
    from torch import nn

    backbone, tokens, width, patch, backend = _backbone(spec.encoder, spec.window)
    for p in backbone.parameters():
        p.requires_grad_(False)
    lora = spec.lora or LoraSettings()
    config = peft.LoraConfig(
        r=lora.rank,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=lora.target_modules or LORA_TARGETS[backend],
        bias="none",
    )
    backbone = peft.inject_adapter_in_model(config, backbone)
    for n, p in backbone.named_parameters():
        p.requires_grad_("lora_" in n)

    class LoraSegViT(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = backbone
            self.head = _progressive_head(width, patch)
            self.patch = patch

        def forward(self, x: Any) -> Any:
            b, _, h, w = x.shape
            t = tokens(self.encoder, x)
            grid = t.transpose(1, 2).reshape(b, t.shape[-1], h // self.patch, w // self.patch)
            out = self.head(grid)
            if out.shape[-2:] != (h, w):
                out = F.interpolate(out, size=(h, w), mode="bilinear", align_corners=False)
            return out

    return LoraSegViT()


def build_region_model(spec: RegionModelSpec) -> nn.Module:
    """The untrained model of ``spec`` (base weights loaded, adapters and decoder fresh)."""
    torch = _torch()
    if spec.encoder == "builtin:seg-cnn":
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(spec.extra.get("seed", 0)))
            return _seg_cnn()
    if spec.encoder.startswith("torchscript:"):
        raise DataFormatError(
            "a TorchScript encoder cannot take LoRA adapters",
            hint="use monai-vit:, local:, timm: or hf: for the region model",
        )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(spec.extra.get("seed", 0)))
        return _vit_model(spec)


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
