"""Per-sequence rigid offsets (breath-hold motion) planted in the synthetic MRI studies.

Off by default. When asked for (``generate_mri_studies(..., sequence_offsets=(deg, mm))``),
every curation unit gets its own rigid motion ``M`` (LPS mm, 4×4): a rotation of at most
``deg`` degrees about a random axis through the unit's scan centre, then a translation of at
most ``mm`` millimetres. The anatomy a unit shows is moved by ``M``: its voxel at world point
``x`` holds the phantom at ``M⁻¹ x`` (the DICOM geometry is unchanged, so the headers do not
tell the motion: only registration of the pixel content can). Two units ``R`` (fixed) and
``S`` (moving) are therefore aligned by ``M_S @ inv(M_R)`` (fixed-space point → moving-space
point, LPS); in RAS: ``F @ M_S @ inv(M_R) @ F`` with ``F = diag(-1, -1, 1, 1)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from hepatokit.synthetic.mri_plan_series import PatientPlan

__all__ = ["motion_matrix", "plant_offsets"]


def motion_matrix(motion: dict[str, Any]) -> NDArray[np.float64]:
    """The 4×4 LPS matrix of a planted ``motion`` (axis, angle_deg, centre_lps, translation_mm)."""
    a = np.asarray(motion["axis"], dtype=float)
    a = a / np.linalg.norm(a)
    t = np.radians(float(motion["angle_deg"]))
    k = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    rot = np.eye(3) + np.sin(t) * k + (1 - np.cos(t)) * k @ k
    c = np.asarray(motion["centre_lps"], dtype=float)
    m = np.eye(4)
    m[:3, :3] = rot
    m[:3, 3] = c - rot @ c + np.asarray(motion["translation_mm"], dtype=float)
    return m


def plant_offsets(plans: list[PatientPlan], seed: int, max_deg: float, max_mm: float) -> None:
    """Give every part of every plan its own motion (in place; drawn from ``seed`` alone, so
    the rest of the plan and every other random draw stay as without offsets)."""
    for plan in plans:
        rng = np.random.default_rng([seed, 16016, plan.index])
        for series in plan.series:
            for part in series.parts:
                axis = rng.normal(size=3)
                direction = rng.normal(size=3)
                motion: dict[str, Any] = {
                    "axis": [round(float(v), 6) for v in axis / np.linalg.norm(axis)],
                    "angle_deg": round(float(rng.uniform(0, max_deg)), 4),
                    "centre_lps": [round(float(v), 4) for v in part.geometry.center],
                    "translation_mm": [
                        round(float(v), 4)
                        for v in direction / np.linalg.norm(direction) * rng.uniform(0, max_mm)
                    ],
                }
                motion["matrix_lps"] = motion_matrix(motion).round(9).tolist()
                part.motion = motion
