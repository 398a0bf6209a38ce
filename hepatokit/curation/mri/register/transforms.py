"""World transforms: SimpleITK matrix-offset transforms ↔ 4×4 matrices, LPS (ITK) ↔ RAS
(NIfTI), and the size of a rigid motion."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from hepatokit.curation.mri.register.images import FLIP, sitk_module

__all__ = ["centre", "lps_to_ras", "matrix_lps", "ras_matrix_to_sitk", "rotation_deg"]


def matrix_lps(tx: Any) -> NDArray[np.float64]:
    """4×4 of a SimpleITK matrix-offset transform (LPS, fixed → moving)."""
    m = np.eye(4)
    m[:3, :3] = np.asarray(tx.GetMatrix(), dtype=np.float64).reshape(3, 3)
    c = np.asarray(tx.GetCenter(), dtype=np.float64)
    m[:3, 3] = np.asarray(tx.GetTranslation(), dtype=np.float64) + c - m[:3, :3] @ c
    return m


def lps_to_ras(m: NDArray[np.float64]) -> NDArray[np.float64]:
    """A world transform in LPS (ITK) → the same transform in RAS (NIfTI); its own inverse."""
    return FLIP @ np.asarray(m, dtype=np.float64) @ FLIP


def ras_matrix_to_sitk(matrix_ras: Any, sitk: Any | None = None) -> Any:
    """A 4×4 RAS world matrix (fixed → moving) → a SimpleITK ``AffineTransform`` (LPS)."""
    sitk = sitk or sitk_module()
    m = lps_to_ras(np.asarray(matrix_ras, dtype=np.float64).reshape(4, 4))
    tx = sitk.AffineTransform(3)
    tx.SetMatrix([float(v) for v in m[:3, :3].ravel()])
    tx.SetTranslation([float(v) for v in m[:3, 3]])
    return tx


def rotation_deg(m: NDArray[np.float64]) -> float:
    """Angle of the rotation closest to ``m[:3, :3]`` (degrees)."""
    u, _, vt = np.linalg.svd(np.asarray(m)[:3, :3])
    r = u @ vt
    return float(np.degrees(np.arccos(np.clip((np.trace(r) - 1) / 2, -1.0, 1.0))))


def centre(image: Any) -> NDArray[np.float64]:
    size = np.asarray(image.GetSize(), dtype=np.float64)
    return np.asarray(image.TransformContinuousIndexToPhysicalPoint((size - 1) / 2), np.float64)
