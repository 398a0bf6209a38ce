"""``mri qc``: per-volume checks and the missing-modality matrix.

Per volume (``BUILD/qc/volume_qc.parquet``): shape, voxel spacing (mm), orientation code,
dtype, non-finite voxel count, empty (all zero) and constant volumes, intensity percentiles,
irregular slice spacing (from the source images' positions in the index: the largest
``|gap - median| / median``), corrupt slices (:func:`corrupt_slices`: a blank or noise slice
between two that agree, as a damaged compressed slice decodes), and tiny coverage (fewer
than ``min_slices`` slices or less than ``min_coverage_mm`` along the slice axis). Checks
named in the recipe's ``fail_on`` exclude the volume (its files get ``qc:<check>`` in the
ledger); the others are flags.

The missing-modality matrix (subjects × sequences, 1 = a volume that passed QC) goes to
``BUILD/qc/missing_modality.csv`` and ``BUILD/reports/missing_modality.png``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from hepatokit.contracts import check_file, write_table
from hepatokit.contracts.lifs import (
    INSTANCES,
    SEQUENCES,
    SERIES,
    VOLUME_QC,
    VOLUME_QC_SCHEMA,
    VOLUMES,
)
from hepatokit.curation.mri.config import VolumeQCConfig, recipe_sequences
from hepatokit.curation.mri.qc.checks import check_volume, corrupt_slices
from hepatokit.curation.mri.qc.matrix import missing_modality_matrix
from hepatokit.errors import BuildStateError
from hepatokit.manifest import Manifest, ManifestRow, excluded, kept, provenance
from hepatokit.parallel import ItemResult, map_items
from hepatokit.recipe import stage_section

__all__ = [
    "VolumeQCSummary",
    "corrupt_slices",
    "missing_modality_matrix",
    "plan_checks",
    "qc_outcome",
    "qc_volumes",
]

log = logging.getLogger("hepatokit.curation.mri.qc.stage")

#: one volume to check: (BUILD, path relative to it, its facts, the section)
CheckJob = tuple[str, str, dict[str, Any], VolumeQCConfig]

#: the columns of ``volume_qc.parquet`` (the contract's)
QC_SCHEMA = VOLUME_QC_SCHEMA


@dataclass(frozen=True)
class VolumeQCSummary:
    """Volumes checked, failed (excluded), and flagged (kept with a warning)."""

    volumes: int
    failed: int
    flagged: int
    qc_path: Path
    matrix_path: Path


def qc_volumes(
    *,
    build: str | os.PathLike[str],
    recipe: str | os.PathLike[str] | None = None,
    qc: VolumeQCConfig | None = None,
    sequences: Sequence[str] | None = None,
    recipe_sha256: str | None = None,
    workers: int | None = None,
    executor: Executor | None = None,
) -> VolumeQCSummary:
    """Check every converted volume of ``build`` and write the missing-modality matrix.

    Parameters
    ----------
    qc, sequences, recipe_sha256
        The recipe's ``mri_qc`` section, its sequences (the matrix's columns; default all)
        and its hash (for the ledger's provenance), as a pipeline resolved them; given the
        section, no recipe is read.
    recipe
        Without ``qc``: the recipe to read them from (default ``BUILD/recipe.yaml``, else
        the packaged ``lifs``).
    """
    build = Path(build)
    rec_path = None if recipe is None else os.fspath(recipe)
    cfg, seqs, sha = stage_section(
        build,
        None if qc is None else (qc, tuple(sequences or SEQUENCES), recipe_sha256),
        rec_path,
        default="lifs",
        pick=lambda r: (
            r.section("mri_qc", VolumeQCConfig),
            recipe_sequences(r),
            r.sha256,
        ),
    )
    vols, series, inst = _read_tables(build)
    jobs = plan_checks(str(build), vols, series, inst, cfg)
    results = map_items(
        check_volume, jobs, executor=executor, workers=workers, description="volume QC"
    )
    rows, ledger = qc_outcome(jobs, results, series["item_ids"].__getitem__)
    qc_path = write_table(
        build,
        VOLUME_QC,
        pa.Table.from_pylist(
            [{k: r.get(k) for k in QC_SCHEMA.names} for r in rows], schema=QC_SCHEMA
        ),
    )
    Manifest(build).record(
        "qc", ledger, provenance_info=provenance(stage="mri.qc", recipe_sha256=sha)
    )
    passed = pd.DataFrame(
        [r for r in rows if not r["qc_reason"]], columns=["subject_id", "sequence"]
    )
    matrix = missing_modality_matrix(build, passed, tuple(seqs))
    failed = sum(1 for r in rows if r["qc_reason"])
    flagged = sum(1 for r in rows if r["flags"] and not r["qc_reason"])
    log.info("qc: %d volumes, %d failed, %d flagged", len(rows), failed, flagged)
    return VolumeQCSummary(len(rows), failed, flagged, qc_path, matrix)


def _read_tables(build: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The converted volumes (ok, by subject and sequence), the series (by ``series_id``)
    and the instances' positions and orientations (by ``item_id``)."""
    if not (build / VOLUMES).is_file():
        raise BuildStateError(f"no {VOLUMES}", path=build, hint="run `hepatokit mri convert`")
    vols = pd.read_parquet(check_file(build, VOLUMES))
    vols = vols[vols["status"] == "ok"].sort_values(["subject_id", "sequence"])
    series = pd.read_parquet(check_file(build, SERIES)).set_index("series_id")
    inst = pd.read_parquet(
        check_file(build, INSTANCES), columns=["item_id", "position", "orientation"]
    )
    return vols, series, inst.set_index("item_id")


def plan_checks(
    build: str,
    vols: pd.DataFrame,
    series: pd.DataFrame,
    inst: pd.DataFrame,
    cfg: VolumeQCConfig,
) -> list[CheckJob]:
    """One check per volume, with its source images' positions and orientation."""
    jobs = []
    for v in vols.to_dict("records"):
        items = list(series.loc[v["series_id"], "item_ids"])
        sub = inst.loc[items]
        info = {
            "subject_id": v["subject_id"],
            "sequence": v["sequence"],
            "series_id": v["series_id"],
            "positions": [None if p is None else list(p) for p in sub["position"]],
            "orientation": None
            if sub["orientation"].iloc[0] is None
            else list(sub["orientation"].iloc[0]),
        }
        jobs.append((build, v["path"], info, cfg))
    return jobs


def qc_outcome(
    jobs: Sequence[CheckJob],
    results: Sequence[ItemResult[CheckJob, dict[str, Any]]],
    item_ids: Callable[[str], Sequence[str]],
) -> tuple[list[dict[str, Any]], list[ManifestRow]]:
    """The QC rows (an unreadable volume fails as ``unreadable``) and the ledger: each
    volume's files excluded as ``qc:<check>`` or kept with its flags."""
    rows, ledger = [], []
    for job, res in zip(jobs, results, strict=True):
        info = job[2]
        row = (
            res.value
            if res.ok and res.value
            else {
                **{k: info[k] for k in ("subject_id", "sequence", "series_id")},
                "path": job[1],
                "flags": ["unreadable"],
                "qc_reason": "unreadable",
            }
        )
        rows.append(row)
        for item in item_ids(info["series_id"]):
            if row["qc_reason"]:
                ledger.append(
                    excluded(
                        item,
                        kind="file",
                        stage="qc",
                        reason=f"qc:{row['qc_reason']}",
                        detail=res.error or ", ".join(row["flags"]),
                    )
                )
            else:
                ledger.append(
                    kept(item, kind="file", stage="qc", detail=", ".join(row["flags"]) or None)
                )
    return rows, ledger
