"""Files of a LiFS (MRI) build (docs/contracts.md, "LiFS (MRI)") and its table schemas."""

from __future__ import annotations

import pyarrow as pa

from hepatokit.contracts.common import PRIVATE, QC_DIR, REPORTS, STATE

__all__ = [
    "ALL_SERIES",
    "ALL_SERIES_DIR",
    "CONVERT_STATE",
    "IMPORT_RELEASE_MD",
    "INDEX_CACHE",
    "INSTANCES",
    "INSTANCES_PHI",
    "INSTANCE_SCHEMA",
    "MISSING_MODALITY_CSV",
    "MISSING_MODALITY_PNG",
    "PSEUDONYMS",
    "REGISTRATION",
    "REGISTRATION_DIR",
    "REGISTRATION_REPORTS",
    "REGISTRATION_SCHEMA",
    "REGISTRATION_STATE",
    "SEQUENCES",
    "SERIES",
    "SERIES_CSV",
    "SERIES_MD",
    "SERIES_SCHEMA",
    "SITES",
    "SOURCES",
    "SUBJECTS",
    "SUBJECTS_SCHEMA",
    "VOLUMES",
    "VOLUMES_DIR",
    "VOLUME_QC",
    "VOLUME_QC_SCHEMA",
    "VOLUME_SCHEMA",
    "subject_dir",
    "subjects_schema",
    "volume_file",
]

#: the default LiFS sequences, in the recipe's (and the published columns') order; a build's
#: own list is its recipe's ``sequences:``
SEQUENCES: tuple[str, ...] = ("T1W", "T2W", "DWI", "GED1", "GED2", "GED3", "GED4")

# -- tables --------------------------------------------------------------------------------
#: one row per kept DICOM file (``mri index``; no identifying values)
INSTANCES = "instances.parquet"
#: one row per (split) series: label or ignore reason + evidence (``mri series``)
SERIES = "series.parquet"
#: one row per converted series (``mri convert``)
VOLUMES = "volumes.parquet"
#: ``mri convert --all-series``: every image series, whatever its label
ALL_SERIES = "all_series.parquet"
#: the curated table, one row per subject (``mri labels`` / ``mri import-release``)
SUBJECTS = "subjects.parquet"

# -- folders -------------------------------------------------------------------------------
#: ``volumes/sub-<sid>/sub-<sid>_<SEQ>.nii.gz`` + ``.json`` sidecar (+ ``.bval``/``.bvec``)
VOLUMES_DIR = "volumes"
#: ``all_series/sub-<sid>/sub-<sid>_series-<series_id>.nii.gz`` (``--all-series``)
ALL_SERIES_DIR = "all_series"
#: ``registration/sub-<sid>/`` (per-subject state + resampled volumes) and the table
REGISTRATION_DIR = "registration"
#: resume records of ``mri convert``: ``.state/convert/<stem>.key``
CONVERT_STATE = f"{STATE}/convert"

# -- files in folders ----------------------------------------------------------------------
#: one row per volume: QC measures, flags and ``qc_reason`` (``mri qc``)
VOLUME_QC = f"{QC_DIR}/volume_qc.parquet"
#: subject × sequence presence matrix (``mri qc``)
MISSING_MODALITY_CSV = f"{QC_DIR}/missing_modality.csv"
#: its heatmap
MISSING_MODALITY_PNG = f"{REPORTS}/missing_modality.png"
#: one row per (subject, sequence): reference, transform, status (``mri register``)
REGISTRATION = f"{REGISTRATION_DIR}/registration.parquet"
#: per subject, in ``registration/sub-<sid>/``
REGISTRATION_STATE = "registration.json"
#: ``reports/registration/sub-<sid>.png``
REGISTRATION_REPORTS = f"{REPORTS}/registration"
#: series recognition per subject (``mri series``)
SERIES_CSV = f"{REPORTS}/series.csv"
#: series recognition summary (``mri series``)
SERIES_MD = f"{REPORTS}/series.md"
#: what ``mri import-release`` imported and left out
IMPORT_RELEASE_MD = f"{REPORTS}/import_release.md"
#: original patient id ↔ subject pseudonym
PSEUDONYMS = f"{PRIVATE}/pseudonyms.parquet"
#: per-file PatientID etc. and the raw path
INSTANCES_PHI = f"{PRIVATE}/instances_phi.parquet"
#: item_id → raw path of every indexed file
SOURCES = f"{PRIVATE}/sources.parquet"
#: ``mri index``'s resume cache (header records keyed on path + size + mtime)
INDEX_CACHE = f"{PRIVATE}/index_cache.parquet"
#: site (center / vendor / scanner) pseudonyms and their source values
SITES = f"{PRIVATE}/sites.parquet"


def subject_dir(subject_id: str, folder: str = VOLUMES_DIR) -> str:
    """``volumes/sub-<sid>`` (or another folder's subject folder)."""
    return f"{folder}/sub-{subject_id}"


def volume_file(subject_id: str, sequence: str, suffix: str = ".nii.gz") -> str:
    """``volumes/sub-<sid>/sub-<sid>_<SEQ>.nii.gz`` (``sequence`` may be ``mask_GED4``)."""
    return f"{subject_dir(subject_id)}/sub-{subject_id}_{sequence}{suffix}"


# -- schemas -------------------------------------------------------------------------------
_LIST_F = pa.list_(pa.float64())

INSTANCE_SCHEMA = pa.schema(
    [
        ("item_id", pa.string()),
        ("path", pa.string()),
        ("size", pa.int64()),
        ("subject_id", pa.string()),
        ("center", pa.string()),
        ("vendor", pa.string()),
        ("scanner", pa.string()),
        ("sop_class_uid", pa.string()),
        ("modality", pa.string()),
        ("study_uid", pa.string()),
        ("series_uid", pa.string()),
        ("sop_uid", pa.string()),
        ("series_number", pa.int64()),
        ("instance_number", pa.int64()),
        ("field_strength", pa.float64()),
        ("series_description", pa.string()),
        ("protocol_name", pa.string()),
        ("sequence_name", pa.string()),
        ("scanning_sequence", pa.string()),
        ("sequence_variant", pa.string()),
        ("image_type", pa.string()),
        ("echo_time", pa.float64()),
        ("repetition_time", pa.float64()),
        ("flip_angle", pa.float64()),
        ("b_value", pa.float64()),
        ("b_value_source", pa.string()),
        ("acquisition_number", pa.int64()),
        ("temporal_position", pa.int64()),
        ("contrast_agent", pa.string()),
        ("orientation", _LIST_F),
        ("position", _LIST_F),
        ("pixel_spacing", _LIST_F),
        ("slice_thickness", pa.float64()),
        ("rows", pa.int64()),
        ("columns", pa.int64()),
        ("frames", pa.int64()),
        ("inversion_time", pa.float64()),
        ("slices", pa.int64()),  # images in the file: frames × mosaic tiles
    ]
)

SERIES_SCHEMA = pa.schema(
    [
        ("series_id", pa.string()),
        ("subject_id", pa.string()),
        ("center", pa.string()),
        ("vendor", pa.string()),
        ("scanner", pa.string()),
        ("field_strength", pa.float64()),
        ("series_uid", pa.string()),
        ("part", pa.string()),
        ("series_number", pa.int64()),
        ("series_description", pa.string()),
        ("protocol_name", pa.string()),
        ("image_type", pa.string()),
        ("echo_time", pa.float64()),
        ("repetition_time", pa.float64()),
        ("flip_angle", pa.float64()),
        ("b_values", pa.list_(pa.float64())),
        ("contrast", pa.bool_()),
        ("n_images", pa.int64()),
        ("rows", pa.int64()),
        ("columns", pa.int64()),
        ("seconds_after_injection", pa.float64()),
        ("timing_source", pa.string()),
        ("label", pa.string()),
        ("reason", pa.string()),
        ("evidence", pa.string()),
        ("confidence", pa.float64()),
        ("item_ids", pa.list_(pa.string())),
    ]
)

#: ``volumes.parquet`` (and ``all_series.parquet``)
VOLUME_SCHEMA = pa.schema(
    [
        ("subject_id", pa.string()),
        ("sequence", pa.string()),
        ("series_id", pa.string()),
        ("path", pa.string()),
        ("sidecar", pa.string()),
        ("status", pa.string()),
        ("error", pa.string()),
    ]
)

#: ``qc/volume_qc.parquet``: one row per converted volume (``mri qc``)
VOLUME_QC_SCHEMA = pa.schema(
    [
        ("subject_id", pa.string()),
        ("sequence", pa.string()),
        ("series_id", pa.string()),
        ("path", pa.string()),
        ("shape", pa.list_(pa.int64())),
        ("spacing", _LIST_F),
        ("orientation", pa.string()),
        ("dtype", pa.string()),
        ("n_nonfinite", pa.int64()),
        ("empty", pa.bool_()),
        ("constant", pa.bool_()),
        ("percentiles", _LIST_F),
        ("slice_gap_ratio", pa.float64()),
        ("irregular_spacing", pa.bool_()),
        ("coverage_mm", pa.float64()),
        ("tiny_coverage", pa.bool_()),
        ("corrupt_slices", pa.list_(pa.int64())),
        ("flags", pa.list_(pa.string())),
        ("qc_reason", pa.string()),
    ]
)

#: ``registration/registration.parquet``: one row per subject and sequence (``mri register``)
REGISTRATION_SCHEMA = pa.schema(
    [
        ("subject_id", pa.string()), ("sequence", pa.string()), ("reference", pa.string()),
        ("transform", pa.string()), ("status", pa.string()), ("flags", pa.list_(pa.string())),
        ("reason", pa.string()), ("matrix_ras", _LIST_F),
        ("tfm_path", pa.string()), ("resampled_path", pa.string()),
        ("metric_before", pa.float64()), ("metric_after", pa.float64()),
        ("iterations", pa.int64()), ("translation_mm", pa.float64()),
        ("rotation_deg", pa.float64()), ("seconds", pa.float64()),
    ]
)  # fmt: skip


def subjects_schema(sequences: tuple[str, ...] = SEQUENCES, *, release: bool = False) -> pa.Schema:
    """One row per subject: domain columns, labels, sequences present, one path per sequence.

    ``release=True`` adds ``release_split`` (train / validation / test of the released data).
    """
    fields = [
        ("subject_id", pa.string()),
        ("center", pa.string()),
        ("vendor", pa.string()),
        ("scanner", pa.string()),
        ("field_strength", pa.float64()),
        ("stage", pa.string()),
        ("cirrhosis", pa.int8()),
        ("significant_fibrosis", pa.int8()),
        ("sequences", pa.list_(pa.string())),
        *[(f"volume_{s}", pa.string()) for s in sequences],
        ("mask_GED4", pa.string()),
    ]
    if release:
        fields.append(("release_split", pa.string()))
    return pa.schema(fields)


SUBJECTS_SCHEMA = subjects_schema()
