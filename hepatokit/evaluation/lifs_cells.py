"""Scoring the LiFS cells (setting × domain × subtask) of validated submissions — no files.

Subtask 1 (cirrhosis): positive = S4, score = ``Subtask1_prob_S4``, predicted S4 iff
``P(S4) >= 0.5``. Subtask 2 (significant fibrosis): positive = S2–S4; the submission states
``P(S1)``, the probability of the *negative* class, so the AUC uses ``1 − P(S1)`` and the
prediction is S1 (not significant) iff ``P(S1) >= 0.5``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from hepatokit.evaluation.binary import BINARY_METRICS, binary_metrics, majority_rate
from hepatokit.evaluation.bootstrap import binary_bootstrap
from hepatokit.evaluation.collapse import collapse_flag
from hepatokit.evaluation.reader_study import CellData
from hepatokit.evaluation.submission import DOMAINS, SETTINGS, Submission
from hepatokit.evaluation.tables import table_rows

__all__ = ["SUBTASKS", "long_results", "score_cell", "score_cells", "subtask_arrays"]

SUBTASKS: tuple[str, ...] = ("1", "2")
_LABEL = {"1": "cirrhosis", "2": "significant_fibrosis"}


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


def score_cell(
    y: pd.Series,
    score: pd.Series,
    pred: pd.Series,
    *,
    n_bootstrap: int,
    seed: int,
    confidence: float,
) -> dict[str, Any]:
    """One method × cell row: metrics (fractions), bootstrap CIs, the collapse flag."""
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


def score_cells(
    truth: pd.DataFrame,
    subs: Sequence[Submission],
    *,
    n_bootstrap: int,
    seed: int,
    confidence: float,
) -> tuple[pd.DataFrame, list[CellData], dict[str, float]]:
    """Score every submission in every cell of the truth.

    Returns
    -------
    cells_table : DataFrame
        One row per method × cell (``method, cell, setting, domain, subtask`` + metrics).
    cells : list of CellData
        Each cell's truth and the methods' scores (for the reader study and the ROC plots).
    majority_rates : dict
        ``"Setting/Domain/Subtask"`` → majority-class rate of the truth (percent).
    """
    cell_rows: list[dict[str, Any]] = []
    cells: list[CellData] = []
    majority: dict[str, float] = {}
    for setting in SETTINGS:
        for domain in DOMAINS:
            for subtask in SUBTASKS:
                key = f"{setting}/{domain}/{subtask}"
                labels = truth.loc[truth["domain"] == domain, _LABEL[subtask]]
                if labels.empty:
                    continue
                majority[key] = 100 * majority_rate(labels.to_numpy())
                scores: dict[str, pd.Series] = {}
                for sub in subs:
                    if setting not in sub.settings:
                        continue
                    y, score, pred = subtask_arrays(
                        sub, truth, setting=setting, domain=domain, subtask=subtask
                    )
                    row = score_cell(
                        y, score, pred, n_bootstrap=n_bootstrap, seed=seed, confidence=confidence
                    )
                    where = {"setting": setting, "domain": domain, "subtask": subtask}
                    cell_rows.append({"method": sub.method, "cell": key, **where, **row})
                    scores[sub.method] = score
                y_cell = labels.sort_index().astype(int)
                cells.append(CellData(setting, domain, subtask, y_cell, scores))
    return pd.DataFrame(cell_rows), cells, majority


def long_results(cells: pd.DataFrame) -> pd.DataFrame:
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
