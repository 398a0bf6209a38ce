"""``hepatokit quant`` (tissue composition per region), ``quant regions-train`` /
``quant regions-predict`` (the region model) and ``evaluate regions``.

``quant`` is a group whose default command is ``run``: ``hepatokit quant SLIDES ...`` is
``hepatokit quant run SLIDES ...``."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperGroup

from hepatokit.cli.common import console, options, reports_errors

__all__ = ["register"]


class _DefaultRun(TyperGroup):
    """A group that runs ``run`` when the first argument is not one of its commands."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


@reports_errors
def quant(
    ctx: typer.Context,
    slides: list[Path] = typer.Argument(..., help="Slide files or folders of slides."),
    encoder: str = typer.Option(..., help="Encoder spec the head was trained on."),
    head: Path = typer.Option(..., help="Linear head file from `baseline probe`."),
    regions: str = typer.Option(
        "none", help="GeoJSON / mask file, a folder of per-slide region files, or 'none'."
    ),
    out: Path = typer.Option(..., help="Output folder (one sub-folder per slide)."),
    mask_downsample: float | None = typer.Option(
        None, help="Level-0 px per mask px, for mask images."
    ),
    mpp: float | None = typer.Option(None, help="Level-0 µm/px for slides without it."),
    magnification: float = typer.Option(20.0, help="Tile magnification."),
    patch_size: int = typer.Option(150, help="Tile size in px at that magnification."),
    device: str = typer.Option("auto", help="cpu, cuda, cuda:N or auto."),
    regions_model: Path | None = typer.Option(
        None, help="Region model folder (quant regions-train) for slides without regions."
    ),
    tile_overlap: float = typer.Option(
        0.0, help="Overlap fraction [0, 1) of tiles combined per tissue-map cell (0: off)."
    ),
) -> None:
    """Tissue composition per tumor / non-tumor region of whole-slide images (default)."""
    from hepatokit.quant import ProbeTileClassifier, QuantSettings, quantify_slides

    opts = options(ctx)
    settings = QuantSettings(
        target_magnification=magnification,
        patch_size=patch_size,
        mpp=mpp,
        mask_downsample=mask_downsample,
        tile_overlap=tile_overlap,
    )
    make = functools.partial(ProbeTileClassifier, encoder, head, device)
    summary = quantify_slides(
        slides,
        make_classifier=make,
        regions=regions,
        out=out,
        settings=settings,
        workers=opts.workers or 1,
        regions_model=regions_model,
        device=device,
    )
    console.print(
        f"[green]quantified[/] {summary['quantified']}/{summary['slides']} slides → {out}"
    )
    for item in summary["excluded"]:
        console.print(f"[yellow]excluded[/] {item['slide']}: {item['error']}")


@reports_errors
def regions_train(
    slides: list[Path] = typer.Option(..., help="Slide files or folders of slides."),
    annotations: Path = typer.Option(
        ..., help="Folder of tumor annotations: <stem>.geojson (QuPath) or <stem>_mask.png."
    ),
    out: Path = typer.Option(..., help="Model folder to write."),
    encoder: str = typer.Option(
        "builtin:seg-cnn", help="builtin:seg-cnn, monai-vit:SIZE, local:FILE, timm:, hf:."
    ),
    epochs: int = typer.Option(16, min=1, help="Training epochs."),
    windows_per_epoch: int = typer.Option(256, min=1, help="Windows sampled per epoch."),
    window: int = typer.Option(96, min=16, help="Window size in px at the model's mpp."),
    model_mpp: float = typer.Option(8.0, help="Model resolution in µm/px (8 ≈ 1.25×)."),
    lora_rank: int = typer.Option(16, help="LoRA rank (ViT encoders)."),
    lora_alpha: int = typer.Option(16, help="LoRA alpha (ViT encoders)."),
    validation_fraction: float = typer.Option(0.2, help="Share of slides for validation."),
    hepatobench: Path | None = typer.Option(
        None, help="HepatoBench patch table (.csv/.parquet with slide_id) or .txt of slides."
    ),
    mask_downsample: float | None = typer.Option(None, help="Level-0 px per mask px."),
    mpp: float | None = typer.Option(None, help="Level-0 µm/px for slides without it."),
    device: str = typer.Option("auto", help="cpu, cuda, cuda:N or auto."),
    threads: int | None = typer.Option(None, help="CPU threads for torch."),
    seed: int = typer.Option(0, help="Seed (split, windows, initialisation)."),
) -> None:
    """Train the tumor / non-tumor region model on annotated slides."""
    from hepatokit.quant.segment import LoraSettings, read_hepatobench_slides
    from hepatokit.quant.segment.train import train_region_model

    record = train_region_model(
        slides=slides, annotations=annotations, out=out, encoder=encoder, epochs=epochs,
        windows_per_epoch=windows_per_epoch, window=window, model_mpp=model_mpp,
        lora=LoraSettings(rank=lora_rank, alpha=lora_alpha),
        validation_fraction=validation_fraction,
        hepatobench_slides=read_hepatobench_slides(hepatobench) if hepatobench else (),
        mask_downsample=mask_downsample, mpp=mpp, device=device, threads=threads, seed=seed,
    )  # fmt: skip
    val = record["validation"]
    text = ", ".join(f"{k} IoU {v['iou']:.3f}" for k, v in sorted(val.items()))
    console.print(f"[green]trained[/] → {out} ({record['train_windows_per_s']} windows/s)")
    if text:
        console.print(f"validation: {text}")


@reports_errors
def regions_predict(
    slides: list[Path] = typer.Argument(..., help="Slide files or folders of slides."),
    model: Path = typer.Option(..., help="Region model folder (quant regions-train)."),
    out: Path = typer.Option(..., help="Output folder."),
    overlap: float = typer.Option(0.5, help="Window overlap fraction [0, 1)."),
    blend: str = typer.Option("gaussian", help="gaussian or mean (of logits)."),
    batch_size: int = typer.Option(16, min=1, help="Windows per batch."),
    fill_holes_um2: float = typer.Option(0.0, help="Fill non-tumor holes below this area."),
    min_tumor_um2: float = typer.Option(0.0, help="Drop tumor islands below this area."),
    mpp: float | None = typer.Option(None, help="Level-0 µm/px for slides without it."),
    device: str = typer.Option("auto", help="cpu, cuda, cuda:N or auto."),
    threads: int | None = typer.Option(None, help="CPU threads for torch."),
) -> None:
    """Draw tumor / non-tumor regions: <stem>.geojson, <stem>_mask.png, overlay."""
    from hepatokit.quant.segment.predict import PredictSettings, predict_regions

    settings = PredictSettings(overlap=overlap, blend=blend, batch_size=batch_size,
                               fill_holes_um2=fill_holes_um2, min_tumor_um2=min_tumor_um2,
                               mpp=mpp)  # fmt: skip
    summary = predict_regions(slides, model=model, out=out, settings=settings,
                              device=device, threads=threads)  # fmt: skip
    console.print(
        f"[green]predicted[/] {summary['predicted']} (+{summary['skipped']} done before) "
        f"of {summary['slides']} slides → {out}"
    )
    for item in summary["excluded"]:
        console.print(f"[yellow]excluded[/] {item['slide']}: {item['error']}")


@reports_errors
def evaluate_regions_cmd(
    pred: Path = typer.Option(..., help="Predicted regions: a file or a folder."),
    truth: Path = typer.Option(..., help="Reference regions: a file or a folder."),
    out: Path = typer.Option(..., help="Report folder."),
    pred_downsample: float | None = typer.Option(None, help="Level-0 px per pred mask px."),
    truth_downsample: float | None = typer.Option(None, help="Level-0 px per truth mask px."),
    slides: Path | None = typer.Option(
        None, help="Folder of the slides: adds the non_tumor class (tissue detector)."
    ),
    n_resamples: int = typer.Option(1000, min=0, help="Bootstrap resamples over slides."),
    seed: int = typer.Option(0, help="Bootstrap seed."),
) -> None:
    """IoU, Dice, precision, recall, F1 per class and slide, pooled, with bootstrap CIs."""
    from hepatokit.quant import evaluate_regions

    result = evaluate_regions(
        pred=pred,
        truth=truth,
        out=out,
        pred_downsample=pred_downsample,
        truth_downsample=truth_downsample,
        slides=slides,
        n_resamples=n_resamples,
        seed=seed,
    )
    for cls, cis in result.ci.items() or {"tumor": {}}.items():
        iou = cis.get("iou")
        text = f" [{iou.low:.4f}, {iou.high:.4f}]" if iou is not None else ""
        console.print(f"{cls}: IoU {iou.estimate if iou else result.overall.iou:.4f}{text}")
    o = result.overall
    console.print(
        f"tumor IoU {o.iou:.4f}  Dice {o.dice:.4f}  ({len(result.per_slide)} slides) → {out}"
    )


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    """Add ``quant`` to the root app and ``regions`` to ``evaluate``."""
    quant_app = typer.Typer(
        cls=_DefaultRun,
        help="Tissue composition per tumor / non-tumor region; the region model.",
        no_args_is_help=True,
    )
    app.add_typer(quant_app, name="quant")
    quant_app.command("run")(quant)
    quant_app.command("regions-train")(regions_train)
    quant_app.command("regions-predict")(regions_predict)
    groups["evaluate"].command("regions")(evaluate_regions_cmd)
