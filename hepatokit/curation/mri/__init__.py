"""LiFS curation: DICOM index → series recognition → NIfTI (dcm2niix) → de-identification →
volume QC → labels. Each stage is a keyword-only function over a build folder.

Names are resolved lazily: a worker process that only reads headers imports pydicom, not
pandas / nibabel / matplotlib.
"""

from __future__ import annotations

from hepatokit._lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "LifsBuildSummary": "build",
    "build_lifs": "build",
    "import_release": "release",
    "ReleaseImportSummary": "release",
    "MriConfig": "config",
    "mri_config": "config",
    "ConvertSummary": "convert",
    "convert_volumes": "convert",
    "run_dcm2niix": "dcm2niix_runner",
    "DEMO_KEY": "deid",
    "load_deid_key": "deid",
    "subject_pseudonym": "deid",
    "b_value_of": "dicom_values",
    "read_header": "dicom_tags",
    "IndexSummary": "index",
    "index_dicom": "index",
    "LabelsSummary": "labels",
    "join_labels": "labels",
    "normalise_stage": "labels",
    "PhiAuditResult": "phi_audit",
    "audit_phi": "phi_audit",
    "collect_phi_values": "phi_values",
    "SeriesSummary": "series",
    "recognise_series": "series",
    "RegisterConfig": "register",
    "RegisterSummary": "register",
    "RegistrationResult": "register",
    "register_rigid": "register",
    "register_sequences": "register",
    "QcSummary": "volume_qc",
    "qc_volumes": "volume_qc",
}

__all__ = sorted([*_EXPORTS, "INDEX_WORKER_MODULES"])

#: what ``mri index`` workers import (pandas because pyarrow imports it on its first
#: conversion of Python values, ~0.2 s): the forkserver loads them once for all workers
#: (``hepatokit.parallel.start_forkserver``); kept here, light, so that the CLI can start
#: the server before it imports the index itself
INDEX_WORKER_MODULES = ("hepatokit.curation.mri.index_records", "pandas")


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
