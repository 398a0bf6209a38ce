"""Sliding-window inference over a slide image held at the model's resolution.

Windows of ``window`` px step by ``window · (1 − overlap)`` over the slide (the last row and
column are moved back to end at the edge, so no window pads inside a slide larger than one
window); only windows that touch tissue run. They are batched through a DataLoader and their
logits blended into the slide grid with a weight per window pixel — Gaussian (σ = window/4,
centre-heavy, so a pixel's value comes mostly from the windows that see it with context) or
flat (mean). Each window runs once; the weighted sum and the weight sum are accumulated in
place, so overlaps cost only their forward passes. Same input → byte-identical output.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from hepatokit.quant.segment.data import crop

if TYPE_CHECKING:
    from torch import nn

    from hepatokit.baselines.devices import DevicePlan

__all__ = ["blend_weights", "predict_logits", "window_origins"]


def window_origins(height: int, width: int, window: int, overlap: float) -> list[tuple[int, int]]:
    """Top-left ``(y, x)`` of the windows covering an image (one window if it is smaller)."""
    if not 0 <= overlap < 1:
        raise ValueError(f"overlap must be in [0, 1), got {overlap}")
    step = max(1, round(window * (1 - overlap)))

    def starts(n: int) -> list[int]:
        if n <= window:
            return [0]
        out = list(range(0, n - window, step))
        out.append(n - window)
        return sorted(set(out))

    return [(y, x) for y in starts(height) for x in starts(width)]


def blend_weights(window: int, blend: str) -> np.ndarray:
    """Per-pixel weight of a window's logits: ``gaussian`` (σ = window/4) or ``mean``."""
    if blend == "mean":
        return np.ones((window, window), np.float32)
    if blend != "gaussian":
        raise ValueError(f"blend must be 'gaussian' or 'mean', got {blend!r}")
    r = np.arange(window, dtype=np.float64) - (window - 1) / 2
    g = np.exp(-0.5 * (r / (window / 4)) ** 2)
    w = np.outer(g, g)
    return np.maximum(w / w.max(), 1e-3).astype(np.float32)


class _Windows:
    def __init__(self, image: np.ndarray, origins: list[tuple[int, int]], window: int) -> None:
        self.image, self.origins, self.window = image, origins, window

    def __len__(self) -> int:
        return len(self.origins)

    def __getitem__(self, i: int) -> Any:
        import torch

        y, x = self.origins[i]
        a = crop(self.image, y, x, self.window, 255)
        return torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1)


def normalise(batch: Any) -> Any:
    """uint8 ``[B, 3, H, W]`` → float, ImageNet mean/std (the region model's input)."""
    import torch

    from hepatokit.quant.segment.model import MEAN, STD

    x = batch.float() / 255.0
    mean = torch.tensor(MEAN, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(STD, device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std


def predict_logits(
    model: nn.Module,
    image: np.ndarray,
    tissue: np.ndarray,
    *,
    window: int,
    overlap: float = 0.5,
    blend: str = "gaussian",
    batch_size: int = 16,
    plan: DevicePlan | None = None,
    num_workers: int = 0,
    tta: bool = False,
) -> tuple[np.ndarray, int]:
    """Blended tumor-minus-non-tumor logit per pixel ``(H, W)`` float32 (NaN where no window
    ran) and the number of windows run. ``> 0`` means tumor. ``tta``: each window's logits are
    the mean over its four flips (4× the forward passes)."""
    import torch
    from torch.utils.data import DataLoader

    h, w = image.shape[:2]
    origins = window_origins(h, w, window, overlap)
    if tissue.any():
        integral = np.pad(tissue.astype(np.int32).cumsum(0).cumsum(1), ((1, 0), (1, 0)))

        def has_tissue(y: int, x: int) -> bool:
            y1, x1 = min(h, y + window), min(w, x + window)
            return bool(integral[y1, x1] - integral[y, x1] - integral[y1, x] + integral[y, x] > 0)

        origins = [o for o in origins if has_tissue(*o)]
    else:
        origins = []
    acc = np.zeros((h, w), np.float32)
    wsum = np.zeros((h, w), np.float32)
    weights = blend_weights(window, blend)
    device = torch.device(plan.device if plan else "cpu")
    amp = bool(plan and plan.amp and device.type == "cuda")
    amp_dtype = getattr(torch, plan.amp_dtype) if plan else torch.bfloat16
    windows: Any = _Windows(image, origins, window)
    loader: Any = DataLoader(windows, batch_size=batch_size, shuffle=False,
                        num_workers=num_workers,
                        pin_memory=bool(plan and plan.pin_memory))  # fmt: skip
    model.eval()
    k = 0
    with torch.inference_mode():
        for batch in loader:
            x = normalise(batch.to(device, non_blocking=True))
            with torch.autocast(device.type, dtype=amp_dtype, enabled=amp):
                out = model(x).float()
                if tta:
                    for dims in ((3,), (2,), (2, 3)):
                        out = out + model(x.flip(dims)).float().flip(dims)
                    out = out / 4
            diff = (out[:, 1] - out[:, 0]).float().cpu().numpy()
            for d in diff:
                y, x0 = origins[k]
                k += 1
                y1, x1 = min(h, y + window), min(w, x0 + window)
                wv = weights[: y1 - y, : x1 - x0]
                acc[y:y1, x0:x1] += d[: y1 - y, : x1 - x0] * wv
                wsum[y:y1, x0:x1] += wv
    with np.errstate(invalid="ignore", divide="ignore"):
        logits = np.where(wsum > 0, acc / np.maximum(wsum, 1e-12), np.nan).astype(np.float32)
    return logits, len(origins)
