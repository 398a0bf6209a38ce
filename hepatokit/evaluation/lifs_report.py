"""Writing the LiFS evaluator's report folder (tables, JSON, markdown, figures, manifest).

```
REPORT/
  report.md                  overview: leaderboard, collapse flags, readers, rejected files
  report.json                every number (metrics, CIs, comparisons, aggregates)
  leaderboard.md / .csv      Table-3 layout (best bold, second underlined, arrows, daggers)
  results.csv                long format (method,setting,domain,subtask,metric,value; %)
  cells.csv                  one row per method × cell: metrics, bootstrap CIs, collapse flag
  reader_aucs.csv, reader_comparisons.csv   (with --readers)
  figures/roc_<Setting>_<Domain>_S<k>.png, figures/auc_strip.png
  summary/                   the results-table analysis (hepatokit evaluate summarize)
  manifest/evaluate_lifs.parquet   every submission file: kept or excluded (+ reason)
```
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hepatokit.atomic import write_json_atomic, write_text_atomic
from hepatokit.evaluation.binary import roc_curve_points
from hepatokit.evaluation.reader_study import CellData, reader_scores_for
from hepatokit.evaluation.summarize import ResultsSummary
from hepatokit.evaluation.tables import fmt, lifs_leaderboard, markdown_table, table_rows, write_csv
from hepatokit.manifest import Manifest, excluded, file_digest, kept, stable_id

__all__ = ["LifsReport", "clean_json", "write_lifs_report"]


@dataclass
class LifsReport:
    """What :func:`~hepatokit.evaluate_lifs` computed (percent in tables, fractions in cells)."""

    out: Path
    methods: list[str]
    results: pd.DataFrame
    cells: pd.DataFrame
    errors: dict[str, str]
    reader_aucs: pd.DataFrame
    comparisons: pd.DataFrame
    summary: ResultsSummary
    majority_rates: dict[str, float]
    files: dict[str, str] = field(default_factory=dict)

    @property
    def collapsed(self) -> set[tuple[str, str]]:
        flagged = self.cells[self.cells["collapsed"]]
        return set(zip(flagged["method"], flagged["cell"], strict=True))


def clean_json(obj: Any) -> Any:
    """NaN/inf → None and numpy scalars → Python, recursively (strict JSON)."""
    if isinstance(obj, Mapping):
        return {str(k): clean_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [clean_json(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    return clean_json(df.to_dict(orient="records")) if not df.empty else []


def _percent_cells(cells: pd.DataFrame) -> pd.DataFrame:
    out = cells.copy()
    for col in out.columns:
        if col.split("_")[0] in ("ACC", "AUC", "sensitivity", "specificity", "balanced") and (
            out[col].dtype.kind == "f"
        ):
            out[col] = 100 * out[col]
    return out


def _arrows(comparisons: pd.DataFrame) -> dict[tuple[str, str], str]:
    arrows: dict[tuple[str, str], str] = {}
    if comparisons.empty:
        return arrows
    for (method, cell), group in comparisons.groupby(["method", "cell"], sort=True):
        marks = set(group.loc[group["significant"], "direction"])
        arrows[(str(method), str(cell))] = "".join(a for a in ("↑", "↓") if a in marks)
    return arrows


def _figures(
    report: LifsReport, cells: Sequence[CellData], reader_table: pd.DataFrame | None
) -> dict[str, str]:
    from hepatokit.evaluation import plots

    fig_dir = report.out / "figures"
    files: dict[str, str] = {}
    for cell in cells:
        if not cell.scores:
            continue
        curves = {}
        for method, score in cell.scores.items():
            y = cell.y.loc[score.index].to_numpy()
            if 0 < y.sum() < y.size:
                fpr, tpr = roc_curve_points(y, score.to_numpy())
                auc = float(
                    report.cells.loc[
                        (report.cells["method"] == method) & (report.cells["cell"] == cell.key),
                        "AUC",
                    ].iloc[0]
                )
                curves[method] = (fpr, tpr, auc)
        reader_curves = {}
        if reader_table is not None:
            for reader in dict.fromkeys(reader_table["Reader"]):
                rs = reader_scores_for(
                    reader_table,
                    reader=reader,
                    setting=cell.setting,
                    subtask=cell.subtask,
                    cases=list(cell.y.index),
                )
                y = cell.y.loc[rs.index].to_numpy()
                if rs.size and 0 < y.sum() < y.size:
                    fpr, tpr = roc_curve_points(y, rs.to_numpy())
                    auc_r = report.reader_aucs.loc[
                        (report.reader_aucs["Reader"] == reader)
                        & (report.reader_aucs["cell"] == cell.key),
                        "AUC",
                    ]
                    reader_curves[f"{reader} (reader)"] = (fpr, tpr, float(auc_r.iloc[0]) / 100)
        name = f"roc_{cell.setting}_{cell.domain}_S{cell.subtask}"
        title = f"{cell.setting} · {cell.domain} · Subtask {cell.subtask}"
        files[name] = str(
            plots.roc_curves(curves, fig_dir / f"{name}.png", title=title, readers=reader_curves)
        )
    points = [
        {"cell": r.cell, "name": r.method, "kind": "method", "AUC": 100 * r.AUC}
        for r in table_rows(report.cells)
        if np.isfinite(r.AUC)
    ] + [
        {"cell": r.cell, "name": r.Reader, "kind": "reader", "AUC": r.AUC}
        for r in table_rows(report.reader_aucs)
    ]
    if points:
        files["auc_strip"] = str(plots.auc_strip(pd.DataFrame(points), fig_dir / "auc_strip.png"))
    return files


def _manifest(report: LifsReport, paths: Sequence[Path]) -> None:
    rows = []
    for path in paths:
        item = stable_id("submission", path.name)
        fields = {"source": path.name, "size": path.stat().st_size, "checksum": file_digest(path)}
        if path.stem in report.errors:
            rows.append(
                excluded(
                    item,
                    kind="submission",
                    stage="evaluate_lifs",
                    reason="invalid_submission",
                    detail=report.errors[path.stem][:2000],
                    **fields,
                )
            )
        else:
            rows.append(kept(item, kind="submission", stage="evaluate_lifs", **fields))
    Manifest(report.out).record("evaluate_lifs", rows, introduces=True)


def write_lifs_report(
    report: LifsReport,
    *,
    cells: Sequence[CellData],
    truth: pd.DataFrame,
    reader_table: pd.DataFrame | None,
    paths: Sequence[Path],
    plots: bool,
    settings: Mapping[str, Any],
) -> None:
    """Write every file of the report folder (module docstring)."""
    out = report.out
    out.mkdir(parents=True, exist_ok=True)
    arrows = _arrows(report.comparisons)
    board_md, board_csv = lifs_leaderboard(
        report.results,
        methods=report.methods,
        readers=report.reader_aucs,
        arrows=arrows,
        collapsed=report.collapsed,
    )
    files = {
        "leaderboard_md": write_text_atomic(
            out / "leaderboard.md", "# LiFS leaderboard\n\n" + board_md
        ),
        "leaderboard_csv": write_csv(out / "leaderboard.csv", board_csv),
        "results": write_csv(out / "results.csv", report.results),
        "cells": write_csv(out / "cells.csv", _percent_cells(report.cells)),
    }
    if reader_table is not None:
        files["reader_aucs"] = write_csv(out / "reader_aucs.csv", report.reader_aucs)
        files["reader_comparisons"] = write_csv(out / "reader_comparisons.csv", report.comparisons)
    report.files = {k: str(Path(v).relative_to(out)) for k, v in files.items()}
    if plots:
        report.files.update(
            {
                k: str(Path(v).relative_to(out))
                for k, v in _figures(report, cells, reader_table).items()
            }
        )
    for k, v in report.summary.files.items():
        report.files[f"summary_{k}"] = f"summary/{v}"
    _manifest(report, paths)
    payload = {
        "settings": dict(settings),
        "truth": {
            "n_cases": len(truth),
            "by_domain": {str(k): int(v) for k, v in truth["domain"].value_counts().items()},
        },
        "majority_rates": report.majority_rates,
        "submissions": [
            {
                "file": p.name,
                "method": p.stem,
                "status": "excluded" if p.stem in report.errors else "scored",
                "error": report.errors.get(p.stem),
            }
            for p in paths
        ],
        "cells": _records(_percent_cells(report.cells)),
        "reader_aucs": _records(report.reader_aucs),
        "reader_comparisons": _records(report.comparisons),
        "summary": clean_json(report.summary.as_dict()),
        "files": report.files,
    }
    write_json_atomic(out / "report.json", clean_json(payload))
    write_text_atomic(out / "report.md", _markdown(report, board_md, paths))


def _markdown(report: LifsReport, board_md: str, paths: Sequence[Path]) -> str:
    """The ``report.md`` text: counts, rejections, leaderboard, aggregates, readers, figures."""
    lines = ["# LiFS evaluation report", ""]
    n_ok = len(paths) - len(report.errors)
    lines.append(f"{len(paths)} submission file(s): {n_ok} scored, {len(report.errors)} rejected.")
    if report.errors:
        lines += ["", "## Rejected submissions", ""]
        for method, msg in report.errors.items():
            lines += [
                f"- **{method}**",
                "",
                "  ```",
                *[f"  {x}" for x in msg.splitlines()],
                "  ```",
            ]
    lines += ["", "## Leaderboard", "", board_md]
    if not report.cells.empty:
        lines += _aggregate_and_collapse_lines(report)
    if not report.comparisons.empty:
        lines += ["", "## Best and median method vs readers (paired DeLong)", ""]
        lines.append(_comparisons_markdown(report.comparisons))
    figs = [v for k, v in report.files.items() if v.endswith(".png")]
    if figs:
        lines += ["", "## Figures", ""]
        lines += [f"![{Path(f).stem}]({f})" for f in figs]
    return "\n".join(lines) + "\n"


def _aggregate_and_collapse_lines(report: LifsReport) -> list[str]:
    agg = report.summary.aggregates
    lines = ["## Aggregate score (mean of ACC and AUC over settings × subtasks, %)", ""]
    lines.append(
        markdown_table(
            ["method", "ID", "OOD", "ID − OOD"],
            [[r.method, fmt(r.ID), fmt(r.OOD), fmt(r.drop)] for r in table_rows(agg)],
        )
    )
    flagged = report.cells[report.cells["collapsed"]]
    lines += ["", "## Majority collapse", ""]
    if flagged.empty:
        lines.append("No method collapsed onto one class.")
        return lines
    lines.append(
        markdown_table(
            ["method", "cell", "ACC", "AUC", "majority rate", "why"],
            [
                [
                    r.method,
                    r.cell,
                    fmt(100 * r.ACC),
                    fmt(100 * r.AUC),
                    fmt(report.majority_rates.get(r.cell)),
                    r.collapse_reasons,
                ]
                for r in table_rows(flagged)
            ],
        )
    )
    return lines


def _comparisons_markdown(comparisons: pd.DataFrame) -> str:
    header = ["cell", "role", "method", "reader", "n"]
    header += ["AUC method", "AUC reader", "ΔAUC [95% CI]", "p"]
    return markdown_table(
        header,
        [
            [
                r.cell,
                r.role,
                r.method,
                r.Reader,
                str(r.n_cases),
                fmt(r.auc_method),
                fmt(r.auc_reader),
                f"{fmt(r.delta)} [{fmt(r.ci_low)}, {fmt(r.ci_high)}]",
                f"{r.p_value:.4f}{' ' + r.direction if r.direction else ''}",
            ]
            for r in table_rows(comparisons)
        ],
    )
