"""What every CLI command shares: run options, error reporting, the console."""

from __future__ import annotations

import errno
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import typer
from rich.console import Console

from hepatokit._extras import extra_error
from hepatokit.errors import HepatokitError

__all__ = ["RunOptions", "console", "options", "os_error_text", "reports_errors"]

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
    """Turn :class:`HepatokitError` into a red message and exit code 2 (no traceback).

    An ``OSError`` a user can cause (an output path under a file or on a read-only disk, a
    folder given for a file, no space left) is reported the same way, naming the path; the
    traceback is in the debug log (``--verbose``).
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except HepatokitError as exc:
            console.print(f"[bold red]error:[/] {exc}")
            logging.getLogger("hepatokit").debug("error details", exc_info=True)
            raise typer.Exit(code=2) from exc
        except ModuleNotFoundError as exc:
            err = extra_error(exc)
            if err is None:
                raise
            console.print(f"[bold red]error:[/] {err}")
            raise typer.Exit(code=2) from exc
        except OSError as exc:
            console.print(f"[bold red]error:[/] {os_error_text(exc)}")
            logging.getLogger("hepatokit").debug("error details", exc_info=True)
            raise typer.Exit(code=2) from exc

    return wrapper  # type: ignore[return-value]


_OS_HINTS = {
    errno.ENOTDIR: "a part of the path is a file, not a folder: choose another path",
    errno.EISDIR: "a folder was given where a file is expected",
    errno.EACCES: "no permission: choose a folder you can write to (or read from)",
    errno.EPERM: "no permission: choose a folder you can write to (or read from)",
    errno.EROFS: "read-only file system: choose a writable folder",
    errno.ENOSPC: "no space left on the device: free space or choose another disk",
    errno.ENOENT: "check that the path exists",
    errno.EEXIST: "something is in the way at that path: move it or choose another path",
}


def os_error_text(exc: OSError) -> str:
    """One line naming the path and the problem, plus what to do, for an ``OSError``."""
    where = exc.filename if exc.filename is not None else ""
    what = exc.strerror or str(exc)
    text = f"{where}: {what}" if where else what
    hint = _OS_HINTS.get(exc.errno or 0)
    return f"{text}\n  hint: {hint}" if hint else text
