"""CLI commands of the `baseline` family (thin wrappers over keyword-only functions)."""

from __future__ import annotations

from pathlib import Path

import typer

from hepatokit.cli.common import console, reports_errors

__all__ = ["register"]


@reports_errors
def staging(
    data: Path = typer.Option(..., "--data", help="Published LiFS dataset folder (HFDIR)."),
    model: str = typer.Option("resnet3d", "--model", help="resnet3d | vit3d."),
    track: str = typer.Option("contrast", "--track", help="contrast | noncontrast."),
    out: Path = typer.Option(Path("baselines/staging"), "--out", help="Output folder."),
    tiny: bool = typer.Option(False, "--tiny", help="Tiny CPU configuration (demo, tests)."),
    epochs: int | None = typer.Option(None, "--epochs", min=1, help="Override epochs."),
    batch_size: int | None = typer.Option(None, "--batch-size", min=1),
    num_workers: int | None = typer.Option(
        None,
        "--loader-workers",
        min=0,
        help="DataLoader worker processes (default: the recipe's, at most CPUs - 1).",
    ),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda | cuda:N."),
    amp: bool | None = typer.Option(
        None, "--amp/--no-amp", help="Autocast (default: on for CUDA, off on CPU)."
    ),
    seed: int | None = typer.Option(None, "--seed", help="Default: the recipe's seed."),
    recipe: Path | None = typer.Option(
        None, "--recipe", help="Recipe with a baselines section (default lifs)."
    ),
    resume: bool = typer.Option(
        True, "--resume/--restart", help="Continue from the newest checkpoint."
    ),
    cache: str | None = typer.Option(
        None,
        "--cache",
        help="Grid cache dtype: off | float32 | float16 | uint8 (OUT/grid_cache, memory-mapped; "
        "default: the recipe's).",
    ),
) -> None:
    """Train a 3D staging baseline (MONAI ResNet3D / ViT3D, early fusion) and write the
    official submission CSV for test_id + test_ood."""
    from hepatokit.baselines import run_staging

    if model not in ("resnet3d", "vit3d"):
        raise typer.BadParameter("resnet3d or vit3d", param_hint="--model")
    if track not in ("contrast", "noncontrast"):
        raise typer.BadParameter("contrast or noncontrast", param_hint="--track")
    if cache not in (None, "off", "float32", "float16", "uint8"):
        raise typer.BadParameter("off, float32, float16 or uint8", param_hint="--cache")
    report = run_staging(
        data=data,
        model=model,
        track=track,
        out=out,
        recipe=recipe,
        tiny=tiny,
        epochs=epochs,
        batch_size=batch_size,
        num_workers=num_workers,
        device=device,
        amp=amp,
        seed=seed,
        resume=resume,
        cache=cache,
    )
    console.print(
        f"[green]staging[/] {model}/{track}: best epoch {report.best_epoch}, "
        f"{report.n_predicted} test cases → {report.submission_path}"
    )


@reports_errors
def probe(
    data: Path = typer.Option(..., "--data", help="Published HepatoBench folder (HFDIR)."),
    encoder: list[str] = typer.Option(
        [],
        "--encoder",
        "-e",
        help="Encoder spec (repeatable): builtin:tiny-cnn, timm:<name>, hf:<repo>, "
        "torchscript:<file>. Default: the recipe's list.",
    ),
    out: Path = typer.Option(Path("baselines/probe"), "--out", help="Output folder."),
    method: str | None = typer.Option(None, "--method", help="lbfgs (UNI) | adamw (eva)."),
    max_iter: int | None = typer.Option(None, "--max-iter", min=1, help="L-BFGS iterations."),
    class_weight: str = typer.Option(
        "none", "--class-weight", help="none (UNI) | balanced (rare classes; HepatoQuant)."
    ),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda | cuda:N."),
    amp: bool | None = typer.Option(
        None, "--amp/--no-amp", help="bf16 autocast (default: on for CUDA)."
    ),
    batch_size: int | None = typer.Option(None, "--embed-batch-size", min=1),
    num_workers: int | None = typer.Option(None, "--loader-workers", min=0),
    cache: Path | None = typer.Option(None, "--cache", help="Embedding cache (OUT/cache)."),
    bootstrap: int | None = typer.Option(
        None, "--bootstrap", min=0, help="Bootstrap resamples for the CIs."
    ),
    recipe: Path | None = typer.Option(
        None, "--recipe", help="Recipe with a baselines section (hepatobench)."
    ),
) -> None:
    """Linear probe: frozen encoder(s) + one linear layer; predictions, heads, metrics
    and an encoder comparison table."""
    from hepatokit.baselines import run_probe
    from hepatokit.baselines.devices import loader_workers
    from hepatokit.baselines.linear_probe import ProbeSettings
    from hepatokit.baselines.staging_config import baselines_section
    from hepatokit.recipe import load_recipe

    rec = load_recipe(recipe or "hepatobench")
    sec = baselines_section(rec).probe
    chosen = method or sec.method
    if chosen not in ("lbfgs", "adamw"):
        raise typer.BadParameter("lbfgs or adamw", param_hint="--method")
    if class_weight not in ("none", "balanced"):
        raise typer.BadParameter("none or balanced", param_hint="--class-weight")
    settings = ProbeSettings(
        class_weight=class_weight,  # type: ignore[arg-type]
        method=chosen,  # type: ignore[arg-type]
        max_iter=max_iter or sec.max_iter,
        combine_trainval=sec.combine_trainval,
        lr=sec.lr,
        batch_size=sec.batch_size,
        max_epochs=sec.max_epochs,
        patience=sec.patience,
        seed=rec.seed,
    )
    report = run_probe(
        data=data,
        encoders=encoder or sec.encoders,
        out=out,
        classes=rec.classes or None,
        settings=settings,
        device=device,
        amp=amp,
        embed_batch_size=batch_size or sec.embed_batch_size,
        num_workers=loader_workers(sec.num_workers) if num_workers is None else num_workers,
        cache_dir=cache,
        bootstrap=sec.bootstrap if bootstrap is None else bootstrap,
        seed=rec.seed,
    )
    for o in report.outcomes:
        f1 = o.metrics.get("macro_f1", float("nan"))
        console.print(f"[green]probe[/] {o.encoder}: macro-F1 {f1:.3f} → {o.head_path}")
    console.print(f"comparison → {report.comparison_path}")


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    """Add this family's commands to the root app and the shared `audit`/`evaluate` groups."""
    group = groups["baseline"]
    group.command("staging")(staging)
    group.command("probe")(probe)
