"""LiFS curation: DICOM index → series recognition → NIfTI (dcm2niix) → de-identification →
volume QC → labels. Each stage is a keyword-only function over a build folder.

Names are resolved lazily: a worker process that only reads headers imports pydicom, not
pandas / nibabel / matplotlib.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hepatokit._lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "import_release": "release.stage",
    "ReleaseImportSummary": "release.report",
    "MriConfig": "config",
    "mri_config": "config",
    "ConvertSummary": "convert.stage",
    "convert_volumes": "convert.stage",
    "run_dcm2niix": "convert.dcm2niix",
    "DEMO_KEY": "deid.keys",
    "load_deid_key": "deid.keys",
    "subject_pseudonym": "deid.keys",
    "b_value_of": "dicom.values",
    "read_header": "dicom.tags",
    "IndexSummary": "index.stage",
    "index_dicom": "index.stage",
    "LabelsSummary": "labels.stage",
    "join_labels": "labels.stage",
    "normalise_stage": "labels.stage",
    "PhiAuditResult": "deid.phi_audit",
    "audit_phi": "deid.phi_audit",
    "collect_phi_values": "deid.phi_values",
    "SeriesSummary": "series.stage",
    "recognise_series": "series.stage",
    "RegisterConfig": "register.config",
    "RegisterSummary": "register.stage",
    "RegistrationResult": "register.config",
    "register_rigid": "register.estimate",
    "register_sequences": "register.stage",
    "VolumeQCSummary": "qc.stage",
    "qc_volumes": "qc.stage",
}

__all__ = sorted([*_EXPORTS, "INDEX_WORKER_MODULES"])

#: what ``mri index`` workers import (pandas because pyarrow imports it on its first
#: conversion of Python values, ~0.2 s): the forkserver loads them once for all workers
#: (``hepatokit.parallel.start_forkserver``); kept here, light, so that the CLI can start
#: the server before it imports the index itself
INDEX_WORKER_MODULES = ("hepatokit.curation.mri.index.records", "pandas")


if TYPE_CHECKING:  # the names of _EXPORTS, for type checkers (tests keep both in step)
    from hepatokit.curation.mri.config import (
        MriConfig as MriConfig,
        mri_config as mri_config,
    )
    from hepatokit.curation.mri.convert.dcm2niix import (
        run_dcm2niix as run_dcm2niix,
    )
    from hepatokit.curation.mri.convert.stage import (
        ConvertSummary as ConvertSummary,
        convert_volumes as convert_volumes,
    )
    from hepatokit.curation.mri.deid.keys import (
        DEMO_KEY as DEMO_KEY,
        load_deid_key as load_deid_key,
        subject_pseudonym as subject_pseudonym,
    )
    from hepatokit.curation.mri.deid.phi_audit import (
        PhiAuditResult as PhiAuditResult,
        audit_phi as audit_phi,
    )
    from hepatokit.curation.mri.deid.phi_values import (
        collect_phi_values as collect_phi_values,
    )
    from hepatokit.curation.mri.dicom.tags import (
        read_header as read_header,
    )
    from hepatokit.curation.mri.dicom.values import (
        b_value_of as b_value_of,
    )
    from hepatokit.curation.mri.index.stage import (
        IndexSummary as IndexSummary,
        index_dicom as index_dicom,
    )
    from hepatokit.curation.mri.labels.stage import (
        LabelsSummary as LabelsSummary,
        join_labels as join_labels,
        normalise_stage as normalise_stage,
    )
    from hepatokit.curation.mri.qc.stage import (
        VolumeQCSummary as VolumeQCSummary,
        qc_volumes as qc_volumes,
    )
    from hepatokit.curation.mri.register.config import (
        RegisterConfig as RegisterConfig,
        RegistrationResult as RegistrationResult,
    )
    from hepatokit.curation.mri.register.estimate import (
        register_rigid as register_rigid,
    )
    from hepatokit.curation.mri.register.stage import (
        RegisterSummary as RegisterSummary,
        register_sequences as register_sequences,
    )
    from hepatokit.curation.mri.release.report import (
        ReleaseImportSummary as ReleaseImportSummary,
    )
    from hepatokit.curation.mri.release.stage import (
        import_release as import_release,
    )
    from hepatokit.curation.mri.series.stage import (
        SeriesSummary as SeriesSummary,
        recognise_series as recognise_series,
    )


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
