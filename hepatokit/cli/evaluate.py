"""CLI commands of the `evaluate` family (thin wrappers over keyword-only functions).

Exit codes of ``evaluate lifs`` / ``evaluate hepatobench``: 0 every file scored, 1 the report
was written but some files were rejected (listed in the report), 2 nothing could be scored.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.text import Text

from hepatokit.cli.common import console, reports_errors

__all__ = ["register"]


def _exit_code(n_files: int, n_errors: int) -> int:
    if n_errors == 0:
        return 0
    return 2 if n_errors >= n_files else 1


@reports_errors
def lifs(
    truth: Path = typer.Option(
        ..., "--truth", help="BUILD/private/test_truth.csv (Case,split,domain,stage,…)."
    ),
    submissions: Path = typer.Option(
        ..., "--submissions", help="Folder of <method>.csv submissions (or one CSV)."
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Report folder."),
    readers: Path | None = typer.Option(
        None, "--readers", help="Reader scores: Case,Reader,score[,Setting] (docs)."
    ),
    n_bootstrap: int = typer.Option(1000, "--bootstrap", min=0, help="Bootstrap resamples."),
    seed: int = typer.Option(0, "--seed", help="Bootstrap seed."),
    alpha: float = typer.Option(0.05, "--alpha", help="DeLong significance level."),
    legacy_setting: str = typer.Option(
        "Contrast", "--legacy-setting", help="Setting of 2024-format files (no Setting)."
    ),
    plots: bool = typer.Option(True, "--plots/--no-plots", help="Write PNG figures."),
) -> None:
    """Score LiFS submissions: Table-3 leaderboard, DeLong vs readers, collapse flags."""
    from hepatokit.evaluation import evaluate_lifs

    report = evaluate_lifs(
        truth=truth,
        submissions=submissions,
        out=out,
        readers=readers,
        n_bootstrap=n_bootstrap,
        seed=seed,
        alpha=alpha,
        legacy_setting=legacy_setting,
        plots=plots,
    )
    n_files = len(report.methods) + len(report.errors)
    for method, msg in report.errors.items():
        console.print(Text.assemble(("rejected ", "bold red"), f"{method}: {msg}"))
    flagged = report.cells[report.cells["collapsed"]] if not report.cells.empty else None
    if flagged is not None and not flagged.empty:
        cells = ", ".join(f"{r.method} {r.cell}" for r in flagged.itertuples())
        console.print(f"[yellow]majority collapse:[/] {cells}")
    console.print(
        f"scored {len(report.methods)} of {n_files} submission(s); "
        f"leaderboard: {out / 'leaderboard.md'}"
    )
    raise typer.Exit(_exit_code(n_files, len(report.errors)))


@reports_errors
def summarize(
    results: Path = typer.Argument(
        ..., help="Long results CSV: method,setting,domain,subtask,metric,value (%)."
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Report folder."),
    factors: Path | None = typer.Option(
        None, "--factors", help="Design factors CSV: method,<factor>…[,kind]."
    ),
    cohort_kind: str = typer.Option(
        "challenge", "--cohort-kind", help="kind ranked for best/median (with --factors)."
    ),
    plots: bool = typer.Option(True, "--plots/--no-plots", help="Write PNG figures."),
) -> None:
    """Analyse a results table: best/median per cell, aggregates, ID−OOD drop, factors."""
    from hepatokit.evaluation import summarize_results

    summary = summarize_results(
        results=results, out=out, factors=factors, cohort_kind=cohort_kind, plots=plots
    )
    console.print(
        f"{len(summary.cohort)} method(s) in the cohort, {len(summary.best_median)} cell(s); "
        f"report: {out / 'summary.md'}"
    )


@reports_errors
def hepatobench(
    truth: Path = typer.Option(
        ..., "--truth", help="CSV/parquet with id and label (or class) [and split]."
    ),
    predictions: Path = typer.Option(
        ..., "--predictions", help="id,pred[,prob_<CLASS>…] CSV, or a folder (one/encoder)."
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Report folder."),
    classes: str | None = typer.Option(
        None, "--classes", help="Comma-separated class order (default: the recipe's)."
    ),
    recipe: str = typer.Option("hepatobench", "--recipe", help="Recipe giving the class order."),
    split: str | None = typer.Option(None, "--split", help="Score only this truth split."),
    splits: Path | None = typer.Option(
        None, "--splits", help="BUILD/splits.parquet giving each id's split (with --split)."
    ),
    n_bootstrap: int = typer.Option(1000, "--bootstrap", min=0, help="Bootstrap resamples."),
    seed: int = typer.Option(0, "--seed", help="Bootstrap seed."),
    plots: bool = typer.Option(True, "--plots/--no-plots", help="Write confusion PNGs."),
) -> None:
    """Score HepatoBench predictions: multi-class metrics with CIs, encoder comparison."""
    from hepatokit.evaluation import evaluate_hepatobench

    class_list = None if classes is None else [c.strip() for c in classes.split(",")]
    report = evaluate_hepatobench(
        truth=truth,
        predictions=predictions,
        out=out,
        classes=class_list,
        recipe=recipe,
        split=split,
        splits=splits,
        n_bootstrap=n_bootstrap,
        seed=seed,
        plots=plots,
    )
    for enc, msg in report.errors.items():
        console.print(Text.assemble(("rejected ", "bold red"), f"{enc}: {msg}"))
    n_files = len(report.reports) + len(report.errors)
    console.print(
        f"scored {len(report.reports)} of {n_files} predictions file(s); "
        f"comparison: {out / 'comparison.md'}"
    )
    raise typer.Exit(_exit_code(n_files, len(report.errors)))


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    """Add this family's commands to the root app and the shared `audit`/`evaluate` groups."""
    group = groups["evaluate"]
    group.command("lifs")(lifs)
    group.command("summarize")(summarize)
    group.command("hepatobench")(hepatobench)
