"""The QC scores as computed before the fast path (commit 95e2b88), kept as the oracle.

:func:`qc_scores_reference` is the previous ``hepatokit.curation.patho.qc.measures.qc_scores``
copied verbatim (only renamed): the fast implementation must give identical scores.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from PIL import Image
from scipy import ndimage

from hepatokit.curation.patho.qc.measures import QCScores

# Ruifrok & Johnston (2001) H&E optical-density vectors (R, G, B), normalised.
_H = np.array([0.650, 0.704, 0.286])
_E = np.array([0.072, 0.990, 0.105])
_NORMAL = np.cross(_H / np.linalg.norm(_H), _E / np.linalg.norm(_E))
_NORMAL /= np.linalg.norm(_NORMAL)
_UNMIX = np.linalg.pinv(np.stack([_H / np.linalg.norm(_H), _E / np.linalg.norm(_E)], axis=1))

_OD_LUT = (-np.log10((np.arange(256, dtype=np.float64) + 1.0) / 256.0)).astype(np.float32)
_GRAY = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def _hsv(rgb: NDArray[np.uint8]) -> tuple[NDArray[np.float32], ...]:
    """Hue (degrees), saturation and value in [0, 1] (Pillow's HSV conversion, in C)."""
    hsv = np.asarray(Image.fromarray(rgb, "RGB").convert("HSV"), dtype=np.float32)
    return hsv[..., 0] * np.float32(360.0 / 255.0), hsv[..., 1] / 255.0, hsv[..., 2] / 255.0


def _pen_score(
    hue: NDArray[np.float32], sat: NDArray[np.float32], val: NDArray[np.float32]
) -> tuple[float, float]:
    """(fraction of thick blue / dark ink components, fraction of green / thick black pixels)."""
    green = (sat >= 0.2) & (hue >= 75) & (hue <= 170)
    black = (val < 0.22) & (sat < 0.6)
    colour = float(green.mean())
    ink = ((sat >= 0.3) & (hue >= 195) & (hue <= 265)) | (val < 0.3)
    if ink.mean() < 0.02:
        return 0.0, colour
    thick = _thick(ink)
    if black.mean() >= 0.005:  # near-black only counts inside a wide band (not nuclei)
        colour += float(_thick(black).mean())
    return float(thick.mean()), colour


def _thick(mask: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """Pixels of ``mask`` in thick components: an opening by a disk of radius 3 (through
    distance transforms), then components whose mean inscribed radius is ≥ 4 px (strokes;
    nuclei are thinner)."""
    eroded = ndimage.distance_transform_edt(mask) > 3
    opened = ndimage.distance_transform_edt(~eroded) <= 3
    labels, n = ndimage.label(opened)
    if not n:
        return np.zeros_like(mask)
    dist = ndimage.distance_transform_edt(opened)
    flat = labels.ravel()
    area = np.bincount(flat, minlength=n + 1)[1:]
    mean_r = np.bincount(flat, weights=dist.ravel(), minlength=n + 1)[1:] / np.maximum(area, 1)
    keep = np.concatenate([[False], mean_r >= 4.0])
    return np.asarray(keep[labels], dtype=bool)


def _blocking(gray: NDArray[np.float32]) -> float:
    """JPEG blocking (see the module docstring): 1 without an 8-px grid, higher with one."""
    ratios = []
    for axis in (0, 1):
        d = np.abs(np.diff(gray, axis=axis)).mean(axis=1 - axis)  # per line between px
        n = d.size - d.size % 8
        if n < 16 or d[:n].mean() <= 1e-6:
            continue
        periods = d[:n].reshape(-1, 8)
        per = periods / np.maximum(periods.mean(axis=1, keepdims=True), 1e-6)
        ratios.append(float(np.median(per, axis=0).max()))  # one straight edge is one period
    return float(np.mean(ratios)) if ratios else 1.0


def qc_scores_reference(rgb: NDArray[np.uint8]) -> QCScores:
    """All QC scores of one patch.

    Parameters
    ----------
    rgb
        ``(H, W, 3)`` uint8 RGB array.
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) RGB array, got shape {rgb.shape}")
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    hue, sat, val = _hsv(rgb)
    white = (val >= 0.82) & (sat <= 0.12)
    background = float(white.mean())
    pen, ink = _pen_score(hue, sat, val)

    od = _OD_LUT[rgb.reshape(-1, 3)]
    tissue = (od.mean(axis=1) > 0.05) & ~white.reshape(-1)
    stain = intensity = e_frac = e_p90 = 0.0
    if tissue.sum() >= max(50, 0.02 * tissue.size):
        t = od[tissue].astype(np.float64)
        norms = np.linalg.norm(t, axis=1)
        cos_n = np.abs(t @ _NORMAL) / np.maximum(norms, 1e-9)
        stain = float(np.degrees(np.arcsin(np.clip(np.median(cos_n), 0.0, 1.0))))
        conc = t @ _UNMIX.T  # (N, 2): H and E amounts
        pos = np.clip(conc, 0.0, None)
        intensity = float(np.percentile(pos.sum(axis=1), 99))
        e_frac = float(pos[:, 1].sum() / max(pos.sum(), 1e-9))
        e_p90 = float(np.percentile(conc[:, 1], 90))

    gray = rgb.astype(np.float32) @ _GRAY
    lap = ndimage.laplace(gray, mode="reflect")
    inside = ~ndimage.binary_dilation(white, iterations=2)
    lap_t = lap[inside]
    sharpness = float(lap_t.var()) if lap_t.size >= 200 else float(lap.var())
    return QCScores(
        background=round(background, 6),
        stain=round(stain, 4),
        stain_intensity=round(intensity, 5),
        eosin_fraction=round(e_frac, 5),
        eosin_p90=round(e_p90, 5),
        pen=round(pen, 6),
        ink=round(ink, 6),
        sharpness=round(sharpness, 3),
        blocking=round(_blocking(gray), 4),
    )
