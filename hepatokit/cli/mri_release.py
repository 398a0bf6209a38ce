"""CLI commands of the `mri import-release` command (thin wrappers over keyword-only functions)."""

from __future__ import annotations

import typer

__all__ = ["register"]


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    """Add this family's commands to the root app and the shared `audit`/`evaluate` groups."""
