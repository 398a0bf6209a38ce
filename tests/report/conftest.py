"""The report tests' build: ``hepatokit build`` of the planted synthetic patches."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def hb_build(patho_raw: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``hepatokit build`` of the planted patch set (it writes the report at its end)."""
    from hepatokit.pipelines.dataset import build_dataset

    out = tmp_path_factory.mktemp("report_hb") / "build"
    # strict: the build's PHI audit also reads the page and its thumbnails (the raw tree
    # holds junk such as Thumbs.db and labels.csv, whose names the audit looks for)
    build_dataset(recipe="hepatobench", raw=patho_raw / "patches", out=out, workers=2)
    return out
