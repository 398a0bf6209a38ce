"""hepatokit.pipelines: orchestration only — a build is its stages in order.

``dataset`` (``build_dataset``: the recipe's kind picks the chain, then splits, audits and
the report), ``lifs`` (index → series → convert → QC → labels), ``hepatobench`` (ingest or
tile → QC → dedup) and ``demo`` (synthetic raw data through every chain). Pipelines import
stages; no stage imports a pipeline.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hepatokit._lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "BuildSummary": "dataset",
    "build_dataset": "dataset",
    "LifsBuildSummary": "lifs",
    "build_lifs": "lifs",
    "HepatoBenchBuild": "hepatobench",
    "build_hepatobench": "hepatobench",
    "DemoSummary": "demo",
    "run_demo": "demo",
}

__all__ = sorted(_EXPORTS)


if TYPE_CHECKING:  # the names of _EXPORTS, for type checkers (tests keep both in step)
    from hepatokit.pipelines.dataset import (
        BuildSummary as BuildSummary,
        build_dataset as build_dataset,
    )
    from hepatokit.pipelines.demo import (
        DemoSummary as DemoSummary,
        run_demo as run_demo,
    )
    from hepatokit.pipelines.hepatobench import (
        HepatoBenchBuild as HepatoBenchBuild,
        build_hepatobench as build_hepatobench,
    )
    from hepatokit.pipelines.lifs import (
        LifsBuildSummary as LifsBuildSummary,
        build_lifs as build_lifs,
    )


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
