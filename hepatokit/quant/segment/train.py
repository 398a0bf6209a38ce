"""``hepatokit quant regions-train``: train the tumor / non-tumor region model on annotated
slides (slide-level train / validation split; HepatoBench slides never in a test split)."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
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
    from hepatokit.baselines.devices import select_device

    out = Path(out)
    images, ledger = _read_training_slides(
        slides, annotations, model_mpp=model_mpp, mpp=mpp, mask_downsample=mask_downsample
    )
    split = _split(images, validation_fraction, seed=seed, hepatobench_slides=hepatobench_slides)
    train = [s for s in images if split[s.slide_id] == "train"]
    val = [s for s in images if split[s.slide_id] != "train"]
    plan = select_device(device)
    run = _setup(encoder, lora, model_mpp=model_mpp, window=window, seed=seed, plan=plan,
                 learning_rate=learning_rate,
                 total_steps=epochs * max(1, windows_per_epoch // batch_size))  # fmt: skip
    sampler = WindowSampler(train, size=window, per_epoch=windows_per_epoch, seed=seed)
    losses, seen, elapsed, validation = _fit(
        run, sampler, val, epochs=epochs, batch_size=batch_size, plan=plan, seed=seed,
        threads=threads,
    )  # fmt: skip
    run.model.cpu()
    record = {
        "slides": {s.slide_id: split[s.slide_id] for s in images},
        "epochs": epochs,
        "windows_per_epoch": windows_per_epoch,
        "batch_size": batch_size,
        "learning_rate": run.lr,
        "loss_per_epoch": [round(v, 6) for v in losses],
        "train_seconds": round(elapsed, 3),
        "train_windows_per_s": round(seen / elapsed, 2) if elapsed > 0 else None,
        "validation": validation,
        "device": plan.device,
        "hepatobench_slides_in_train": sorted(set(hepatobench_slides) & set(split)),
    }
    save_region_model(run.model, run.spec, out, training=record)
    Manifest(out).record("regions_train", ledger, introduces=True)
    return record


def _read_training_slides(
    slides: Sequence[str | os.PathLike[str]] | str | os.PathLike[str],
    annotations: str | os.PathLike[str],
    *,
    model_mpp: float,
    mpp: float | None,
    mask_downsample: float | None,
) -> tuple[list[SlideImage], list[Any]]:
    """The annotated slides and their ledger rows; an error when none is usable."""
    paths = list_slides(slides)
    if not paths:
        raise DataFormatError("no slides found", path=str(slides), hint="give slide files/folders")
    images, ledger = load_annotated_slides(paths, annotations=annotations, model_mpp=model_mpp,
                                           mpp=mpp, mask_downsample=mask_downsample)  # fmt: skip
    if not images:
        raise DataFormatError("no readable annotated slide", path=str(annotations),
                              hint="see the excluded slides in the manifest")  # fmt: skip
    return images, ledger


def _split(
    images: Sequence[SlideImage],
    validation_fraction: float,
    *,
    seed: int,
    hepatobench_slides: Iterable[str],
) -> dict[str, str]:
    """Slide id → ``train`` / ``validation`` (all ``train`` with fewer than two slides)."""
    ratios = {"train": 1 - validation_fraction, "validation": validation_fraction}
    if len(images) < 2:
        ratios = {"train": 1.0}
    return split_slides([s.slide_id for s in images], ratios=ratios, seed=seed,
                        hepatobench_slides=hepatobench_slides)  # fmt: skip


@dataclass
class _TrainingRun:
    """The model being trained, its spec, the optimiser, the LR schedule and the peak LR."""

    model: Any
    spec: RegionModelSpec
    opt: Any
    sched: Any
    lr: float


def _setup(
    encoder: str,
    lora: LoraSettings | None,
    *,
    model_mpp: float,
    window: int,
    seed: int,
    plan: Any,
    learning_rate: float | None,
    total_steps: int,
) -> _TrainingRun:
    """Build the model of the spec on the plan's device with AdamW and a one-cycle schedule."""
    import torch

    dev = torch.device(plan.device)
    builtin = encoder.startswith("builtin:")
    spec = RegionModelSpec(encoder=encoder, model_mpp=model_mpp, window=window,
                           lora=None if builtin else (lora or LoraSettings()),
                           extra={"seed": seed})  # fmt: skip
    model = build_region_model(spec)
    if not builtin:
        spec = RegionModelSpec(**{**spec.__dict__, "base_fingerprint": base_fingerprint(model)})
    model.to(dev)
    params = [p for p in model.parameters() if p.requires_grad]
    lr = learning_rate or (3e-3 if builtin else 1e-3)
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=lr, total_steps=total_steps, pct_start=0.15
    )
    return _TrainingRun(model, spec, opt, sched, lr)


def _fit(
    run: _TrainingRun,
    sampler: WindowSampler,
    val: Sequence[SlideImage],
    *,
    epochs: int,
    batch_size: int,
    plan: Any,
    seed: int,
    threads: int | None,
) -> tuple[list[float], int, float, dict[str, dict[str, float]]]:
    """Train ``epochs`` epochs, then validate: (mean loss per epoch, windows seen, seconds of
    training, validation scores). Torch's thread count is restored afterwards."""
    import torch

    from hepatokit.progress import track

    dev = torch.device(plan.device)
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
            loss, n = _train_epoch(
                run, sampler, batch_size=batch_size, dev=dev, amp=(amp, amp_dtype)
            )
            losses.append(loss / max(1, sampler.per_epoch))
            seen += n
        elapsed = time.perf_counter() - t0
        validation = _validate(run.model, val, window=sampler.size, plan=plan)
    finally:
        torch.set_num_threads(old_threads)
    return losses, seen, elapsed, validation


def _train_epoch(
    run: _TrainingRun, sampler: WindowSampler, *, batch_size: int, dev: Any, amp: tuple[bool, Any]
) -> tuple[float, int]:
    """One pass over the sampler's windows in full batches: (summed loss, windows seen)."""
    import torch

    from hepatokit.quant.segment.window import normalise

    run.model.train()
    total, seen = 0.0, 0
    for b in range(0, sampler.per_epoch - batch_size + 1, batch_size):
        items = [sampler[i] for i in range(b, b + batch_size)]
        x = torch.from_numpy(np.stack([a for a, _ in items])).permute(0, 3, 1, 2)
        y = torch.from_numpy(np.stack([lab for _, lab in items]))
        x, y = normalise(x.to(dev)), y.to(dev)
        with torch.autocast(dev.type, dtype=amp[1], enabled=amp[0]):
            loss = _dice_ce(run.model(x), y)
        run.opt.zero_grad(set_to_none=True)
        loss.backward()
        run.opt.step()
        run.sched.step()
        total += float(loss.detach()) * len(items)
        seen += len(items)
    return total, seen


def _validate(
    model: Any, val: Sequence[SlideImage], *, window: int, plan: Any
) -> dict[str, dict[str, float]]:
    """IoU and Dice of the tumor class per validation slide (labelled pixels only)."""
    from hepatokit.quant.region_metrics import mask_scores
    from hepatokit.quant.segment.window import predict_logits

    validation = {}
    for s in val:
        logits, _ = predict_logits(model, s.image, s.tissue, window=window, plan=plan)
        assert s.labels is not None
        valid = s.labels != IGNORE
        pred = np.nan_to_num(logits, nan=-1.0) > 0
        sc = mask_scores(pred[valid], s.labels[valid] == 1)
        validation[s.slide_id] = {"iou": sc.iou, "dice": sc.dice}
    return validation
