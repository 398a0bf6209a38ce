"""Statistics the card and ``dataset_meta.json`` report, computed from a plan and the manifest."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hepatokit.manifest import Manifest

__all__ = ["UNLABELLED", "class_counts", "curation_funnel", "missing_sequence_rates"]

#: the class column of an item without a (published) label
UNLABELLED = "unlabelled"


def class_counts(
    records: Sequence[dict[str, Any]], splits: Sequence[str], classes: Sequence[str]
) -> dict[str, dict[str, dict[str, int]]]:
    """``counts[split][domain][class]`` (every class listed, plus ``unlabelled`` if any)."""
    raw: Counter[tuple[str, str, str]] = Counter(
        (r["split"], r["domain"], r["class"] or UNLABELLED) for r in records
    )
    domains = sorted({r["domain"] for r in records})
    with_unlabelled = any(r["class"] is None for r in records)
    names = [*classes, *([UNLABELLED] if with_unlabelled else [])]
    out: dict[str, dict[str, dict[str, int]]] = {}
    for split in splits:
        per_domain = {}
        for dom in domains:
            counts = {c: raw[(split, dom, c)] for c in names}
            if sum(counts.values()):
                per_domain[dom] = counts
        out[split] = per_domain
    return out


def missing_sequence_rates(
    records: Sequence[dict[str, Any]], splits: Sequence[str], sequences: Sequence[str]
) -> dict[str, dict[str, float]]:
    """Fraction of subjects missing each sequence, per split and ``all`` (0–1, 4 decimals)."""
    out: dict[str, dict[str, float]] = {}
    for split in [*splits, "all"]:
        rows = [r for r in records if split == "all" or r["split"] == split]
        if not rows:
            continue
        out[split] = {
            seq: round(sum(seq not in r["sequences"] for r in rows) / len(rows), 4)
            for seq in sequences
        }
    return out


def curation_funnel(build: Path) -> dict[str, Any] | None:
    """Inputs, exclusions by stage and reason, kept: from ``BUILD/manifest`` (None if absent).

    Raises
    ------
    ManifestError
        The manifest breaks ``inputs == kept + excluded`` (a stage's ledger is stale).
    """
    manifest = Manifest(build)
    if not manifest.stages():
        return None
    summary = manifest.check()
    final = manifest.final().to_pylist()
    by_stage: dict[str, Counter[str]] = defaultdict(Counter)
    for row in final:
        if row["outcome"] == "excluded":
            by_stage[row["stage"]][str(row["reason"]).split(":", 1)[0]] += 1
    order = manifest.stages()
    return {
        "inputs": summary.inputs,
        "kept": summary.kept,
        "excluded": summary.excluded,
        "by_reason": summary.by_reason,
        "by_kind": summary.by_kind,
        "stages": order,
        "excluded_by_stage": {
            stage: dict(sorted(by_stage[stage].items())) for stage in order if stage in by_stage
        },
    }
