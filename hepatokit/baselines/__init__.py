"""Reference baselines: 3D staging (MONAI ResNet3D / ViT3D) and the linear probe.

Library use (HepatoQuant reuses the probe's pieces)::

    from hepatokit.baselines import load_encoder, embed_images, load_head
    encoder = load_encoder("hf:MahmoodLab/UNI", device="cuda")
    head = load_head("probe/heads/uni.npz"); head.check_encoder(encoder)
    probs = head.predict_proba(embed_images(encoder, tiles, plan=select_device("cuda")))

Names are imported lazily: ``import hepatokit.baselines`` pulls neither torch nor MONAI.
"""

from __future__ import annotations

from hepatokit._lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    # devices
    "DevicePlan": "hepatokit.baselines.devices",
    "select_device": "hepatokit.baselines.devices",
    # encoders + embeddings
    "Encoder": "hepatokit.baselines.encoders",
    "Preprocess": "hepatokit.baselines.encoders",
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


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
