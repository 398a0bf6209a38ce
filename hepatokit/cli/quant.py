"""``hepatokit quant`` (tissue composition per region) and ``evaluate regions``."""

from __future__ import annotations

import functools
from pathlib import Path

import typer

from hepatokit.cli.common import console, options, reports_errors

__all__ = ["register"]


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    """Add ``quant`` to the root app and ``regions`` to ``evaluate``."""

    @app.command("quant")
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
    ) -> None:
        """Tissue composition per tumor / non-tumor region of whole-slide images."""
        from hepatokit.quant import ProbeTileClassifier, QuantSettings, quantify_slides

        opts = options(ctx)
        settings = QuantSettings(
            target_magnification=magnification,
            patch_size=patch_size,
            mpp=mpp,
            mask_downsample=mask_downsample,
        )
        make = functools.partial(ProbeTileClassifier, encoder, head, device)
        summary = quantify_slides(
            slides,
            make_classifier=make,
            regions=regions,
            out=out,
            settings=settings,
            workers=opts.workers or 1,
        )
        console.print(
            f"[green]quantified[/] {summary['quantified']}/{summary['slides']} slides → {out}"
        )
        for item in summary["excluded"]:
            console.print(f"[yellow]excluded[/] {item['slide']}: {item['error']}")

    @groups["evaluate"].command("regions")
    @reports_errors
    def evaluate_regions_cmd(
        pred: Path = typer.Option(..., help="Predicted regions: a file or a folder."),
        truth: Path = typer.Option(..., help="Reference regions: a file or a folder."),
        out: Path = typer.Option(..., help="Report folder."),
        pred_downsample: float | None = typer.Option(None, help="Level-0 px per pred mask px."),
        truth_downsample: float | None = typer.Option(None, help="Level-0 px per truth mask px."),
    ) -> None:
        """IoU, Dice, precision, recall, F1 of tumor-region masks per slide and overall."""
        from hepatokit.quant import evaluate_regions

        result = evaluate_regions(
            pred=pred,
            truth=truth,
            out=out,
            pred_downsample=pred_downsample,
            truth_downsample=truth_downsample,
        )
        o = result.overall
        console.print(
            f"IoU {o.iou:.4f}  Dice {o.dice:.4f}  ({len(result.per_slide)} slides) → {out}"
        )
