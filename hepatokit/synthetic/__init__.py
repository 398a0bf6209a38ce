"""hepatokit.synthetic: realistic raw inputs with planted ground truth (demo and tests).

Names load lazily: synthetic patches need only the core, DICOM studies the ``mri`` extra and
slides the ``wsi`` extra.
"""

from typing import TYPE_CHECKING

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


if TYPE_CHECKING:  # the names of _EXPORTS, for type checkers (tests keep both in step)
    from hepatokit.synthetic.mri import (
        MRIStudiesSummary as MRIStudiesSummary,
        generate_mri_studies as generate_mri_studies,
    )
    from hepatokit.synthetic.mri_phantom import (
        array_sha256 as array_sha256,
        planted_on_grid as planted_on_grid,
        planted_volume as planted_volume,
    )
    from hepatokit.synthetic.patho import (
        CLASS_PROPORTIONS as CLASS_PROPORTIONS,
        PatchSetSummary as PatchSetSummary,
        generate_patches as generate_patches,
    )
    from hepatokit.synthetic.tissue import (
        render_tissue as render_tissue,
    )
    from hepatokit.synthetic.wsi import (
        SlideSetSummary as SlideSetSummary,
        generate_wsis as generate_wsis,
    )


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
