"""CLI commands of the `publish` family (thin wrappers over keyword-only functions)."""

from __future__ import annotations

from pathlib import Path

import typer

from hepatokit.cli.common import console, options, reports_errors

__all__ = ["register"]


@reports_errors
def build_cmd(
    ctx: typer.Context,
    build: Path = typer.Argument(..., help="The curated build folder."),
    out: Path = typer.Option(..., "--out", "-o", help="The HF dataset folder to write."),
    recipe: str | None = typer.Option(
        None, "--recipe", help="Recipe name or file (default: BUILD/recipe.yaml)."
    ),
    withhold_test_labels: bool = typer.Option(
        False,
        "--withhold-test-labels",
        help="Publish test splits without labels; truth to BUILD/private/test_truth.csv.",
    ),
    raw_root: Path | None = typer.Option(
        None, "--raw-root", help="HepatoBench: where the patches were ingested from."
    ),
    verify_md5: bool = typer.Option(
        False, "--verify-md5", help="HepatoBench: check each patch's MD5 while embedding."
    ),
    repo: str | None = typer.Option(
        None, "--repo", help="Hub repo ORG/NAME the card's snippets name (default: recipe)."
    ),
    allow_phi_risk: str | None = typer.Option(
        None,
        "--allow-phi-risk",
        metavar="REASON",
        help="Publish although the build's PHI audit failed; REASON goes to the card's "
        "private notes (BUILD/private/card_notes.md).",
    ),
) -> None:
    """Package BUILD as a Hugging Face dataset folder (shards, card, Croissant)."""
    from hepatokit.publish import publish_build

    opts = options(ctx)
    result = publish_build(
        build=build,
        out=out,
        recipe=recipe,
        withhold_test_labels=withhold_test_labels,
        raw_root=raw_root,
        verify_md5=verify_md5,
        workers=opts.workers,
        repo_id=repo,
        allow_phi_risk=allow_phi_risk,
    )
    for cfg, per_split in result.counts.items():
        counts = ", ".join(f"{s}={n}" for s, n in per_split.items())
        console.print(f"[green]{result.name}[/] config [bold]{cfg}[/]: {counts}")
    if result.truth_path is not None:
        console.print(f"test truth (not published): {result.truth_path}")
    console.print(f"wrote {len(result.files)} files to {result.out}")


@reports_errors
def push_cmd(
    hf_dir: Path = typer.Argument(..., help="A folder written by `publish build`."),
    repo: str = typer.Option(..., "--repo", help="Dataset repo id ORG/NAME."),
    private: bool = typer.Option(
        True,
        "--private/--public",
        help="Create the repo private (default); --public opts in to a public repo.",
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="List the upload; send nothing."),
) -> None:
    """Upload a published folder to the Hugging Face Hub (token from HF_TOKEN / login)."""
    from hepatokit.publish import publish_push

    plan = publish_push(hf_dir=hf_dir, repo_id=repo, private=private, dry_run=dry_run)
    if dry_run:
        for rel, size in plan.files.items():
            typer.echo(f"{size:>12}  {rel}")
        visibility = "private" if private else "public"
        typer.echo(
            f"dry run: {len(plan.files)} files, {plan.total_bytes} bytes "
            f"→ {plan.repo_id} ({visibility})"
        )
    else:
        console.print(f"[green]uploaded[/] {len(plan.files)} files to {plan.url}")


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    """Add this family's commands to the root app and the shared `audit`/`evaluate` groups."""
    group = groups["publish"]
    group.command("build")(build_cmd)
    group.command("push")(push_cmd)
