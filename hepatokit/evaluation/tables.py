"""Markdown and CSV rendering of leaderboards (LiFS Table-3 layout, HepatoBench comparison).

Markdown marks the best value of a column in **bold** and the second best <u>underlined</u>
(ties share the mark). Arrows after an AUC report a significant paired DeLong difference
against a reader (↑ the method is better, ↓ worse); † after an ACC marks majority collapse.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd

from hepatokit.atomic import write_text_atomic
from hepatokit.tables import formula_safe_frame

__all__ = [
    "fmt",
    "lifs_leaderboard",
    "markdown_table",
    "rank_marks",
    "table_rows",
    "write_csv",
]

_DOMAINS = ("ID", "OOD")
_SUBTASKS = ("1", "2")
_METRICS = ("ACC", "AUC")


def table_rows(table: pd.DataFrame) -> list[Any]:
    """The rows of ``table`` as objects with one attribute per column (``row.method``)."""
    return [
        SimpleNamespace(**{str(k): v for k, v in rec.items()})
        for rec in table.to_dict(orient="records")
    ]


def fmt(value: Any, digits: int = 2) -> str:
    """A number with ``digits`` decimals; ``–`` for None/NaN."""
    if value is None:
        return "–"
    try:
        v = float(value)
    except (TypeError, ValueError):
        return str(value)
    return "–" if not np.isfinite(v) else f"{v:.{digits}f}"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub-flavoured markdown table (first column left-aligned, the others right)."""

    def esc(cell: str) -> str:
        return str(cell).replace("|", "\\|").replace("\n", " ")

    align = [":--"] + ["--:"] * (len(header) - 1)
    out = ["| " + " | ".join(esc(h) for h in header) + " |", "| " + " | ".join(align) + " |"]
    out += ["| " + " | ".join(esc(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def write_csv(path: str | Path, table: pd.DataFrame) -> Path:
    """Write a DataFrame as CSV atomically (no index, ``\\n`` line ends, 6 decimals max; a
    text cell that starts like a formula is escaped, :func:`hepatokit.tables.formula_safe`)."""
    buf = io.StringIO()
    formula_safe_frame(table).to_csv(buf, index=False, lineterminator="\n", float_format="%.6g")
    return write_text_atomic(path, buf.getvalue())


def rank_marks(values: Sequence[float]) -> list[str]:
    """``"best"``, ``"second"`` or ``""`` per value (higher is better; ties share; NaN none)."""
    arr = np.asarray(values, dtype=np.float64)
    distinct = sorted({round(float(v), 10) for v in arr if np.isfinite(v)}, reverse=True)
    marks = []
    for v in arr:
        if not np.isfinite(v):
            marks.append("")
        elif distinct and round(float(v), 10) == distinct[0]:
            marks.append("best")
        elif len(distinct) > 1 and round(float(v), 10) == distinct[1]:
            marks.append("second")
        else:
            marks.append("")
    return marks


def _decorate(text: str, mark: str) -> str:
    if mark == "best":
        return f"**{text}**"
    if mark == "second":
        return f"<u>{text}</u>"
    return text


def lifs_leaderboard(
    results: pd.DataFrame,
    *,
    methods: Sequence[str],
    settings: Sequence[str] = ("Contrast", "NonContrast"),
    readers: pd.DataFrame | None = None,
    arrows: Mapping[tuple[str, str], str] | None = None,
    collapsed: set[tuple[str, str]] | None = None,
) -> tuple[str, pd.DataFrame]:
    """The LiFS leaderboard in the layout of the paper's Table 3.

    Parameters
    ----------
    results
        Long table (percent) with at least the ACC and AUC rows of ``methods``.
    methods
        Row order.
    readers
        Optional ``Reader, setting, domain, subtask, AUC`` (percent) rows shown under the
        methods (readers give ordinal scores: no ACC).
    arrows
        ``(method, "Contrast/ID/1") → "↑"/"↓"/"↑↓"`` appended to that AUC.
    collapsed
        ``(method, cell)`` pairs whose ACC gets a dagger (majority collapse).

    Returns
    -------
    markdown : str
        One table per setting (columns ID/OOD × Subtask 1/2 × ACC/AUC) + a legend.
    csv : DataFrame
        ``name, kind`` and one numeric column per ``setting/domain/subtask/metric``.
    """
    arrows = dict(arrows or {})
    collapsed = set(collapsed or set())
    csv = _leaderboard_table(results, methods=methods, settings=settings, readers=readers)
    parts = [
        f"### {s}\n\n{md}"
        for s in settings
        if (md := _setting_markdown(csv, s, arrows=arrows, collapsed=collapsed)) is not None
    ]
    legend = (
        "S1 = Subtask 1 (cirrhosis, S4 vs S1–S3), S2 = Subtask 2 (significant fibrosis, "
        "S2–S4 vs S1); values in %. **Bold** = best, <u>underlined</u> = second best method "
        "per column. ↑/↓ after an AUC: significantly higher/lower than at least one reader "
        "(paired DeLong, case-aligned cohort). † after an ACC: majority collapse."
    )
    return "\n\n".join([*parts, legend]) + "\n", csv


def _leaderboard_table(
    results: pd.DataFrame,
    *,
    methods: Sequence[str],
    settings: Sequence[str],
    readers: pd.DataFrame | None,
) -> pd.DataFrame:
    """The CSV leaderboard: ``name, kind`` and one column per ``setting/domain/subtask/metric``."""
    lookup = {
        (r.method, r.setting, r.domain, str(r.subtask), r.metric): float(r.value)
        for r in table_rows(results)
    }
    reader_lookup: dict[tuple[str, str, str, str], float] = {}
    reader_names: list[str] = []
    if readers is not None and not readers.empty:
        for r in table_rows(readers):
            reader_lookup[(r.Reader, r.setting, r.domain, str(r.subtask))] = float(r.AUC)
        reader_names = list(dict.fromkeys(readers["Reader"]))
    csv_rows: list[dict[str, object]] = []
    for m in methods:
        row: dict[str, object] = {"name": m, "kind": "method"}
        for s in settings:
            for d in _DOMAINS:
                for t in _SUBTASKS:
                    for k in _METRICS:
                        row[f"{s}/{d}/{t}/{k}"] = lookup.get((m, s, d, t, k), np.nan)
        csv_rows.append(row)
    for name in reader_names:
        row = {"name": name, "kind": "reader"}
        for s in settings:
            for d in _DOMAINS:
                for t in _SUBTASKS:
                    row[f"{s}/{d}/{t}/ACC"] = np.nan
                    row[f"{s}/{d}/{t}/AUC"] = reader_lookup.get((name, s, d, t), np.nan)
        csv_rows.append(row)
    return pd.DataFrame(csv_rows)


def _setting_markdown(
    csv: pd.DataFrame,
    setting: str,
    *,
    arrows: Mapping[tuple[str, str], str],
    collapsed: set[tuple[str, str]],
) -> str | None:
    """One setting's markdown table of the CSV leaderboard; None when it has no value."""
    header = ["method"] + [f"{d} S{t} {k}" for d in _DOMAINS for t in _SUBTASKS for k in _METRICS]
    cols = [f"{setting}/{d}/{t}/{k}" for d in _DOMAINS for t in _SUBTASKS for k in _METRICS]
    if csv.empty or csv[cols].isna().all().all():
        return None
    is_method = csv["kind"] == "method"
    marks = {c: rank_marks(csv.loc[is_method, c].tolist()) for c in cols}
    rows = []
    for i, rec in enumerate(csv.itertuples(index=False)):
        name = str(rec[0])
        cells = [name if rec[1] == "method" else f"*{name}* (reader)"]
        for c in cols:
            value = float(csv.iloc[i][c])
            text = fmt(value)
            cell = c.rsplit("/", 1)[0]
            if rec[1] == "method":
                if c.endswith("ACC") and (name, cell) in collapsed:
                    text += "†"
                if c.endswith("AUC"):
                    text += arrows.get((name, cell), "")
                text = _decorate(text, marks[c][i]) if np.isfinite(value) else text
            cells.append(text)
        rows.append(cells)
    return markdown_table(header, rows)
