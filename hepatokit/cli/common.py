"""What every CLI command shares: run options, error reporting, the console."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import typer
from rich.console import Console

from hepatokit.errors import HepatokitError

__all__ = ["RunOptions", "console", "options", "reports_errors"]

console = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class RunOptions:
    """Global options given before the command: ``hepatokit --workers 4 mri index ...``."""

    quiet: bool = False
    workers: int | None = None
    dask: str | None = None


def options(ctx: typer.Context) -> RunOptions:
    """The global options of this invocation (defaults when called without the root app)."""
    root = ctx.find_root()
    obj = root.obj
    return obj if isinstance(obj, RunOptions) else RunOptions()


def reports_errors(fn: F) -> F:
    """Turn :class:`HepatokitError` into a red message and exit code 2 (no traceback)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except HepatokitError as exc:
            console.print(f"[bold red]error:[/] {exc}")
            logging.getLogger("hepatokit").debug("error details", exc_info=True)
            raise typer.Exit(code=2) from exc

    return wrapper  # type: ignore[return-value]
