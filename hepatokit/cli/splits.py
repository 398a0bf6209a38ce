"""CLI commands of the `splits` family: `hepatokit split` and `hepatokit audit leakage`."""

from __future__ import annotations

from pathlib import Path

import typer

from hepatokit.cli.common import console, reports_errors
from hepatokit.contracts.common import LEAKAGE_MD

__all__ = ["register"]

_SHOWN = 50  # findings printed before "… and N more"


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    """Add `split` to the root app and `leakage` to the `audit` group."""

    @app.command("split")
    @reports_errors
    def split(
        build: Path = typer.Argument(
            ..., help="Build folder with subjects.parquet / curated.parquet."
        ),
        recipe: str | None = typer.Option(
            None, "--recipe", "-r", help="Recipe file or name (default: BUILD/recipe.yaml)."
        ),
        seed: int | None = typer.Option(None, "--seed", help="Override the recipe's split seed."),
        keep_existing: bool = typer.Option(
            True,
            "--keep-existing/--reshuffle",
            help="Keep groups already in BUILD/splits.parquet (same policy and seed) where they "
            "are and assign only new groups (default); --reshuffle assigns every group afresh.",
        ),
        predefined: bool | None = typer.Option(
            None,
            "--predefined/--no-predefined",
            help="Use / ignore official splits (recipe `split.predefined`, e.g. release_split); "
            "default: use them when the table holds at least two.",
        ),
    ) -> None:
        """Grouped, stratified train / validation / test (+ test_ood) → BUILD/splits.parquet."""
        from hepatokit.splits import split_build

        result = split_build(
            build=build,
            recipe=recipe,
            seed=seed,
            keep_existing=keep_existing,
            predefined=predefined,
        )
        parts = ", ".join(
            f"{s} {result.summary.groups[s]} groups / {n} rows" for s, n in result.counts.items()
        )
        for warning in result.warnings:
            console.print(f"[yellow]warning:[/] {warning}")
        console.print(f"[green]splits[/]: {parts}")
        if result.moved:
            console.print(f"[yellow]{result.moved} group(s) moved against the previous splits[/]")
        console.print(f"report: {result.report}")

    @groups["audit"].command("leakage")
    @reports_errors
    def leakage(
        build: Path = typer.Argument(..., help="Build folder with splits.parquet."),
        recipe: str | None = typer.Option(
            None, "--recipe", "-r", help="Recipe file or name (default: BUILD/recipe.yaml)."
        ),
        radius: int | None = typer.Option(
            None, "--radius", min=0, max=63, help="pHash radius in bits (default: the recipe's)."
        ),
    ) -> None:
        """Groups or (near-)duplicate images in two splits, one patient under two ids: exit 1."""
        from hepatokit.splits import audit_leakage

        report = audit_leakage(build=build, recipe=recipe, radius=radius)
        for warning in report.warnings:
            console.print(f"[yellow]warning:[/] {warning}")
        checks = ", ".join(f"{k}: {v}" for k, v in report.checks.items())
        if report.ok:
            console.print(f"[green]no leakage[/] ({checks})")
            return
        console.print(f"[bold red]{len(report.findings)} leak(s)[/] ({checks})")
        for finding in report.findings[:_SHOWN]:
            typer.echo(finding.line())
        if len(report.findings) > _SHOWN:
            typer.echo(f"… and {len(report.findings) - _SHOWN} more: {build}/{LEAKAGE_MD}")
        raise typer.Exit(code=1)
