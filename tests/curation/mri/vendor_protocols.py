"""Liver protocols in each vendor family's naming and tag habits, written as small DICOM series
with planted truth (the label each series must get), for the series-recognition tests.

Vendor habits modelled: Siemens (HASTE, ep2d_diff with the b-value in (0019,100C), VIBE Dixon
dynamics as W / F / in / opp series per phase), GE (SSFSE, DWI with (0043,1039), LAVA-Flex
multiphase in one series by TemporalPositionIdentifier, MP-RAGE in research mode ``RM`` with an
inversion time), Philips (TSE SPAIR, DWI with (2001,1003), mDIXON water dynamics), United
Imaging (FSE, DWI with (0065,1009), quick3d dynamics named by phase). Variants strip what
anonymisers strip: ContrastBolusStartTime, FlipAngle, and every contrast tag.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

__all__ = ["VARIANTS", "VENDORS", "SeriesSpec", "protocol", "write_study"]

INJECTION_S = 36000.0  # 10:00:00
#: phase → seconds after injection of its acquisition
PHASE_T = {"pre": -90.0, "GED1": 30.0, "GED2": 75.0, "GED3": 200.0, "GED4": 1200.0}
VARIANTS = ("full", "no_bolus_time", "no_flip", "no_flip_no_bolus_time", "no_contrast_tags")
VENDORS = ("siemens", "ge", "philips", "uih")


@dataclass
class SeriesSpec:
    key: str
    description: str
    truth: str | None  # label, or None: must not be labelled (a repeat / other)
    scanning: str
    te: float
    tr: float
    flip: float | None = None
    ti: float | None = None
    image_type: str = "ORIGINAL\\PRIMARY\\M\\ND"
    b_values: tuple[float, ...] = ()
    phase: str | None = None  # contrast timing (None: before injection, not dynamic)
    t: float = INJECTION_S - 1200.0
    temporal: list[tuple[int, str, str | None]] = field(default_factory=list)  # (tp, phase, truth)


def _dyn(key: str, desc: str, phase: str, truth: str | None, **kw: object) -> SeriesSpec:
    return SeriesSpec(
        key,
        desc,
        truth,
        "GR",
        phase=phase,
        t=INJECTION_S + PHASE_T[phase],
        **kw,  # type: ignore[arg-type]
    )


def protocol(vendor: str) -> list[SeriesSpec]:
    """The series of one study of ``vendor`` with the label each must get."""
    pre_label = {"pre": "T1W"}
    if vendor == "siemens":
        out = [
            SeriesSpec("t2", "t2_haste_tra_mbh", "T2W", "SE", 92, 1400, 160),
            SeriesSpec("dwi", "ep2d_diff_b50_400_800_tra", "DWI", "EP", 60, 5000, 90,
                       b_values=(50, 400, 800)),
            SeriesSpec("loc", "localizer", None, "GR", 1.2, 3.4, 15,
                       image_type="ORIGINAL\\PRIMARY\\LOCALIZER"),
        ]  # fmt: skip
        for phase in PHASE_T:
            for kind, dixon in (("W", "WATER"), ("F", "FAT"), ("in", "IN_PHASE"), ("opp", "OPP")):
                truth = pre_label.get(phase, phase) if kind == "W" else None
                out.append(
                    _dyn(f"vibe_{phase}_{kind}", f"t1_vibe_dixon_tra_bh_dyn_{kind}", phase, truth,
                         te=2.39, tr=5.2, flip=9, image_type=f"ORIGINAL\\PRIMARY\\DIXON\\{dixon}")
                )  # fmt: skip
        return out
    if vendor == "ge":
        lava = _dyn("lava", "Ax LAVA-Flex MPH", "pre", None, te=1.7, tr=3.9, flip=12)
        lava.temporal = [
            (1, "pre", "T1W"),
            (2, "GED1", "GED1"),
            (3, "GED2", "GED2"),
            (4, "GED3", "GED3"),
        ]
        return [
            SeriesSpec("t2", "Ax SSFSE T2", "T2W", "SE", 85, 1200, 90),
            SeriesSpec("dwi", "Ax DWI b800", "DWI", "EP", 70, 6000, 90, b_values=(0, 800)),
            lava,
            _dyn("hbp", "Ax LAVA-Flex 20min", "GED4", "GED4", te=1.7, tr=3.9, flip=12),
            SeriesSpec("cal", "ASSET cal", None, "GR", 1.0, 150, 30),
        ]
    if vendor == "philips":
        out = [
            SeriesSpec("t2", "T2W_TSE_SPAIR", "T2W", "SE", 80, 1600, 90),
            SeriesSpec("dwi", "DWI_b0_800", "DWI", "SE\\EP", 65, 3000, 90, b_values=(0, 800)),
        ]
        for phase in PHASE_T:
            out.append(
                _dyn(f"mdixon_{phase}", "mDIXON_W_dyn", phase, pre_label.get(phase, phase),
                     te=1.8, tr=3.9, flip=10, image_type="ORIGINAL\\PRIMARY\\W\\DIXON")
            )  # fmt: skip
        return out
    if vendor == "uih":
        names = {"pre": "pre", "GED1": "art", "GED2": "pv", "GED3": "delay", "GED4": "hbp"}
        out = [
            SeriesSpec("t2", "t2_fse_tra_fs", "T2W", "SE", 85, 3000, 110),
            SeriesSpec("dwi", "dwi_b50_800", "DWI", "EP", 62, 3500, 90, b_values=(50, 800)),
        ]
        for phase in PHASE_T:
            out.append(
                _dyn(f"q3d_{phase}", f"t1_quick3d_tra_{names[phase]}", phase,
                     pre_label.get(phase, phase), te=1.5, tr=3.6, flip=10)
            )  # fmt: skip
        return out
    if vendor == "ge_mprage":
        return [
            SeriesSpec("mprage", "Sag MPRAGE", "T1W", "RM", 3.0, 7.2, 8, ti=900),
            SeriesSpec("t2", "Ax FRFSE T2", "T2W", "SE", 100, 4000, 90),
        ]
    raise ValueError(vendor)


_MANUFACTURER = {
    "siemens": "SIEMENS",
    "ge": "GE MEDICAL SYSTEMS",
    "ge_mprage": "GE MEDICAL SYSTEMS",
    "philips": "Philips Medical Systems",
    "uih": "UIH",
}


#: planted identifying values (non-ASCII included): none may reach a published byte
_NAMES = {"siemens": "Müllersohn", "ge": "Ødegård", "ge_mprage": "Ødegård", "philips": "Dvořák",
          "uih": "王小东"}  # fmt: skip
_INSTITUTIONS = {
    "siemens": "Klinikum Müllersohn-Süd",
    "ge": "Hôpital Saint-Éloi",
    "ge_mprage": "Hôpital Saint-Éloi",
    "philips": "Nemocnice Na Františku",
    "uih": "复旦大学附属中山医院",
}


def _tm(seconds: float) -> str:
    seconds %= 86400
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{int(h):02d}{int(m):02d}{s:09.6f}"


def _b_value(ds: Dataset, vendor: str, b: float) -> None:
    if vendor == "siemens":
        ds.private_block(0x0019, "SIEMENS MR HEADER", create=True).add_new(0x0C, "IS", str(int(b)))
    elif vendor.startswith("ge"):
        block = ds.private_block(0x0043, "GEMS_PARM_01", create=True)
        block.add_new(0x39, "IS", [str(1000000000 + int(b)), "8", "0", "0"])
    elif vendor == "philips":
        ds.private_block(0x2001, "Philips Imaging DD 001", create=True).add_new(0x03, "FL", b)
    else:
        ds.private_block(0x0065, "Uih", create=True).add_new(0x09, "FD", b)


def write_study(root: Path, vendor: str, variant: str, patient: str) -> dict[str, str | None]:
    """Write one study under ``root/patient``; returns ``relative file path → truth label``."""
    study, truth = generate_uid(), {}
    for n, spec in enumerate(protocol(vendor), start=1):
        uid = generate_uid()
        volumes = spec.temporal or [(None, spec.phase, spec.truth)]
        bvals = spec.b_values or (None,)
        image = 0
        for tp, phase, label in volumes:
            t = INJECTION_S + PHASE_T[phase] if phase else spec.t
            post = phase not in (None, "pre")
            for b in bvals:
                for z in range(3):
                    ds = _header(vendor, variant, patient, study, uid, n, spec, t, post, z)
                    image += 1
                    ds.InstanceNumber = image  # unique in the series, as scanners number
                    if tp is not None:
                        ds.TemporalPositionIdentifier = tp
                        ds.AcquisitionNumber = tp
                    if b is not None:
                        _b_value(ds, vendor, b)
                    rel = f"{patient}/{n:02d}_{spec.key}/tp{tp}_b{b}_{z}.dcm"
                    (root / rel).parent.mkdir(parents=True, exist_ok=True)
                    ds.save_as(root / rel, enforce_file_format=True)
                    truth[rel] = label
    return truth


def _header(
    vendor: str,
    variant: str,
    patient: str,
    study: str,
    series_uid: str,
    number: int,
    spec: SeriesSpec,
    t: float,
    post: bool,
    z: int,
) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.4"
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.4"
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series_uid
    ds.SpecificCharacterSet = "ISO_IR 192"  # UTF-8: names and institutions in any script
    ds.PatientID, ds.Modality = patient, "MR"
    ds.PatientName = f"{patient.split('-')[0].upper()}^{_NAMES[vendor]}"
    ds.Manufacturer = _MANUFACTURER[vendor]
    ds.InstitutionName = _INSTITUTIONS[vendor]
    ds.MagneticFieldStrength = 3
    ds.SeriesNumber, ds.InstanceNumber = number, z + 1
    ds.SeriesDescription = ds.ProtocolName = spec.description
    ds.ImageType = spec.image_type.split("\\")
    ds.ScanningSequence = spec.scanning.split("\\")
    ds.SequenceVariant = "SP"
    ds.EchoTime, ds.RepetitionTime = spec.te, spec.tr
    if spec.flip is not None and "no_flip" not in variant:
        ds.FlipAngle = spec.flip
    if spec.ti is not None:
        ds.InversionTime = spec.ti
    ds.AcquisitionTime = ds.SeriesTime = _tm(t)
    if post and variant != "no_contrast_tags":
        ds.ContrastBolusAgent = "Gd-EOB-DTPA"
        if "no_bolus_time" not in variant:
            ds.ContrastBolusStartTime = _tm(INJECTION_S)
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.ImagePositionPatient = [0, 0, float(z * 5)]
    ds.PixelSpacing, ds.SliceThickness = [1.5, 1.5], 5
    ds.Rows = ds.Columns = 8
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12, 11
    ds.PixelRepresentation, ds.SamplesPerPixel = 0, 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.PixelData = (np.arange(64, dtype="<u2") * (z + 2) + number).tobytes()  # not empty
    return ds
