"""Write one planned patient as DICOM Part 10 files (MR Image Storage, explicit VR LE).

Runs in worker processes: ``write_patient`` renders every planted volume from the phantom,
writes one file per slice (and per b-value / temporal position) under meaningless names in
shuffled order, and returns the patient's truth entry (series, geometry, checksums, files).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import MRImageStorage

from hepatokit.synthetic.mri_encode import SeriesEncoder
from hepatokit.synthetic.mri_phantom import array_sha256, phantom_volume
from hepatokit.synthetic.mri_plan_series import PartPlan, PatientPlan, SeriesPlan, uid_for
from hepatokit.synthetic.mri_protocols import SCANNERS, Scanner, protocol_for

__all__ = ["PHI_PRIVATE_CREATOR", "tm", "write_bytes", "write_patient"]

PHI_PRIVATE_CREATOR = "SITE PACS EXPORT 1.0"  # (0011,0010); (0011,1001) holds name + ID
_PRIVATE_B = {
    "siemens": (0x0019, "SIEMENS MR HEADER", 0x0C),
    "ge": (0x0043, "GEMS_PARM_01", 0x39),
    "philips": (0x2001, "Philips Imaging DD 001", 0x03),
}


def tm(seconds: float) -> str:
    """DICOM TM ``HHMMSS.ffffff`` of seconds since midnight (millisecond precision)."""
    ms = round(seconds * 1000)
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}{m:02d}{s:02d}.{ms:03d}000"


def write_bytes(path: Path, data: bytes) -> None:
    """Write via a temporary name + rename (readers never see a partial file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def _patient_base(plan: PatientPlan, sites: dict[str, Any]) -> Dataset:
    sc = SCANNERS[plan.scanner]
    phi = plan.phi
    site = sites["scanners"][plan.scanner]
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = phi.study_date
    ds.StudyTime = tm(phi.study_time_s)
    ds.AccessionNumber = phi.accession_number
    ds.Modality = "MR"
    ds.Manufacturer = sc.manufacturer
    ds.InstitutionName = phi.institution_name
    ds.InstitutionAddress = phi.institution_address
    ds.ReferringPhysicianName = phi.referring_physician
    ds.StationName = site["station_name"]
    ds.StudyDescription = "LIVER^ABDOMEN" if sc.vendor == "A" else "MR ABDOMEN LIVER"
    ds.PerformingPhysicianName = phi.performing_physician
    ds.OperatorsName = phi.operator
    ds.ManufacturerModelName = sc.model
    ds.PatientName = phi.name
    ds.PatientID = phi.patient_id
    ds.PatientBirthDate = phi.birth_date
    ds.PatientSex = phi.sex
    ds.PatientAge = f"{int(phi.study_date[:4]) - int(phi.birth_date[:4]):03d}Y"
    ds.PatientWeight = "72"
    ds.MagneticFieldStrength = sc.field_strength
    ds.ImagingFrequency = round(42.577478 * sc.field_strength, 6)
    ds.DeviceSerialNumber = site["device_serial_number"]
    ds.SoftwareVersions = sc.software
    ds.PatientPosition = "HFS"
    ds.StudyInstanceUID = plan.study_uid
    ds.StudyID = phi.study_id
    ds.FrameOfReferenceUID = plan.frame_uid
    ds.PositionReferenceIndicator = ""
    ds.StudyComments = phi.study_comment
    block = ds.private_block(0x0011, PHI_PRIVATE_CREATOR, create=True)
    block.add_new(0x01, "LO", phi.private_text)
    return ds


def _series_base(base: Dataset, plan: PatientPlan, series: SeriesPlan, sc: Scanner) -> Dataset:
    proto = protocol_for(sc.vendor, series.role, sc.field_strength)
    ds = Dataset()
    ds.update(base)
    ds.ImageType = list(proto.image_type)
    ds.SeriesTime = tm(series.series_s)
    ds.SeriesDescription = proto.series_description
    ds.ProtocolName = proto.protocol_name
    ds.SeriesInstanceUID = series.uid
    ds.SeriesNumber = series.number
    ds.ScanningSequence = proto.scanning_sequence.split("\\")
    ds.SequenceVariant = proto.sequence_variant.split("\\")
    ds.MRAcquisitionType = proto.acquisition_type
    if proto.sequence_name:
        ds.SequenceName = proto.sequence_name
    ds.EchoTime = proto.te_ms
    ds.RepetitionTime = proto.tr_ms
    ds.FlipAngle = proto.flip_deg
    ds.InPlanePhaseEncodingDirection = "COL"
    ds.EchoTrainLength = 1 if proto.scanning_sequence.startswith("GR") else 64
    if series.contrast:
        ds.ContrastBolusAgent = sc.contrast_agent
        ds.ContrastBolusRoute = "IV"
        ds.ContrastBolusVolume = 10
        if plan.bolus_in_header and plan.bolus_s is not None:
            ds.ContrastBolusStartTime = tm(plan.bolus_s)[:6]
    if series.comment:
        ds.ImageComments = series.comment
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = sc.bits_stored
    ds.HighBit = sc.bits_stored - 1
    ds.PixelRepresentation = 1 if sc.pixel_signed else 0
    if sc.rescale_slope is not None:
        ds.RescaleIntercept = 0
        ds.RescaleSlope = sc.rescale_slope
        ds.RescaleType = "normalized"
    return ds


def _set_b(ds: Dataset, tags: list[str], b: float) -> None:
    for tag in tags:
        if tag == "standard":
            ds.add_new(0x00189087, "FD", float(b))
            continue
        group, creator, elem = _PRIVATE_B["ge" if tag.startswith("ge") else tag]
        block = ds.private_block(group, creator, create=True)
        if tag == "siemens":
            block.add_new(elem, "IS", int(b))
        elif tag.startswith("ge"):
            first = int(b) + (1_000_000_000 if tag == "ge_1e9" else 0)
            block.add_new(elem, "IS", [first, 8, 0, 0])
        else:
            block.add_new(elem, "FL", float(b))
            block.add_new(0x04, "CS", "I" if b > 0 else "")


def write_patient(job: tuple[str, PatientPlan, dict[str, Any]]) -> dict[str, Any]:
    """Write every file of one patient below ``raw_root``; return its truth entry."""
    raw_root, plan, sites = Path(job[0]), job[1], job[2]
    sc = SCANNERS[plan.scanner]
    rng = np.random.default_rng([plan.seed, 99, plan.index])
    base = _patient_base(plan, sites)
    center_dir = sites["export_dirs"][sc.center]
    names: set[str] = set()
    units: list[dict[str, Any]] = []
    pending: list[tuple[str, bytes]] = []
    for series in plan.series:
        sds = _series_base(base, plan, series, sc)
        instance = 0
        for part in series.parts:
            files, pixels = [], _render(plan, series, part)
            g = part.geometry
            positions = g.positions()
            row, col, normal = g.directions()
            shared = Dataset()
            shared.update(sds)
            shared.AcquisitionNumber = part.temporal_position or 1
            shared.ImageOrientationPatient = row + col
            shared.SliceThickness = g.slice_thickness
            shared.SpacingBetweenSlices = g.slice_spacing
            shared.PixelSpacing = list(g.pixel_spacing)
            shared.Rows, shared.Columns = g.rows, g.columns
            if part.temporal_position is not None:
                shared.TemporalPositionIdentifier = part.temporal_position
                shared.NumberOfTemporalPositions = len(series.parts)
            per_b_name = bool(part.b_values) and sc.vendor == "A"
            if per_b_name and "SequenceName" in shared:
                del shared.SequenceName
            encoder = SeriesEncoder(shared, MRImageStorage)
            order = range(g.slices)
            if sc.vendor == "C":  # Philips numbers instances from the last slice
                order = range(g.slices - 1, -1, -1)
            for v, vol in enumerate(pixels["volumes"]):
                centre, width = int(vol.mean()) + 1, int(vol.max()) + 1
                for k in order:
                    instance += 1
                    ds = Dataset()
                    ds.InstanceNumber = instance
                    t = part.acquisition_s + (0.5 * k if series.role == "T2W" else 0.0)
                    ds.AcquisitionTime = ds.ContentTime = tm(t)
                    ds.ImagePositionPatient = positions[k]
                    ds.SliceLocation = round(float(np.dot(positions[k], normal)), 6)
                    if part.b_values:
                        _set_b(ds, series.b_tags, part.b_values[v])
                        if per_b_name:
                            ds.SequenceName = f"*ep_b{int(part.b_values[v])}t"
                    ds.WindowCenter, ds.WindowWidth = centre, width
                    le = vol.dtype.newbyteorder("<")  # DICOM explicit VR little endian
                    ds.add_new(0x7FE00010, "OW", np.ascontiguousarray(vol[:, :, k].T, le).tobytes())
                    sop = uid_for(plan.seed, plan.index, series.uid, instance)
                    rel = _file_name(rng, center_dir, plan.folders, names)
                    files.append(rel)
                    pending.append((rel, encoder.encode(ds, sop)))
            units.append(_unit_truth(plan, series, part, sc, files, pixels))
    for idx in rng.permutation(len(pending)):  # shuffled write order
        rel, data = pending[int(idx)]
        write_bytes(raw_root / rel, data)
    return {"units": units, "n_files": len(pending)}


def _render(plan: PatientPlan, series: SeriesPlan, part: PartPlan) -> dict[str, Any]:
    params: dict[str, Any] = {
        "patient_seed": plan.patient_seed,
        "stage": plan.stage,
        "role": part.role,
        "scanner": plan.scanner,
        "noise_seed": part.noise_seed,
    }
    if part.motion is not None:  # only when planted: other outputs stay byte-identical
        params["motion"] = part.motion
    if part.b_values:
        vols = [
            phantom_volume(
                {**params, "b_value": b, "noise_seed": part.noise_seed + v}, part.geometry
            )
            for v, b in enumerate(part.b_values)
        ]
        planted = vols[0] if len(vols) == 1 else np.stack(vols, axis=-1)
        params["b_values"] = list(part.b_values)
    else:
        vols = [phantom_volume({**params, "b_value": None}, part.geometry)]
        planted = vols[0]
        params["b_value"] = None
    return {
        "volumes": vols,
        "params": params,
        "sha256": array_sha256(planted),
        "shape": list(planted.shape),
        "dtype": str(planted.dtype),
    }


def _file_name(
    rng: np.random.Generator, center_dir: str, folders: list[str], used: set[str]
) -> str:
    while True:
        bucket = folders[1 + int(rng.integers(len(folders) - 1))]
        ext = ("", "", ".dcm", ".DCM", ".ima")[int(rng.integers(5))]
        name = f"{center_dir}/{folders[0]}/{bucket}/{rng.integers(16**15):015x}{ext}"
        if name not in used:
            used.add(name)
            return name


def _unit_truth(
    plan: PatientPlan,
    series: SeriesPlan,
    part: PartPlan,
    sc: Scanner,
    files: list[str],
    pixels: dict[str, Any],
) -> dict[str, Any]:
    proto = protocol_for(sc.vendor, series.role, sc.field_strength)
    bolus = plan.bolus_s
    after = None if bolus is None or not series.contrast else round(part.acquisition_s - bolus, 3)
    return {
        "unit_id": part.unit_id,
        "series_uid": series.uid,
        "part": part.part,
        "patient_id": plan.phi.patient_id,
        "series_number": series.number,
        "series_description": proto.series_description,
        "protocol_name": proto.protocol_name,
        "image_type": list(proto.image_type),
        "role": part.role,
        "expected_label": part.expected_label,
        "ignore_reason": part.ignore_reason,
        "repeat_of": part.repeat_of,
        "contrast_agent": sc.contrast_agent if series.contrast else None,
        "acquisition_time": tm(part.acquisition_s),
        "series_time": tm(series.series_s),
        "seconds_after_injection": after,
        "temporal_position": part.temporal_position,
        "b_values": part.b_values,
        "b_value_tags": series.b_tags or None,
        "te_ms": proto.te_ms,
        "tr_ms": proto.tr_ms,
        "flip_deg": proto.flip_deg,
        "n_instances": len(files),
        "files": files,
        "geometry": part.geometry.to_truth(),
        "pixels": {
            "shape": pixels["shape"],
            "dtype": pixels["dtype"],
            "sha256": pixels["sha256"],
            "rescale_slope": sc.rescale_slope or 1.0,
            "rescale_intercept": 0.0,
            "params": pixels["params"],
        },
    }
