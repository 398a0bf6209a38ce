"""Patch quality scores (one per check) and the thresholds that turn them into a reason.

The scores are computed from the decoded RGB array (the same decode that feeds the hashes).
Pixels are *white* when HSV value ≥ 0.82 and saturation ≤ 0.12; *tissue* pixels are the
others with a mean optical density (OD) above 0.05. Stain amounts come from colour
deconvolution onto the Ruifrok–Johnston haematoxylin (H) and eosin (E) OD vectors.

``background``
    Fraction of white pixels (glass).
``stain``
    Median angle (degrees) between tissue OD vectors and the H–E plane: any mix of H and E
    lies in the plane; a wrong stain, a colour cast or a scanner fault leaves it.
``stain_intensity``
    99th percentile of the H + E amount over tissue pixels: a faded, washed-out stain is low
    (judged together with ``eosin_p90``: faded means both are low, so a small fragment of
    light, nucleus-poor stroma on glass is not mistaken for a stain failure).
``eosin_fraction``
    Share of eosin in the total stain of the tissue: near 0 when the eosin failed
    (haematoxylin only).
``eosin_p90``
    90th percentile of the eosin amount: over-staining (magenta) is high.
``pen``
    Blue / black ink: the fraction of the patch in *thick* blue or dark components (mean
    inscribed radius ≥ 4 px after an opening of radius 3 px; 0 when such pixels cover
    < 2 %). Nuclei are small blobs and do not count; a felt-pen stroke is a wide band.
    (Radii in pixels of a 20× patch, 0.5 µm/px.)
``ink``
    Fraction of pixels no H&E stain produces: green (hue 75–170°, saturation ≥ 0.2), plus
    near-black unsaturated pixels (value < 0.22, saturation < 0.6) that lie in *thick*
    components (the same opening as ``pen``). Told apart by hue and shape, not darkness:
    the darkest nuclei of a dense, well-stained H&E field are near-black too, but they are
    small blobs; a black felt-pen stroke is a wide band.
``sharpness``
    Variance of the Laplacian of the grey image over tissue pixels (low = blurred).
``blocking``
    JPEG blocking: for each of the 8 phases of an 8-px grid, the median over 8-line periods
    of the neighbour difference across the grid line divided by the period's mean neighbour
    difference; the largest phase, rows and columns averaged (a median, so one straight
    tissue edge does not count). About 1 for an image without a block grid, also for
    mild JPEG; 1.5–3 for severe compression (quality ≲ 10), whose 8 × 8 blocks are flat
    inside and step at their borders. Phase-free, so a patch cut at any offset of a
    compressed image is judged the same.

Real H&E (``tests/data/real_he``: five public sources) sits 11–20° off the
Ruifrok–Johnston plane (other published sets reach 24°), which is why ``stain_max`` is 24°.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from hepatokit.curation.patho.config import PatchQCConfig
from hepatokit.curation.patho.qc.masks import (
    BLACK,
    GREEN,
    INK,
    OD_LUT,
    TISSUE,
    WHITE,
    channel_od,
    colour_flags,
    colour_index,
    cross2_dilate,
    disk3_dilate,
    disk3_erode,
    far4,
)
from hepatokit.curation.patho.qc.order import median, percentile

__all__ = [
    "QC_CHECKS",
    "RELATIVE_BOUNDS",
    "QCScores",
    "qc_reason",
    "qc_scores",
    "quality_rank",
    "relative_configs",
]

#: the score columns of ``qc.parquet`` (besides ``id`` and ``qc_reason``)
QC_CHECKS = (
    "background",
    "stain",
    "stain_intensity",
    "eosin_fraction",
    "eosin_p90",
    "pen",
    "ink",
    "sharpness",
    "blocking",
)
#: version of the score definitions: cached scores of another version are recomputed
QC_VERSION = "2"

# Ruifrok & Johnston (2001) H&E optical-density vectors (R, G, B), normalised.
_H = np.array([0.650, 0.704, 0.286])
_E = np.array([0.072, 0.990, 0.105])
_NORMAL = np.cross(_H / np.linalg.norm(_H), _E / np.linalg.norm(_E))
_NORMAL /= np.linalg.norm(_NORMAL)
_UNMIX = np.linalg.pinv(np.stack([_H / np.linalg.norm(_H), _E / np.linalg.norm(_E)], axis=1))


@dataclass(frozen=True)
class QCScores:
    """The QC scores of one patch (see the module docstring for units)."""

    background: float
    stain: float
    stain_intensity: float
    eosin_fraction: float
    eosin_p90: float
    pen: float
    ink: float
    sharpness: float
    blocking: float = 1.0

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


_OD_LUT = OD_LUT
_GRAY = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def _share(mask: NDArray[np.bool_]) -> float:
    """``float(mask.mean())`` (the count over the size: the same float64 division)."""
    return int(np.count_nonzero(mask)) / mask.size


def _pen_score(flags: NDArray[np.uint8]) -> tuple[float, float]:
    """(fraction of thick blue / dark ink components, fraction of green / thick black pixels)."""
    colour = _share((flags & GREEN) != 0)
    ink = (flags & INK) != 0
    if _share(ink) < 0.02:
        return 0.0, colour
    thick = _thick(ink)
    black = (flags & BLACK) != 0
    if _share(black) >= 0.005:  # near-black only counts inside a wide band (not nuclei)
        colour += _share(_thick(black))
    return _share(thick), colour


def _thick(mask: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """Pixels of ``mask`` in thick components: an opening by a disk of radius 3 (through
    distance transforms), then components whose mean inscribed radius is ≥ 4 px (strokes;
    nuclei are thinner).

    The opening is done with shifted boolean arrays (:mod:`.masks`, the same pixels as the
    distance transforms); a mask without a background pixel, where scipy measures from
    outside the image, keeps the distance transforms. Nothing survives the erosion: no
    thick pixel (the transform would open a 7-pixel corner blob, far thinner than 4 px);
    nor when no opened pixel lies 4 px from its edge (a mean radius is at most the largest).
    """
    if mask.all():
        eroded = ndimage.distance_transform_edt(mask) > 3
        opened = ndimage.distance_transform_edt(~eroded) <= 3
    else:
        eroded = disk3_erode(mask)
        if not eroded.any():
            return np.zeros_like(mask)
        opened = disk3_dilate(eroded)
        if not opened.all() and not far4(opened).any():
            return np.zeros_like(mask)  # no pixel 4 px from the edge: no mean radius ≥ 4
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
        ratios.append(float(_column_median(per).max()))  # one straight edge is one period
    return float(np.mean(ratios)) if ratios else 1.0


def _column_median(x: NDArray[np.float32]) -> NDArray[np.float32]:
    """``np.median(x, axis=0)`` of a small finite float32 array: sorted columns, and the two
    middle rows averaged in float32 as numpy's mean does (``(a + b) / 2``)."""
    s = np.sort(x, axis=0)
    half = s.shape[0] // 2
    if s.shape[0] % 2:
        return s[half]
    return np.asarray((s[half - 1] + s[half]) / np.float32(2), dtype=np.float32)


def _stain_scores(index: NDArray[np.uint32], flags: NDArray[np.uint8]) -> tuple[float, ...]:
    """(stain angle, stain intensity, eosin fraction, eosin p90) over the tissue pixels.

    The tissue pixels come from the colour flags; the per-pixel OD norm is written as a sum
    over the three channels (the same floats as ``linalg.norm(axis=1)``, checked on all
    2²⁴ colours by the tests), far faster than a reduction over a length-3 axis.
    """
    tissue = (flags & (TISSUE | WHITE)) == TISSUE  # mean OD above 0.05 and not glass
    if np.count_nonzero(tissue) < max(50, 0.02 * tissue.size):
        return 0.0, 0.0, 0.0, 0.0
    t = channel_od(index[tissue])  # (N, 3) float64 OD of the tissue pixels
    sq = t * t
    norms = np.sqrt(sq[:, 0] + sq[:, 1] + sq[:, 2])
    cos_n = np.abs(t @ _NORMAL) / np.maximum(norms, 1e-9)
    stain = float(np.degrees(np.arcsin(np.clip(median(cos_n), 0.0, 1.0))))
    conc = t @ _UNMIX.T  # (N, 2): H and E amounts
    pos = np.clip(conc, 0.0, None)
    intensity = percentile(pos[:, 0] + pos[:, 1], 99)
    e_frac = float(pos[:, 1].sum() / max(pos.sum(), 1e-9))
    e_p90 = percentile(conc[:, 1], 90)
    return stain, intensity, e_frac, e_p90


def qc_scores(rgb: NDArray[np.uint8]) -> QCScores:
    """All QC scores of one patch.

    Parameters
    ----------
    rgb
        ``(H, W, 3)`` uint8 RGB array.
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) RGB array, got shape {rgb.shape}")
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    index = colour_index(rgb)
    flags = colour_flags(index)  # glass, inks, tissue: one table lookup per pixel
    white = (flags & WHITE) != 0
    pen, ink = _pen_score(flags)
    stain, intensity, e_frac, e_p90 = _stain_scores(index, flags)

    gray = rgb.astype(np.float32) @ _GRAY
    lap = ndimage.laplace(gray, mode="reflect")
    lap_t = lap[~cross2_dilate(white)]  # tissue side of the glass edge
    sharpness = float(lap_t.var()) if lap_t.size >= 200 else float(lap.var())
    return QCScores(
        background=round(_share(white), 6),
        stain=round(stain, 4),
        stain_intensity=round(intensity, 5),
        eosin_fraction=round(e_frac, 5),
        eosin_p90=round(e_p90, 5),
        pen=round(pen, 6),
        ink=round(ink, 6),
        sharpness=round(sharpness, 3),
        blocking=round(_blocking(gray), 4),
    )


def _fails(check: str, s: dict[str, float], cfg: PatchQCConfig) -> bool:
    if check == "background":
        return s["background"] > cfg.background_max
    if check == "pen":
        return s["pen"] > cfg.pen_max or s["ink"] > cfg.ink_max
    if check == "stain":
        if s["stain_intensity"] == 0.0:  # too little tissue to judge the stain
            return False
        return (
            s["stain"] > cfg.stain_max
            or (
                s["stain_intensity"] < cfg.stain_intensity_min
                and s["eosin_p90"] < cfg.stain_faded_eosin_p90
            )
            or s["eosin_fraction"] < cfg.eosin_fraction_min
            or s["eosin_p90"] > cfg.eosin_p90_max
        )
    if check == "blur":  # glass-only patches are left to the background check
        if s["background"] >= 0.95:
            return False
        return s["sharpness"] < cfg.sharpness_min or s.get("blocking", 1.0) > cfg.blocking_max
    raise ValueError(f"unknown QC check {check!r}")


def qc_reason(scores: dict[str, float], cfg: PatchQCConfig) -> str | None:
    """The decisive failing check (first in ``cfg.order``), or None if the patch passes."""
    for check in cfg.order:
        if _fails(check, scores, cfg):
            return check
    return None


def quality_rank(scores: dict[str, float]) -> float:
    """A single "higher is better" quality score used to pick duplicate representatives.

    The sharpness on a log scale, penalised by the background fraction and the ink
    fraction; ties are broken by the caller (path order).
    """
    return float(
        np.log1p(max(scores.get("sharpness", 0.0), 0.0))
        - 2.0 * scores.get("background", 0.0)
        - 5.0 * (scores.get("pen", 0.0) + scores.get("ink", 0.0))
    )


#: relative mode: threshold field → (score, "above" | "below" fails, loosest, strictest).
#: The loosest bound keeps a site with a skewed distribution from accepting real failures
#: (no H&E is 35° off the plane); the strictest keeps a very uniform site from excluding its
#: own clean tail (never stricter than what clean real H&E needs).
RELATIVE_BOUNDS: dict[str, tuple[str, str, float, float]] = {
    "stain_max": ("stain", "above", 35.0, 24.0),
    "stain_intensity_min": ("stain_intensity", "below", 0.6, 0.8),
    "eosin_fraction_min": ("eosin_fraction", "below", 0.03, 0.08),
    "eosin_p90_max": ("eosin_p90", "above", 0.8, 0.45),
    "sharpness_min": ("sharpness", "below", 50.0, 80.0),
    "blocking_max": ("blocking", "above", 1.8, 1.6),
}
_MAD_SD = 1.4826  # MAD → standard deviation of a normal distribution


def _relative(values: dict[str, NDArray[np.float64]], cfg: PatchQCConfig) -> dict[str, float]:
    out = {}
    for name, (score, side, loosest, strictest) in RELATIVE_BOUNDS.items():
        v = values[score]
        med = float(np.median(v))
        sd = _MAD_SD * float(np.median(np.abs(v - med)))
        if side == "above":
            out[name] = float(min(max(med + cfg.relative_k * sd, strictest), loosest))
        else:
            out[name] = float(max(min(med - cfg.relative_k * sd, strictest), loosest))
    return out


def relative_configs(
    scores: list[dict[str, float]], classes: list[str | None], cfg: PatchQCConfig
) -> dict[str | None, PatchQCConfig]:
    """Dataset-relative thresholds: one :class:`PatchQCConfig` per class (key None: all data).

    For each check of :data:`RELATIVE_BOUNDS` the threshold is the median ± ``k`` robust
    standard deviations (1.4826 × MAD) of the score over the *tissue* patches (background
    and pen checks passed), clamped between the check's strictest and loosest bound. A
    class with at least ``cfg.relative_min_items`` tissue patches gets its own thresholds
    (classes differ: fat-rich steatosis, dense inflammation); the others use all the data.
    Background, pen and ink keep their absolute thresholds.
    """
    import dataclasses

    keep = [
        i
        for i, s in enumerate(scores)
        if not _fails("background", s, cfg) and not _fails("pen", s, cfg)
    ]
    if not keep:
        return {None: cfg}

    def cols(idx: list[int]) -> dict[str, NDArray[np.float64]]:
        return {c: np.array([scores[i].get(c, 1.0) for i in idx], float) for c in QC_CHECKS}

    out: dict[str | None, PatchQCConfig] = {
        None: dataclasses.replace(cfg, **_relative(cols(keep), cfg))  # type: ignore[arg-type]
    }
    for cls in sorted({c for c in classes if c is not None}):
        idx = [i for i in keep if classes[i] == cls]
        if len(idx) >= cfg.relative_min_items:
            out[cls] = dataclasses.replace(cfg, **_relative(cols(idx), cfg))  # type: ignore[arg-type]
    return out
