"""``patho qc``: apply the recipe's thresholds to every patch's scores; record the reason."""

from __future__ import annotations

import os
from collections import Counter
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from hepatokit.atomic import write_parquet_atomic
from hepatokit.curation.patho.config import DedupConfig, QCConfig
from hepatokit.curation.patho.features.table import ensure_features
from hepatokit.curation.patho.layout import QC, read_items
from hepatokit.curation.patho.qc.measures import QC_CHECKS, qc_reason, relative_configs
from hepatokit.manifest import Manifest, excluded, kept, provenance
from hepatokit.recipe import build_recipe

__all__ = ["QCSummary", "run_qc"]

STAGE = "qc"


@dataclass(frozen=True)
class QCSummary:
    """Counts of one QC run."""

    items: int
    passed: int
    failed: dict[str, int]

    def __str__(self) -> str:
        bad = ", ".join(f"{k}={v}" for k, v in sorted(self.failed.items())) or "none"
        return f"{self.items} items: {self.passed} passed, failed: {bad}"


QC_SCHEMA = pa.schema(
    [("id", pa.string())] + [(c, pa.float64()) for c in QC_CHECKS] + [("qc_reason", pa.string())]
)


def run_qc(
    *,
    build: str | os.PathLike[str],
    recipe: str | os.PathLike[str] | None = None,
    workers: int | None = None,
    executor: Executor | None = None,
) -> QCSummary:
    """Score every ingested patch / tile and exclude those failing a check.

    Writes ``BUILD/qc.parquet`` (id, one column per score, ``qc_reason``) and the ``qc``
    manifest ledger. Scores come from ingest's decode; thresholds from the recipe's ``qc``
    section, so re-running with new thresholds decodes nothing.
    """
    build = Path(build)
    rec = build_recipe(build, None if recipe is None else Path(recipe), default="hepatobench")
    cfg = rec.section("qc", QCConfig)
    dcfg = rec.section("dedup", DedupConfig)
    items = read_items(build)
    _, scores, errors = ensure_features(
        build, items, dhash=dcfg.dhash, workers=workers, executor=executor
    )
    by_id = {r["id"]: r for r in scores.to_pylist()}
    cls_of = (
        dict(zip(items.column("id").to_pylist(), items.column("class").to_pylist(), strict=True))
        if "class" in items.column_names
        else {}
    )
    per_class: dict[str | None, QCConfig] = {None: cfg}
    if cfg.mode == "relative":
        ids = [i for i in items.column("id").to_pylist() if i in by_id and i not in errors]
        per_class = relative_configs([by_id[i] for i in ids], [cls_of.get(i) for i in ids], cfg)
    rows, manifest_rows = [], []
    failed: Counter[str] = Counter()
    for item_id, kind, rel in zip(
        items.column("id").to_pylist(),
        items.column("kind").to_pylist(),
        items.column("path").to_pylist(),
        strict=True,
    ):
        if item_id in errors:
            failed["corrupt"] += 1
            manifest_rows.append(
                excluded(item_id, kind=kind, stage=STAGE, reason="corrupt",
                         source=rel if kind == "patch" else None, detail=errors[item_id])
            )  # fmt: skip
            continue
        s = by_id[item_id]
        reason = qc_reason(s, per_class.get(cls_of.get(item_id), per_class[None]))
        rows.append({**s, "qc_reason": reason})
        detail = ", ".join(f"{c}={s[c]:.4g}" for c in QC_CHECKS)
        if reason is None:
            manifest_rows.append(kept(item_id, kind=kind, stage=STAGE, detail=detail))
        else:
            failed[reason] += 1
            manifest_rows.append(
                excluded(item_id, kind=kind, stage=STAGE, reason=reason, detail=detail)
            )
    write_parquet_atomic(build / QC, pa.Table.from_pylist(rows, schema=QC_SCHEMA))
    extra = None
    if cfg.mode == "relative":
        extra = {"relative_thresholds": {str(k): _thresholds(v) for k, v in per_class.items()}}
    info = provenance(stage=STAGE, recipe_sha256=rec.sha256, seed=rec.seed, extra=extra)
    Manifest(build).record(STAGE, manifest_rows, provenance_info=info)
    return QCSummary(
        items=len(items), passed=len(items) - sum(failed.values()), failed=dict(failed)
    )


def _thresholds(cfg: QCConfig) -> dict[str, float]:
    from hepatokit.curation.patho.qc.measures import RELATIVE_BOUNDS

    return {name: round(float(getattr(cfg, name)), 6) for name in RELATIVE_BOUNDS}
