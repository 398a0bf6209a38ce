"""CSV / formula injection: a name that starts like a spreadsheet formula (``=``, ``+``,
``-``, ``@``) never reaches a CSV hepatokit writes as a live formula."""

from __future__ import annotations

import csv
import io

import numpy as np
import pandas as pd
import pytest

from hepatokit.evaluation import evaluate_hepatobench
from hepatokit.tables import FORMULA_START, formula_safe

CLASSES = ["TUM", "FIB", "INF", "NEC", "NOR", "REA", "STE"]
HOSTILE = ["=HYPERLINK(1)", "+SUM(1+1)", "@cmd", "-2+3+cmd"]


def _cells(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return [cell for row in csv.reader(fh) for cell in row]


def _live_formulas(cells):
    out = []
    for cell in cells:
        if cell.startswith(FORMULA_START):
            try:
                float(cell)  # a negative number is a number
            except ValueError:
                out.append(cell)
    return out


@pytest.mark.parametrize("value", [*HOSTILE, "\tx", "\r=1"])
def test_formula_cells_are_quoted_and_keep_their_text(value):
    safe = formula_safe(value)
    buf = io.StringIO()
    csv.writer(buf).writerow([safe])
    (cell,) = next(csv.reader(io.StringIO(buf.getvalue())))
    assert not _live_formulas([cell]) and cell == "'" + value


@pytest.mark.parametrize("value", ["-1.5", "+3", "TUM", "a=b", 7, None, -2.0])
def test_plain_values_are_untouched(value):
    assert formula_safe(value) == value


def test_encoder_names_from_file_names_are_escaped_in_the_report_csvs(tmp_path):
    rng = np.random.default_rng(0)
    n = 70
    y = rng.integers(0, 7, n)
    ids = [f"p{i:03d}" for i in range(n)]
    pd.DataFrame({"id": ids, "class": np.array(CLASSES)[y]}).to_csv(tmp_path / "truth.csv")
    preds = tmp_path / "preds"
    preds.mkdir()
    for k, name in enumerate(["plain", *HOSTILE]):
        pred = np.where(rng.random(n) < 0.3 + 0.1 * k, y, rng.integers(0, 7, n))
        pd.DataFrame({"id": ids, "pred": np.array(CLASSES)[pred]}).to_csv(
            preds / f"{name}.csv", index=False
        )
    report = evaluate_hepatobench(
        truth=tmp_path / "truth.csv", predictions=preds, out=tmp_path / "report",
        n_bootstrap=0, plots=False,
    )  # fmt: skip
    assert set(report.reports) == {"plain", *HOSTILE}  # every input scored, none lost
    written = sorted((tmp_path / "report").rglob("*.csv"))
    assert written
    cells = [c for p in written for c in _cells(p)]
    assert _live_formulas(cells) == []
    comparison = _cells(tmp_path / "report" / "comparison.csv")
    for name in HOSTILE:
        assert "'" + name in comparison  # shown as text, not dropped
