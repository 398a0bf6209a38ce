"""hepatokit.curation: raw clinical data → curated tables (``mri``: LiFS, ``patho``: HepatoBench).

Names are resolved lazily, so importing one family does not import the other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hepatokit._lazy import lazy_exports

#: public name → subpackage that defines it
_EXPORTS: dict[str, str] = {
    # MRI (LiFS)
    **{
        name: "hepatokit.curation.mri"
        for name in (
            "audit_phi",
            "collect_phi_values",
            "convert_volumes",
            "index_dicom",
            "join_labels",
            "load_deid_key",
            "qc_volumes",
            "read_header",
            "recognise_series",
        )
    },
    # histology (HepatoBench)
    **{
        name: "hepatokit.curation.patho"
        for name in (
            "calibrate_dedup",
            "calibrate_qc",
            "ingest_patches",
            "run_dedup",
            "run_qc",
            "tile_slide",
            "tile_slides",
        )
    },
}

__all__ = sorted(_EXPORTS)


if TYPE_CHECKING:  # the names of _EXPORTS, for type checkers (tests keep both in step)
    from hepatokit.curation.mri import (
        audit_phi as audit_phi,
        collect_phi_values as collect_phi_values,
        convert_volumes as convert_volumes,
        index_dicom as index_dicom,
        join_labels as join_labels,
        load_deid_key as load_deid_key,
        qc_volumes as qc_volumes,
        read_header as read_header,
        recognise_series as recognise_series,
    )
    from hepatokit.curation.patho import (
        build_hepatobench as build_hepatobench,
        calibrate_dedup as calibrate_dedup,
        calibrate_qc as calibrate_qc,
        ingest_patches as ingest_patches,
        run_dedup as run_dedup,
        run_qc as run_qc,
        tile_slide as tile_slide,
        tile_slides as tile_slides,
    )


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
