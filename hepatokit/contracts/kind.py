"""``BUILD/build.json``: which dataset a build is, written once when the build starts.

Readers (publish, split, the leakage audit) ask :func:`read_kind` instead of guessing from
the files present. Builds made before ``build.json`` existed fall back to the old guess:
LiFS if ``subjects.parquet`` exists, else HepatoBench.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from hepatokit.atomic import write_json_atomic
from hepatokit.contracts.common import BUILD_JSON
from hepatokit.contracts.lifs import SUBJECTS
from hepatokit.errors import BuildStateError

__all__ = ["DATASETS", "Dataset", "read_kind", "start_build"]

Dataset = Literal["lifs", "hepatobench"]
#: dataset kind → recipe family (``Recipe.kind``)
DATASETS: dict[str, str] = {"lifs": "mri", "hepatobench": "patho"}


def start_build(build: str | Path, kind: Dataset) -> Path:
    """Write ``BUILD/build.json`` (``{"dataset": kind}``) unless it exists; return its path.

    Written once: a later stage of the same build leaves it as it is.
    """
    if kind not in DATASETS:
        raise ValueError(f"unknown dataset kind {kind!r} (one of {', '.join(DATASETS)})")
    path = Path(build) / BUILD_JSON
    if not path.is_file():
        write_json_atomic(path, {"dataset": kind})
    return path


def read_kind(build: str | Path) -> Dataset:
    """The dataset of ``build``: from ``build.json``, else the old guess (old builds).

    Raises
    ------
    BuildStateError
        ``build.json`` exists but is not a JSON object naming a known dataset.
    """
    build = Path(build)
    path = build / BUILD_JSON
    if not path.is_file():
        return "lifs" if (build / SUBJECTS).is_file() else "hepatobench"
    try:
        kind = json.loads(path.read_text(encoding="utf-8")).get("dataset")
    except (ValueError, AttributeError) as exc:
        raise BuildStateError(
            f"{BUILD_JSON} is not a JSON object ({exc})",
            path=path,
            hint='it should read {"dataset": "lifs"} or {"dataset": "hepatobench"}',
        ) from exc
    if kind not in DATASETS:
        raise BuildStateError(
            f"{BUILD_JSON} names no known dataset ({kind!r})",
            path=path,
            hint=f'set "dataset" to one of {", ".join(DATASETS)}',
        )
    return kind
