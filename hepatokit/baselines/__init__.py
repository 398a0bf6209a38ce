"""Reference baselines: 3D staging (MONAI ResNet3D / ViT3D) and the linear probe.

Library use (HepatoQuant reuses the probe's pieces)::

    from hepatokit.baselines import load_encoder, embed_images, load_head
    encoder = load_encoder("hf:MahmoodLab/UNI", device="cuda")
    head = load_head("probe/heads/uni.npz"); head.check_encoder(encoder)
    probs = head.predict_proba(embed_images(encoder, tiles, plan=select_device("cuda")))

Names are imported lazily: ``import hepatokit.baselines`` pulls neither torch nor MONAI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hepatokit._lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    # devices
    "DevicePlan": "hepatokit.baselines.devices",
    "select_device": "hepatokit.baselines.devices",
    # encoders + embeddings
    "Encoder": "hepatokit.baselines.encoders",
    "Preprocess": "hepatokit.baselines.preprocess",
    "load_encoder": "hepatokit.baselines.encoders",
    "parse_encoder_spec": "hepatokit.baselines.encoders",
    "EmbeddingCache": "hepatokit.baselines.embeddings",
    "EmbeddingResult": "hepatokit.baselines.embeddings",
    "embed_dataset": "hepatokit.baselines.embeddings",
    "embed_images": "hepatokit.baselines.embeddings",
    # linear head
    "LinearHead": "hepatokit.baselines.heads",
    "load_head": "hepatokit.baselines.heads",
    "save_head": "hepatokit.baselines.heads",
    "ProbeSettings": "hepatokit.baselines.linear_probe",
    "train_linear_probe": "hepatokit.baselines.linear_probe",
    # staging
    "StagingConfig": "hepatokit.baselines.staging_config",
    "BaselinesSection": "hepatokit.baselines.staging_config",
    "baselines_section": "hepatokit.baselines.staging_config",
    "build_staging_model": "hepatokit.baselines.staging_models",
    "train_staging": "hepatokit.baselines.staging",
    "GridCache": "hepatokit.baselines.grid_cache",
    "CachedVolumes": "hepatokit.baselines.grid_cache",
    "cache_volumes": "hepatokit.baselines.grid_cache",
    "predict_staging": "hepatokit.baselines.staging",
    "load_best_model": "hepatokit.baselines.staging",
    "StagingRun": "hepatokit.baselines.staging",
    "submission_frame": "hepatokit.baselines.submission",
    "write_submission": "hepatokit.baselines.submission",
    # pipelines (the CLI's functions)
    "run_probe": "hepatokit.baselines.probe_run",
    "run_staging": "hepatokit.baselines.staging_run",
}

__all__ = sorted(_EXPORTS)


if TYPE_CHECKING:  # the names of _EXPORTS, for type checkers (tests keep both in step)
    from hepatokit.baselines.devices import (
        DevicePlan as DevicePlan,
        select_device as select_device,
    )
    from hepatokit.baselines.embeddings import (
        EmbeddingCache as EmbeddingCache,
        EmbeddingResult as EmbeddingResult,
        embed_dataset as embed_dataset,
        embed_images as embed_images,
    )
    from hepatokit.baselines.encoders import (
        Encoder as Encoder,
        load_encoder as load_encoder,
        parse_encoder_spec as parse_encoder_spec,
    )
    from hepatokit.baselines.grid_cache import (
        CachedVolumes as CachedVolumes,
        GridCache as GridCache,
        cache_volumes as cache_volumes,
    )
    from hepatokit.baselines.heads import (
        LinearHead as LinearHead,
        load_head as load_head,
        save_head as save_head,
    )
    from hepatokit.baselines.linear_probe import (
        ProbeSettings as ProbeSettings,
        train_linear_probe as train_linear_probe,
    )
    from hepatokit.baselines.preprocess import (
        Preprocess as Preprocess,
    )
    from hepatokit.baselines.probe_run import (
        run_probe as run_probe,
    )
    from hepatokit.baselines.staging import (
        StagingRun as StagingRun,
        load_best_model as load_best_model,
        predict_staging as predict_staging,
        train_staging as train_staging,
    )
    from hepatokit.baselines.staging_config import (
        BaselinesSection as BaselinesSection,
        StagingConfig as StagingConfig,
        baselines_section as baselines_section,
    )
    from hepatokit.baselines.staging_models import (
        build_staging_model as build_staging_model,
    )
    from hepatokit.baselines.staging_run import (
        run_staging as run_staging,
    )
    from hepatokit.baselines.submission import (
        submission_frame as submission_frame,
        write_submission as write_submission,
    )


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
