"""The LiFS evaluator: score every submission per track × domain × subtask, like the challenge.

Subtask 1 (cirrhosis): positive = S4, score = ``Subtask1_prob_S4``, predicted S4 iff
``P(S4) >= 0.5``. Subtask 2 (significant fibrosis): positive = S2–S4; the submission states
``P(S1)``, the probability of the *negative* class, so the AUC uses ``1 − P(S1)`` and the
prediction is S1 (not significant) iff ``P(S1) >= 0.5``.

Each submission file is validated on its own: a malformed file is reported (file, line,
problem) and excluded, the others are scored. Every file ends in the report's manifest
(``REPORT/manifest/evaluate_lifs.parquet``) as kept or excluded with the reason.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hepatokit.errors import HepatokitError, SubmissionError
from hepatokit.evaluation.binary import BINARY_METRICS, binary_metrics, majority_rate
from hepatokit.evaluation.bootstrap import binary_bootstrap
from hepatokit.evaluation.collapse import collapse_flag
from hepatokit.evaluation.reader_study import CellData, compare_with_readers
from hepatokit.evaluation.submission import (
    DOMAINS,
    SETTINGS,
    Submission,
    read_readers,
    read_submission,
    read_truth,
)
from hepatokit.evaluation.summarize import ResultsSummary, summarize_results
from hepatokit.evaluation.tables import table_rows

__all__ = ["LifsReport", "evaluate_lifs", "subtask_arrays"]

log = logging.getLogger("hepatokit.evaluation.lifs")
SUBTASKS: tuple[str, ...] = ("1", "2")
_LABEL = {"1": "cirrhosis", "2": "significant_fibrosis"}


@dataclass
class LifsReport:
    """What :func:`evaluate_lifs` computed (percent in tables, fractions in ``cells``)."""

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


def subtask_arrays(
    submission: Submission, truth: pd.DataFrame, *, setting: str, domain: str, subtask: str
) -> tuple[pd.Series, pd.Series, pd.Series]:
    """``(y, score, pred)`` by Case for one cell: label, positive-class score, 0/1 prediction."""
    cases = truth.index[truth["domain"] == domain]
    rows = submission.table[submission.table["Setting"] == setting].set_index("Case")
    rows = rows.loc[rows.index.isin(cases)].sort_index()
    y = truth.loc[rows.index, _LABEL[subtask]].astype(int)
    if subtask == "1":
        score = rows["p_s4"]
        pred = (rows["p_s4"] >= 0.5).astype(int)
    else:  # P(S1) is the probability of *no* significant fibrosis
        score = 1.0 - rows["p_s1"]
        pred = (rows["p_s1"] < 0.5).astype(int)
    return y, score.astype(float), pred


def _score_cell(
    y: pd.Series,
    score: pd.Series,
    pred: pd.Series,
    *,
    n_bootstrap: int,
    seed: int,
    confidence: float,
) -> dict[str, Any]:
    m = binary_metrics(y.to_numpy(), score.to_numpy(), y_pred=pred.to_numpy())
    row: dict[str, Any] = {k: m[k] for k in BINARY_METRICS}
    row.update(n=int(m["n"]), n_positive=int(m["n_positive"]))
    if n_bootstrap > 0 and 0 < m["n_positive"] < m["n"]:
        cis = binary_bootstrap(
            y.to_numpy(),
            score.to_numpy(),
            y_pred=pred.to_numpy(),
            n_resamples=n_bootstrap,
            seed=seed,
            confidence=confidence,
        )
        for k, ci in cis.items():
            row[f"{k}_low"], row[f"{k}_high"] = ci.low, ci.high
    flag = collapse_flag(y.to_numpy(), pred.to_numpy(), auc=m["AUC"])
    row.update(
        collapsed=flag.collapsed,
        collapse_reasons="; ".join(flag.reasons),
        predicted_share=flag.predicted_share,
    )
    return row


def _load_submissions(
    paths: list[Path], truth: pd.DataFrame, legacy_setting: str
) -> tuple[list[Submission], dict[str, str]]:
    subs: list[Submission] = []
    errors: dict[str, str] = {}
    cases = set(truth.index)
    for path in paths:
        try:
            subs.append(read_submission(path, cases=cases, legacy_setting=legacy_setting))
        except (HepatokitError, ValueError) as exc:
            # name the file, not where it lives: the report must not depend on the folder
            errors[path.stem] = str(exc).replace(str(path), path.name)
            log.warning("rejected %s", errors[path.stem].splitlines()[0].rstrip(":"))
    return subs, errors


def _submission_paths(submissions: Path) -> list[Path]:
    if submissions.is_file():
        return [submissions]
    if not submissions.is_dir():
        raise SubmissionError("submissions folder not found", path=submissions)
    paths = sorted(p for p in submissions.glob("*.csv") if p.is_file())
    if not paths and (submissions / "submissions").is_dir():
        # a run folder of `run_staging` / `baseline staging`: its OUT/submissions/
        paths = sorted(p for p in (submissions / "submissions").glob("*.csv") if p.is_file())
    if not paths:
        raise SubmissionError(
            "no *.csv submission in the folder",
            path=submissions,
            hint="one CSV per method, named <method>.csv",
        )
    return paths


def evaluate_lifs(
    *,
    truth: str | Path,
    submissions: str | Path,
    out: str | Path,
    readers: str | Path | None = None,
    n_bootstrap: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    alpha: float = 0.05,
    legacy_setting: str = "Contrast",
    plots: bool = True,
) -> LifsReport:
    """Score LiFS submissions and write the leaderboard report.

    Parameters
    ----------
    truth
        ``private/test_truth.csv``: ``Case,split,domain,stage,cirrhosis,significant_fibrosis``.
    submissions
        A folder of ``<method>.csv`` submissions (or one CSV), or the run folder of
        :func:`~hepatokit.run_staging` (its ``submissions/`` folder is read).
    out
        Report folder (see ``docs/evaluation.md`` for its files).
    readers
        Optional reader-score CSV (:mod:`hepatokit.evaluation.submission`).
    n_bootstrap, seed, confidence
        Stratified bootstrap CIs of every metric (0 disables them).
    alpha
        Significance level of the DeLong comparisons with readers.
    legacy_setting
        Setting given to 2024-format submissions (no ``Setting`` column).
    plots
        Write the PNG figures.

    Returns
    -------
    LifsReport
        ``errors`` maps each rejected method to its message; the others are scored.
    """
    from hepatokit.evaluation.lifs_report import write_lifs_report

    out_dir = Path(out)
    truth_table = read_truth(truth)
    paths = _submission_paths(Path(submissions))
    subs, errors = _load_submissions(paths, truth_table, legacy_setting)
    reader_table = None
    if readers is not None:
        reader_table = read_readers(readers, cases=set(truth_table.index))
    cell_rows: list[dict[str, Any]] = []
    cells: list[CellData] = []
    majority: dict[str, float] = {}
    for setting in SETTINGS:
        for domain in DOMAINS:
            for subtask in SUBTASKS:
                key = f"{setting}/{domain}/{subtask}"
                labels = truth_table.loc[truth_table["domain"] == domain, _LABEL[subtask]]
                if labels.empty:
                    continue
                majority[key] = 100 * majority_rate(labels.to_numpy())
                scores: dict[str, pd.Series] = {}
                y_cell = labels.sort_index().astype(int)
                for sub in subs:
                    if setting not in sub.settings:
                        continue
                    y, score, pred = subtask_arrays(
                        sub, truth_table, setting=setting, domain=domain, subtask=subtask
                    )
                    row = _score_cell(
                        y, score, pred, n_bootstrap=n_bootstrap, seed=seed, confidence=confidence
                    )
                    cell_rows.append(
                        {
                            "method": sub.method,
                            "cell": key,
                            "setting": setting,
                            "domain": domain,
                            "subtask": subtask,
                            **row,
                        }
                    )
                    scores[sub.method] = score
                cells.append(CellData(setting, domain, subtask, y_cell, scores))
    cell_table = pd.DataFrame(cell_rows)
    methods = [s.method for s in subs]
    results = _long_results(cell_table)
    reader_aucs = pd.DataFrame(
        columns=["Reader", "setting", "domain", "subtask", "cell", "n_cases", "AUC"]
    )
    comparisons = pd.DataFrame()
    if reader_table is not None and not cell_table.empty:
        method_aucs = {(r.method, r.cell): float(r.AUC) for r in table_rows(cell_table)}
        reader_aucs, comparisons = compare_with_readers(
            cells,
            reader_table,
            method_aucs=method_aucs,
            order=methods,
            alpha=alpha,
            confidence=confidence,
        )
    summary = (
        summarize_results(
            results=results, out=out_dir / "summary", majority_rates=majority, plots=plots
        )
        if not results.empty
        else ResultsSummary(
            results, [], pd.DataFrame(), pd.DataFrame(), pd.DataFrame(), pd.DataFrame()
        )
    )
    report = LifsReport(
        out=out_dir,
        methods=methods,
        results=results,
        cells=cell_table,
        errors=errors,
        reader_aucs=reader_aucs,
        comparisons=comparisons,
        summary=summary,
        majority_rates=majority,
    )
    write_lifs_report(
        report,
        cells=cells,
        truth=truth_table,
        reader_table=reader_table,
        paths=paths,
        plots=plots,
        settings={
            "n_bootstrap": n_bootstrap,
            "seed": seed,
            "confidence": confidence,
            "alpha": alpha,
        },
    )
    return report


def _long_results(cells: pd.DataFrame) -> pd.DataFrame:
    """Per-method results in the long format of the results table (percent)."""
    cols = ["method", "setting", "domain", "subtask", "metric", "value"]
    if cells.empty:
        return pd.DataFrame(columns=cols)
    rows = []
    for r in table_rows(cells):
        for metric in BINARY_METRICS:
            value = float(getattr(r, metric))
            rows.append(
                [
                    r.method,
                    r.setting,
                    r.domain,
                    r.subtask,
                    metric,
                    100 * value if np.isfinite(value) else np.nan,
                ]
            )
    return pd.DataFrame(rows, columns=cols)
