"""hepatokit.curation: raw clinical data → curated tables (``mri``: LiFS, ``patho``: HepatoBench).

Names are resolved lazily, so importing one family does not import the other.
"""

from __future__ import annotations

from hepatokit._lazy import lazy_exports

#: public name → subpackage that defines it
_EXPORTS: dict[str, str] = {
    # MRI (LiFS)
    **{
        name: "hepatokit.curation.mri"
        for name in (
            "audit_phi",
            "build_lifs",
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
            "build_hepatobench",
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


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
