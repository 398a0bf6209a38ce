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
    (haematoxylin only). The amounts are summed in fixed point (2⁻²⁴), exact in any order.
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
    Variance of the Laplacian of the grey image (ITU-R 601 luma) off the glass edge (low =
    blurred); computed exactly in integers, rounded once.
``blocking``
    JPEG blocking: for each of the 8 phases of an 8-px grid, the median over 8-line periods
    of the neighbour difference across the grid line divided by the period's mean neighbour
    difference; the largest phase, rows and columns averaged (a median, so one straight
    tissue edge does not count). About 1 for an image without a block grid, also for
    mild JPEG; 1.5–3 for severe compression (quality ≲ 10), whose 8 × 8 blocks are flat
    inside and step at their borders. Phase-free, so a patch cut at any offset of a
    compressed image is judged the same.

Every score is defined by elementwise operations in a fixed order, integers and order
statistics (no BLAS product, whose rounding depends on the CPU's kernel), so that the numpy
code here and the compiled pass of :mod:`.kernel` (numba, the ``fast`` extra) give the same
scores bit for bit on every machine (``QC_VERSION`` 3; version 2 differed from it by at
most a unit of a score's last rounded digit, and in no QC decision, on the test images).

Real H&E (``tests/data/real_he``: five public sources) sits 11–20° off the
Ruifrok–Johnston plane (other published sets reach 24°), which is why ``stain_max`` is 24°.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from hepatokit.curation.patho.config import PatchQCConfig
from hepatokit.curation.patho.qc import kernel
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
from hepatokit.curation.patho.qc.order import order_statistics

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
QC_VERSION = "3"

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
#: the stain sums are integers in units of 2⁻²⁴ of an amount (exact in any order)
_FIXED = float(1 << 24)
#: the grey image is ``299 R + 587 G + 114 B``: ITU-R 601 luma times 1000, in integers
_GRAY_SCALE = 1000


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


def _laplacian_sums(gray: NDArray[np.int32], keep: NDArray[np.bool_]) -> tuple[int, ...]:
    """(n, Σ L, Σ L²) of the integer Laplacian over ``keep``, then over every pixel.

    ``L = (up + down + left + right) − 4 × centre`` of the scaled grey image, the border
    pixel repeated outside (scipy's ``reflect`` mode); exact in integers.
    """
    p = np.pad(gray, 1, mode="edge")
    lap = (p[:-2, 1:-1] + p[2:, 1:-1]) + (p[1:-1, :-2] + p[1:-1, 2:]) - 4 * gray
    wide = lap.astype(np.int64)
    sq = wide * wide
    kept = wide[keep]
    return (
        int(kept.size),
        int(kept.sum()),
        int(sq[keep].sum()),
        int(wide.size),
        int(wide.sum()),
        int(sq.sum()),
    )


def _variance(n: int, s1: int, s2: int) -> float:
    """Variance of the Laplacian in grey levels² from its integer sums: exact, then rounded
    once (the grey image is scaled by 1000)."""
    return (n * s2 - s1 * s1) / (n * n * _GRAY_SCALE**2)


def _block_ratio(lines: NDArray[np.int64]) -> float:
    """Blocking of one axis from the sums of the neighbour differences between successive
    lines (NaN: too few lines, or no difference at all).

    For each 8-line period, each line's share of the period's sum (times 8: 1 when even);
    per phase, the median over the periods; the largest phase.
    """
    n = lines.size - lines.size % 8
    if n < 16:
        return float("nan")
    periods = lines[:n].reshape(-1, 8)
    if not periods.any():
        return float("nan")
    total = periods.sum(axis=1, keepdims=True)
    per = np.where(total > 0, (8 * periods) / np.maximum(total, 1), 0.0)
    return float(_column_median(per).max())


def _column_median(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """``np.median(x, axis=0)``: sorted columns, the two middle rows averaged as
    ``(a + b) / 2`` when their number is even."""
    s = np.sort(x, axis=0)
    half = s.shape[0] // 2
    if s.shape[0] % 2:
        return s[half]
    return (s[half - 1] + s[half]) / 2


def _stain_stats(index: NDArray[np.uint32], flags: NDArray[np.uint8]) -> tuple[Any, ...]:
    """The raw stain statistics over the tissue pixels (:class:`_Raw`); zeros with too
    little tissue.

    Every per-pixel value is written elementwise in a fixed order (no BLAS product, whose
    rounding depends on the CPU's kernel): the same floats on every machine and in the
    compiled path.
    """
    tissue = (flags & (TISSUE | WHITE)) == TISSUE  # mean OD above 0.05 and not glass
    n = int(np.count_nonzero(tissue))
    if n < max(50, 0.02 * tissue.size):
        return (n, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0, 0)
    t = channel_od(index[tissue])  # (N, 3) float64 OD of the tissue pixels
    t0, t1, t2 = t[:, 0], t[:, 1], t[:, 2]
    norms = np.sqrt((t0 * t0 + t1 * t1) + t2 * t2)
    n0, n1, n2 = (float(v) for v in _NORMAL)
    cos_n = np.abs((t0 * n0 + t1 * n1) + t2 * n2) / np.maximum(norms, 1e-9)
    (h0, h1, h2), (e0, e1, e2) = ((float(v) for v in row) for row in _UNMIX)
    conc_h = (t0 * h0 + t1 * h1) + t2 * h2
    conc_e = (t0 * e0 + t1 * e1) + t2 * e2
    pos_h = np.maximum(conc_h, 0.0)
    pos_e = np.maximum(conc_e, 0.0)
    half = n // 2
    m = order_statistics(cos_n, [half - 1, half] if n % 2 == 0 else [half, half])
    p99 = order_statistics(pos_h + pos_e, _ranks(n, 99))
    p90 = order_statistics(conc_e, _ranks(n, 90))
    sum_h = int((pos_h * _FIXED + 0.5).astype(np.int64).sum())
    sum_e = int((pos_e * _FIXED + 0.5).astype(np.int64).sum())
    return (n, m[0], m[1], p99[0], p99[1], p90[0], p90[1], sum_h, sum_e)


def _ranks(n: int, q: int) -> list[int]:
    """The two order statistics numpy's ``percentile(q)`` (method ``linear``) interpolates."""
    lo = math.floor((n - 1) * (q / 100))
    return [lo, min(lo + 1, n - 1)]


def _interpolate(n: int, q: int, a: float, b: float) -> float:
    """numpy's ``percentile`` from its two order statistics (see :func:`.order.percentile`)."""
    virtual = (n - 1) * (q / 100)
    t = virtual - math.floor(virtual)
    diff = b - a
    return b - diff * (1 - t) if t >= 0.5 else a + diff * t


class _Raw(NamedTuple):
    """What a patch's scores are computed from: counts, order statistics and exact sums.

    The numpy path (:func:`_measure`) and the compiled one (:mod:`.kernel`) produce the
    same values; :func:`_finish` turns them into :class:`QCScores`.
    """

    size: int
    white: int
    green: int
    ink: int  # blue ink or dark pixels
    black: int  # near-black pixels
    thick_ink: int  # pixels of `ink` in thick components (0 when `ink` < 2 %)
    thick_black: int  # pixels of `black` in thick components (0 unless needed)
    tissue: int
    cos_a: float  # the order statistics at the middle of the |cos| to the H-E normal
    cos_b: float
    amount_a: float  # the two order statistics of the p99 of the H + E amount
    amount_b: float
    eosin_a: float  # the two order statistics of the p90 of the E amount
    eosin_b: float
    sum_h: int  # Σ max(H, 0), Σ max(E, 0) in units of 2⁻²⁴, each amount rounded (exact)
    sum_e: int
    lap_n: int  # Laplacian sums on the tissue side of the glass edge
    lap_s1: int
    lap_s2: int
    all_n: int  # ... and over every pixel
    all_s1: int
    all_s2: int
    block_rows: float  # blocking of each axis (NaN: not measured)
    block_cols: float


def _measure(rgb: NDArray[np.uint8]) -> _Raw:
    """The raw statistics of one patch with numpy (the reference of the compiled path)."""
    index = colour_index(rgb)
    flags = colour_flags(index)  # glass, inks, tissue: one table lookup per pixel
    size = flags.size
    white = (flags & WHITE) != 0
    ink = (flags & INK) != 0
    black = (flags & BLACK) != 0
    n_ink, n_black = int(np.count_nonzero(ink)), int(np.count_nonzero(black))
    thick_ink = thick_black = 0
    if n_ink / size >= 0.02:
        thick_ink = int(np.count_nonzero(_thick(ink)))
        if n_black / size >= 0.005:  # near-black only counts inside a wide band (not nuclei)
            thick_black = int(np.count_nonzero(_thick(black)))
    stain = _stain_stats(index, flags)
    gray = _gray(rgb)
    lap = _laplacian_sums(gray, ~cross2_dilate(white))  # tissue side of the glass edge
    counts = (size, int(np.count_nonzero(white)), int(np.count_nonzero(flags & GREEN)))
    blocking = (
        _block_ratio(np.abs(np.diff(gray, axis=0)).sum(axis=1, dtype=np.int64)),
        _block_ratio(np.abs(np.diff(gray, axis=1)).sum(axis=0, dtype=np.int64)),
    )
    pens = (n_ink, n_black, thick_ink, thick_black)
    return _Raw._make(counts + pens + stain + lap + blocking)


def _gray(rgb: NDArray[np.uint8]) -> NDArray[np.int32]:
    """The grey image scaled by 1000: ``299 R + 587 G + 114 B`` (ITU-R 601 weights), exact."""
    wide = rgb.astype(np.int32)
    return np.asarray(
        (wide[..., 0] * 299 + wide[..., 1] * 587) + wide[..., 2] * 114, dtype=np.int32
    )


def _finish(raw: _Raw) -> QCScores:
    """The scores from the raw statistics (the same Python arithmetic for both paths)."""
    size = raw.size
    colour = raw.green / size
    pen = 0.0
    if raw.ink / size >= 0.02:
        if raw.black / size >= 0.005:
            colour += raw.thick_black / size
        pen = raw.thick_ink / size
    n = raw.tissue
    if n < max(50, 0.02 * size):
        stain = intensity = e_frac = e_p90 = 0.0
    else:
        mid = raw.cos_a if n % 2 else (raw.cos_a + raw.cos_b) / 2
        stain = float(np.degrees(np.arcsin(np.clip(mid, 0.0, 1.0))))
        intensity = _interpolate(n, 99, raw.amount_a, raw.amount_b)
        total = raw.sum_h + raw.sum_e
        e_frac = raw.sum_e / total if total else 0.0
        e_p90 = _interpolate(n, 90, raw.eosin_a, raw.eosin_b)
    if raw.lap_n >= 200:
        sharpness = _variance(raw.lap_n, raw.lap_s1, raw.lap_s2)
    else:
        sharpness = _variance(raw.all_n, raw.all_s1, raw.all_s2)
    ratios = [r for r in (raw.block_rows, raw.block_cols) if not math.isnan(r)]
    blocking = (ratios[0] + ratios[1]) / 2 if len(ratios) == 2 else ratios[0] if ratios else 1.0
    return QCScores(
        background=round(raw.white / size, 6),
        stain=round(stain, 4),
        stain_intensity=round(intensity, 5),
        eosin_fraction=round(e_frac, 5),
        eosin_p90=round(e_p90, 5),
        pen=round(pen, 6),
        ink=round(colour, 6),
        sharpness=round(sharpness, 3),
        blocking=round(blocking, 4),
    )


def qc_scores(rgb: NDArray[np.uint8], *, compiled: bool | None = None) -> QCScores:
    """All QC scores of one patch.

    Parameters
    ----------
    rgb
        ``(H, W, 3)`` uint8 RGB array.
    compiled
        Use the compiled per-pixel pass (:mod:`.kernel`, needs numba: the ``fast`` extra).
        None (default): when numba is installed. Both paths give the same scores, bit for
        bit (the tests compare them).
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) RGB array, got shape {rgb.shape}")
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    if compiled is None:
        compiled = kernel.available()
    return _finish(kernel.measure(rgb) if compiled else _measure(rgb))


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
