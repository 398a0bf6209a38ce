"""The build-folder contract: every file name of a build, the main tables' schemas, the kind.

One module per family: :mod:`~hepatokit.contracts.common` (every build),
:mod:`~hepatokit.contracts.lifs` (MRI) and :mod:`~hepatokit.contracts.hepatobench`
(histology); :mod:`~hepatokit.contracts.tables` checks the main tables' schemas on write and
on read; :mod:`~hepatokit.contracts.kind` keeps ``BUILD/build.json``;
:mod:`~hepatokit.contracts.items` reads the items of a HepatoBench build. Stages name build
files only through these constants (a test scans the package for literals), and
``docs/contracts.md`` is checked against them.

:class:`BuildLayout` gives the same names as paths of one build folder::

    layout = BuildLayout(build)
    layout.series            # BUILD/series.parquet
    layout.volume("ab12", "T2W")  # BUILD/volumes/sub-ab12/sub-ab12_T2W.nii.gz
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from hepatokit.contracts import common, hepatobench, lifs
from hepatokit.contracts.kind import Dataset, read_kind, start_build
from hepatokit.contracts.lifs import SEQUENCES
from hepatokit.contracts.tables import (
    TABLE_SCHEMAS,
    check_file,
    check_schema,
    read_table,
    write_table,
)

__all__ = [
    "SEQUENCES",
    "TABLE_SCHEMAS",
    "BuildLayout",
    "Dataset",
    "build_files",
    "check_file",
    "check_schema",
    "common",
    "hepatobench",
    "lifs",
    "read_kind",
    "read_table",
    "start_build",
    "write_table",
]


def build_files() -> dict[str, str]:
    """Every file and folder name of the contract: ``{"<family>.<CONSTANT>": name}``."""
    out: dict[str, str] = {}
    for family in (common, lifs, hepatobench):
        short = family.__name__.rsplit(".", 1)[-1]
        for const in family.__all__:
            value = getattr(family, const)
            if isinstance(value, str):
                out[f"{short}.{const}"] = value
    return out


@dataclass(frozen=True)
class BuildLayout:
    """The paths of one build folder (names from :mod:`hepatokit.contracts`)."""

    root: Path

    def __init__(self, root: str | os.PathLike[str]) -> None:
        object.__setattr__(self, "root", Path(root))

    def __truediv__(self, name: str) -> Path:
        return self.root / name

    @property
    def kind(self) -> Dataset:
        """The build's dataset (``build.json``, else the guess for old builds)."""
        return read_kind(self.root)

    # common
    @property
    def recipe(self) -> Path:
        return self.root / common.RECIPE

    @property
    def build_json(self) -> Path:
        return self.root / common.BUILD_JSON

    @property
    def splits(self) -> Path:
        return self.root / common.SPLITS

    @property
    def private(self) -> Path:
        return self.root / common.PRIVATE

    @property
    def reports(self) -> Path:
        return self.root / common.REPORTS

    @property
    def raw_root(self) -> Path:
        return self.root / common.RAW_ROOT

    def manifest(self, stage: str) -> Path:
        """``manifest/<stage>.parquet``."""
        return self.root / common.manifest_file(stage)

    # LiFS
    @property
    def instances(self) -> Path:
        return self.root / lifs.INSTANCES

    @property
    def series(self) -> Path:
        return self.root / lifs.SERIES

    @property
    def volumes(self) -> Path:
        return self.root / lifs.VOLUMES

    @property
    def subjects(self) -> Path:
        return self.root / lifs.SUBJECTS

    def volume(self, subject_id: str, sequence: str, suffix: str = ".nii.gz") -> Path:
        """``volumes/sub-<sid>/sub-<sid>_<SEQ><suffix>``."""
        return self.root / lifs.volume_file(subject_id, sequence, suffix)

    # HepatoBench
    @property
    def patches(self) -> Path:
        return self.root / hepatobench.PATCHES

    @property
    def tiles(self) -> Path:
        return self.root / hepatobench.TILES

    @property
    def curated(self) -> Path:
        return self.root / hepatobench.CURATED
