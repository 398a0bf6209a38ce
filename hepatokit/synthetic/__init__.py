"""hepatokit.synthetic: realistic raw inputs with planted ground truth (demo and tests).

Names load lazily: synthetic patches need only the core, DICOM studies the ``mri`` extra and
slides the ``wsi`` extra.
"""

from hepatokit._lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "MRIStudiesSummary": "mri",
    "generate_mri_studies": "mri",
    "array_sha256": "mri_phantom",
    "planted_on_grid": "mri_phantom",
    "planted_volume": "mri_phantom",
    "CLASS_PROPORTIONS": "patho",
    "PatchSetSummary": "patho",
    "generate_patches": "patho",
    "render_tissue": "tissue",
    "SlideSetSummary": "wsi",
    "generate_wsis": "wsi",
}

__all__: list[str] = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
