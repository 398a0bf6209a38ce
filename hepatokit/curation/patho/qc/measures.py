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
    90th percentile of the eosin amount: extreme eosin over-staining is high (above 1.0 by
    default: 10 % of the tissue letting through about a tenth of the green light). Not a tight
    check: the darkest nuclei and red cells of real H&E put optical density on the eosin
    axis too (lymphocyte-packed and blood-rich fields of clean real tissue reach 0.89). A
    magenta or other wrong eosin is caught by its angle to the H&E plane (``stain``).
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

Real H&E (``tests/data/real_he``: 620 clean fields from nine public sources) sits up to
23.2° off the Ruifrok–Johnston plane (median per source from 5.8°, ovarian carcinoma, to 20°,
prostate; other published sets reach 24°), which is why ``stain_max`` is 24°.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np
from numpy.typing import NDArray

from hepatokit.curation.patho.config import PatchQCConfig
from hepatokit.curation.patho.qc import kernel
from hepatokit.curation.patho.qc.raw import _interpolate, _measure, _Raw, _variance

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
        # the fields by name, as ``dataclasses.asdict`` gives them (whose recursive copy
        # cost ~20 µs a patch, 5 % of the compiled QC pass)
        return {name: getattr(self, name) for name in _SCORE_FIELDS}


_SCORE_FIELDS = tuple(f.name for f in fields(QCScores))


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
#: own clean tail (never stricter than what clean real H&E needs: ``eosin_p90`` reaches 0.89
#: on clean lymphocyte-dense fields).
RELATIVE_BOUNDS: dict[str, tuple[str, str, float, float]] = {
    "stain_max": ("stain", "above", 35.0, 24.0),
    "stain_intensity_min": ("stain_intensity", "below", 0.6, 0.8),
    "eosin_fraction_min": ("eosin_fraction", "below", 0.03, 0.08),
    "eosin_p90_max": ("eosin_p90", "above", 1.3, 1.0),
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
