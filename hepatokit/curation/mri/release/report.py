"""The counts and the Markdown report of ``mri import-release``."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hepatokit.contracts.lifs import SUBJECTS
from hepatokit.manifest import ManifestRow

__all__ = ["ReleaseImportSummary", "render_report", "summarise"]


@dataclass(frozen=True)
class ReleaseImportSummary:
    """Counts of an import."""

    subjects: int
    files: int
    kept: int
    excluded: dict[str, int]
    by_split: dict[str, int]
    by_vendor: dict[str, int]
    missing: dict[str, int]  # sequence → subjects without it
    squeezed: int
    subjects_path: Path


def summarise(
    rows: list[dict[str, Any]],
    ledger: list[ManifestRow],
    sequences: tuple[str, ...],
    build: Path,
    squeezed: int,
) -> ReleaseImportSummary:
    """The counts of an import: subjects ``rows``, every file's ``ledger`` row."""
    reasons = Counter((r.reason or "").split(":", 1)[0] for r in ledger if r.outcome == "excluded")
    return ReleaseImportSummary(
        subjects=len(rows),
        files=len(ledger),
        kept=sum(r.outcome == "kept" for r in ledger),
        excluded=dict(sorted(reasons.items())),
        by_split=dict(sorted(Counter(str(r["release_split"]) for r in rows).items())),
        by_vendor=dict(sorted(Counter(f"{r['vendor']} ({r['scanner']})" for r in rows).items())),
        missing={s: sum(r[f"volume_{s}"] is None for r in rows) for s in sequences},
        squeezed=squeezed,
        subjects_path=build / SUBJECTS,
    )


def render_report(summary: ReleaseImportSummary, rows: list[dict[str, Any]]) -> str:
    """``reports/import_release.md``: subjects by split, vendor and stage; missing sequences;
    masks; exclusions."""
    lines = ["# Import of the released LiFS layout", ""]
    lines.append(f"{summary.subjects} subjects from {summary.files} files ({summary.kept} kept).")
    lines += [
        "",
        "| release split | vendor (scanner) | S1 | S2 | S3 | S4 | unlabelled |",
        "|---|---|---|---|---|---|---|",
    ]
    cells: Counter[tuple[str, str, str]] = Counter(
        (str(r["release_split"]), f"{r['vendor']} ({r['scanner']})", r["stage"] or "none")
        for r in rows
    )
    for split, vendor in sorted({(a, b) for a, b, _ in cells}):
        counts = [cells[(split, vendor, s)] for s in ("S1", "S2", "S3", "S4", "none")]
        lines.append(f"| {split} | {vendor} | " + " | ".join(map(str, counts)) + " |")
    lines += ["", "| sequence | subjects without it |", "|---|---|"]
    lines += [f"| {s} | {n} |" for s, n in summary.missing.items()]
    masks = sum(r["mask_GED4"] is not None for r in rows)
    lines += ["", f"Liver masks (GED4): {masks}.", ""]
    if summary.excluded:
        lines += ["| excluded because | files |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in summary.excluded.items()]
    return "\n".join(lines) + "\n"
