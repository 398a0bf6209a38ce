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
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from hepatokit.contracts import check_file, write_table
from hepatokit.contracts.lifs import (
    PSEUDONYMS,
    SEQUENCES,
    SERIES,
    SUBJECTS,
    SUBJECTS_SCHEMA,
    VOLUME_QC,
    VOLUMES,
)
from hepatokit.curation.mri.config import DeidConfig, LabelsConfig, recipe_sequences
from hepatokit.errors import BuildStateError, DataFormatError
from hepatokit.manifest import Manifest, ManifestRow, excluded, kept, provenance, stable_id
from hepatokit.recipe import stage_section
from hepatokit.tables import read_table

__all__ = [
    "SUBJECTS_SCHEMA",
    "LabelsSummary",
    "join_labels",
    "label_rows",
    "normalise_stage",
    "resolve_duplicates",
    "subject_rows",
]

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
    vols = pd.read_parquet(check_file(build, VOLUMES))
    vols = vols[vols["status"] == "ok"]
    qc_path = build / VOLUME_QC
    if qc_path.is_file():
        cols = ["series_id", "qc_reason"]
        qc = pd.read_parquet(check_file(build, VOLUME_QC, columns=cols), columns=cols)
        failed = set(qc.loc[qc["qc_reason"].notna(), "series_id"])
        vols = vols[~vols["series_id"].isin(failed)]
    return vols


def join_labels(
    *,
    build: str | os.PathLike[str],
    labels: str | os.PathLike[str],
    recipe: str | os.PathLike[str] | None = None,
    labels_config: LabelsConfig | None = None,
    deid: DeidConfig | None = None,
    sequences: Sequence[str] | None = None,
    recipe_sha256: str | None = None,
) -> LabelsSummary:
    """Join ``labels`` (CSV) to the converted subjects of ``build``; write subjects.parquet.

    Parameters
    ----------
    labels_config, deid, sequences, recipe_sha256
        The recipe's ``labels`` and ``deid`` sections (how the CSV names a patient), its
        sequences (their order in the ``sequences`` column; default all) and its hash (for
        the ledger's provenance), as a pipeline resolved them; given both sections, no
        recipe is read.
    recipe
        Otherwise: the recipe to read them from (default ``BUILD/recipe.yaml``, else the
        packaged ``lifs``).
    """
    build = Path(build)
    rec_path = None if recipe is None else os.fspath(recipe)
    given = None
    if labels_config is not None and deid is not None:
        given = (labels_config, deid, tuple(sequences or SEQUENCES), recipe_sha256)
    lcfg, deid_cfg, seqs, sha = stage_section(
        build,
        given,
        rec_path,
        default="lifs",
        pick=lambda r: (
            r.section("labels", LabelsConfig),
            r.section("deid", DeidConfig),
            recipe_sequences(r),
            r.sha256,
        ),
    )
    table, key_to_sid, vols = _read(build, labels, lcfg)
    ledger, by_subject = label_rows(
        table, lcfg, deid_cfg.subject_key, key_to_sid, set(vols["subject_id"]), Path(labels).name
    )
    stages: dict[str, str | None] = {}
    ledger = resolve_duplicates(ledger, by_subject, stages)
    series = pd.read_parquet(check_file(build, SERIES))
    subjects = subject_rows(vols, series, stages, lcfg, seqs)
    ledger += [
        kept(
            stable_id("subject", s["subject_id"]),
            kind="subject",
            stage="labels",
            detail="unlabelled: no usable label row",
        )
        for s in subjects
        if s["stage"] is None
    ]
    return _write(build, subjects, ledger, sha)


def _read(
    build: Path, labels: str | os.PathLike[str], lcfg: LabelsConfig
) -> tuple[pd.DataFrame, dict[str, str], pd.DataFrame]:
    """The labels CSV (as text), the pseudonym of each original key, the usable volumes."""
    for needed in (VOLUMES, SERIES, PSEUDONYMS):
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
    pseud = pd.read_parquet(build / PSEUDONYMS)
    key_to_sid = dict(zip(pseud["original_key"], pseud["subject_id"], strict=True))
    return table, key_to_sid, _volumes(build)


def label_rows(
    table: pd.DataFrame,
    lcfg: LabelsConfig,
    subject_key: str,
    key_to_sid: dict[str, str],
    imaged: set[str],
    source: str,
) -> tuple[list[ManifestRow], dict[str, list[tuple[str, str]]]]:
    """A ledger row per CSV row (kept, or excluded as ``no_patient_id``, ``unknown_stage``,
    ``no_images``) and the kept rows' ``(item, stage)`` per subject."""
    ledger: list[ManifestRow] = []
    by_subject: dict[str, list[tuple[str, str]]] = {}
    for i, row in enumerate(table.to_dict("records")):
        item = stable_id("label", str(i))
        common: dict[str, Any] = {"kind": "label_row", "stage": "labels", "source": source}
        pid = str(row[lcfg.id_column]).strip()
        key = pid
        if subject_key == "institution+patient_id":
            key = f"{row.get(lcfg.center_column or '', '')}\x1f{pid}"
        stage = normalise_stage(row[lcfg.stage_column], lcfg)
        sid = key_to_sid.get(key)
        if not pid:
            ledger.append(excluded(item, reason="no_patient_id", detail=f"row {i}", **common))
        elif stage is None:
            detail = f"row {i}: stage value not understood"
            ledger.append(excluded(item, reason="unknown_stage", detail=detail, **common))
        elif sid is None or sid not in imaged:
            detail = f"row {i}: no converted images for this patient"
            ledger.append(excluded(item, reason="no_images", detail=detail, **common))
        else:
            by_subject.setdefault(sid, []).append((item, stage))
            ledger.append(kept(item, detail=f"row {i}: {stage}", **common))
    return ledger, by_subject


def _write(
    build: Path, subjects: list[dict[str, Any]], ledger: list[ManifestRow], sha: str | None
) -> LabelsSummary:
    """``subjects.parquet`` and the stage's ledger; returns the summary."""
    path = write_table(build, SUBJECTS, pa.Table.from_pylist(subjects, schema=SUBJECTS_SCHEMA))
    Manifest(build).record(
        "labels",
        ledger,
        introduces=True,
        provenance_info=provenance(stage="mri.labels", recipe_sha256=sha),
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


def resolve_duplicates(
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


def subject_rows(
    vols: pd.DataFrame,
    series: pd.DataFrame,
    stages: dict[str, str | None],
    lcfg: LabelsConfig,
    sequences: Sequence[str],
) -> list[dict[str, Any]]:
    """One ``subjects.parquet`` row per imaged subject: the series' most common domain
    facts, the stage (None: unlabelled) and its subtask labels, a path per sequence."""
    series = series[series["series_id"].isin(set(vols["series_id"]))]
    order = [s for s in sequences if s in SEQUENCES]
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
            "cirrhosis": None if stage is None else int(stage in lcfg.cirrhosis),
            "significant_fibrosis": None
            if stage is None
            else int(stage in lcfg.significant_fibrosis),
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
