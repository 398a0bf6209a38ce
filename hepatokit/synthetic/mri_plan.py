"""Planning of the synthetic MRI studies: who is scanned where, which series, when.

Everything random is drawn here, in the parent process, from the seed; the plans are small
picklable dataclasses that worker processes turn into DICOM files (``mri_dicom``). Planted
anomalies are assigned so that even a handful of patients covers every one of them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from hepatokit.synthetic.mri_plan_phi import PatientPHI, make_patient_phi, make_sites
from hepatokit.synthetic.mri_plan_series import (
    PartPlan,
    PatientPlan,
    SeriesPlan,
    add_odd_part,
    b_tags_for,
    plan_parts,
    uid_for,
)
from hepatokit.synthetic.mri_protocols import (
    CONTRAST_ROLES,
    PHASE_WINDOWS_S,
    SCANNERS,
    Scanner,
)

__all__ = ["PartPlan", "PatientPlan", "SeriesPlan", "plan_patients", "uid_for"]

#: per vendor: P(S1..S4), LiFS training counts (A: 55/25/12/38; B1+B2: 42/39/20/129)
_STAGE_P = {
    "A": (0.42, 0.19, 0.09, 0.30),
    "B": (0.20, 0.19, 0.10, 0.51),
    "C": (0.30, 0.22, 0.13, 0.35),
}


def _allocate(n: int, shares: list[float]) -> list[int]:
    raw = [n * s for s in shares]
    counts = [int(r) for r in raw]
    order = sorted(range(len(raw)), key=lambda i: raw[i] - counts[i], reverse=True)
    for i in order[: n - sum(counts)]:
        counts[i] += 1
    if n >= len(shares):
        for i, c in enumerate(counts):
            if c == 0:
                counts[int(np.argmax(counts))] -= 1
                counts[i] = 1
    return counts


def _pick(rng: np.random.Generator, pool: list[int], frac: float, minimum: int = 1) -> set[int]:
    if not pool:
        return set()
    k = min(len(pool), max(minimum, round(frac * len(pool))))
    return {int(i) for i in rng.choice(pool, size=k, replace=False)}


def plan_patients(
    n: int, seed: int, *, matrix: int = 64
) -> tuple[list[PatientPlan], dict[str, Any]]:
    """Plan ``n`` patients (scanner, stage, PHI, series, anomalies) from ``seed``."""
    rng = np.random.default_rng([seed, 1729])
    keys = list(SCANNERS)
    counts = _allocate(n, [SCANNERS[k].share for k in keys])
    scanners = [k for k, c in zip(keys, counts, strict=True) for _ in range(c)]
    rng.shuffle(scanners)
    stages = [int(rng.choice(4, p=_STAGE_P[SCANNERS[s].vendor])) + 1 for s in scanners]
    if n >= 4:  # every stage present, taking from the most common one
        for st in (1, 2, 3, 4):
            if st not in stages:
                common = max(set(stages), key=stages.count)
                stages[len(stages) - 1 - stages[::-1].index(common)] = st
    sites = make_sites(rng)
    everyone = list(range(n))
    non_contrast = _pick(rng, everyone, 0.05, minimum=1 if n >= 8 else 0)
    contrast = [i for i in everyone if i not in non_contrast]
    no_bolus = _pick(rng, contrast, 0.2)
    repeat = _pick(rng, everyone, 1 / 12)
    odd = _pick(rng, [i for i in everyone if i not in repeat] or everyone, 0.0)
    ge = [i for i in everyone if SCANNERS[scanners[i]].vendor == "B"]
    multiphase = _pick(rng, [i for i in ge if i in contrast], 0.5)
    plain = [i for i in everyone if i not in non_contrast | repeat | odd | multiphase]
    missing_one = _pick(rng, plain, 0.2)
    in_gap = _pick(rng, contrast, 0.3)
    mrcp = _pick(rng, everyone, 0.3)
    subtraction = _pick(rng, contrast, 0.4)
    plans = []
    for i in everyone:
        anomalies = [
            name
            for name, group in (
                ("non_contrast", non_contrast),
                ("no_bolus_start_time", no_bolus),
                ("repeated_series", repeat),
                ("odd_matrix_slice", odd),
                ("ge_multiphase", multiphase),
                ("missing_sequence", missing_one),
                ("t2_dwi_after_injection", in_gap),
                ("mrcp", mrcp),
                ("subtraction", subtraction),
            )
            if i in group
        ]
        plans.append(_plan_one(i, seed, scanners[i], stages[i], anomalies, sites, matrix))
    # at least one oblique and one axial T2W in the whole set (dcm2niix tests need both)
    t2 = [p for p in plans for s in p.series if s.role == "T2W"]
    if t2 and not any(s.parts[0].geometry.tilt_deg for p in plans for s in p.series):
        _tilt(next(s for s in t2[0].series if s.role == "T2W"), 12.0)
    return plans, sites


def _tilt(series: SeriesPlan, degrees: float) -> None:
    for part in series.parts:
        part.geometry = replace(part.geometry, tilt_axis="x", tilt_deg=degrees)


def _hms(seconds: float) -> float:
    return round(seconds, 3)


@dataclass(frozen=True)
class _Timeline:
    """When each series of a study is acquired (seconds of the day), sorted by time."""

    roles: list[tuple[str, float]]
    delays: dict[str, float]  # contrast phase → seconds after the bolus
    bolus: float | None  # bolus start, None without contrast
    missing: list[str]  # sequences the study lacks


def _plan_one(
    i: int,
    seed: int,
    scanner_key: str,
    stage: int,
    anomalies: list[str],
    sites: dict[str, Any],
    matrix: int,
) -> PatientPlan:
    """Plan patient ``i``: PHI, acquisition timeline, series and their parts, folders."""
    sc = SCANNERS[scanner_key]
    rng = np.random.default_rng([seed, 31337, i])
    patient_seed = int(rng.integers(2**31))
    phi = make_patient_phi(rng, i, sc.center, sites)
    study_uid = uid_for(seed, i, "study")
    center = (float(rng.uniform(-8, 8)), float(rng.uniform(-8, 8)), float(rng.uniform(5, 25)))
    timeline = _timeline(rng, phi.study_time_s, anomalies, sc.vendor)
    series = _plan_series(rng, timeline, sc=sc, phi=phi, i=i, seed=seed, matrix=matrix,
                          center=center, multiphase="ge_multiphase" in anomalies)  # fmt: skip
    _mark_repeats(series)
    if "odd_matrix_slice" in anomalies:
        role = "T2W" if "T2W" not in timeline.missing else "T1W"
        add_odd_part(next(s for s in series if s.role == role))
    n_folders = int(rng.integers(3, 6))
    folders = [f"{rng.integers(16**8):08x}" for _ in range(n_folders)]
    return PatientPlan(
        index=i,
        seed=seed,
        patient_seed=patient_seed,
        scanner=scanner_key,
        stage=stage,
        phi=phi,
        study_uid=study_uid,
        frame_uid=uid_for(seed, i, "frame"),
        bolus_s=timeline.bolus,
        bolus_in_header=timeline.bolus is not None and "no_bolus_start_time" not in anomalies,
        folders=folders,
        series=series,
        anomalies=anomalies,
        missing=sorted(set(timeline.missing)),
    )


def _timeline(rng: np.random.Generator, t0: float, anomalies: list[str], vendor: str) -> _Timeline:
    """The study's acquisitions from ``t0`` (study time): bolus, contrast phases inside their
    windows, planted anomalies (late T2W/DWI, repeat, MRCP, subtraction, a missing one)."""
    contrast = "non_contrast" not in anomalies
    bolus = t0 + 600 + float(rng.uniform(0, 90)) if contrast else None
    roles: list[tuple[str, float]] = [("localizer", t0), ("T1W", t0 + 220)]
    t2_dwi_late = contrast and "t2_dwi_after_injection" in anomalies
    # gadoxetic protocols often fill the wait before the hepatobiliary phase with T2W/DWI
    t2_t = bolus + 420 if t2_dwi_late and bolus is not None else t0 + 90
    dwi_t = bolus + 640 if t2_dwi_late and bolus is not None else t0 + 330
    roles += [("T2W", t2_t), ("DWI", dwi_t)]
    if "repeated_series" in anomalies:
        roles.append(("T2W", t2_t + 150))
    delays: dict[str, float] = {}
    if bolus is not None:
        for ph in CONTRAST_ROLES:
            lo, hi = PHASE_WINDOWS_S[ph]
            delays[ph] = round(float(rng.uniform(lo + 1, hi - 1)), 1)
            roles.append((ph, bolus + delays[ph]))
        if "subtraction" in anomalies:
            roles.append(("subtraction", bolus + delays["GED1"]))
    if "mrcp" in anomalies:
        roles.append(("mrcp", (bolus or t0 + 400) + 300))
    missing: list[str] = []
    if "missing_sequence" in anomalies:
        options = ["DWI", "T2W", "T1W"] + (["GED4", "GED2"] if contrast else [])
        missing = [str(rng.choice(options))]
    if not contrast:
        missing += list(CONTRAST_ROLES)
    roles = [(r, t) for r, t in roles if r not in missing]
    # GE archives the ADC map for ~70 % of studies, the others always
    if "DWI" not in missing and (vendor != "B" or rng.random() < 0.7):
        roles.append(("adc", dwi_t))
    roles.sort(key=lambda rt: (rt[1], rt[0]))
    return _Timeline(roles, delays, bolus, missing)


def _plan_series(
    rng: np.random.Generator,
    timeline: _Timeline,
    *,
    sc: Scanner,
    phi: PatientPHI,
    i: int,
    seed: int,
    matrix: int,
    center: tuple[float, float, float],
    multiphase: bool,
) -> list[SeriesPlan]:
    """The series of patient ``i``'s timeline, numbered as the vendor numbers them; a GE
    multiphase series holds GED2 and GED3 as parts of GED1."""
    bolus, delays = timeline.bolus, timeline.delays
    series: list[SeriesPlan] = []
    number = 0
    for role, acq in timeline.roles:
        if multiphase and role in ("GED2", "GED3"):
            continue  # parts of the GED1 multiphase series
        number += 1
        snum = number * 100 + 1 if sc.vendor == "C" else number
        if role == "adc" and sc.vendor == "B":
            snum = series[-1].number * 100 if series else 100
        uid = uid_for(seed, i, "series", snum, role)
        parts = plan_parts(rng, uid, role, acq, sc.vendor, sc.field_strength, matrix, center,
                           multiphase, delays, bolus, i, seed)  # fmt: skip
        series_s = acq + (5.0 if role in ("adc", "subtraction") else 0.0)
        if role == "subtraction":
            series_s = bolus + delays["GED3"] + 40 if bolus is not None else acq
        b_tags = b_tags_for(rng, sc.vendor) if role in ("DWI", "adc") else []
        comment = None
        if role == "T2W" and rng.random() < 0.7:
            comment = f"Pt {phi.name.replace('^', ' ')} MRN {phi.patient_id}: liver protocol"
        contrast_flag = role in CONTRAST_ROLES or role == "subtraction"
        series.append(
            SeriesPlan(uid, snum, role, _hms(series_s), contrast_flag, parts, b_tags, comment)
        )
    return series


def _mark_repeats(series: list[SeriesPlan]) -> None:
    """Repeated series: keep the later one (documented rule: latest series time, then highest
    number); each earlier one is ``repeat_of`` it and expects no label."""
    for role in ("T2W",):
        same = [s for s in series if s.role == role]
        if len(same) > 1:
            keep = max(same, key=lambda s: (s.series_s, s.number))
            for s in same:
                if s is not keep:
                    for p in s.parts:
                        p.expected_label, p.ignore_reason = None, "repeat"
                        p.repeat_of = keep.parts[0].unit_id
