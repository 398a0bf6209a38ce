"""HepatoQuant region segmentation: a tumor / non-tumor model of whole slides.

Training data from annotated slides (:mod:`~hepatokit.quant.segment.data`), the model — a
frozen foundation encoder with LoRA adapters or the built-in small CNN, and a light decoder
(:mod:`~hepatokit.quant.segment.model`), training (:func:`train_region_model`) and
sliding-window inference into masks, GeoJSON and overlays (:func:`predict_regions`).
Torch is imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

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


if TYPE_CHECKING:  # the names of _EXPORTS, for type checkers (tests keep both in step)
    from hepatokit.quant.segment.data import (
        WindowSampler as WindowSampler,
        read_hepatobench_slides as read_hepatobench_slides,
        read_slide_image as read_slide_image,
        split_slides as split_slides,
    )
    from hepatokit.quant.segment.model import (
        LoraSettings as LoraSettings,
        RegionModelSpec as RegionModelSpec,
        build_region_model as build_region_model,
        count_lora_parameters as count_lora_parameters,
        load_region_model as load_region_model,
        save_region_model as save_region_model,
    )
    from hepatokit.quant.segment.predict import (
        PredictSettings as PredictSettings,
        mask_polygons as mask_polygons,
        predict_regions as predict_regions,
    )
    from hepatokit.quant.segment.train import (
        train_region_model as train_region_model,
    )
    from hepatokit.quant.segment.window import (
        predict_logits as predict_logits,
        window_origins as window_origins,
    )


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
