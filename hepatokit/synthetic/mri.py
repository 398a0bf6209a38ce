"""Synthetic multi-center liver MRI studies (raw DICOM) with planted ground truth.

``generate_mri_studies(out, patients=36, seed=0)`` writes::

    out/dicom/…               the raw DICOM tree (the RAW a curation is pointed at)
    out/clinical_labels.csv   patient_id, stage (S3 / 3 / F3 notations), biopsy_date
    out/readers.csv           patient_id, reader_1, reader_2 (7-point scores)
    out/truth.json            everything planted (schema: docs/synthetic_mri.md)

Same seed → byte-identical files. Patients are written in parallel
(:func:`hepatokit.parallel.map_items`), one patient at a time per worker, so memory stays
flat for any number of patients.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hepatokit.atomic import write_json_atomic
from hepatokit.errors import DataFormatError
from hepatokit.parallel import map_items
from hepatokit.synthetic.mri_dicom import PHI_PRIVATE_CREATOR, tm, write_patient
from hepatokit.synthetic.mri_extras import write_bad_files, write_label_csvs
from hepatokit.synthetic.mri_motion import plant_offsets
from hepatokit.synthetic.mri_plan import PatientPlan, plan_patients
from hepatokit.synthetic.mri_protocols import (
    IGNORE_REASONS,
    LIFS_SEQUENCES,
    PHASE_WINDOWS_S,
    SCANNERS,
)

__all__ = ["MRIStudiesSummary", "generate_mri_studies"]

log = logging.getLogger("hepatokit.synthetic.mri")
TRUTH_SCHEMA_VERSION = 1

RULES = {
    "raw_root": "paths in truth.json are relative to out/dicom (the RAW root)",
    "affine": "affine_lps maps voxel (i=column, j=row, k=slice along cross(row_dir, col_dir)) "
    "to DICOM LPS mm; RAS = diag(-1, -1, 1, 1) @ affine_lps",
    "pixel_layout": "planted arrays are [i, j, k] (+[v] for 4D DWI, v over ascending b_values);"
    " PixelData of slice k is array[:, :, k].T; values are the stored integers "
    "(real = stored * rescale_slope + rescale_intercept)",
    "repeat": "when a subject has a sequence more than once, keep the series with the latest "
    "SeriesTime (ties: highest SeriesNumber); each other one is excluded as repeat_of the kept",
    "phase_reference": "phases are timed from ContrastBolusStartTime; when it is absent, from "
    "the AcquisitionTime of the first post-contrast (ContrastBolusAgent) acquisition, which is "
    "GED1 (arterial)",
    "phase_windows_s": {k: list(v) for k, v in PHASE_WINDOWS_S.items()},
    "multiphase": "a GE multiphase series holds GED1-GED3 as TemporalPositionIdentifier 1-3 "
    "(also AcquisitionNumber); each temporal position is its own unit",
    "split": "a unit with part != null is one part of a series that must be split "
    "(by orientation, temporal_position or matrix); units whose ignore_reason is odd_matrix "
    "are a stray slice with another matrix: split off, never merged into the main volume",
    "dwi_b_tags": "standard=(0018,9087) FD; siemens=(0019,100C) IS under 'SIEMENS MR HEADER'; "
    "ge=(0043,1039) IS [b,8,0,0] under 'GEMS_PARM_01'; ge_1e9: first value b + 1000000000; "
    "philips=(2001,1003) FL under 'Philips Imaging DD 001'",
    "ignore_reasons": IGNORE_REASONS,
}

MOTION_RULE = (
    "units[*].pixels.params.motion.matrix_lps (M, LPS mm) moves the unit's anatomy: its voxel at "
    "world x shows the phantom at inv(M) x; fixed unit R, moving unit S are aligned by "
    "M_S @ inv(M_R) (fixed point -> moving point, LPS); the DICOM geometry does not show M"
)


@dataclass
class MRIStudiesSummary:
    """What :func:`generate_mri_studies` wrote."""

    out: Path
    patients: int
    files: int
    series: int
    bad_files: int
    by_scanner: dict[str, int] = field(default_factory=dict)

    def __str__(self) -> str:
        scanners = ", ".join(f"{k} {v}" for k, v in sorted(self.by_scanner.items()))
        return (
            f"{self.patients} MRI studies ({scanners}), {self.series} series units, "
            f"{self.files} files incl. {self.bad_files} bad inputs → {self.out}"
        )


def generate_mri_studies(
    out: Path | str,
    *,
    patients: int = 36,
    seed: int = 0,
    workers: int | None = None,
    matrix: int = 64,
    sequence_offsets: tuple[float, float] | None = None,
) -> MRIStudiesSummary:
    """Write synthetic multi-center liver MRI DICOM studies with planted truth.

    Parameters
    ----------
    out
        Output folder (created); ``out/dicom`` is the raw tree.
    patients
        Number of imaged patients (≥ 1; ≥ 8 plants every anomaly).
    seed
        Same seed → byte-identical files.
    workers
        Processes (default: all usable CPUs; 1 runs inline).
    matrix
        In-plane matrix of the anatomical series (DWI uses 3/4 of it); slices are 16–24.
    sequence_offsets
        ``(max_degrees, max_mm)``: plant a rigid offset of the anatomy in every series part
        (a breath-hold's motion; :mod:`hepatokit.synthetic.mri_motion`), recorded in truth.json
        as ``units[*].pixels.params.motion``. Default None: none planted (and the output is
        byte-identical to a run without the option).
    """
    if patients < 1:
        raise DataFormatError(f"patients must be ≥ 1, got {patients}", hint="use --patients 36")
    out = Path(out)
    raw_root = out / "dicom"
    offsets = None if sequence_offsets is None else [float(v) for v in sequence_offsets]
    done = _existing(out, patients=patients, seed=seed, matrix=matrix, offsets=offsets)
    if done is not None:
        return done
    _prepare(out)
    plans, sites = plan_patients(patients, seed, matrix=matrix)
    if offsets is not None:
        plant_offsets(plans, seed, offsets[0], offsets[1])
    erng = np.random.default_rng([seed, 555])
    sites["export_dirs"] = {c: f"{erng.integers(16**6):06x}" for c in sorted(sites["centers"])}
    jobs = [(str(raw_root), p, sites) for p in plans]
    results = map_items(
        write_patient, jobs, workers=workers, chunksize=1, description="synth mri patients"
    )
    failed = [r.error for r in results if not r.ok]
    if failed:
        raise DataFormatError(f"{len(failed)} patient(s) failed: {failed[0]}")
    written = [r.value for r in results if r.value is not None]
    template = written[0]["units"][0]["files"][0]
    bad = write_bad_files(raw_root, plans[0], template, seed)
    problems, labels = write_label_csvs(out, plans, seed)
    truth = _truth(plans, written, sites, bad, problems, labels, seed, matrix)
    if offsets is not None:
        truth["sequence_offsets"] = {"max_degrees": offsets[0], "max_mm": offsets[1],
                                     "rule": MOTION_RULE}  # fmt: skip
    with open(out / "clinical_labels.csv", encoding="utf-8", newline="") as fh:
        truth["phi"]["label_csv_dates"] = sorted({r["biopsy_date"] for r in csv.DictReader(fh)})
    write_json_atomic(out / "truth.json", truth)
    (out / _INCOMPLETE).unlink()
    return _summary(out, truth)


_INCOMPLETE = ".synth-mri-incomplete"  # present while a run writes OUT; gone when it finished


def _summary(out: Path, truth: dict[str, Any]) -> MRIStudiesSummary:
    return MRIStudiesSummary(
        out=out,
        patients=int(truth["n_patients"]),
        files=int(truth["file_count"]["total"]),
        series=len(truth["units"]),
        bad_files=len(truth["bad_files"]),
        by_scanner=dict(Counter(p["scanner"] for p in truth["patients"])),
    )


def _existing(
    out: Path, *, patients: int, seed: int, matrix: int, offsets: list[float] | None
) -> MRIStudiesSummary | None:
    """The summary of a finished run with the same parameters in ``out`` (then nothing to do)."""
    truth_path = out / "truth.json"
    if (out / _INCOMPLETE).exists() or not truth_path.is_file():
        return None
    try:
        truth = json.loads(truth_path.read_text(encoding="utf-8"))
    except ValueError:
        return None
    same = (truth.get("schema_version"), truth.get("n_patients"), truth.get("seed"),
            truth.get("matrix")) == (TRUTH_SCHEMA_VERSION, patients, seed, matrix)  # fmt: skip
    planted = truth.get("sequence_offsets")
    same &= offsets == (None if planted is None else [planted["max_degrees"], planted["max_mm"]])
    n_files = sum(len(fs) for _, _, fs in os.walk(out / "dicom"))
    if same and n_files == truth["file_count"]["total"]:
        log.info("%s already holds these synthetic MRI studies; nothing to do", out)
        return _summary(out, truth)
    return None


def _prepare(out: Path) -> None:
    """Empty ``out/dicom`` if an earlier run of this generator wrote it; refuse foreign data."""
    raw_root = out / "dicom"
    ours = (out / _INCOMPLETE).exists() or (out / "truth.json").is_file()
    if raw_root.is_dir() and any(raw_root.iterdir()):
        if not ours:
            raise DataFormatError(
                "the folder already holds a dicom/ tree that synth mri did not write",
                path=raw_root,
                hint="choose an empty or new output folder",
            )
        log.info("removing the previous synthetic tree in %s", raw_root)
        shutil.rmtree(raw_root)
    raw_root.mkdir(parents=True, exist_ok=True)
    (out / _INCOMPLETE).write_text("synth mri is writing this folder\n", encoding="utf-8")


def _truth(
    plans: list[PatientPlan],
    written: list[dict[str, Any]],
    sites: dict[str, Any],
    bad: list[dict[str, Any]],
    problems: list[dict[str, Any]],
    labels: dict[str, dict[str, Any]],
    seed: int,
    matrix: int,
) -> dict[str, Any]:
    """The content of ``truth.json`` (schema: docs/synthetic_mri.md)."""
    patients, units = [], []
    for plan, res in zip(plans, written, strict=True):
        units.extend(res["units"])
        patients.append(_patient_truth(plan, res, labels[plan.phi.patient_id]))
    n_dicom = sum(len(u["files"]) for u in units)
    return {
        "schema_version": TRUTH_SCHEMA_VERSION,
        "generator": "hepatokit.synthetic.mri.generate_mri_studies",
        "seed": seed,
        "matrix": matrix,
        "n_patients": len(plans),
        "rules": RULES,
        "sequences": list(LIFS_SEQUENCES),
        "scanners": _scanners_truth(),
        "patients": patients,
        "units": units,
        "repeats": _repeats(units),
        "bad_files": bad,
        "labels": {
            "csv": "clinical_labels.csv",
            "readers_csv": "readers.csv",
            "problems": problems,
        },
        "phi": _phi(plans, sites),
        "file_count": {"total": n_dicom + len(bad), "image_instances": n_dicom, "bad": len(bad)},
    }


def _patient_truth(
    plan: PatientPlan, written: dict[str, Any], labels: dict[str, Any]
) -> dict[str, Any]:
    """One patient's entry: site, stage, sequences present, contrast timing, anomalies."""
    sc = SCANNERS[plan.scanner]
    present = sorted(
        {u["expected_label"] for u in written["units"] if u["expected_label"]},
        key=LIFS_SEQUENCES.index,
    )
    return {
        "patient_id": plan.phi.patient_id,
        "index": plan.index,
        "center": sc.center,
        "vendor": sc.vendor,
        "manufacturer": sc.manufacturer,
        "model": sc.model,
        "scanner": sc.key,
        "field_strength": sc.field_strength,
        "domain": "OOD" if sc.ood else "ID",
        "stage": f"S{plan.stage}",
        "patient_seed": plan.patient_seed,
        "study_instance_uid": plan.study_uid,
        "sequences_present": present,
        "sequences_missing": [s for s in LIFS_SEQUENCES if s not in present],
        "contrast": plan.bolus_s is not None,
        "bolus_start_time": None if plan.bolus_s is None else tm(plan.bolus_s)[:6],
        "bolus_start_time_in_header": plan.bolus_in_header,
        "anomalies": plan.anomalies,
        "n_files": written["n_files"],
        **labels,
    }


def _scanners_truth() -> dict[str, dict[str, Any]]:
    """The scanners of the set, by key."""
    return {
        k: {
            "center": s.center,
            "vendor": s.vendor,
            "manufacturer": s.manufacturer,
            "model": s.model,
            "field_strength": s.field_strength,
            "domain": "OOD" if s.ood else "ID",
            "contrast_agent": s.contrast_agent,
            "rescale_slope": s.rescale_slope or 1.0,
        }
        for k, s in SCANNERS.items()
    }


def _repeats(units: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The units planted as repeats, each with the unit kept in its place."""
    return [
        {
            "unit_id": u["unit_id"],
            "series_uid": u["series_uid"],
            "patient_id": u["patient_id"],
            "role": u["role"],
            "kept": u["repeat_of"],
        }
        for u in units
        if u["ignore_reason"] == "repeat"
    ]


def _phi(plans: list[PatientPlan], sites: dict[str, Any]) -> dict[str, Any]:
    per_patient = {p.phi.patient_id: p.phi.as_dict() for p in plans}
    values: set[str] = set()  # only values actually written into the DICOM files
    for p in plans:
        values.update(p.phi.scan_values())
        values.update([p.phi.study_comment, p.phi.private_text, p.phi.institution_name,
                       p.phi.institution_address])  # fmt: skip
        scanner = sites["scanners"][p.scanner]
        values.update([scanner["station_name"], scanner["device_serial_number"]])
    dates = sorted({d for p in plans for d in (p.phi.birth_date, p.phi.study_date)})
    return {
        "scan_values": sorted(values),
        "dates": dates,
        "study_times": sorted({tm(p.phi.study_time_s) for p in plans}),
        "patients": per_patient,
        "sites": {"centers": sites["centers"], "scanners": sites["scanners"]},
        "private_tag": {
            "group": "0x0011",
            "creator": PHI_PRIVATE_CREATOR,
            "element": "0x01",
            "tag": "(0011,1001)",
            "content": "'<PatientName> / <PatientID>'",
        },
        "free_text_tags": [
            "ImageComments (T2W series, most patients)",
            "StudyComments",
            "SR TextValue",
            "DICOMDIR PATIENT record",
        ],
    }
