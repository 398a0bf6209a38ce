"""``hepatokit patho …``: HepatoBench curation (ingest / tile → qc → dedup, calibrations)."""

from __future__ import annotations

from pathlib import Path

import typer

from hepatokit.cli.common import console, options, reports_errors

__all__ = ["register"]

_RECIPE = typer.Option(
    None, "--recipe", help="Recipe YAML or name (default: BUILD/recipe.yaml, else hepatobench)."
)
_KEY_FILE = typer.Option(
    None,
    "--key-file",
    help="File holding the slide pseudonym key (else $HEPATOKIT_DEID_KEY, else a random key "
    "kept in BUILD/private/).",
)


@reports_errors
def ingest(
    ctx: typer.Context,
    root: Path = typer.Argument(..., help="Class-folder root, or a CSV/parquet patch table."),
    out: Path = typer.Option(..., "--out", "-o", help="Build folder."),
    recipe: Path | None = _RECIPE,
    allow_outside_root: bool = typer.Option(
        False, "--allow-outside-root", help="Let a table's paths lead outside its folder."
    ),
    key_file: Path | None = _KEY_FILE,
) -> None:
    """Record every patch file (decoded once: size, hashes, QC scores) in BUILD."""
    from hepatokit.curation.patho.ingest.stage import ingest_patches
    from hepatokit.parallel import make_executor

    opts = options(ctx)
    with make_executor(workers=opts.workers, dask_address=opts.dask) as ex:
        summary = ingest_patches(
            root=root,
            out=out,
            recipe=recipe,
            workers=opts.workers,
            executor=ex,
            allow_outside_root=allow_outside_root,
            key_file=key_file,
        )
    console.print(f"[green]ingest[/] {summary}")


@reports_errors
def tile(
    ctx: typer.Context,
    slides: Path = typer.Argument(..., help="A slide file or a folder of slides."),
    out: Path = typer.Option(..., "--out", "-o", help="Build folder."),
    recipe: Path | None = _RECIPE,
    annotations: Path | None = typer.Option(
        None, help="Folder of QuPath GeoJSON files named like the slides."
    ),
    mpp: float | None = typer.Option(
        None,
        min=0.01,
        help="Level-0 µm/px for slides without resolution metadata (slides with their "
        "own mpp / objective power keep it).",
    ),
    force_mpp: bool = typer.Option(
        False, "--force-mpp", help="Apply --mpp to every slide, overriding its metadata."
    ),
    key_file: Path | None = _KEY_FILE,
) -> None:
    """Tile whole-slide images: tissue detection, tiles at the target magnification."""
    from hepatokit.curation.patho.wsi.stage import tile_slides
    from hepatokit.parallel import make_executor

    opts = options(ctx)
    with make_executor(workers=opts.workers, dask_address=opts.dask) as ex:
        summary = tile_slides(slides=slides, out=out, recipe=recipe, annotations=annotations,
                              mpp=mpp, force_mpp=force_mpp, workers=opts.workers,
                              executor=ex, key_file=key_file)  # fmt: skip
    console.print(f"[green]tile[/] {summary}")
    if summary.excluded.get("no_mpp"):
        console.print(
            f"[yellow]{summary.excluded['no_mpp']} slide(s) have no mpp / objective power: "
            "re-run with --mpp (µm per level-0 pixel) to tile them[/]"
        )


@reports_errors
def qc(
    ctx: typer.Context,
    build: Path = typer.Argument(..., help="Build folder after ingest / tile."),
    recipe: Path | None = _RECIPE,
) -> None:
    """Apply the recipe's QC thresholds (blur, background, stain, pen) to every patch."""
    from hepatokit.curation.patho.qc.stage import qc_patches
    from hepatokit.parallel import make_executor

    opts = options(ctx)
    with make_executor(workers=opts.workers, dask_address=opts.dask) as ex:
        summary = qc_patches(build=build, recipe=recipe, workers=opts.workers, executor=ex)
    console.print(f"[green]qc[/] {summary}")


@reports_errors
def qc_calibrate(
    ctx: typer.Context,
    build: Path = typer.Argument(..., help="Build folder after ingest / tile."),
    recipe: Path | None = _RECIPE,
    per_score: int = typer.Option(6, min=1, help="Patches shown at each end of a score."),
) -> None:
    """Print QC score distributions per class; PNG of the lowest/highest patches."""
    from hepatokit.curation.patho.qc.calibrate import calibrate_qc

    opts = options(ctx)
    cal = calibrate_qc(build=build, recipe=recipe, per_score=per_score, workers=opts.workers)
    typer.echo(cal.text)


@reports_errors
def dedup(
    ctx: typer.Context,
    build: Path = typer.Argument(..., help="Build folder after qc."),
    recipe: Path | None = _RECIPE,
    radius: int | None = typer.Option(
        None, min=0, max=63, help="pHash Hamming radius (default: recipe dedup.phash_radius)."
    ),
) -> None:
    """Remove exact (MD5 / pixel) and near (pHash) duplicates; flag label conflicts."""
    from hepatokit.curation.patho.dedup.stage import dedup_patches
    from hepatokit.parallel import make_executor

    opts = options(ctx)
    with make_executor(workers=opts.workers, dask_address=opts.dask) as ex:
        summary = dedup_patches(build=build, recipe=recipe, radius=radius, workers=opts.workers,
                            executor=ex)  # fmt: skip
    console.print(f"[green]dedup[/] {summary}")


@reports_errors
def dedup_calibrate(
    build: Path = typer.Argument(..., help="Build folder after ingest (and qc)."),
    sample: int = typer.Option(2000, min=10, help="Patches whose nearest neighbour is found."),
    reencode: int = typer.Option(200, min=1, help="Patches re-encoded as known duplicates."),
    seed: int = typer.Option(0, help="Sampling seed."),
) -> None:
    """Print nearest-neighbour vs re-encoding pHash distances; suggest a radius."""
    from hepatokit.curation.patho.dedup.calibrate import calibrate_dedup

    cal = calibrate_dedup(build=build, sample=sample, reencode_sample=reencode, seed=seed)
    typer.echo(cal.text)


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    """Add ``patho ingest|tile|qc|qc-calibrate|dedup|dedup-calibrate``."""
    group = groups["patho"]
    group.command("ingest")(ingest)
    group.command("tile")(tile)
    group.command("qc")(qc)
    group.command("qc-calibrate")(qc_calibrate)
    group.command("dedup")(dedup)
    group.command("dedup-calibrate")(dedup_calibrate)
