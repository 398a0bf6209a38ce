"""CLI commands of the `mri` family (thin wrappers over keyword-only functions).

``mri index|series|convert|qc|labels|register`` on ``groups["mri"]`` and ``audit phi`` on
``groups["audit"]``; each calls the function of the same job in ``hepatokit.curation.mri``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import typer

from hepatokit.cli.common import console, options, reports_errors

__all__ = ["register"]

_RECIPE = typer.Option(
    None, "--recipe", "-r", help="Recipe (default: BUILD/recipe.yaml, else the packaged lifs)."
)


@reports_errors
def index(
    ctx: typer.Context,
    raw: Path = typer.Argument(..., help="Root of the DICOM export (any folder layout)."),
    out: Path = typer.Option(..., "--out", "-o", help="Build folder."),
    recipe: str | None = _RECIPE,
    key_file: Path | None = typer.Option(
        None, "--key-file", help="File holding the pseudonym key (else $HEPATOKIT_DEID_KEY)."
    ),
    demo_key: bool = typer.Option(
        False, "--demo-key", help="Public demo key: for synthetic data only."
    ),
) -> None:
    """Read every file's header once → instances.parquet (+ private PHI table)."""
    from hepatokit.curation.mri import INDEX_WORKER_MODULES
    from hepatokit.parallel import start_pool

    opts = options(ctx)
    # the forkserver imports the workers' modules while this process imports the index
    with start_pool(
        workers=opts.workers, dask_address=opts.dask, preload=INDEX_WORKER_MODULES
    ) as pool:
        from hepatokit.curation.mri import index_dicom

        s = index_dicom(
            raw=raw,
            out=out,
            recipe=recipe,
            workers=opts.workers,
            executor=pool,
            key_file=key_file,
            demo_key=demo_key,
        )
    console.print(
        f"[green]indexed[/] {s.files} files: {s.kept} images kept ({s.subjects} subjects), "
        f"{s.excluded} excluded, {s.headers_read} headers read → {s.instances_path}"
    )


@reports_errors
def series(
    build: Path = typer.Argument(..., help="Build folder (after `mri index`)."),
    recipe: str | None = _RECIPE,
) -> None:
    """Group, split and recognise series → series.parquet (label or ignore reason)."""
    from hepatokit.curation.mri import recognise_series

    s = recognise_series(build=build, recipe=recipe)
    labels = ", ".join(f"{k} {v}" for k, v in sorted(s.by_label.items()))
    reasons = ", ".join(f"{k} {v}" for k, v in sorted(s.by_reason.items()))
    console.print(f"[green]{s.series} series[/]: {labels}; ignored: {reasons or 'none'}")


@reports_errors
def convert(
    ctx: typer.Context,
    build: Path = typer.Argument(..., help="Build folder (after `mri series`)."),
    recipe: str | None = _RECIPE,
    all_series: bool = typer.Option(
        False, "--all-series", help="Convert every image series to BUILD/all_series/."
    ),
) -> None:
    """dcm2niix each recognised series → volumes/sub-<id>/sub-<id>_<SEQ>.nii.gz + sidecar."""
    from hepatokit.curation.mri import convert_volumes
    from hepatokit.parallel import make_executor

    opts = options(ctx)
    with make_executor(workers=opts.workers, dask_address=opts.dask) as pool:
        s = convert_volumes(
            build=build,
            recipe=recipe,
            all_series=all_series,
            workers=opts.workers,
            executor=pool,
        )
    console.print(f"[green]converted[/] {s.converted}, up to date {s.skipped}, failed {s.failed}")
    if s.failed:
        raise typer.Exit(code=1)


@reports_errors
def qc(
    ctx: typer.Context,
    build: Path = typer.Argument(..., help="Build folder (after `mri convert`)."),
    recipe: str | None = _RECIPE,
) -> None:
    """Per-volume QC + missing-modality matrix (CSV and PNG heat map)."""
    from hepatokit.curation.mri import qc_volumes

    opts = options(ctx)
    s = qc_volumes(build=build, recipe=recipe, workers=opts.workers)
    console.print(
        f"[green]QC[/] {s.volumes} volumes: {s.failed} failed, {s.flagged} flagged → "
        f"{s.qc_path}, {s.matrix_path}"
    )


@reports_errors
def labels(
    build: Path = typer.Argument(..., help="Build folder (after `mri convert` / `mri qc`)."),
    labels_csv: Path = typer.Option(..., "--labels", "-l", help="Clinical labels CSV."),
    recipe: str | None = _RECIPE,
) -> None:
    """Join the clinical stages → subjects.parquet (stage, cirrhosis, significant_fibrosis)."""
    from hepatokit.curation.mri import join_labels

    s = join_labels(build=build, labels=labels_csv, recipe=recipe)
    stages = ", ".join(f"{k} {v}" for k, v in s.by_stage.items())
    console.print(
        f"[green]{s.subjects} subjects[/] ({stages}); label rows kept {s.rows_kept}, "
        f"excluded {s.rows_excluded} → {s.subjects_path}"
    )


@reports_errors
def register_cmd(
    ctx: typer.Context,
    build: Path = typer.Argument(..., help="Build folder (after `mri convert` / `mri labels`)."),
    recipe: str | None = _RECIPE,
    reference: str | None = typer.Option(
        None, "--reference", help="Reference sequence (then the recipe's fallbacks)."
    ),
    transform: str | None = typer.Option(
        None, "--transform", help="rigid or affine (default: the recipe's register.transform)."
    ),
    resample: bool | None = typer.Option(
        None, "--resample/--no-resample", help="Also write each sequence on the reference grid."
    ),
) -> None:
    """Register every sequence to the reference (SimpleITK) → registration/*.tfm + table."""
    from hepatokit.curation.mri import register_sequences
    from hepatokit.parallel import make_executor

    kinds: dict[str | None, Literal["rigid", "affine"] | None] = {
        None: None, "rigid": "rigid", "affine": "affine"
    }  # fmt: skip
    if transform not in kinds:
        raise typer.BadParameter("--transform must be rigid or affine")
    kind = kinds[transform]
    opts = options(ctx)
    with make_executor(workers=opts.workers, dask_address=opts.dask) as pool:
        s = register_sequences(
            build=build,
            recipe=recipe,
            reference=reference,
            transform=kind,
            resample=resample,
            workers=opts.workers,
            executor=pool,
        )
    console.print(
        f"[green]registered[/] {s.subjects} subjects, {s.pairs} pairs: {s.ok} ok, "
        f"{s.flagged} flagged (identity kept), {s.skipped} subjects up to date, "
        f"{s.no_reference} without a reference → {s.table_path}"
    )


@reports_errors
def audit_phi_cmd(
    ctx: typer.Context,
    build: Path = typer.Argument(
        ...,
        help="Build folder to audit (private/ is skipped), or a published dataset folder "
        "(scanned whole; needs --raw; the report goes beside it).",
    ),
    raw: Path | None = typer.Option(
        None, "--raw", help="Raw DICOM root (default: the one recorded by `mri index`)."
    ),
    labels_csv: Path | None = typer.Option(
        None, "--labels", help="Also look for the IDs and dates of this clinical CSV."
    ),
    published: Path | None = typer.Option(
        None,
        "--published",
        help="Scan this dataset folder (written by `publish build` from BUILD) instead of "
        "BUILD; the report goes to BUILD/reports/published.",
    ),
    out: Path | None = typer.Option(
        None, "--out", help="Write the report here (never inside a published folder)."
    ),
) -> None:
    """Scan every non-private output byte (or every byte of a published dataset) for
    raw-header PHI; exit 1 on any hit. The report is never written into a published folder."""
    from hepatokit.curation.mri import audit_phi
    from hepatokit.curation.mri.deid.phi_audit import csv_values, phi_report_dir

    opts = options(ctx)
    extra = csv_values(labels_csv) if labels_csv is not None else []
    r = audit_phi(build=build, raw=raw, workers=opts.workers, extra_values=extra,
                  published=published, report_dir=out)  # fmt: skip
    where = phi_report_dir(build=build, published=published, report_dir=out)
    if r.ok:
        console.print(
            f"[green]PHI audit passed[/]: {r.values} values, {r.files_scanned} files, "
            f"{r.bytes_scanned} characters of decoded text scanned, 0 hits; "
            f"{sum(r.skipped.values())} values skipped (see {where / 'phi_audit.md'})"
        )
        return
    console.print(
        f"[bold red]PHI audit FAILED[/]: {len(r.hits)} hit(s) (see {where / 'phi_audit.md'})"
    )
    for h in r.hits[:200]:
        console.print(f"  {h.file} ({h.where}): {h.tag} {h.value}")
    raise typer.Exit(code=1)


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    """Add this family's commands to the root app and the shared `audit`/`evaluate` groups."""
    mri = groups["mri"]
    mri.command("index")(index)
    mri.command("series")(series)
    mri.command("convert")(convert)
    mri.command("qc")(qc)
    mri.command("labels")(labels)
    mri.command("register")(register_cmd)
    groups["audit"].command("phi")(audit_phi_cmd)
