"""What ``mri convert`` does, decided from the build's tables: one job per recognised series
(or per image series with ``--all-series``), the series whose raw files changed since the
index read them, the dcm2niix runs, and the table rows and ledger of the outcome."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hepatokit.contracts.lifs import ALL_SERIES_DIR, INDEX_CACHE, subject_dir, volume_file
from hepatokit.curation.mri.config import ConvertConfig
from hepatokit.curation.mri.convert.job import ConvertJob
from hepatokit.manifest import ManifestRow, excluded, kept
from hepatokit.parallel import ItemResult

__all__ = ["batches", "changed_since_index", "outcome", "plan_jobs"]

log = logging.getLogger("hepatokit.curation.mri.convert.plan")

#: the series' facts a job carries into its sidecar
_SERIES_FACTS = (
    "subject_id",
    "series_id",
    "center",
    "vendor",
    "scanner",
    "field_strength",
    "seconds_after_injection",
    "timing_source",
    "label",
    "reason",
)


def plan_jobs(
    build: Path,
    series: pd.DataFrame,
    raw_root: Path,
    instances: Mapping[str, Mapping[Any, Any]],
    config: ConvertConfig,
    all_series: bool,
) -> list[ConvertJob]:
    """One job per recognised series of ``series`` (every series with ``all_series``), in
    subject / series order. ``instances`` maps ``path`` (relative to ``raw_root``),
    ``b_value`` and ``contrast_agent`` to ``{item_id: value}``."""
    path_of, b_of = instances["path"], instances["b_value"]
    agent_of = instances["contrast_agent"]
    jobs: list[ConvertJob] = []
    root = str(raw_root)
    root = root if root.endswith("/") else root + "/"  # + a relative path = os.path.join
    if not all_series:  # only labelled rows become jobs: convert no other row to Python
        series = series[[isinstance(v, str) for v in series["label"]]]
    for s in _records(series.sort_values(["subject_id", "series_id"])):
        if all_series:
            sid = s["subject_id"]
            stem = f"{subject_dir(sid, ALL_SERIES_DIR)}/sub-{sid}_series-{s['series_id']}"
            seq = None
        elif isinstance(s["label"], str):
            seq = str(s["label"])
            stem = volume_file(s["subject_id"], seq, suffix="")
        else:
            continue
        info = {k: _plain(s[k]) for k in _SERIES_FACTS}
        agents = [str(agent_of[i]).strip() for i in s["item_ids"] if isinstance(agent_of[i], str)]
        info["contrast_agent"] = next((a for a in agents if a), None)
        files = tuple(root + path_of[i] for i in s["item_ids"])
        b_order = [float(b_of[i]) for i in s["item_ids"] if pd.notna(b_of[i])]
        index_b = tuple(dict.fromkeys(b_order))
        jobs.append(
            ConvertJob(str(build), stem, files, seq, info, config, index_b, str(s["series_uid"]))
        )
    return jobs


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows of ``frame`` as dicts of the columns a job uses (column by column: much
    faster than ``to_dict("records")``; values are unwrapped by :func:`_plain` anyway)."""
    names = [*_SERIES_FACTS, "item_ids", "series_uid"]
    cols = [frame[k].tolist() for k in names]
    return [dict(zip(names, row, strict=True)) for row in zip(*cols, strict=True)]


def changed_since_index(
    build: Path, raw_root: Path, jobs: Sequence[ConvertJob]
) -> dict[str, tuple[ConvertJob, str]]:
    """The jobs (by stem) whose raw files changed since ``mri index`` read them: size or
    mtime differs from the index's record (``private/index_cache.parquet``), or the file
    is gone. Converting them would mix what the index saw with what is there now (a
    replaced slice gives a volume of the wrong geometry that passes as ``ok``)."""
    record = build / INDEX_CACHE
    if not record.is_file():
        log.warning("no index record of sizes and mtimes: raw files not re-checked")
        return {}
    import pyarrow.parquet as pq

    table = pq.read_table(record, columns=["path", "size", "mtime_ns"])
    root = str(raw_root)
    root = root if root.endswith("/") else root + "/"  # + a relative path = os.path.join
    seen = {
        os.path.join(root, p): (s, m)  # noqa: PTH118 (hot loop)
        for p, s, m in zip(
            table["path"].to_pylist(),
            table["size"].to_pylist(),
            table["mtime_ns"].to_pylist(),
            strict=True,
        )
    }
    out: dict[str, tuple[ConvertJob, str]] = {}
    for job in jobs:
        bad = 0
        for f in job.files:
            try:
                st = os.stat(f)  # noqa: PTH116 (hot loop)
                now = (st.st_size, st.st_mtime_ns)
            except OSError:
                now = None
            if now is None or seen.get(f) != now:
                bad += 1
        if bad:
            out[job.stem] = (
                job,
                f"{bad} of {len(job.files)} file(s) of this series changed or disappeared "
                "since `mri index` read them; re-run `hepatokit mri index` (and the stages "
                "after it)",
            )
    return out


def batches(jobs: Sequence[ConvertJob]) -> list[list[ConvertJob]]:
    """One dcm2niix run per subject and part rank: parts of one split series (same UID) go
    to different runs, so dcm2niix never sees two of our series with one UID."""
    groups: dict[tuple[str, int], list[ConvertJob]] = {}
    seen: dict[tuple[str, str], int] = {}
    for job in jobs:
        sid = str(job.series["subject_id"])
        rank = seen.get((sid, job.series_uid), 0)
        seen[(sid, job.series_uid)] = rank + 1
        groups.setdefault((sid, rank), []).append(job)
    return [groups[k] for k in sorted(groups)]


def outcome(
    jobs: Sequence[ConvertJob],
    results: Sequence[ItemResult[ConvertJob, str]],
    changed: Mapping[str, tuple[ConvertJob, str]],
    items_of: Callable[[str], Sequence[str]],
    all_series: bool,
) -> tuple[list[dict[str, Any]], list[ManifestRow], dict[str, int]]:
    """The table rows, the ledger (none with ``all_series``) and the counts of a run:
    ``results`` of ``jobs`` and the ``changed`` series left out (``items_of``: a series'
    item ids)."""
    rows, ledger = [], []
    counts = {"converted": 0, "skipped": 0, "failed": 0}
    for job, res in zip(jobs, results, strict=True):
        status: str = res.value if res.ok and res.value else "failed"
        counts[status] += 1
        ok = status != "failed"
        path, sidecar = (f"{job.stem}.nii.gz", f"{job.stem}.json") if ok else (None, None)
        rows.append(_row(job, path, sidecar, "ok" if ok else "failed", res.error))
        if all_series:
            continue
        for item in items_of(job.series["series_id"]):
            if not ok:
                ledger.append(
                    excluded(
                        item,
                        kind="file",
                        stage="convert",
                        reason="conversion_failed",
                        detail=(res.error or "")[:500],
                    )
                )
            else:
                ledger.append(kept(item, kind="file", stage="convert", detail=f"{job.stem}.nii.gz"))
    for job, detail in changed.values():
        counts["failed"] += 1
        rows.append(_row(job, None, None, "changed_since_index", detail))
        if all_series:
            continue
        ledger += [
            excluded(item, kind="file", stage="convert", reason="changed_since_index",
                     detail=detail)
            for item in items_of(job.series["series_id"])
        ]  # fmt: skip
    return rows, ledger, counts


def _row(
    job: ConvertJob, path: str | None, sidecar: str | None, status: str, error: str | None
) -> dict[str, Any]:
    return {
        "subject_id": job.series["subject_id"],
        "sequence": job.sequence,
        "series_id": job.series["series_id"],
        "path": path,
        "sidecar": sidecar,
        "status": status,
        "error": error,
    }


def _plain(value: Any) -> Any:
    """A JSON-able Python value (numpy scalars unwrapped; NaN / pandas NA → None)."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    return value
