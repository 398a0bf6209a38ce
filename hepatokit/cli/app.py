"""Root of the ``hepatokit`` CLI: global options and the registration of every family."""

from __future__ import annotations

import logging

import typer
from rich.logging import RichHandler

from hepatokit._version import __version__
from hepatokit.cli import (
    baseline,
    evaluate,
    mri,
    mri_release,
    patho,
    pipeline,
    publish,
    quant,
    splits,
    synth,
)
from hepatokit.cli.common import RunOptions, console
from hepatokit.progress import configure_progress

__all__ = ["app", "main"]

FLOW = """\
hepatokit: raw clinical liver imaging → published benchmark datasets, baselines, evaluation.

[bold]The flow[/] (each arrow is a command; `hepatokit build RECIPE` runs a dataset's chain):

  raw DICOM ─[cyan]mri index[/]→ instances ─[cyan]mri series[/]→ series ─[cyan]mri convert[/]→ NIfTI volumes
            ─[cyan]mri qc[/]→ ─[cyan]mri labels[/]→ subjects          (or [cyan]mri import-release[/])
  patches   ─[cyan]patho ingest[/]→ ─[cyan]patho qc[/]→ ─[cyan]patho dedup[/]→ curated patches
  WSIs      ─[cyan]patho tile[/]→ tiles
  curated   ─[cyan]split[/]→ ─[cyan]audit leakage[/]→ ─[cyan]publish build[/]→ HF dataset ─[cyan]publish push[/]→ Hub
  HF dataset ─[cyan]baseline staging|probe[/]→ predictions ─[cyan]evaluate lifs|hepatobench[/]→ report
  WSI       ─[cyan]quant[/]→ tissue composition per region

Start with [bold]hepatokit demo[/]: synthetic raw data through the whole flow.
"""  # noqa: E501

app = typer.Typer(
    name="hepatokit",
    help=FLOW,
    rich_markup_mode="rich",
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
#: command groups; any family module may add commands to any group (see ``register``)
groups: dict[str, typer.Typer] = {
    "synth": typer.Typer(help="Write synthetic raw data (DICOM studies, patches, WSIs)."),
    "mri": typer.Typer(help="LiFS curation: DICOM index → series → NIfTI → QC → labels."),
    "patho": typer.Typer(help="HepatoBench curation: ingest / tile → QC → dedup."),
    "publish": typer.Typer(help="Package a build as a Hugging Face dataset; push it."),
    "baseline": typer.Typer(help="Reference baselines: 3D staging, linear probe."),
    "evaluate": typer.Typer(help="Score submissions / predictions; summarise results tables."),
    "audit": typer.Typer(help="Audits that must pass before publishing (PHI, leakage)."),
}


def _version(value: bool) -> None:
    if value:
        typer.echo(f"hepatokit {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars; warnings only."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging."),
    workers: int | None = typer.Option(
        None, "--workers", "-w", min=1, help="Local worker processes (default: CPU count)."
    ),
    dask: str | None = typer.Option(
        None, "--dask", help="Dask scheduler address (tcp://host:8786): run items on that cluster."
    ),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """Global options (give them before the command)."""
    level = logging.DEBUG if verbose else (logging.WARNING if quiet else logging.INFO)
    logger = logging.getLogger("hepatokit")
    logger.setLevel(level)
    if not any(isinstance(h, RichHandler) for h in logger.handlers):
        logger.addHandler(RichHandler(console=console, show_path=False, markup=False))
    logger.propagate = False  # libraries may configure the root logger: print once
    configure_progress(quiet=quiet)
    ctx.obj = RunOptions(quiet=quiet, workers=workers, dask=dask)


for _family in (
    synth,
    mri,
    mri_release,
    patho,
    splits,
    publish,
    evaluate,
    baseline,
    quant,
    pipeline,
):
    _family.register(app, groups)
for _name, _group in groups.items():
    app.add_typer(_group, name=_name)


def main() -> None:
    """Console-script entry point."""
    app()
