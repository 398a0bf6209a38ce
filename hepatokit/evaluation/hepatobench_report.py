"""Writing the HepatoBench evaluator's report folder (tables, JSON, markdown, figures,
manifest): ``report.md``, ``report.json``, ``comparison.md`` / ``.csv``,
``per_class_<encoder>.csv``, ``figures/confusion_<encoder>.png``,
``manifest/evaluate_hepatobench.parquet``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from hepatokit.atomic import write_json_atomic, write_text_atomic
from hepatokit.evaluation.bootstrap import ConfidenceInterval
from hepatokit.evaluation.lifs_report import clean_json
from hepatokit.evaluation.multiclass import MULTICLASS_METRICS, MulticlassReport
from hepatokit.evaluation.tables import fmt, markdown_table, rank_marks, table_rows, write_csv
from hepatokit.manifest import Manifest, ManifestRow, excluded, file_digest, kept, stable_id

__all__ = ["HepatoBenchReport", "write_hepatobench_report"]


@dataclass
class HepatoBenchReport:
    """Per-encoder metrics (fractions), CIs, and the rejected prediction files."""

    out: Path
    classes: tuple[str, ...]
    reports: dict[str, MulticlassReport]
    intervals: dict[str, dict[str, ConfidenceInterval]]
    comparison: pd.DataFrame
    errors: dict[str, str] = field(default_factory=dict)


def _comparison_markdown(comparison: pd.DataFrame) -> str:
    metrics = [m for m in MULTICLASS_METRICS if comparison[m].notna().any()]
    marks = {m: rank_marks(comparison[m].tolist()) for m in metrics}
    rows = []
    for i, r in enumerate(comparison.itertuples(index=False)):
        cells = [str(r.encoder)]
        for m in metrics:
            rec = comparison.iloc[i]
            text = fmt(100 * rec[m])
            if marks[m][i] == "best":
                text = f"**{text}**"
            if np.isfinite(rec[f"{m}_low"]):
                text += f" [{fmt(100 * rec[f'{m}_low'])}, {fmt(100 * rec[f'{m}_high'])}]"
            cells.append(text)
        rows.append(cells)
    return markdown_table(["encoder", *metrics], rows) + (
        "\n\nValues in % (kappa × 100) with stratified bootstrap 95 % CIs; **bold** = best.\n"
    )


def _manifest_rows(report: HepatoBenchReport, paths: list[Path]) -> list[ManifestRow]:
    """One manifest row per predictions file: kept, or excluded with its error."""
    rows = []
    for path in paths:
        fields = {"source": path.name, "size": path.stat().st_size, "checksum": file_digest(path)}
        item = stable_id("predictions", path.name)
        if path.stem in report.errors:
            rows.append(
                excluded(
                    item,
                    kind="predictions",
                    stage="evaluate_hepatobench",
                    reason="invalid_predictions",
                    detail=report.errors[path.stem][:2000],
                    **fields,
                )
            )
        else:
            rows.append(kept(item, kind="predictions", stage="evaluate_hepatobench", **fields))
    return rows


def _payload(
    report: HepatoBenchReport, *, n_cases: int, files: dict[str, str]
) -> dict[str, object]:
    """The ``report.json`` content (before :func:`clean_json`)."""
    return {
        "classes": list(report.classes),
        "n_cases": n_cases,
        "encoders": {
            enc: {
                **rep.as_dict(),
                "intervals": {m: ci.as_dict() for m, ci in report.intervals.get(enc, {}).items()},
            }
            for enc, rep in report.reports.items()
        },
        "errors": report.errors,
        "files": files,
    }


def _per_class_markdown(rep: MulticlassReport) -> str:
    return markdown_table(
        ["class", "support", "precision", "recall", "F1", "AUROC"],
        [
            [
                str(getattr(r, "class")),
                str(r.support),
                fmt(100 * r.precision),
                fmt(100 * r.recall),
                fmt(100 * r.f1),
                fmt(100 * r.auroc),
            ]
            for r in table_rows(rep.per_class)
        ],
    )


def _report_markdown(
    report: HepatoBenchReport, table_md: str, *, n_files: int, n_cases: int, plots: bool
) -> str:
    """The ``report.md`` text: counts, the comparison table, rejections, per-class tables."""
    lines = [
        "# HepatoBench evaluation report",
        "",
        f"{n_files} predictions file(s), {len(report.reports)} scored, "
        f"{len(report.errors)} rejected; {n_cases} test patches; classes "
        f"{', '.join(report.classes)}.",
        "",
        "## Encoders",
        "",
        table_md,
    ]
    for enc, msg in report.errors.items():
        lines += [f"- rejected **{enc}**: `{msg.splitlines()[0]}`"]
        lines += [f"  - {x.strip()}" for x in msg.splitlines()[1:]]
    for enc, rep in report.reports.items():
        lines += ["", f"## {enc}: per class", ""]
        lines.append(_per_class_markdown(rep))
        if plots:
            lines += ["", f"![confusion {enc}](figures/confusion_{enc}.png)"]
    return "\n".join(lines) + "\n"


def write_hepatobench_report(
    report: HepatoBenchReport, paths: list[Path], *, plots: bool, n_cases: int
) -> None:
    """Write every file of the report folder (module docstring)."""
    out = report.out
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {}
    write_csv(out / "comparison.csv", report.comparison)
    files["comparison_csv"] = "comparison.csv"
    table_md = _comparison_markdown(report.comparison) if report.reports else "No encoder scored.\n"
    write_text_atomic(out / "comparison.md", "# HepatoBench encoder comparison\n\n" + table_md)
    files["comparison_md"] = "comparison.md"
    for enc, rep in report.reports.items():
        write_csv(out / f"per_class_{enc}.csv", rep.per_class)
        files[f"per_class_{enc}"] = f"per_class_{enc}.csv"
        if plots:
            from hepatokit.evaluation import plots as plt_

            plt_.confusion_matrix(
                rep.confusion, report.classes, out / "figures" / f"confusion_{enc}.png", title=enc
            )
            files[f"confusion_{enc}"] = f"figures/confusion_{enc}.png"
    Manifest(out).record("evaluate_hepatobench", _manifest_rows(report, paths), introduces=True)
    write_json_atomic(
        out / "report.json", clean_json(_payload(report, n_cases=n_cases, files=files))
    )
    md = _report_markdown(report, table_md, n_files=len(paths), n_cases=n_cases, plots=plots)
    write_text_atomic(out / "report.md", md)
