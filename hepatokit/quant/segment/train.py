"""``hepatokit quant regions-train``: train the tumor / non-tumor region model on annotated
slides (slide-level train / validation split; HepatoBench slides never in a test split)."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hepatokit.curation.patho.wsi.slides import SlideError
from hepatokit.errors import DataFormatError
from hepatokit.manifest import Manifest, excluded, kept, stable_id
from hepatokit.quant.segment.data import (
    IGNORE,
    SlideImage,
    WindowSampler,
    find_annotation,
    read_slide_image,
    split_slides,
)
from hepatokit.quant.segment.model import (
    LoraSettings,
    RegionModelSpec,
    base_fingerprint,
    build_region_model,
    save_region_model,
)

__all__ = ["list_slides", "load_annotated_slides", "train_region_model"]

log = logging.getLogger("hepatokit.quant.segment")
SLIDE_SUFFIXES = (".svs", ".tif", ".tiff", ".ndpi", ".mrxs", ".scn", ".bif", ".vms", ".svslide")


def list_slides(slides: Sequence[str | os.PathLike[str]] | str | os.PathLike[str]) -> list[Path]:
    """Slide files given directly or found (by suffix) in folders, in sorted order."""
    items = [slides] if isinstance(slides, str | os.PathLike) else list(slides)
    found: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            found.extend(sorted(q for q in p.iterdir() if q.suffix.lower() in SLIDE_SUFFIXES))
        else:
            found.append(p)
    return found


def load_annotated_slides(
    slides: Sequence[Path],
    *,
    annotations: str | os.PathLike[str],
    model_mpp: float,
    mpp: float | None = None,
    mask_downsample: float | None = None,
) -> tuple[list[SlideImage], list[Any]]:
    """Read every slide with its annotation; unreadable / unannotated slides are excluded
    (ledger rows returned with the images)."""
    images, ledger = [], []
    for p in slides:
        sid = stable_id("slide", p.name)
        try:
            source = find_annotation(annotations, p, mask_downsample=mask_downsample)
            img = read_slide_image(p, model_mpp=model_mpp, mpp=mpp, regions=source)
        except SlideError as exc:
            log.warning("%s: excluded: %s", p.name, exc.message)
            ledger.append(excluded(sid, kind="slide", stage="regions_train", source=p.name,
                                   reason=f"slide_{exc.reason}", detail=exc.message))  # fmt: skip
            continue
        except DataFormatError as exc:
            log.warning("%s: excluded: %s", p.name, exc.message)
            ledger.append(excluded(sid, kind="slide", stage="regions_train", source=p.name,
                                   reason="annotation", detail=exc.message))  # fmt: skip
            continue
        images.append(img)
        ledger.append(kept(sid, kind="slide", stage="regions_train", source=p.name))
    return images, ledger


def _dice_ce(logits: Any, target: Any) -> Any:
    """Cross-entropy + soft Dice of the tumor class over the labelled (tissue) pixels."""
    import torch
    import torch.nn.functional as F

    ce = F.cross_entropy(logits.float(), target.long(), ignore_index=IGNORE)
    valid = (target != IGNORE).float()
    prob = torch.softmax(logits.float(), 1)[:, 1] * valid
    truth = (target == 1).float() * valid
    inter = (prob * truth).sum()
    dice = 1 - (2 * inter + 1) / (prob.sum() + truth.sum() + 1)
    return ce + dice


def train_region_model(
    *,
    slides: Sequence[str | os.PathLike[str]] | str | os.PathLike[str],
    annotations: str | os.PathLike[str],
    out: str | os.PathLike[str],
    encoder: str = "builtin:seg-cnn",
    epochs: int = 16,
    windows_per_epoch: int = 256,
    batch_size: int = 16,
    window: int = 96,
    model_mpp: float = 8.0,
    learning_rate: float | None = None,
    lora: LoraSettings | None = None,
    validation_fraction: float = 0.2,
    hepatobench_slides: Iterable[str] = (),
    mask_downsample: float | None = None,
    mpp: float | None = None,
    device: str = "auto",
    seed: int = 0,
    threads: int | None = None,
) -> dict[str, Any]:
    """Train a region model and save it to ``out`` (``region_model.json`` + weights).

    Parameters
    ----------
    slides, annotations
        Slide files / folders, and the folder of their tumor annotations (QuPath GeoJSON
        ``<stem>.geojson`` or masks ``<stem>_mask.png``, see :func:`find_annotation`).
    encoder, lora
        Encoder spec (:mod:`hepatokit.quant.segment.model`) and LoRA settings (ViT encoders).
    epochs, windows_per_epoch, batch_size, window, model_mpp
        Training length, windows per epoch (balanced tumor / non-tumor), batch, window size
        (px at the model's resolution) and that resolution in µm/px (8.0 ≈ 1.25×).
    validation_fraction
        Share of slides held out (slide-level, ``hepatokit.splits``) and scored at the end.
    hepatobench_slides
        Slides that built the HepatoBench patch set: pinned to ``train`` (never validation /
        test), checked.

    Returns
    -------
    dict
        The training record (also in ``region_model.json``): split, losses per epoch,
        validation IoU per slide, windows/s, settings.
    """
    import torch

    from hepatokit.baselines.devices import select_device
    from hepatokit.progress import track
    from hepatokit.quant.region_metrics import mask_scores
    from hepatokit.quant.segment.window import normalise, predict_logits

    out = Path(out)
    paths = list_slides(slides)
    if not paths:
        raise DataFormatError("no slides found", path=str(slides), hint="give slide files/folders")
    images, ledger = load_annotated_slides(paths, annotations=annotations, model_mpp=model_mpp,
                                           mpp=mpp, mask_downsample=mask_downsample)  # fmt: skip
    if not images:
        raise DataFormatError("no readable annotated slide", path=str(annotations),
                              hint="see the excluded slides in the manifest")  # fmt: skip
    ratios = {"train": 1 - validation_fraction, "validation": validation_fraction}
    if len(images) < 2:
        ratios = {"train": 1.0}
    split = split_slides([s.slide_id for s in images], ratios=ratios, seed=seed,
                         hepatobench_slides=hepatobench_slides)  # fmt: skip
    train = [s for s in images if split[s.slide_id] == "train"]
    val = [s for s in images if split[s.slide_id] != "train"]
    plan = select_device(device)
    dev = torch.device(plan.device)
    builtin = encoder.startswith("builtin:")
    spec = RegionModelSpec(encoder=encoder, model_mpp=model_mpp, window=window,
                           lora=None if builtin else (lora or LoraSettings()),
                           extra={"seed": seed})  # fmt: skip
    model = build_region_model(spec)
    if not encoder.startswith("builtin:"):
        spec = RegionModelSpec(**{**spec.__dict__, "base_fingerprint": base_fingerprint(model)})
    model.to(dev)
    params = [p for p in model.parameters() if p.requires_grad]
    lr = learning_rate or (3e-3 if encoder.startswith("builtin:") else 1e-3)
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=1e-4)
    steps = epochs * max(1, windows_per_epoch // batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.15)
    sampler = WindowSampler(train, size=window, per_epoch=windows_per_epoch, seed=seed)
    # bf16 autocast on CUDA; fp16 would need a gradient scaler, so without bf16: fp32
    amp = plan.amp and dev.type == "cuda" and plan.amp_dtype == "bfloat16"
    amp_dtype = getattr(torch, plan.amp_dtype)
    losses: list[float] = []
    torch.manual_seed(seed)
    t0, seen = time.perf_counter(), 0
    old_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        for epoch in track(range(epochs), "training region model", total=epochs):
            sampler.epoch = epoch
            model.train()
            total = 0.0
            for b in range(0, windows_per_epoch - batch_size + 1, batch_size):
                items = [sampler[i] for i in range(b, b + batch_size)]
                x = torch.from_numpy(np.stack([a for a, _ in items])).permute(0, 3, 1, 2)
                y = torch.from_numpy(np.stack([lab for _, lab in items]))
                x, y = normalise(x.to(dev)), y.to(dev)
                with torch.autocast(dev.type, dtype=amp_dtype, enabled=amp):
                    loss = _dice_ce(model(x), y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                total += float(loss.detach()) * len(items)
                seen += len(items)
            losses.append(total / max(1, windows_per_epoch))
        elapsed = time.perf_counter() - t0
        validation = {}
        for s in val:
            logits, _ = predict_logits(model, s.image, s.tissue, window=window, plan=plan)
            assert s.labels is not None
            valid = s.labels != IGNORE
            pred = np.nan_to_num(logits, nan=-1.0) > 0
            sc = mask_scores(pred[valid], s.labels[valid] == 1)
            validation[s.slide_id] = {"iou": sc.iou, "dice": sc.dice}
    finally:
        torch.set_num_threads(old_threads)
    model.cpu()
    record = {
        "slides": {s.slide_id: split[s.slide_id] for s in images},
        "epochs": epochs,
        "windows_per_epoch": windows_per_epoch,
        "batch_size": batch_size,
        "learning_rate": lr,
        "loss_per_epoch": [round(v, 6) for v in losses],
        "train_seconds": round(elapsed, 3),
        "train_windows_per_s": round(seen / elapsed, 2) if elapsed > 0 else None,
        "validation": validation,
        "device": plan.device,
        "hepatobench_slides_in_train": sorted(set(hepatobench_slides) & set(split)),
    }
    save_region_model(model, spec, out, training=record)
    Manifest(out).record("regions_train", ledger, introduces=True)
    return record
