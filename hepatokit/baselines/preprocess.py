"""Encoder input preprocessing: resize / centre-crop in the loader workers, normalise on the
device (:class:`Preprocess`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hepatokit.errors import DataFormatError

if TYPE_CHECKING:
    import torch

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "Preprocess"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Preprocess:
    """Image → normalised float tensor ``[3, size, size]``, in two steps (picklable).

    :meth:`prepare` runs in the DataLoader workers: decode to a tensor and resize (bilinear,
    antialiased), staying ``uint8`` for 8-bit images — torch's uint8 resize is far faster
    than float, and a uint8 batch is a quarter of the bytes to copy to the GPU.
    :meth:`normalize` runs on the device on whole batches: scale to 0–1, subtract ``mean``,
    divide by ``std``. Accepted images: PIL, ``uint8`` arrays ``[H, W, 3]`` (or ``[H, W]``,
    ``[H, W, 4]``), tensors ``[3, H, W]`` (uint8 0–255 or float 0–1).
    """

    size: int = 224
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    #: shorter side before a centre crop to ``size`` (None: resize straight to ``size``)
    resize: int | None = None
    interpolation: str = "bilinear"

    def prepare(self, image: Any) -> torch.Tensor:
        """``[3, size, size]``: uint8 for 8-bit inputs, float32 in 0–1 otherwise."""
        import numpy as np
        import torch

        if isinstance(image, torch.Tensor):
            t = image if image.dtype == torch.uint8 else image.float()
        else:
            arr = np.asarray(image.convert("RGB") if hasattr(image, "convert") else image)
            if arr.ndim == 2:
                arr = np.stack([arr] * 3, axis=-1)
            if arr.ndim != 3 or arr.shape[-1] not in (3, 4):
                raise DataFormatError(f"expected an RGB image, got an array of shape {arr.shape}")
            arr = arr[..., :3]
            dtype = np.uint8 if arr.dtype == np.uint8 else np.float32
            t = torch.from_numpy(np.array(arr, dtype=dtype)).permute(2, 0, 1).contiguous()
        if t.ndim != 3 or t.shape[0] != 3:
            raise DataFormatError(f"expected an image tensor [3, H, W], got {tuple(t.shape)}")
        h, w = int(t.shape[1]), int(t.shape[2])
        if self.resize is None:
            target = (self.size, self.size)
        else:  # shorter side to `resize`, keeping the aspect ratio (torchvision's Resize(int))
            short = min(h, w)
            target = (round(h * self.resize / short), round(w * self.resize / short))
        if (h, w) != target:
            t = _resize(t, target, self.interpolation)
        if target != (self.size, self.size):
            top = round((target[0] - self.size) / 2.0)
            left = round((target[1] - self.size) / 2.0)
            t = t[:, top : top + self.size, left : left + self.size]
        return t.contiguous()

    def normalize(self, batch: torch.Tensor) -> torch.Tensor:
        """``[B, 3, S, S]`` from :meth:`prepare` (any device) → normalised float32."""
        import torch

        x = batch.float()
        if batch.dtype == torch.uint8:
            x = x / 255.0
        mean = torch.tensor(self.mean, device=x.device).view(1, 3, 1, 1)
        std = torch.tensor(self.std, device=x.device).view(1, 3, 1, 1)
        return (x - mean) / std

    def __call__(self, image: Any) -> torch.Tensor:
        """One image → normalised float32 ``[3, size, size]``."""
        return self.normalize(self.prepare(image)[None])[0]

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"size": self.size, "mean": list(self.mean), "std": list(self.std)}
        if self.resize is not None or self.interpolation != "bilinear":
            out.update(resize=self.resize, interpolation=self.interpolation)
        return out

    @classmethod
    def from_data_config(cls, cfg: dict[str, Any]) -> Preprocess:
        """From timm's ``resolve_data_config`` (the model's ``pretrained_cfg``): input size,
        interpolation, ``crop_pct`` (resize to ``floor(size / crop_pct)``, then centre crop),
        mean and std — as ``timm.data.create_transform`` does at evaluation."""
        import math

        size = int(cfg.get("input_size", (3, 224, 224))[-1])
        crop_pct = float(cfg.get("crop_pct") or 1.0)
        mode = str(cfg.get("crop_mode") or "center")
        resize = math.floor(size / crop_pct) if mode == "center" else size
        return cls(
            size=size,
            mean=tuple(cfg.get("mean", IMAGENET_MEAN)),
            std=tuple(cfg.get("std", IMAGENET_STD)),
            resize=resize,
            interpolation=str(cfg.get("interpolation") or "bilinear"),
        )


def _resize(t: torch.Tensor, size: tuple[int, int], interpolation: str) -> torch.Tensor:
    """Antialiased resize of ``[3, H, W]`` (uint8 stays uint8) with PIL's kernels."""
    import torch
    import torch.nn.functional as F

    mode = {"bilinear": "bilinear", "bicubic": "bicubic", "nearest": "nearest"}.get(interpolation)
    if mode is None:
        raise DataFormatError(
            f"unsupported interpolation {interpolation!r}", hint="bilinear, bicubic or nearest"
        )
    if mode == "nearest":
        return F.interpolate(t[None], size=size, mode="nearest")[0]
    if mode == "bilinear" or t.dtype != torch.uint8:
        return F.interpolate(t[None], size=size, mode=mode, antialias=True)[0]
    out = F.interpolate(t[None].float(), size=size, mode=mode, antialias=True)[0]
    return out.round_().clamp_(0, 255).to(torch.uint8)
