"""``patho qc``: apply the recipe's thresholds to every patch's scores; record the reason.

Read (the items and their scores, measured once by ingest or here) → decide
(:func:`decide_qc`: pure, thresholds per class) → write (``qc.parquet`` and the ledger).
"""

from __future__ import annotations

import os
from collections import Counter
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from hepatokit.contracts.hepatobench import QC, QC_SCHEMA, neutral_patch_path
from hepatokit.contracts.items import read_items
from hepatokit.contracts.tables import write_table
from hepatokit.curation.patho.config import (
    FeaturesConfig,
    PatchQCConfig,
    features_section,
    stage_provenance,
)
from hepatokit.curation.patho.features.table import ensure_features
from hepatokit.curation.patho.qc.measures import (
    QC_CHECKS,
    RELATIVE_BOUNDS,
    qc_reason,
    relative_configs,
)
from hepatokit.manifest import Manifest, ManifestRow, excluded, kept
from hepatokit.recipe import stage_section

__all__ = ["PatchQCSummary", "QCDecision", "decide_qc", "qc_patches"]

STAGE = "qc"


@dataclass(frozen=True)
class PatchQCSummary:
    """Counts of one QC run."""

    items: int
    passed: int
    failed: dict[str, int]

    def __str__(self) -> str:
        bad = ", ".join(f"{k}={v}" for k, v in sorted(self.failed.items())) or "none"
        return f"{self.items} items: {self.passed} passed, failed: {bad}"


@dataclass(frozen=True)
class QCDecision:
    """What QC decided: ``qc.parquet`` rows, ledger rows, failures by reason, thresholds."""

    rows: list[dict[str, Any]]
    ledger: list[ManifestRow]
    failed: Counter[str]
    per_class: dict[str | None, PatchQCConfig]


def decide_qc(
    items: list[dict[str, Any]],
    scores: dict[str, dict[str, float]],
    errors: dict[str, str],
    cfg: PatchQCConfig,
) -> QCDecision:
    """The QC outcome of every item (pure: no file is read or written).

    Parameters
    ----------
    items
        ``{id, kind, path, class}`` per item, in build order (``class`` may be missing).
    scores
        The scores of every decodable item, by id (one key per :data:`QC_CHECKS`).
    errors
        ``{id: error}`` of the items that could not be decoded: excluded as ``corrupt``.
    cfg
        The ``qc`` section; in ``relative`` mode the thresholds come from the scores, per
        class with enough items.
    """
    cls_of = {it["id"]: it.get("class") for it in items}
    per_class: dict[str | None, PatchQCConfig] = {None: cfg}
    if cfg.mode == "relative":
        ids = [it["id"] for it in items if it["id"] in scores and it["id"] not in errors]
        per_class = relative_configs([scores[i] for i in ids], [cls_of[i] for i in ids], cfg)
    rows, ledger = [], []
    failed: Counter[str] = Counter()
    for it in items:
        item_id, kind = it["id"], it["kind"]
        if item_id in errors:
            failed["corrupt"] += 1
            name = neutral_patch_path(item_id, it["path"]) if kind == "patch" else None
            ledger.append(
                excluded(item_id, kind=kind, stage=STAGE, reason="corrupt", source=name,
                         detail=errors[item_id])
            )  # fmt: skip
            continue
        s = scores[item_id]
        reason = qc_reason(s, per_class.get(cls_of[item_id], per_class[None]))
        rows.append({**s, "qc_reason": reason})
        detail = ", ".join(f"{c}={s[c]:.4g}" for c in QC_CHECKS)
        if reason is None:
            ledger.append(kept(item_id, kind=kind, stage=STAGE, detail=detail))
        else:
            failed[reason] += 1
            ledger.append(excluded(item_id, kind=kind, stage=STAGE, reason=reason, detail=detail))
    return QCDecision(rows, ledger, failed, per_class)


def qc_patches(
    *,
    build: str | os.PathLike[str],
    qc: PatchQCConfig | None = None,
    features: FeaturesConfig | None = None,
    recipe: str | os.PathLike[str] | None = None,
    workers: int | None = None,
    executor: Executor | None = None,
) -> PatchQCSummary:
    """Score every ingested patch / tile and exclude those failing a check.

    Writes ``BUILD/qc.parquet`` (id, one column per score, ``qc_reason``) and the ``qc``
    manifest ledger. Scores come from ingest's decode; thresholds from the ``qc`` section,
    so re-running with new thresholds decodes nothing.

    Parameters
    ----------
    build
        Build folder after ``patho ingest`` (or ``tile``).
    qc, features
        The recipe's ``qc`` and ``features`` sections; each not given is read from
        ``recipe`` (default ``BUILD/recipe.yaml``, else the packaged hepatobench).
    workers, executor
        Processes, or an executor, for the items not yet measured (tiles).
    """
    build = Path(build)
    rec_path = None if recipe is None else os.fspath(recipe)
    cfg = stage_section(build, qc, rec_path, default="hepatobench",
                        pick=lambda r: r.section("qc", PatchQCConfig))  # fmt: skip
    feats = stage_section(build, features, rec_path, default="hepatobench", pick=features_section)
    table = read_items(build)
    _, scores, errors = ensure_features(
        build, table, dhash=feats.dhash, workers=workers, executor=executor
    )
    items = table.select([c for c in ("id", "kind", "path", "class") if c in table.column_names])
    decision = decide_qc(items.to_pylist(), {r["id"]: r for r in scores.to_pylist()}, errors, cfg)
    write_table(build, QC, pa.Table.from_pylist(decision.rows, schema=QC_SCHEMA))
    extra = None
    if cfg.mode == "relative":
        extra = {
            "relative_thresholds": {str(k): _thresholds(v) for k, v in decision.per_class.items()}
        }
    info = stage_provenance(build, stage=STAGE, extra=extra)
    Manifest(build).record(STAGE, decision.ledger, provenance_info=info)
    failed = sum(decision.failed.values())
    return PatchQCSummary(items=len(table), passed=len(table) - failed,
                          failed=dict(decision.failed))  # fmt: skip


def _thresholds(cfg: PatchQCConfig) -> dict[str, float]:
    return {name: round(float(getattr(cfg, name)), 6) for name in RELATIVE_BOUNDS}
