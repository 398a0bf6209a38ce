"""hepatokit.synthetic: realistic raw inputs with planted ground truth (demo and tests)."""

from hepatokit.synthetic.mri import MRIStudiesSummary, generate_mri_studies
from hepatokit.synthetic.mri_phantom import array_sha256, planted_on_grid, planted_volume
from hepatokit.synthetic.patho import CLASS_PROPORTIONS, PatchSetSummary, generate_patches
from hepatokit.synthetic.tissue import render_tissue
from hepatokit.synthetic.wsi import SlideSetSummary, generate_wsis

__all__: list[str] = [
    "CLASS_PROPORTIONS",
    "MRIStudiesSummary",
    "PatchSetSummary",
    "SlideSetSummary",
    "array_sha256",
    "generate_mri_studies",
    "generate_patches",
    "generate_wsis",
    "planted_on_grid",
    "planted_volume",
    "render_tissue",
]
