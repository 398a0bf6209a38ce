"""LiFS curation: DICOM index → series recognition → NIfTI (dcm2niix) → de-identification →
volume QC → labels. Each stage is a keyword-only function over a build folder.

Names are resolved lazily: a worker process that only reads headers imports pydicom, not
pandas / nibabel / matplotlib.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

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


if TYPE_CHECKING:  # the names of _EXPORTS, for type checkers (tests keep both in step)
    from hepatokit.curation.mri.build import (
        LifsBuildSummary as LifsBuildSummary,
        build_lifs as build_lifs,
    )
    from hepatokit.curation.mri.config import (
        MriConfig as MriConfig,
        mri_config as mri_config,
    )
    from hepatokit.curation.mri.convert import (
        ConvertSummary as ConvertSummary,
        convert_volumes as convert_volumes,
    )
    from hepatokit.curation.mri.dcm2niix_runner import (
        run_dcm2niix as run_dcm2niix,
    )
    from hepatokit.curation.mri.deid import (
        DEMO_KEY as DEMO_KEY,
        load_deid_key as load_deid_key,
        subject_pseudonym as subject_pseudonym,
    )
    from hepatokit.curation.mri.dicom_tags import (
        read_header as read_header,
    )
    from hepatokit.curation.mri.dicom_values import (
        b_value_of as b_value_of,
    )
    from hepatokit.curation.mri.index import (
        IndexSummary as IndexSummary,
        index_dicom as index_dicom,
    )
    from hepatokit.curation.mri.labels import (
        LabelsSummary as LabelsSummary,
        join_labels as join_labels,
        normalise_stage as normalise_stage,
    )
    from hepatokit.curation.mri.phi_audit import (
        PhiAuditResult as PhiAuditResult,
        audit_phi as audit_phi,
    )
    from hepatokit.curation.mri.phi_values import (
        collect_phi_values as collect_phi_values,
    )
    from hepatokit.curation.mri.register import (
        RegisterConfig as RegisterConfig,
        RegisterSummary as RegisterSummary,
        RegistrationResult as RegistrationResult,
        register_rigid as register_rigid,
        register_sequences as register_sequences,
    )
    from hepatokit.curation.mri.release import (
        ReleaseImportSummary as ReleaseImportSummary,
        import_release as import_release,
    )
    from hepatokit.curation.mri.series import (
        SeriesSummary as SeriesSummary,
        recognise_series as recognise_series,
    )
    from hepatokit.curation.mri.volume_qc import (
        QcSummary as QcSummary,
        qc_volumes as qc_volumes,
    )


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
