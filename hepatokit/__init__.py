"""hepatokit: raw clinical liver imaging → published benchmark datasets, baselines, evaluation.

The public API is listed in ``__all__``. Names are imported lazily on first use, so
``import hepatokit`` stays fast and pulls neither torch nor datasets.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

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
    "index_dicom": "hepatokit.curation.mri.index.stage",
    "recognise_series": "hepatokit.curation.mri.series.stage",
    "convert_volumes": "hepatokit.curation.mri.convert.stage",
    "qc_volumes": "hepatokit.curation.mri.qc.stage",
    "join_labels": "hepatokit.curation.mri.labels.stage",
    "register_sequences": "hepatokit.curation.mri.register.stage",
    "register_rigid": "hepatokit.curation.mri.register.estimate",
    "audit_phi": "hepatokit.curation.mri.deid.phi_audit",
    "audit_identifiers": "hepatokit.identifier_audit",
    "build_lifs": "hepatokit.pipelines.lifs",
    "import_release": "hepatokit.curation.mri.release.stage",
    "ingest_patches": "hepatokit.curation.patho.ingest.stage",
    "tile_slides": "hepatokit.curation.patho.wsi.stage",
    "tile_slide": "hepatokit.curation.patho.wsi.tiling",
    "run_qc": "hepatokit.curation.patho.qc.stage",
    "run_dedup": "hepatokit.curation.patho.dedup.stage",
    "build_hepatobench": "hepatokit.pipelines.hepatobench",
    "calibrate_qc": "hepatokit.curation.patho.qc.calibrate",
    "calibrate_dedup": "hepatokit.curation.patho.dedup.calibrate",
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
    "build_dataset": "hepatokit.pipelines.dataset",
    "build_report": "hepatokit.report",
    "run_demo": "hepatokit.pipelines.demo",
}

__all__ = ["__version__", *sorted(_EXPORTS)]


if TYPE_CHECKING:  # the names of _EXPORTS, for type checkers (tests keep both in step)
    from hepatokit.atomic import (
        atomic_path as atomic_path,
        atomic_write as atomic_write,
    )
    from hepatokit.baselines.embeddings import (
        embed_images as embed_images,
    )
    from hepatokit.baselines.encoders import (
        load_encoder as load_encoder,
    )
    from hepatokit.baselines.heads import (
        load_head as load_head,
    )
    from hepatokit.baselines.linear_probe import (
        train_linear_probe as train_linear_probe,
    )
    from hepatokit.baselines.probe_run import (
        run_probe as run_probe,
    )
    from hepatokit.baselines.staging_run import (
        run_staging as run_staging,
    )
    from hepatokit.curation.mri.convert.stage import (
        convert_volumes as convert_volumes,
    )
    from hepatokit.curation.mri.deid.phi_audit import (
        audit_phi as audit_phi,
    )
    from hepatokit.curation.mri.index.stage import (
        index_dicom as index_dicom,
    )
    from hepatokit.curation.mri.labels.stage import (
        join_labels as join_labels,
    )
    from hepatokit.curation.mri.qc.stage import (
        qc_volumes as qc_volumes,
    )
    from hepatokit.curation.mri.register.estimate import (
        register_rigid as register_rigid,
    )
    from hepatokit.curation.mri.register.stage import (
        register_sequences as register_sequences,
    )
    from hepatokit.curation.mri.release.stage import (
        import_release as import_release,
    )
    from hepatokit.curation.mri.series.stage import (
        recognise_series as recognise_series,
    )
    from hepatokit.curation.patho.dedup.calibrate import (
        calibrate_dedup as calibrate_dedup,
    )
    from hepatokit.curation.patho.dedup.stage import (
        run_dedup as run_dedup,
    )
    from hepatokit.curation.patho.ingest.stage import (
        ingest_patches as ingest_patches,
    )
    from hepatokit.curation.patho.qc.calibrate import (
        calibrate_qc as calibrate_qc,
    )
    from hepatokit.curation.patho.qc.stage import (
        run_qc as run_qc,
    )
    from hepatokit.curation.patho.wsi.stage import (
        tile_slides as tile_slides,
    )
    from hepatokit.curation.patho.wsi.tiling import (
        tile_slide as tile_slide,
    )
    from hepatokit.errors import (
        BuildStateError as BuildStateError,
        DataFormatError as DataFormatError,
        DependencyMissingError as DependencyMissingError,
        HepatokitError as HepatokitError,
        LeakageError as LeakageError,
        ManifestError as ManifestError,
        PHIError as PHIError,
        RecipeError as RecipeError,
        SubmissionError as SubmissionError,
    )
    from hepatokit.evaluation.binary import (
        binary_metrics as binary_metrics,
    )
    from hepatokit.evaluation.delong import (
        delong_test as delong_test,
    )
    from hepatokit.evaluation.hepatobench import (
        evaluate_hepatobench as evaluate_hepatobench,
    )
    from hepatokit.evaluation.lifs import (
        evaluate_lifs as evaluate_lifs,
    )
    from hepatokit.evaluation.multiclass import (
        multiclass_metrics as multiclass_metrics,
    )
    from hepatokit.evaluation.summarize import (
        summarize_results as summarize_results,
    )
    from hepatokit.identifier_audit import (
        audit_identifiers as audit_identifiers,
    )
    from hepatokit.loaders.hub import (
        load_hepatobench as load_hepatobench,
        load_lifs as load_lifs,
    )
    from hepatokit.manifest import (
        Manifest as Manifest,
        ManifestRow as ManifestRow,
    )
    from hepatokit.parallel import (
        ItemResult as ItemResult,
        make_executor as make_executor,
        map_items as map_items,
    )
    from hepatokit.pipelines.dataset import (
        build_dataset as build_dataset,
    )
    from hepatokit.pipelines.demo import (
        run_demo as run_demo,
    )
    from hepatokit.pipelines.hepatobench import (
        build_hepatobench as build_hepatobench,
    )
    from hepatokit.pipelines.lifs import (
        build_lifs as build_lifs,
    )
    from hepatokit.publish.build import (
        publish_build as publish_build,
    )
    from hepatokit.publish.push import (
        publish_push as publish_push,
    )
    from hepatokit.quant.evaluate_regions import (
        evaluate_regions as evaluate_regions,
    )
    from hepatokit.quant.run import (
        quantify_slide as quantify_slide,
        quantify_slides as quantify_slides,
    )
    from hepatokit.quant.segment.predict import (
        predict_regions as predict_regions,
    )
    from hepatokit.quant.segment.train import (
        train_region_model as train_region_model,
    )
    from hepatokit.recipe import (
        Recipe as Recipe,
        load_recipe as load_recipe,
    )
    from hepatokit.report import (
        build_report as build_report,
    )
    from hepatokit.splits.assign import (
        assign_splits as assign_splits,
    )
    from hepatokit.splits.leakage import (
        audit_leakage as audit_leakage,
    )
    from hepatokit.splits.stage import (
        split_build as split_build,
    )
    from hepatokit.synthetic.mri import (
        generate_mri_studies as generate_mri_studies,
    )
    from hepatokit.synthetic.patho import (
        generate_patches as generate_patches,
    )
    from hepatokit.synthetic.wsi import (
        generate_wsis as generate_wsis,
    )


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
