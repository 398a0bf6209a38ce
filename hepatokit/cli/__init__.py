"""The ``hepatokit`` command line: one typer app, one module per stage family."""

from hepatokit.cli.app import app, main

__all__ = ["app", "main"]
