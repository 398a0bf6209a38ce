"""``hepatokit synth mri|patho|wsi``: synthetic raw data with planted ground truth."""

from __future__ import annotations

from pathlib import Path

import typer

from hepatokit.cli.common import console, options, reports_errors

__all__ = ["register"]


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    """Add ``synth mri``, ``synth patho`` and ``synth wsi``."""
    group = groups["synth"]

    @group.command("mri")
    @reports_errors
    def synth_mri(
        ctx: typer.Context,
        out: Path = typer.Argument(..., help="Folder to write the DICOM tree, labels and truth."),
        patients: int = typer.Option(36, min=1, help="Number of patients."),
        seed: int = typer.Option(0, help="Random seed (same seed → byte-identical files)."),
        offsets_deg: float = typer.Option(
            0.0, min=0.0, help="Plant a rigid offset per sequence: rotation up to this (°)."
        ),
        offsets_mm: float = typer.Option(
            0.0, min=0.0, help="Plant a rigid offset per sequence: translation up to this (mm)."
        ),
    ) -> None:
        """Multi-center DICOM liver MRI studies with planted PHI, bad files and truth.json."""
        from hepatokit.synthetic.mri import generate_mri_studies

        opts = options(ctx)
        offsets = (offsets_deg, offsets_mm) if offsets_deg or offsets_mm else None
        summary = generate_mri_studies(
            out, patients=patients, seed=seed, workers=opts.workers, sequence_offsets=offsets
        )
        console.print(f"[green]wrote[/] {summary}")

    @group.command("patho")
    @reports_errors
    def synth_patho(
        ctx: typer.Context,
        out: Path = typer.Argument(..., help="Folder for the class-folder patch tree."),
        patches: int = typer.Option(2000, min=1, help="Number of clean patches."),
        seed: int = typer.Option(0, help="Random seed (same seed → byte-identical files)."),
    ) -> None:
        """H&E-like patches in 7 classes with planted duplicates and QC failures."""
        from hepatokit.synthetic.patho import generate_patches

        opts = options(ctx)
        summary = generate_patches(out, patches=patches, seed=seed, workers=opts.workers)
        console.print(f"[green]wrote[/] {summary}")

    @group.command("wsi")
    @reports_errors
    def synth_wsi(
        ctx: typer.Context,
        out: Path = typer.Argument(..., help="Folder for the pyramidal TIFFs and GeoJSONs."),
        slides: int = typer.Option(2, min=1, help="Number of slides."),
        seed: int = typer.Option(0, help="Random seed (same seed → byte-identical files)."),
    ) -> None:
        """Pyramidal TIFF whole-slide images with planted tissue layout and tumor polygon."""
        from hepatokit.synthetic.wsi import generate_wsis

        opts = options(ctx)
        summary = generate_wsis(out, slides=slides, seed=seed, workers=opts.workers)
        console.print(f"[green]wrote[/] {summary}")
