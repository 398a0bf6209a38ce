"""Progress bars (rich) for long stages, switched off globally by ``--quiet``."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

__all__ = ["configure_progress", "progress_bar", "progress_enabled", "track"]

T = TypeVar("T")
_STATE = {"quiet": False}
_console = Console(stderr=True)


def configure_progress(*, quiet: bool) -> None:
    """Turn progress bars off (``quiet=True``) or on for this process.

    Quiet also silences the bars of Hugging Face ``datasets`` (through its environment
    switch, read when ``datasets`` is imported, so the CLI need not import it here).
    """
    _STATE["quiet"] = quiet
    if quiet:
        os.environ["HF_DATASETS_DISABLE_PROGRESS_BARS"] = "1"
        os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"


def progress_enabled() -> bool:
    """Bars are shown unless ``--quiet`` was given or stderr is not a terminal."""
    return not _STATE["quiet"] and sys.stderr.isatty()


@contextlib.contextmanager
def progress_bar(description: str, total: int | None) -> Iterator[Progress]:
    """A rich progress bar with one task; ``bar.advance(0, n)`` advances it.

    When progress is disabled the bar is created but never drawn, so callers need no branch.
    """
    bar = Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=_console,
        disable=not progress_enabled(),
        transient=False,
    )
    with bar:
        bar.add_task(description, total=total)
        yield bar
    logging.getLogger("hepatokit").debug("%s: done", description)


def track(items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    """Iterate ``items`` with a progress bar (respects ``--quiet``)."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    with progress_bar(description, total) as bar:
        for item in items:
            yield item
            bar.advance(0)  # type: ignore[arg-type]
