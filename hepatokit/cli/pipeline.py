"""``hepatokit build`` (a recipe's whole chain) and ``hepatokit demo`` (everything)."""

from __future__ import annotations

from pathlib import Path

import typer

from hepatokit.cli.common import console, options, reports_errors

__all__ = ["register"]


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    """Add ``build``, ``report`` and ``demo`` to the root app."""

    @app.command("build")
    @reports_errors
    def build(
        ctx: typer.Context,
        recipe: str = typer.Argument(..., help="Recipe file or name (lifs, hepatobench)."),
        raw: Path = typer.Option(..., help="Raw input: DICOM tree, patch folder or slides."),
        out: Path = typer.Option(..., help="Build folder."),
        labels: Path | None = typer.Option(None, help="Clinical label CSV (MRI recipes)."),
        mpp: float | None = typer.Option(None, help="Level-0 µm/px for slides without it."),
        force_mpp: bool = typer.Option(
            False, "--force-mpp", help="Apply --mpp to every slide, overriding its metadata."
        ),
        demo_key: bool = typer.Option(
            False, help="Synthetic data only: use the built-in de-identification key."
        ),
        key_file: Path | None = typer.Option(
            None, "--key-file", help="File holding the pseudonym key (else $HEPATOKIT_DEID_KEY)."
        ),
        break_lock: bool = typer.Option(
            False, "--break-lock", help="Break a lock left in OUT by a run on another host."
        ),
    ) -> None:
        """Curate a dataset: every stage of the recipe, then the split and the audits."""
        from hepatokit.parallel import make_executor
        from hepatokit.pipelines.dataset import build_dataset

        opts = options(ctx)
        with make_executor(workers=opts.workers, dask_address=opts.dask) as executor:
            summary = build_dataset(recipe=recipe, raw=raw, out=out, labels=labels,
                                    workers=opts.workers, executor=executor, mpp=mpp,
                                    force_mpp=force_mpp, demo_key=demo_key,
                                    key_file=key_file, break_lock=break_lock)  # fmt: skip
        console.print(f"[green]{summary}[/]")

    @app.command("report")
    @reports_errors
    def report(
        build: Path = typer.Argument(..., help="The build folder."),
        recipe: str | None = typer.Option(
            None, "--recipe", help="Recipe name or file (default: BUILD/recipe.yaml)."
        ),
    ) -> None:
        """(Re)write BUILD/reports/index.html, the curation report (opens from disk)."""
        from hepatokit.report import build_report

        result = build_report(build=build, recipe=recipe)
        console.print(
            f"[green]wrote[/] {result.path} ({len(result.sections)} sections, "
            f"{result.thumbs_made} thumbnails made, {result.thumbs_reused} reused)"
        )

    @app.command("demo")
    @reports_errors
    def demo(
        ctx: typer.Context,
        out: Path = typer.Option(Path("hepatokit-demo"), help="Where everything is written."),
        seed: int = typer.Option(0, help="Seed of the synthetic data and the baselines."),
        patients: int = typer.Option(36, min=8, help="Synthetic MRI patients."),
        patches: int = typer.Option(2000, min=100, help="Synthetic clean patches."),
        slides: int = typer.Option(2, min=1, help="Synthetic whole-slide images."),
    ) -> None:
        """Both datasets end to end from synthetic raw data, baselines and reports."""
        from hepatokit.pipelines.demo import run_demo

        opts = options(ctx)
        summary = run_demo(out=out, seed=seed, workers=opts.workers, patients=patients,
                           patches=patches, slides=slides)  # fmt: skip
        console.print(str(summary))
