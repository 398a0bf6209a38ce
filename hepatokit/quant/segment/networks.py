"""The networks of the region model: the built-in small CNN and a frozen ViT with LoRA
adapters and a progressive-upsampling decoder (the specs are in :mod:`.model`)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hepatokit._extras import import_optional
from hepatokit.errors import DataFormatError

if TYPE_CHECKING:
    from torch import nn

__all__ = ["LORA_TARGETS", "VIT_SIZES", "lora_vit", "seg_cnn"]

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


def seg_cnn(n_classes: int) -> nn.Module:
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
            self.fuse = nn.Sequential(_conv(48 + 32, 32), nn.Conv2d(32, n_classes, 1))

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
    return import_optional(module, f"region-model encoder {spec!r}", alternative="builtin:seg-cnn")


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
        import torch

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


def _progressive_head(width: int, patch: int, n_classes: int) -> nn.Module:
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
    layers.append(nn.Conv2d(ch, n_classes, 1))
    return nn.Sequential(*layers)


def lora_vit(encoder: str, window: int, lora: Any, *, n_classes: int) -> nn.Module:
    """A frozen ViT backbone with LoRA adapters (``lora``: rank, alpha, dropout, targets)
    on its attention and a progressive-upsampling head of ``n_classes`` logits."""
    import torch.nn.functional as F
    from torch import nn

    peft = _require("peft", encoder)
    backbone, tokens, width, patch, backend = _backbone(encoder, window)
    for p in backbone.parameters():
        p.requires_grad_(False)
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
            self.head = _progressive_head(width, patch, n_classes)
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
