"""The checks of one volume (``mri qc``): geometry, intensities, slice spacing, corrupt
slices, coverage; the recipe's ``fail_on`` checks exclude it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

from hepatokit.curation.mri.config import VolumeQCConfig

__all__ = ["JUMP_RATIO", "check_volume", "corrupt_slices"]


def _slice_gap_ratio(positions: list[list[float]], orientation: list[float] | None) -> float:
    """Largest relative deviation of the slice gaps from their median (0 = regular)."""
    pts = [p for p in positions if p is not None]
    if len(pts) < 3 or orientation is None:
        return 0.0
    normal = np.cross(np.asarray(orientation[:3]), np.asarray(orientation[3:]))
    d = np.unique(np.round(np.asarray(pts) @ normal, 3))
    if len(d) < 3:
        return 0.0
    gaps = np.diff(d)
    med = float(np.median(gaps))
    return float(np.max(np.abs(gaps - med)) / med) if med > 0 else 0.0


#: a slice this many times farther from its neighbours' mean than they are from each other
#: is corrupt (anatomy and noise alike give 1.2-1.8)
JUMP_RATIO = 5.0


def corrupt_slices(data: np.ndarray) -> list[int]:
    """Interior slices (axis 2; every frame of a 4D volume) that break from both neighbours:
    constant (a slice the decoder could not read comes out blank) while both neighbours hold
    signal; uncorrelated with both neighbours while those two agree; or farther from the mean
    of its neighbours than :data:`JUMP_RATIO` times their distance from each other (a slice
    decoded into noise or a shifted intensity). Real anatomy changes smoothly from slice to
    slice; a corrupt compressed slice (JPEG 2000, JPEG-LS...) that a converter decodes
    without an error does not."""
    if data.ndim < 3 or data.shape[2] < 3:
        return []
    frames = data.reshape(*data.shape[:3], -1)
    bad: set[int] = set()
    for f in range(frames.shape[3]):
        vol = np.asarray(frames[..., f], dtype=np.float64)
        flat = vol.reshape(-1, vol.shape[2]).T  # one row per slice
        std = flat.std(axis=1)
        centred = flat - flat.mean(axis=1, keepdims=True)
        norm = np.sqrt((centred**2).sum(axis=1))
        norm[norm == 0] = np.inf
        unit = centred / norm[:, None]
        nxt = (unit[:-1] * unit[1:]).sum(axis=1)  # corr(k, k + 1)
        skip = (unit[:-2] * unit[2:]).sum(axis=1)  # corr(k - 1, k + 1)
        for k in range(1, flat.shape[0] - 1):
            if std[k - 1] == 0 or std[k + 1] == 0:
                continue
            noise = skip[k - 1] > 0.5 and max(nxt[k - 1], nxt[k]) < 0.1
            # how far the slice is from its neighbours' mean, against how far they are
            # from each other: ~1.2-1.8 for anatomy and for pure noise alike
            residual = np.abs(flat[k] - (flat[k - 1] + flat[k + 1]) / 2).mean()
            spread = np.abs(flat[k - 1] - flat[k + 1]).mean() / 2
            jump = residual > JUMP_RATIO * spread if spread > 0 else residual > 0
            if std[k] == 0 or noise or jump:
                bad.add(k)
    return sorted(bad)


def check_volume(job: tuple[str, str, dict[str, Any], VolumeQCConfig]) -> dict[str, Any]:
    build, rel, info, cfg = job
    img: Any = nib.load(str(Path(build) / rel))
    data = np.asanyarray(img.dataobj)
    zooms = [float(z) for z in img.header.get_zooms()[:3]]
    finite = np.isfinite(data) if data.dtype.kind == "f" else np.ones(data.shape, bool)
    n_bad = int(data.size - finite.sum())
    values = data[finite] if n_bad else data.ravel()
    vmax = float(values.max()) if values.size else 0.0
    vmin = float(values.min()) if values.size else 0.0
    pct = [float(v) for v in np.percentile(values, cfg.percentiles)] if values.size else []
    n_slices = int(data.shape[2]) if data.ndim >= 3 else 1
    coverage = n_slices * zooms[2]
    gap = _slice_gap_ratio(info["positions"], info["orientation"])
    broken = corrupt_slices(data) if not n_bad else []
    row = {
        **{k: info[k] for k in ("subject_id", "sequence", "series_id")},
        "path": rel,
        "shape": [int(s) for s in data.shape],
        "spacing": [round(z, 6) for z in zooms],
        "orientation": "".join(c or "?" for c in nib.aff2axcodes(img.affine)),  # ? = collapsed
        "dtype": str(img.get_data_dtype()),
        "n_nonfinite": n_bad,
        "empty": bool(values.size == 0 or (vmax == 0 and vmin == 0)),
        "constant": bool(values.size > 0 and vmax == vmin and vmax != 0),
        "percentiles": [round(v, 4) for v in pct],
        "slice_gap_ratio": round(gap, 4),
        "irregular_spacing": gap > cfg.max_slice_gap_ratio,
        "coverage_mm": round(coverage, 3),
        "tiny_coverage": n_slices < cfg.min_slices or coverage < cfg.min_coverage_mm,
        "corrupt_slices": broken,
    }
    checks = {
        "non_finite": n_bad > 0,
        "empty": row["empty"],
        "constant": row["constant"],
        "irregular_spacing": row["irregular_spacing"],
        "tiny_coverage": row["tiny_coverage"],
        "corrupt_slice": bool(broken),
    }
    failed = [c for c, bad in checks.items() if bad]
    row["flags"] = failed
    row["qc_reason"] = next((c for c in failed if c in cfg.fail_on), None)
    return row
