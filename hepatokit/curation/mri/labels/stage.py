"""``mri labels``: join the clinical CSV to the imaged subjects → ``subjects.parquet``.

The CSV is joined on the original patient ID (through ``BUILD/private/pseudonyms.parquet``),
so the published table only has pseudonyms. Stages are normalised to ``S1``…``S4`` (``S3``,
``3``, ``F3``, ``stage 3`` per the recipe's pattern and map) and give the two subtask labels
``cirrhosis`` (S4 vs S1–S3) and ``significant_fibrosis`` (S2–S4 vs S1).

Every CSV row is a manifest item (``stable_id("label", <0-based row number>)``, kind
``label_row``): kept, or excluded as ``unknown_stage``, ``no_patient_id``,
``conflicting_labels``, ``duplicate_of:<id>`` (same stage again) or ``no_images``. Imaged
subjects without a label stay in the table with a null stage (a kept ``subject`` row with
detail ``unlabelled``). Columns of ``subjects.parquet``: see docs/contracts.md.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from hepatokit.atomic import write_parquet_atomic
from hepatokit.curation.mri.config import LabelsConfig, mri_config
from hepatokit.curation.mri.labels.subjects import SEQUENCES, SUBJECTS_SCHEMA
from hepatokit.errors import BuildStateError, DataFormatError
from hepatokit.manifest import Manifest, ManifestRow, excluded, kept, provenance, stable_id
from hepatokit.recipe import build_recipe
from hepatokit.tables import read_table

__all__ = ["SUBJECTS_SCHEMA", "LabelsSummary", "join_labels", "normalise_stage"]

log = logging.getLogger("hepatokit.curation.mri.labels.stage")


@dataclass(frozen=True)
class LabelsSummary:
    """Subjects written, how many labelled, and the label rows kept / excluded."""

    subjects: int
    labelled: int
    rows_kept: int
    rows_excluded: int
    by_stage: dict[str, int]
    subjects_path: Path


def normalise_stage(value: Any, config: LabelsConfig) -> str | None:
    """``S1``…``S4`` from a clinical notation (``S3``, ``3``, ``F3``...), else None."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    text = str(value).strip()
    if text in config.stage_map:
        return config.stage_map[text]
    m = re.match(config.stage_pattern, text, flags=re.IGNORECASE)
    return f"S{m.group(1)}" if m else None


def _volumes(build: Path) -> pd.DataFrame:
    vols = pd.read_parquet(build / "volumes.parquet")
    vols = vols[vols["status"] == "ok"]
    qc_path = build / "qc" / "volume_qc.parquet"
    if qc_path.is_file():
        qc = pd.read_parquet(qc_path, columns=["series_id", "qc_reason"])
        failed = set(qc.loc[qc["qc_reason"].notna(), "series_id"])
        vols = vols[~vols["series_id"].isin(failed)]
    return vols


def join_labels(
    *,
    build: str | os.PathLike[str],
    labels: str | os.PathLike[str],
    recipe: str | os.PathLike[str] | None = None,
) -> LabelsSummary:
    """Join ``labels`` (CSV) to the converted subjects of ``build``; write subjects.parquet."""
    build = Path(build)
    rec = build_recipe(build, None if recipe is None else os.fspath(recipe), default="lifs")
    cfg = mri_config(rec)
    lcfg = cfg.labels
    for needed in ("volumes.parquet", "series.parquet", "private/pseudonyms.parquet"):
        if not (build / needed).is_file():
            raise BuildStateError(f"no {needed}", path=build, hint="run mri index/series/convert")
    parsed = read_table(labels, what="labels CSV")  # empty, ragged, duplicate header: errors
    table = pd.DataFrame(parsed.rows, columns=parsed.columns, dtype=str)
    for col in (lcfg.id_column, lcfg.stage_column):
        if col not in table.columns:
            raise DataFormatError(
                f"labels CSV has no column {col!r} (columns: {', '.join(table.columns)})",
                path=os.fspath(labels),
                hint="set labels.id_column / labels.stage_column in the recipe",
            )
    pseud = pd.read_parquet(build / "private" / "pseudonyms.parquet")
    key_to_sid = dict(zip(pseud["original_key"], pseud["subject_id"], strict=True))
    vols = _volumes(build)
    imaged = set(vols["subject_id"])
    source = Path(labels).name
    ledger: list[ManifestRow] = []
    by_subject: dict[str, list[tuple[str, str]]] = {}
    for i, row in enumerate(table.to_dict("records")):
        item = stable_id("label", str(i))
        common: dict[str, Any] = {"kind": "label_row", "stage": "labels", "source": source}
        pid = str(row[lcfg.id_column]).strip()
        key = pid
        if cfg.deid.subject_key == "institution+patient_id":
            key = f"{row.get(lcfg.center_column or '', '')}\x1f{pid}"
        stage = normalise_stage(row[lcfg.stage_column], lcfg)
        sid = key_to_sid.get(key)
        if not pid:
            ledger.append(excluded(item, reason="no_patient_id", detail=f"row {i}", **common))
        elif stage is None:
            ledger.append(
                excluded(
                    item,
                    reason="unknown_stage",
                    detail=f"row {i}: stage value not understood",
                    **common,
                )
            )
        elif sid is None or sid not in imaged:
            ledger.append(
                excluded(
                    item,
                    reason="no_images",
                    detail=f"row {i}: no converted images for this patient",
                    **common,
                )
            )
        else:
            by_subject.setdefault(sid, []).append((item, stage))
            ledger.append(kept(item, detail=f"row {i}: {stage}", **common))
    stages: dict[str, str | None] = {}
    ledger = _resolve_duplicates(ledger, by_subject, stages)
    subjects = _subject_rows(build, vols, stages)
    for s in subjects:
        if s["stage"] is None:
            ledger.append(
                kept(
                    stable_id("subject", s["subject_id"]),
                    kind="subject",
                    stage="labels",
                    detail="unlabelled: no usable label row",
                )
            )
    path = write_parquet_atomic(
        build / "subjects.parquet", pa.Table.from_pylist(subjects, schema=SUBJECTS_SCHEMA)
    )
    Manifest(build).record(
        "labels",
        ledger,
        introduces=True,
        provenance_info=provenance(stage="mri.labels", recipe_sha256=rec.sha256),
    )
    by_stage = Counter(s["stage"] or "unlabelled" for s in subjects)
    n_kept = sum(1 for r in ledger if r.kind == "label_row" and r.outcome == "kept")
    n_excl = sum(1 for r in ledger if r.kind == "label_row" and r.outcome == "excluded")
    log.info("labels: %d subjects, %s", len(subjects), dict(by_stage))
    return LabelsSummary(
        len(subjects),
        sum(1 for s in subjects if s["stage"]),
        n_kept,
        n_excl,
        dict(sorted(by_stage.items())),
        path,
    )


def _resolve_duplicates(
    ledger: list[ManifestRow],
    by_subject: dict[str, list[tuple[str, str]]],
    stages: dict[str, str | None],
) -> list[ManifestRow]:
    """Same stage twice → later rows ``duplicate_of``; different stages → all rows
    ``conflicting_labels`` and the subject unlabelled."""
    change: dict[str, tuple[str, str]] = {}
    for sid, rows in by_subject.items():
        values = {stage for _, stage in rows}
        if len(values) > 1:
            stages[sid] = None
            for item, _ in rows:
                change[item] = ("conflicting_labels", f"stages {sorted(values)} for one patient")
            continue
        stages[sid] = rows[0][1]
        for item, _ in rows[1:]:
            change[item] = (f"duplicate_of:{rows[0][0]}", "same stage again")
    return [
        dataclasses.replace(
            r, outcome="excluded", reason=change[r.item_id][0], detail=change[r.item_id][1]
        )
        if r.item_id in change
        else r
        for r in ledger
    ]


def _subject_rows(
    build: Path, vols: pd.DataFrame, stages: dict[str, str | None]
) -> list[dict[str, Any]]:
    cfg = mri_config(build_recipe(build, None, default="lifs"))
    series = pd.read_parquet(build / "series.parquet")
    series = series[series["series_id"].isin(set(vols["series_id"]))]
    order = [s for s in cfg.sequences if s in SEQUENCES]
    out = []
    for sid, sv in vols.groupby("subject_id", sort=True):
        ss = series[series["subject_id"] == sid]
        stage = stages.get(str(sid))
        paths = dict(zip(sv["sequence"], sv["path"], strict=True))
        row: dict[str, Any] = {
            "subject_id": str(sid),
            "center": _mode(ss["center"]),
            "vendor": _mode(ss["vendor"]),
            "scanner": _mode(ss["scanner"]),
            "field_strength": _mode(ss["field_strength"]),
            "stage": stage,
            "cirrhosis": None if stage is None else int(stage in cfg.labels.cirrhosis),
            "significant_fibrosis": None
            if stage is None
            else int(stage in cfg.labels.significant_fibrosis),
            "sequences": [s for s in order if s in paths],
            "mask_GED4": None,
        }
        for s in SEQUENCES:
            row[f"volume_{s}"] = paths.get(s)
        out.append(row)
    return out


def _mode(values: pd.Series) -> Any:
    values = values.dropna()
    if values.empty:
        return None
    return Counter(values.tolist()).most_common(1)[0][0]
