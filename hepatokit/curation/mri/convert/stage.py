"""``mri convert``: one de-identified NIfTI + curated sidecar per subject × sequence.

Each recognised series is converted by the dcm2niix binary of the pip package, fed exactly
the files of that series (symlinked into a private temporary folder) with
``-b y -ba y -z n`` (never ``-i y``: it also drops Siemens TRACEW diffusion images). The
NIfTI is then scrubbed and gzipped deterministically (:mod:`.nifti_scrub`), the sidecar is
rebuilt from whitelisted dcm2niix keys plus the index (pseudonyms, contrast timing), and
every file is written atomically. A content key per output (inputs' paths, sizes, mtimes,
recipe options, versions) makes a re-run skip finished volumes, so an interrupted run
resumes and ends with the same bytes as an uninterrupted one.

Layout: ``BUILD/volumes/sub-<sid>/sub-<sid>_<SEQ>.nii.gz`` + ``.json`` (+ ``.bval``/``.bvec``
for DWI); ``--all-series`` writes every image series to
``BUILD/all_series/sub-<sid>/sub-<sid>_series-<series_id>.nii.gz`` instead.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from hepatokit.contracts import check_file, write_table
from hepatokit.contracts.common import RAW_ROOT
from hepatokit.contracts.lifs import (
    ALL_SERIES,
    INSTANCES,
    INSTANCES_PHI,
    SEQUENCES,
    SERIES,
    VOLUME_SCHEMA,
    VOLUMES,
    VOLUMES_DIR,
)
from hepatokit.curation.mri.config import ConvertConfig, recipe_sequences
from hepatokit.curation.mri.convert.dcm2niix import (
    build_scratch,
    dcm2niix_binary,
    remove_dead_scratch,
    run_dcm2niix,
)
from hepatokit.curation.mri.convert.job import ConvertJob, up_to_date
from hepatokit.curation.mri.convert.plan import batches, changed_since_index, outcome, plan_jobs
from hepatokit.curation.mri.convert.run import convert_batch
from hepatokit.errors import BuildStateError
from hepatokit.manifest import Manifest, provenance
from hepatokit.parallel import ItemResult, map_items
from hepatokit.recipe import stage_section

__all__ = ["ConvertSummary", "convert_volumes", "dcm2niix_binary", "run_dcm2niix"]

log = logging.getLogger("hepatokit.curation.mri.convert.stage")


@dataclass(frozen=True)
class ConvertSummary:
    """Volumes written (converted now), skipped (already up to date) and failed."""

    converted: int
    skipped: int
    failed: int
    volumes_path: Path


def convert_volumes(
    *,
    build: str | os.PathLike[str],
    recipe: str | os.PathLike[str] | None = None,
    convert: ConvertConfig | None = None,
    sequences: Sequence[str] | None = None,
    recipe_sha256: str | None = None,
    all_series: bool = False,
    workers: int | None = None,
    executor: Executor | None = None,
) -> ConvertSummary:
    """Convert the recognised series of ``build`` (after ``mri series``).

    Parameters
    ----------
    convert, sequences, recipe_sha256
        The recipe's ``convert`` section, its sequences (curated files of other sequences
        are removed; default all) and its hash (for the ledger's provenance), as a pipeline
        resolved them; given the section, no recipe is read.
    recipe
        Without ``convert``: the recipe to read them from (default ``BUILD/recipe.yaml``,
        else the packaged ``lifs``).
    all_series
        Convert every image series whatever its recognition into ``BUILD/all_series/`` (to
        explore a new site's export); the manifest and ``volumes/`` are left alone.
    """
    build = Path(build)
    rec_path = None if recipe is None else os.fspath(recipe)
    cfg, seqs, sha = stage_section(
        build,
        None if convert is None else (convert, tuple(sequences or SEQUENCES), recipe_sha256),
        rec_path,
        default="lifs",
        pick=lambda r: (
            r.section("convert", ConvertConfig),
            recipe_sequences(r),
            r.sha256,
        ),
    )
    series, raw_root, instances = _read_tables(build)
    jobs = plan_jobs(build, series, raw_root, instances, cfg, all_series)
    changed = changed_since_index(build, raw_root, jobs)
    jobs = [j for j in jobs if j.stem not in changed]
    jobs, results = _run(build, jobs, workers, executor)
    if not all_series:
        _remove_stale(build / VOLUMES_DIR, {build / j.stem for j in jobs}, seqs)
    items: dict[str, Any] = {}
    for sid, ids in zip(series["series_id"], series["item_ids"], strict=True):
        items.setdefault(sid, ids)  # the first row of a series id, as before
    rows, ledger, counts = outcome(jobs, results, changed, items.__getitem__, all_series)
    name = ALL_SERIES if all_series else VOLUMES
    out = write_table(build, name, pa.Table.from_pylist(rows, schema=VOLUME_SCHEMA))
    if not all_series:
        Manifest(build).record(
            "convert", ledger, provenance_info=provenance(stage="mri.convert", recipe_sha256=sha)
        )
    log.info("convert: %s", counts)
    for job, res in zip(jobs, results, strict=True):
        if not res.ok:
            log.warning("%s: %s", job.stem, res.error)
    return ConvertSummary(counts["converted"], counts["skipped"], counts["failed"], out)


def _read_tables(build: Path) -> tuple[pd.DataFrame, Path, dict[str, dict[Any, Any]]]:
    """``series.parquet``, the raw root, and per instance (``item_id``) its raw path,
    b-value and contrast agent."""
    if not (build / SERIES).is_file():
        raise BuildStateError(f"no {SERIES}", path=build, hint="run `hepatokit mri series`")
    raw_root = Path(json.loads((build / RAW_ROOT).read_text())["raw_root"])
    series = pd.read_parquet(check_file(build, SERIES))
    import pyarrow.parquet as pq

    # columns to Python lists in one go (iterating arrow-backed pandas columns is slow)
    cols = pq.read_table(
        check_file(build, INSTANCES), columns=["item_id", "b_value", "contrast_agent"]
    ).to_pydict()
    raw = pq.read_table(
        build / INSTANCES_PHI, columns=["item_id", "path"]
    ).to_pydict()  # the raw paths are only in private/ (folder names carry patient names)
    instances = {
        "path": dict(zip(raw["item_id"], raw["path"], strict=True)),
        "b_value": dict(zip(cols["item_id"], cols["b_value"], strict=True)),
        "contrast_agent": dict(zip(cols["item_id"], cols["contrast_agent"], strict=True)),
    }
    return series, raw_root, instances


def _run(
    build: Path, jobs: list[ConvertJob], workers: int | None, executor: Executor | None
) -> tuple[list[ConvertJob], list[ItemResult[ConvertJob, str]]]:
    """Convert the jobs not up to date, one dcm2niix run per batch (:func:`batches`), in a
    scratch folder of this build; returns the jobs (with it) and each one's result."""
    todo = [i for i, job in enumerate(jobs) if not up_to_date(job)]
    # a run with nothing to convert makes no scratch folder, but removes the ones killed
    # runs of this build left (see remove_dead_scratch)
    scratch = build_scratch(build) if todo else None
    if scratch is None:
        remove_dead_scratch(build)
    jobs = [dataclasses.replace(j, scratch=scratch) for j in jobs]
    # the largest batches first, one a task: the workers run out of work together (the
    # default ~8 tasks a worker left one idle for up to a task at the end)
    groups = sorted(batches([jobs[i] for i in todo]), key=lambda b: -sum(len(j.files) for j in b))
    done = map_items(
        convert_batch,
        groups,
        executor=executor,
        workers=workers,
        chunksize=1,
        description="convert (dcm2niix)",
    )
    got: dict[str, tuple[str | None, str | None]] = {}
    for batch, bres in zip(groups, done, strict=True):
        values = bres.value if bres.ok and bres.value else [(None, bres.error)] * len(batch)
        got.update({j.stem: v for j, v in zip(batch, values, strict=True)})
    results: list[ItemResult[ConvertJob, str]] = []
    for job in jobs:
        status, error = got.get(job.stem, ("skipped", None))
        results.append(ItemResult(job, status, error))
    os.sync()  # one flush for the stage: outputs are written atomically but not fsynced each
    if scratch is not None:
        shutil.rmtree(scratch, ignore_errors=True)
    return jobs, results


def _remove_stale(volumes: Path, expected_stems: set[Path], sequences: Sequence[str]) -> None:
    """Delete curated files of sequences no longer recognised (keeps re-runs idempotent).

    Only files named like this stage's outputs (``sub-<id>_<SEQ>.nii.gz|json|bval|bvec``) are
    considered; anything else in ``volumes/`` (masks, notes) is left alone.
    """
    if not volumes.is_dir():
        return
    names = {str(s) for s in expected_stems}
    suffixes = (".nii.gz", ".json", ".bval", ".bvec")
    for f in sorted(volumes.glob("sub-*/.sub-*.tmp*")):  # left by a killed run
        f.unlink()
    for f in sorted(volumes.glob("sub-*/sub-*_*")):
        suffix = next((x for x in suffixes if f.name.endswith(x)), None)
        if suffix is None:
            continue
        stem = f.name[: -len(suffix)]
        if stem.rsplit("_", 1)[-1] in sequences and str(f.parent / stem) not in names:
            f.unlink()
