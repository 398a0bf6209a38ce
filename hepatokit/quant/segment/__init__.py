"""HepatoQuant region segmentation: a tumor / non-tumor model of whole slides.

Training data from annotated slides (:mod:`~hepatokit.quant.segment.data`), the model — a
frozen foundation encoder with LoRA adapters or the built-in small CNN, and a light decoder
(:mod:`~hepatokit.quant.segment.model`), training (:func:`train_region_model`) and
sliding-window inference into masks, GeoJSON and overlays (:func:`predict_regions`).
Torch is imported on first use.
"""

from __future__ import annotations

from hepatokit._lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "train_region_model": "train",
    "predict_regions": "predict",
    "PredictSettings": "predict",
    "mask_polygons": "predict",
    "LoraSettings": "model",
    "RegionModelSpec": "model",
    "build_region_model": "model",
    "load_region_model": "model",
    "save_region_model": "model",
    "count_lora_parameters": "model",
    "split_slides": "data",
    "read_slide_image": "data",
    "read_hepatobench_slides": "data",
    "WindowSampler": "data",
    "predict_logits": "window",
    "window_origins": "window",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
