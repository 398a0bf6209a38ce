"""``mri series``: group instances into series, split mixed ones, recognise each.

1. Group by SeriesInstanceUID (never by SeriesNumber + ProtocolName: that merges series).
2. Split: parts of different orientation or matrix are separated and only the largest part
   is kept (the others: ``split_remainder``); parts of different AcquisitionNumber or
   TemporalPositionIdentifier are separate volumes (dynamic phases) when each covers the same
   slice positions with the same b-values.
3. Recognise each part with the recipe's rules (:mod:`.rules`); a ``dynamic`` label is
   resolved into a contrast phase from the seconds between its first acquisition and
   ContrastBolusStartTime, or, when that is absent, from the first post-contrast series
   (assumed ``first_post_contrast_s`` after injection).
4. A sequence seen twice for one subject: the recipe's ``repeat`` rule keeps one, the others
   are ignored as ``repeat_of:<series_id>``.

Reads ``instances.parquet`` (+ the private times), decides (:mod:`.parts`: grouping, splits,
rules; :mod:`.phases`: phases, repeats; pure), writes ``BUILD/series.parquet``, the
``reports/series.*`` and the ``series`` ledger (each kept file: kept, or excluded with its
series' reason).
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from hepatokit.atomic import write_text_atomic
from hepatokit.contracts import check_file, write_table
from hepatokit.contracts.lifs import (
    INSTANCES,
    INSTANCES_PHI,
    SERIES,
    SERIES_CSV,
    SERIES_MD,
    SERIES_SCHEMA,
)
from hepatokit.curation.mri.config import SeriesConfig, series_section
from hepatokit.curation.mri.dicom.tags import seconds_of_day
from hepatokit.curation.mri.series.parts import Rows, describe_parts
from hepatokit.curation.mri.series.phases import resolve_phases, resolve_repeats
from hepatokit.errors import BuildStateError
from hepatokit.manifest import Manifest, ManifestRow, excluded, kept, provenance
from hepatokit.recipe import stage_section
from hepatokit.tables import formula_safe

__all__ = ["SERIES_SCHEMA", "SeriesSummary", "recognise_series"]

log = logging.getLogger("hepatokit.curation.mri.series.stage")


@dataclass(frozen=True)
class SeriesSummary:
    """Counts of ``recognise_series``: parts, labelled (kept) ones, and by label / reason."""

    series: int
    labelled: int
    by_label: dict[str, int]
    by_reason: dict[str, int]
    series_path: Path


def _load(build: Path) -> Rows:
    inst_path = build / INSTANCES
    phi_path = build / INSTANCES_PHI
    if not inst_path.is_file() or not phi_path.is_file():
        raise BuildStateError(
            "no instances.parquet in the build", path=build, hint="run `hepatokit mri index` first"
        )
    rows = pq.read_table(check_file(build, INSTANCES)).to_pylist()
    phi = pq.read_table(
        phi_path, columns=["item_id", "acquisition_time", "series_time", "contrast_start_time"]
    ).to_pylist()
    times = {p["item_id"]: p for p in phi}
    seconds: dict[Any, float | None] = {}  # a time text repeats over a series: parsed once

    def of(tm: Any) -> float | None:
        if type(tm) is not str:
            return seconds_of_day(tm)
        got = seconds.get(tm, seconds)
        if got is seconds:
            got = seconds[tm] = seconds_of_day(tm)
        return got  # type: ignore[return-value]

    for r in rows:
        p = times.get(r["item_id"], {})
        t_acq = of(p.get("acquisition_time"))
        r["t_acq"] = t_acq if t_acq is not None else of(p.get("series_time"))
        r["t_bolus"] = of(p.get("contrast_start_time"))
    return rows


def recognise_series(
    *,
    build: str | os.PathLike[str],
    series: SeriesConfig | None = None,
    recipe: str | os.PathLike[str] | None = None,
    recipe_sha256: str | None = None,
) -> SeriesSummary:
    """Group, split and recognise the series of ``build`` (after ``mri index``).

    Parameters
    ----------
    build
        The build folder.
    series, recipe_sha256
        The recipe's ``series`` section and its hash (for the ledger's provenance), as a
        pipeline resolved them; given the section, no recipe is read.
    recipe
        Recipe path or name, read only without ``series`` (default: ``BUILD/recipe.yaml``,
        else the packaged ``lifs``).

    Returns
    -------
    SeriesSummary
        Counts; the table is written to ``BUILD/series.parquet``.
    """
    build = Path(build)
    cfg, sha = stage_section(
        build,
        None if series is None else (series, recipe_sha256),
        None if recipe is None else os.fspath(recipe),
        default="lifs",
        pick=lambda rec: (series_section(rec), rec.sha256),
    )
    instances = _load(build)
    rows = describe_parts(cfg, instances)
    resolve_phases(cfg, rows, instances)
    resolve_repeats(cfg, rows)
    for r in rows:
        r.pop("_t", None)
        r.pop("_post", None)
    table = pa.Table.from_pylist(
        sorted(rows, key=lambda r: (r["subject_id"], r["series_id"])), schema=SERIES_SCHEMA
    )
    path = write_table(build, SERIES, table)
    _write_report(build, rows)
    Manifest(build).record(
        "series", _ledger(rows), provenance_info=provenance(stage="mri.series", recipe_sha256=sha)
    )
    labels = Counter(r["label"] for r in rows if r["label"])
    reasons = Counter((r["reason"] or "").split(":")[0] for r in rows if not r["label"])
    log.info("series: %d parts, %d labelled %s", len(rows), sum(labels.values()), dict(labels))
    return SeriesSummary(len(rows), sum(labels.values()), dict(labels), dict(reasons), path)


def _ledger(rows: Rows) -> list[ManifestRow]:
    """The ``series`` ledger: each file of a labelled part kept, of the others excluded with
    the part's reason."""
    ledger = []
    for r in rows:
        for item in r["item_ids"]:
            if r["label"] is not None:
                ledger.append(kept(item, kind="file", stage="series", detail=r["label"]))
                continue
            detail = f"series {r['series_id']}: {r['evidence']}"[:500]
            ledger.append(
                excluded(item, kind="file", stage="series", reason=r["reason"], detail=detail)
            )
    return ledger


def _write_report(build: Path, rows: list[dict[str, Any]]) -> None:
    """``reports/series.csv`` (every decision, least confident first) and ``series.md``."""
    import csv
    import io

    ordered = sorted(
        rows,
        key=lambda r: (r["confidence"] if r["confidence"] is not None else 0.0, r["series_id"]),
    )
    buf = io.StringIO()
    fields = ["series_id", "subject_id", "vendor", "label", "reason", "confidence", "evidence"]
    writer = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: formula_safe(v) for k, v in r.items()} for r in ordered)  # no formulas
    write_text_atomic(build / SERIES_CSV, buf.getvalue())
    labels = Counter(r["label"] for r in rows if r["label"])
    lines = [
        "# Series recognition",
        "",
        f"- series parts: {len(rows)}; labelled: {sum(labels.values())} "
        + ", ".join(f"{k} {v}" for k, v in sorted(labels.items())),
        "- every decision with its evidence: `reports/series.csv` (least confident first)",
        "",
        "## Least confident decisions",
        "",
        "| series | vendor | label / reason | confidence | evidence |",
        "|---|---|---|---|---|",
    ]
    for r in ordered[:50]:
        what = r["label"] or f"({r['reason']})"
        ev = str(r["evidence"]).replace("|", "/")[:300]
        lines.append(f"| {r['series_id']} | {r['vendor']} | {what} | {r['confidence']} | {ev} |")
    write_text_atomic(build / SERIES_MD, "\n".join(lines) + "\n")
