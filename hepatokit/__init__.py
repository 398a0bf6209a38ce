"""hepatokit: raw clinical liver imaging → published benchmark datasets, baselines, evaluation.

The public API is listed in ``__all__``. Names are imported lazily on first use, so
``import hepatokit`` stays fast and pulls neither torch nor datasets.
"""

from __future__ import annotations

import logging

from hepatokit._lazy import lazy_exports
from hepatokit._version import __version__

logging.getLogger("hepatokit").addHandler(logging.NullHandler())

#: public name → module that defines it (resolved on first attribute access)
_EXPORTS: dict[str, str] = {
    # errors
    "HepatokitError": "hepatokit.errors",
    "RecipeError": "hepatokit.errors",
    "DataFormatError": "hepatokit.errors",
    "BuildStateError": "hepatokit.errors",
    "SubmissionError": "hepatokit.errors",
    "LeakageError": "hepatokit.errors",
    "PHIError": "hepatokit.errors",
    "ManifestError": "hepatokit.errors",
    "DependencyMissingError": "hepatokit.errors",
    # shared helpers
    "Manifest": "hepatokit.manifest",
    "ManifestRow": "hepatokit.manifest",
    "map_items": "hepatokit.parallel",
    "make_executor": "hepatokit.parallel",
    "ItemResult": "hepatokit.parallel",
    "Recipe": "hepatokit.recipe",
    "load_recipe": "hepatokit.recipe",
    "atomic_write": "hepatokit.atomic",
    "atomic_path": "hepatokit.atomic",
    # stages, in the order of the flow (each has a CLI command over it)
    "index_dicom": "hepatokit.curation.mri.index",
    "recognise_series": "hepatokit.curation.mri.series",
    "convert_volumes": "hepatokit.curation.mri.convert",
    "qc_volumes": "hepatokit.curation.mri.volume_qc",
    "join_labels": "hepatokit.curation.mri.labels",
    "register_sequences": "hepatokit.curation.mri.register",
    "register_rigid": "hepatokit.curation.mri.register",
    "audit_phi": "hepatokit.curation.mri.phi_audit",
    "audit_identifiers": "hepatokit.identifier_audit",
    "build_lifs": "hepatokit.curation.mri.build",
    "import_release": "hepatokit.curation.mri.release",
    "ingest_patches": "hepatokit.curation.patho.ingest",
    "tile_slides": "hepatokit.curation.patho.tile_stage",
    "tile_slide": "hepatokit.curation.patho.tiling",
    "run_qc": "hepatokit.curation.patho.qc_stage",
    "run_dedup": "hepatokit.curation.patho.dedup_stage",
    "build_hepatobench": "hepatokit.curation.patho.build",
    "calibrate_qc": "hepatokit.curation.patho.qc_calibrate",
    "calibrate_dedup": "hepatokit.curation.patho.dedup_calibrate",
    "assign_splits": "hepatokit.splits.assign",
    "split_build": "hepatokit.splits.stage",
    "audit_leakage": "hepatokit.splits.leakage",
    "publish_build": "hepatokit.publish.build",
    "publish_push": "hepatokit.publish.push",
    "load_lifs": "hepatokit.loaders.hub",
    "load_hepatobench": "hepatokit.loaders.hub",
    "run_staging": "hepatokit.baselines.staging_run",
    "run_probe": "hepatokit.baselines.probe_run",
    "load_encoder": "hepatokit.baselines.encoders",
    "load_head": "hepatokit.baselines.heads",
    "embed_images": "hepatokit.baselines.embeddings",
    "train_linear_probe": "hepatokit.baselines.linear_probe",
    "evaluate_lifs": "hepatokit.evaluation.lifs",
    "evaluate_hepatobench": "hepatokit.evaluation.hepatobench",
    "summarize_results": "hepatokit.evaluation.summarize",
    "delong_test": "hepatokit.evaluation.delong",
    "binary_metrics": "hepatokit.evaluation.binary",
    "multiclass_metrics": "hepatokit.evaluation.multiclass",
    "quantify_slide": "hepatokit.quant.run",
    "quantify_slides": "hepatokit.quant.run",
    "evaluate_regions": "hepatokit.quant.evaluate_regions",
    "train_region_model": "hepatokit.quant.segment.train",
    "predict_regions": "hepatokit.quant.segment.predict",
    "generate_mri_studies": "hepatokit.synthetic.mri",
    "generate_patches": "hepatokit.synthetic.patho",
    "generate_wsis": "hepatokit.synthetic.wsi",
    "build_dataset": "hepatokit.build",
    "build_report": "hepatokit.report",
    "run_demo": "hepatokit.demo",
}

__all__ = ["__version__", *sorted(_EXPORTS)]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
