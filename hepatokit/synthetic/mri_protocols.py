"""Scanners, vendors and their series protocols for the synthetic liver MRI studies.

Four scanners in three centers (LiFS-like): center 1 has vendor A (Siemens) at 1.5 T and
3 T, center 2 vendor B (GE) at 3 T, center 3 vendor C (Philips) at 3 T, the held-out
(out-of-distribution) one. Each vendor names and tags its series its own way; the tables
below are what the generator writes into SeriesDescription, ProtocolName, SequenceName,
ScanningSequence, SequenceVariant, ImageType, EchoTime, RepetitionTime and FlipAngle.

Roles: the seven LiFS sequences (``T1W``, ``T2W``, ``DWI``, ``GED1``…``GED4``) plus the
series a curation must ignore (``localizer``, ``adc``, ``subtraction``, ``mrcp``).
"""

from __future__ import annotations

from dataclasses import dataclass

from hepatokit.contracts.lifs import SEQUENCES

__all__ = [
    "CONTRAST_ROLES",
    "IGNORE_REASONS",
    "LIFS_SEQUENCES",
    "PHASE_WINDOWS_S",
    "SCANNERS",
    "Protocol",
    "Scanner",
    "protocol_for",
]

LIFS_SEQUENCES: tuple[str, ...] = SEQUENCES
CONTRAST_ROLES: tuple[str, ...] = ("GED1", "GED2", "GED3", "GED4")
#: ignore reason a curation must give each ignorable role
IGNORE_REASONS: dict[str, str] = {
    "localizer": "localizer",
    "adc": "derived",
    "subtraction": "derived",
    "mrcp": "other",
}
#: planted delay after ContrastBolusStartTime (seconds) of each phase, inclusive bounds
PHASE_WINDOWS_S: dict[str, tuple[float, float]] = {
    "GED1": (20.0, 35.0),
    "GED2": (55.0, 80.0),
    "GED3": (150.0, 240.0),
    "GED4": (18 * 60.0, 25 * 60.0),
}


@dataclass(frozen=True)
class Scanner:
    """One scanner of one center (real names; published data only sees pseudonyms)."""

    key: str  # A1.5T, A3T, B3T, C3T
    center: str  # center1..center3
    vendor: str  # A, B, C
    manufacturer: str
    model: str
    field_strength: float  # tesla
    software: str
    ood: bool
    share: float  # fraction of patients
    contrast_agent: str
    pixel_signed: bool  # int16 (True) or uint16 (False) stored values
    bits_stored: int
    rescale_slope: float | None  # None: no Rescale tags written
    intensity_scale: float  # vendor scaling of the phantom signal
    intensity_offset: float
    gamma: float  # vendor contrast curve
    noise_sigma: float  # Rician noise, in phantom units
    bias: tuple[float, float]  # coil shading gradient along x and y (fraction per 100 mm)


SCANNERS: dict[str, Scanner] = {
    s.key: s
    for s in (
        Scanner(
            "A1.5T",
            "center1",
            "A",
            "SIEMENS",
            "MAGNETOM Aera",
            1.5,
            "syngo MR E11",
            False,
            0.25,
            "Gd-EOB-DTPA",
            False,
            12,
            None,
            1.0,
            0.0,
            1.0,
            14.0,
            (0.04, -0.02),
        ),
        Scanner(
            "A3T",
            "center1",
            "A",
            "SIEMENS",
            "MAGNETOM Skyra",
            3.0,
            "syngo MR E11",
            False,
            0.20,
            "Gd-EOB-DTPA",
            False,
            12,
            None,
            1.15,
            0.0,
            1.0,
            10.0,
            (0.06, 0.03),
        ),
        Scanner(
            "B3T",
            "center2",
            "B",
            "GE MEDICAL SYSTEMS",
            "DISCOVERY MR750",
            3.0,
            "DV26.0_R03_1831.b",
            False,
            0.38,
            "PRIMOVIST",
            True,
            16,
            None,
            1.6,
            40.0,
            1.0,
            18.0,
            (-0.05, 0.04),
        ),
        Scanner(
            "C3T",
            "center3",
            "C",
            "Philips Medical Systems",
            "Ingenia",
            3.0,
            "5.6.1",
            True,
            0.17,
            "Primovist 0.25 mmol/ml",
            False,
            12,
            1.0,
            0.7,
            15.0,
            0.82,
            24.0,
            (0.08, -0.06),
        ),
    )
}


@dataclass(frozen=True)
class Protocol:
    """How one vendor acquires one role: names, sequence tags and timing parameters."""

    series_description: str
    protocol_name: str
    sequence_name: str
    scanning_sequence: str
    sequence_variant: str
    image_type: tuple[str, ...]
    te_ms: float
    tr_ms: float
    flip_deg: float
    acquisition_type: str  # MRAcquisitionType 2D / 3D
    slice_thickness_mm: float
    slice_gap_mm: float
    matrix_factor: float  # fraction of the base matrix (DWI is coarser)


def _p(
    names: tuple[str, str, str],
    tags: tuple[str, str, str],
    te: float,
    tr: float,
    flip: float,
    acq: str,
    thick: float,
    gap: float,
    factor: float = 1.0,
) -> Protocol:
    """Protocol from (description, protocol, sequence name), (scanning seq, variant, ImageType)."""
    return Protocol(
        names[0],
        names[1],
        names[2],
        tags[0],
        tags[1],
        tuple(tags[2].split("\\")),
        te,
        tr,
        flip,
        acq,
        thick,
        gap,
        factor,
    )


# fmt: off
_PROTOCOLS: dict[str, dict[str, Protocol]] = {
    "A": {
        "localizer": _p(
            ("localizer", "localizer", "*fl2d1"),
            ("GR", "SP", "ORIGINAL\\PRIMARY\\M\\NORM\\DIS2D"),
            4.0, 8.6, 20, "2D", 8.0, 0.0, 1.0,
        ),
        "T2W": _p(
            ("t2_haste_tra_mbh", "t2_haste_tra_mbh", "*h2d1_256"),
            ("SE", "SK\\SP", "ORIGINAL\\PRIMARY\\M\\ND\\NORM"),
            92.0, 1400.0, 160, "2D", 6.0, 1.0, 1.0,
        ),
        "T1W": _p(
            ("t1_vibe_fs_tra_bh_pre", "t1_vibe_fs_tra_bh_pre", "*fl3d1"),
            ("GR", "SP\\SS", "ORIGINAL\\PRIMARY\\M\\ND\\NORM"),
            2.39, 4.8, 10, "3D", 6.0, 0.0, 1.0,
        ),
        "DWI": _p(
            ("ep2d_diff_b50_800_tra_TRACEW", "ep2d_diff_b50_800_tra", "*ep_b800t"),
            ("EP", "SK\\SP", "DERIVED\\PRIMARY\\DIFFUSION\\TRACEW\\ND\\NORM"),
            62.0, 5200.0, 90, "2D", 6.0, 1.0, 0.75,
        ),
        "adc": _p(
            ("ep2d_diff_b50_800_tra_ADC", "ep2d_diff_b50_800_tra", "*ep_b50_800"),
            ("EP", "SK\\SP", "DERIVED\\PRIMARY\\DIFFUSION\\ADC\\ND\\NORM"),
            62.0, 5200.0, 90, "2D", 6.0, 1.0, 0.75,
        ),
        "GED1": _p(
            ("t1_vibe_fs_tra_bh_dyn", "t1_vibe_fs_tra_bh_dyn", "*fl3d1"),
            ("GR", "SP\\SS", "ORIGINAL\\PRIMARY\\M\\ND\\NORM"),
            2.39, 4.8, 10, "3D", 6.0, 0.0, 1.0,
        ),
        "GED4": _p(
            ("t1_vibe_fs_tra_bh_20min", "t1_vibe_fs_tra_bh_20min", "*fl3d1"),
            ("GR", "SP\\SS", "ORIGINAL\\PRIMARY\\M\\ND\\NORM"),
            2.39, 4.8, 10, "3D", 6.0, 0.0, 1.0,
        ),
        "subtraction": _p(
            ("t1_vibe_fs_tra_bh_dyn_SUB", "t1_vibe_fs_tra_bh_dyn", "*fl3d1"),
            ("GR", "SP\\SS", "DERIVED\\PRIMARY\\SUBTRACTION\\ND\\NORM"),
            2.39, 4.8, 10, "3D", 6.0, 0.0, 1.0,
        ),
        "mrcp": _p(
            ("t2_space_cor_p2_trig_MRCP", "t2_space_cor_p2_trig_MRCP", "*spc_314ns"),
            ("SE", "SK\\SP\\OSP", "ORIGINAL\\PRIMARY\\M\\ND\\NORM"),
            702.0, 2400.0, 100, "3D", 6.0, 0.0, 1.0,
        ),
    },
    "B": {
        "localizer": _p(
            ("3-Plane Loc", "3-Plane Loc", "fgre"),
            ("GR", "SS", "ORIGINAL\\PRIMARY\\LOCALIZER"),
            1.6, 4.3, 30, "2D", 8.0, 0.0, 1.0,
        ),
        "T2W": _p(
            ("Ax SSFSE T2", "LIVER/ABD", "ssfse"),
            ("SE", "SK", "ORIGINAL\\PRIMARY\\OTHER"),
            84.0, 1500.0, 90, "2D", 6.0, 1.0, 1.0,
        ),
        "T1W": _p(
            ("Ax LAVA Flex PRE", "LIVER/ABD", "lava_flex"),
            ("GR", "SS\\SK", "ORIGINAL\\PRIMARY\\OTHER"),
            1.7, 3.9, 12, "3D", 6.0, 0.0, 1.0,
        ),
        "DWI": _p(
            ("Ax DWI b800", "LIVER/ABD", "epi2"),
            ("EP\\SE", "NONE", "ORIGINAL\\PRIMARY\\OTHER"),
            58.0, 6000.0, 90, "2D", 6.0, 1.0, 0.75,
        ),
        "adc": _p(
            ("ADC (10^-6 mm2/s)", "LIVER/ABD", "epi2"),
            ("EP\\SE", "NONE", "DERIVED\\SECONDARY\\ADC"),
            58.0, 6000.0, 90, "2D", 6.0, 1.0, 0.75,
        ),
        "GED1": _p(
            ("LAVA Flex", "LIVER/ABD", "lava_flex"),
            ("GR", "SS\\SK", "ORIGINAL\\PRIMARY\\OTHER"),
            1.7, 3.9, 12, "3D", 6.0, 0.0, 1.0,
        ),
        "GED4": _p(
            ("Ax LAVA Flex 20min HBP", "LIVER/ABD", "lava_flex"),
            ("GR", "SS\\SK", "ORIGINAL\\PRIMARY\\OTHER"),
            1.7, 3.9, 12, "3D", 6.0, 0.0, 1.0,
        ),
        "subtraction": _p(
            ("SUB LAVA Flex ART-PRE", "LIVER/ABD", "lava_flex"),
            ("GR", "SS\\SK", "DERIVED\\SECONDARY\\SUBTRACTION"),
            1.7, 3.9, 12, "3D", 6.0, 0.0, 1.0,
        ),
        "mrcp": _p(
            ("Cor 3D MRCP FRFSE", "LIVER/ABD", "frfse3d"),
            ("SE", "SK", "ORIGINAL\\PRIMARY\\OTHER"),
            640.0, 3000.0, 90, "3D", 6.0, 0.0, 1.0,
        ),
    },
    "C": {
        "localizer": _p(
            ("Survey", "Survey", ""),
            ("GR", "SS", "ORIGINAL\\PRIMARY\\M_FFE\\M\\FFE"),
            2.3, 4.6, 15, "2D", 8.0, 0.0, 1.0,
        ),
        "T2W": _p(
            ("T2W_SPAIR", "T2W_SPAIR", ""),
            ("SE", "SK", "ORIGINAL\\PRIMARY\\M_SE\\M\\SE"),
            70.0, 2200.0, 90, "2D", 6.0, 1.0, 1.0,
        ),
        "T1W": _p(
            ("T1W_FFE_IP_BH", "T1W_FFE_IP_BH", ""),
            ("GR", "SS", "ORIGINAL\\PRIMARY\\M_FFE\\M\\FFE"),
            2.3, 120.0, 70, "2D", 6.0, 1.0, 1.0,
        ),
        "DWI": _p(
            ("DWI_b0_800", "DWI_b0_800", ""),
            ("SE", "SK", "ORIGINAL\\PRIMARY\\M_SE\\M\\SE"),
            54.0, 4800.0, 90, "2D", 6.0, 1.0, 0.75,
        ),
        "adc": _p(
            ("dADC_DWI_b0_800", "DWI_b0_800", ""),
            ("SE", "SK", "DERIVED\\PRIMARY\\ADC\\ADC"),
            54.0, 4800.0, 90, "2D", 6.0, 1.0, 0.75,
        ),
        "GED1": _p(
            ("THRIVE dyn", "THRIVE dyn", ""),
            ("GR", "SK", "ORIGINAL\\PRIMARY\\M_FFE\\M\\FFE"),
            1.9, 4.0, 10, "3D", 6.0, 0.0, 1.0,
        ),
        "GED4": _p(
            ("THRIVE 20min", "THRIVE 20min", ""),
            ("GR", "SK", "ORIGINAL\\PRIMARY\\M_FFE\\M\\FFE"),
            1.9, 4.0, 10, "3D", 6.0, 0.0, 1.0,
        ),
        "subtraction": _p(
            ("THRIVE dyn SUB", "THRIVE dyn", ""),
            ("GR", "SK", "DERIVED\\PRIMARY\\SUBTRACTION"),
            1.9, 4.0, 10, "3D", 6.0, 0.0, 1.0,
        ),
        "mrcp": _p(
            ("MRCP_3D_HR", "MRCP_3D_HR", ""),
            ("SE", "SK", "ORIGINAL\\PRIMARY\\M_SE\\M\\SE"),
            600.0, 2000.0, 90, "3D", 6.0, 0.0, 1.0,
        ),
    },
}
# fmt: on


def protocol_for(vendor: str, role: str, field_strength: float = 3.0) -> Protocol:
    """The vendor's protocol of ``role``; GED2/GED3 share GED1's dynamic protocol.

    At 1.5 T the gradient-echo TE/TR are longer (Siemens VIBE 2.39/4.8 ms at 3 T →
    2.6/5.5 ms at 1.5 T), like on real scanners.
    """
    table = _PROTOCOLS[vendor]
    proto = table["GED1" if role in ("GED2", "GED3") else role]
    if field_strength < 2.0 and proto.scanning_sequence == "GR" and role != "localizer":
        from dataclasses import replace

        proto = replace(
            proto, te_ms=round(proto.te_ms * 1.09, 2), tr_ms=round(proto.tr_ms * 1.15, 2)
        )
    return proto
