"""The LiFS evaluator: score every submission per track × domain × subtask, like the challenge.

Subtask 1 (cirrhosis): positive = S4, score = ``Subtask1_prob_S4``, predicted S4 iff
``P(S4) >= 0.5``. Subtask 2 (significant fibrosis): positive = S2–S4; the submission states
``P(S1)``, the probability of the *negative* class, so the AUC uses ``1 − P(S1)`` and the
prediction is S1 (not significant) iff ``P(S1) >= 0.5``.

Each submission file is validated on its own: a malformed file is reported (file, line,
problem) and excluded, the others are scored. Every file ends in the report's manifest
(``REPORT/manifest/evaluate_lifs.parquet``) as kept or excluded with the reason.

The flow: read (truth, submissions, readers) → score the cells (:mod:`.lifs_cells`, no
files) → compare with readers → write the report folder (:mod:`.lifs_report`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from hepatokit.errors import HepatokitError, SubmissionError
from hepatokit.evaluation.lifs_cells import long_results, score_cells, subtask_arrays
from hepatokit.evaluation.lifs_report import LifsReport, write_lifs_report
from hepatokit.evaluation.reader_study import CellData, compare_with_readers
from hepatokit.evaluation.submission import Submission, read_readers, read_submission, read_truth
from hepatokit.evaluation.summarize import ResultsSummary, summarize_results
from hepatokit.evaluation.tables import table_rows

__all__ = ["LifsReport", "evaluate_lifs", "subtask_arrays"]

log = logging.getLogger("hepatokit.evaluation.lifs")


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
    out_dir = Path(out)
    truth_table = read_truth(truth)
    paths = _submission_paths(Path(submissions))
    subs, errors = _load_submissions(paths, truth_table, legacy_setting)
    reader_table = None
    if readers is not None:
        reader_table = read_readers(readers, cases=set(truth_table.index))
    cell_table, cells, majority = score_cells(
        truth_table, subs, n_bootstrap=n_bootstrap, seed=seed, confidence=confidence
    )
    methods = [s.method for s in subs]
    results = long_results(cell_table)
    reader_aucs, comparisons = _reader_study(
        cell_table, cells, reader_table, methods=methods, alpha=alpha, confidence=confidence
    )
    report = LifsReport(
        out=out_dir,
        methods=methods,
        results=results,
        cells=cell_table,
        errors=errors,
        reader_aucs=reader_aucs,
        comparisons=comparisons,
        summary=_summary(results, out_dir, majority, plots=plots),
        majority_rates=majority,
    )
    write_lifs_report(
        report,
        cells=cells,
        truth=truth_table,
        reader_table=reader_table,
        paths=paths,
        plots=plots,
        settings=dict(n_bootstrap=n_bootstrap, seed=seed, confidence=confidence, alpha=alpha),
    )
    return report


def _reader_study(
    cell_table: pd.DataFrame,
    cells: Sequence[CellData],
    reader_table: pd.DataFrame | None,
    *,
    methods: Sequence[str],
    alpha: float,
    confidence: float,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Reader AUCs and comparisons (empty tables without readers or scored methods)."""
    if reader_table is None or cell_table.empty:
        empty = ["Reader", "setting", "domain", "subtask", "cell", "n_cases", "AUC"]
        return pd.DataFrame(columns=empty), pd.DataFrame()
    method_aucs = {(r.method, r.cell): float(r.AUC) for r in table_rows(cell_table)}
    return compare_with_readers(
        cells,
        reader_table,
        method_aucs=method_aucs,
        order=methods,
        alpha=alpha,
        confidence=confidence,
    )


def _summary(
    results: pd.DataFrame, out: Path, majority: dict[str, float], *, plots: bool
) -> ResultsSummary:
    """The results-table analysis written to ``out/summary`` (empty without results)."""
    if results.empty:
        return ResultsSummary(
            results, [], pd.DataFrame(), pd.DataFrame(), pd.DataFrame(), pd.DataFrame()
        )
    return summarize_results(
        results=results, out=out / "summary", majority_rates=majority, plots=plots
    )
