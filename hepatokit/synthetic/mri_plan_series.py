"""Series-level planning of the synthetic MRI studies: plan dataclasses, UIDs, geometry.

``mri_plan`` decides who gets which series when; this module turns one series decision into
its parts (curation units) with their geometry, b-values and noise seeds.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from hepatokit.synthetic.mri_phantom import Geometry
from hepatokit.synthetic.mri_plan_phi import PatientPHI
from hepatokit.synthetic.mri_protocols import IGNORE_REASONS, protocol_for

__all__ = [
    "PartPlan",
    "PatientPlan",
    "SeriesPlan",
    "add_odd_part",
    "b_tags_for",
    "plan_parts",
    "uid_for",
]

_FOV_MM = 380.0


def uid_for(seed: int, *parts: object) -> str:
    """A deterministic DICOM UID (``2.25.<128-bit int>``) from the seed and a path of names.

    (pydicom's ``generate_uid(prefix=None)`` ignores its entropy sources: it is a UUID4.)
    """
    text = "\x1f".join(["hepatokit-mri", str(seed), *map(str, parts)])
    return f"2.25.{int(hashlib.sha256(text.encode()).hexdigest()[:32], 16)}"


@dataclass
class PartPlan:
    """One curation unit: a whole series, or one part of a series that must be split."""

    unit_id: str
    part: (
        dict[str, Any] | None
    )  # None, or {"kind": "temporal_position"|"orientation"|"matrix", "value": …}
    role: str
    geometry: Geometry
    acquisition_s: float  # seconds since midnight
    b_values: list[float] | None
    noise_seed: int
    expected_label: str | None
    ignore_reason: str | None
    temporal_position: int | None = None
    repeat_of: str | None = None
    motion: dict[str, Any] | None = None  # planted rigid offset (``mri_motion``); None: none


@dataclass
class SeriesPlan:
    uid: str
    number: int
    role: str  # role of the series (GE multiphase: "GED1")
    series_s: float  # SeriesTime, seconds since midnight
    contrast: bool
    parts: list[PartPlan]
    b_tags: list[str] = field(default_factory=list)  # standard / siemens / ge / ge_1e9 / philips
    comment: str | None = None  # ImageComments free text (PHI)


@dataclass
class PatientPlan:
    index: int
    seed: int
    patient_seed: int
    scanner: str
    stage: int
    phi: PatientPHI
    study_uid: str
    frame_uid: str
    bolus_s: float | None  # injection time, seconds since midnight (None: no contrast)
    bolus_in_header: bool
    folders: list[str]
    series: list[SeriesPlan]
    anomalies: list[str]
    missing: list[str]


def b_tags_for(rng: np.random.Generator, vendor: str) -> list[str]:
    if vendor == "A":
        return ["siemens"]
    if vendor == "B":
        tags = ["ge_1e9" if rng.random() < 0.5 else "ge"]
        return tags + (["standard"] if rng.random() < 0.4 else [])
    return ["philips"] + (["standard"] if rng.random() < 0.5 else [])


def _geometry(
    rng: np.random.Generator,
    role: str,
    vendor: str,
    field: float,
    matrix: int,
    center: tuple[float, float, float],
    plane: str = "axial",
) -> Geometry:
    proto = protocol_for(vendor, role if role != "localizer" else "localizer", field)
    m = max(8, round(matrix * proto.matrix_factor))
    ps = round(_FOV_MM / m, 4)
    tilt = 0.0
    axis = "x"
    if role in ("T1W", "T2W", "GED1", "GED4", "DWI") and rng.random() < 0.25:
        tilt = round(float(rng.uniform(5, 15)) * float(rng.choice([-1, 1])), 1)
        axis = str(rng.choice(["x", "y"]))
    slices = int(rng.integers(16, 25))
    if role == "localizer":
        slices, ps = 3, round(450.0 / m, 4)
    spacing = proto.slice_thickness_mm + proto.slice_gap_mm
    return Geometry(
        m, m, slices, (ps, ps), spacing, proto.slice_thickness_mm, center, plane, axis, tilt
    )


def plan_parts(
    rng: np.random.Generator,
    uid: str,
    role: str,
    acq: float,
    vendor: str,
    field: float,
    matrix: int,
    center: tuple[float, float, float],
    multiphase: bool,
    delays: dict[str, float],
    bolus: float | None,
    i: int,
    seed: int,
) -> list[PartPlan]:
    def noise() -> int:
        return int(rng.integers(2**31))

    expected = role if role not in IGNORE_REASONS else None
    reason = IGNORE_REASONS.get(role)
    if role == "localizer":
        return [
            PartPlan(
                f"{uid}#{plane}",
                {"kind": "orientation", "value": plane},
                role,
                _geometry(rng, role, vendor, field, matrix, center, plane),
                acq,
                None,
                noise(),
                None,
                "localizer",
            )
            for plane in ("axial", "coronal", "sagittal")
        ]
    if role == "mrcp":
        geo = _geometry(rng, role, vendor, field, matrix, center, "coronal")
        return [PartPlan(uid, None, role, geo, acq, None, noise(), None, reason)]
    if role == "GED1" and multiphase and bolus is not None:
        geo = _geometry(rng, role, vendor, field, matrix, center)
        return [
            PartPlan(
                f"{uid}#tp{tp}",
                {"kind": "temporal_position", "value": tp},
                ph,
                geo,
                round(bolus + delays[ph], 3),
                None,
                noise(),
                ph,
                None,
                temporal_position=tp,
            )
            for tp, ph in enumerate(("GED1", "GED2", "GED3"), start=1)
        ]
    geo = _geometry(rng, role, vendor, field, matrix, center)
    b_values: list[float] | None = None
    if role in ("DWI",):
        low = 50.0 if vendor == "A" else 0.0
        b_values = [800.0] if vendor == "C" and rng.random() < 0.5 else [low, 800.0]
    return [PartPlan(uid, None, role, geo, round(acq, 3), b_values, noise(), expected, reason)]


def add_odd_part(series: SeriesPlan) -> None:
    """Append one slice with a different matrix (a stray re-acquisition) to ``series``."""
    main = series.parts[0]
    g = main.geometry
    rows = cols = max(8, g.rows * 3 // 4)
    ps = round(g.pixel_spacing[0] * g.rows / rows, 4)
    odd_geo = replace(g, rows=rows, columns=cols, slices=1, pixel_spacing=(ps, ps))
    main.part = {"kind": "matrix", "value": [g.rows, g.columns]}
    main.unit_id = series.uid
    series.parts.append(
        PartPlan(
            f"{series.uid}#odd",
            {"kind": "matrix", "value": [rows, cols]},
            main.role,
            odd_geo,
            main.acquisition_s,
            None,
            main.noise_seed + 1,
            None,
            "odd_matrix",
        )
    )
