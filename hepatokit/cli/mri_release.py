"""CLI command `hepatokit mri import-release` (thin wrapper over ``import_release``)."""

from __future__ import annotations

from pathlib import Path

import typer

from hepatokit.cli.common import console, options, reports_errors
from hepatokit.contracts.lifs import IMPORT_RELEASE_MD

__all__ = ["register"]


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    """Add `import-release` to the `mri` group."""

    @groups["mri"].command("import-release")
    @reports_errors
    def import_release_cmd(
        ctx: typer.Context,
        root: Path = typer.Argument(
            ..., exists=True, file_okay=False, help="Released LiFS folder (CARE-Liver layout)."
        ),
        out: Path = typer.Option(..., "--out", "-o", help="Build folder to write."),
        recipe: str | None = typer.Option(
            None, "--recipe", "-r", help="Recipe file or name (default: BUILD/recipe.yaml, lifs)."
        ),
        key_file: Path | None = typer.Option(
            None, "--key-file", help="File holding the de-identification (HMAC) key."
        ),
        demo_key: bool = typer.Option(
            False, "--demo-key", help="Public demo key: synthetic data only."
        ),
        compress_level: int = typer.Option(
            6, "--compress-level", min=1, max=9, help="gzip level of the volumes (1 fastest)."
        ),
    ) -> None:
        """Released layout (Vendor_*/<ID>-<V>[-S<k>]/T1.nii.gz …) → subjects.parquet + volumes."""
        from hepatokit.curation.mri.release.stage import import_release
        from hepatokit.parallel import make_executor

        opts = options(ctx)
        with make_executor(workers=opts.workers, dask_address=opts.dask) as executor:
            summary = import_release(
                root=root,
                out=out,
                recipe=recipe,
                key_file=key_file,
                demo_key=demo_key,
                compress_level=compress_level,
                workers=opts.workers,
                executor=executor,
            )
        splits = ", ".join(f"{k} {v}" for k, v in summary.by_split.items())
        console.print(
            f"[green]imported[/] {summary.subjects} subjects ({splits}); "
            f"files: {summary.kept} kept, {summary.files - summary.kept} excluded"
        )
        for reason, n in summary.excluded.items():
            console.print(f"  excluded {reason}: {n}")
        console.print(f"report: {out / IMPORT_RELEASE_MD}")
