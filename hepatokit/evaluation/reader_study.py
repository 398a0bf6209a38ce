"""Methods against radiologists: reader AUCs and paired DeLong tests (LiFS paper §4.2).

For every cell (setting × domain × subtask), the best and the median method (by AUC over
the scored methods; median = the ``(n + 1) // 2``-th) are compared with every reader by a
paired DeLong test on the *case-aligned cohort*: the cases of that domain that the reader
scored (all methods score every case). Reader scores are ordinal (e.g. a 7-point scale);
the AUC of an ordinal score is well defined (ties count one half).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from hepatokit.errors import DataFormatError
from hepatokit.evaluation.binary import roc_auc
from hepatokit.evaluation.delong import delong_test

__all__ = ["CellData", "compare_with_readers", "rank_methods", "reader_scores_for", "roles_of"]


@dataclass(frozen=True)
class CellData:
    """One cell's truth and scores: ``y`` and each method's positive-class score by Case."""

    setting: str
    domain: str
    subtask: str
    y: pd.Series  # Case → 0/1
    scores: Mapping[str, pd.Series]  # method → (Case → score, higher = positive)

    @property
    def key(self) -> str:
        return f"{self.setting}/{self.domain}/{self.subtask}"


def reader_scores_for(
    readers: pd.DataFrame, *, reader: str, setting: str, subtask: str, cases: Sequence[str]
) -> pd.Series:
    """One reader's scores (Case → score) for a cell; track-specific rows win over ``*``."""
    sub = readers[(readers["Reader"] == reader) & (readers["subtask"].astype(str) == subtask)]
    generic = sub[sub["Setting"] == "*"].set_index("Case")["score"]
    specific = sub[sub["Setting"] == setting].set_index("Case")["score"]
    scores = specific.combine_first(generic) if len(specific) else generic
    return scores[scores.index.isin(list(cases))].sort_index()


def rank_methods(cell: CellData, aucs: Mapping[str, float], order: Sequence[str]) -> list[str]:
    """Methods of the cell by AUC, highest first; ties keep ``order``."""
    pos = {m: i for i, m in enumerate(order)}
    valid = [m for m in cell.scores if np.isfinite(aucs.get(m, np.nan))]
    return sorted(valid, key=lambda m: (-aucs[m], pos.get(m, len(pos))))


_AUC_COLUMNS = ["Reader", "setting", "domain", "subtask", "cell", "n_cases", "AUC"]
_COMPARISON_COLUMNS = [
    "cell",
    "role",
    "method",
    "Reader",
    "n_cases",
    "auc_method",
    "auc_reader",
    "delta",
    "ci_low",
    "ci_high",
    "z",
    "p_value",
    "significant",
    "direction",
]


def roles_of(ranked: Sequence[str]) -> list[tuple[str, str]]:
    """``[("best", m), ("median", m)]`` of methods ranked highest first (none if empty).

    The median is the ``(n + 1) // 2``-th method, so the best is also the median of one.
    """
    if not ranked:
        return []
    return [("best", ranked[0]), ("median", ranked[(len(ranked) + 1) // 2 - 1])]


def _comparison_row(
    cell: CellData,
    role: str,
    method: str,
    reader: str,
    y: pd.Series,
    reader_scores: pd.Series,
    *,
    alpha: float,
    confidence: float,
) -> dict[str, object] | None:
    """One paired DeLong row (percent), or None with one class only in the aligned cohort."""
    ms = cell.scores[method].loc[reader_scores.index]
    try:
        r = delong_test(
            y.to_numpy(), ms.to_numpy(), reader_scores.to_numpy(), confidence=confidence
        )
    except DataFormatError:
        return None  # one class only in the aligned cohort: nothing to compare
    significant = bool(r.p_value < alpha)
    return {
        "cell": cell.key,
        "role": role,
        "method": method,
        "Reader": reader,
        "n_cases": len(reader_scores),
        "auc_method": 100 * r.auc_a,
        "auc_reader": 100 * r.auc_b,
        "delta": 100 * r.delta,
        "ci_low": 100 * r.ci_low,
        "ci_high": 100 * r.ci_high,
        "z": r.statistic,
        "p_value": r.p_value,
        "significant": significant,
        "direction": ("↑" if r.delta > 0 else "↓") if significant else "",
    }


def compare_with_readers(
    cells: Sequence[CellData],
    readers: pd.DataFrame,
    *,
    method_aucs: Mapping[tuple[str, str], float],
    order: Sequence[str],
    alpha: float = 0.05,
    confidence: float = 0.95,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Reader AUCs and the DeLong comparisons of best/median methods with each reader.

    Parameters
    ----------
    cells
        The scored cells.
    readers
        Long reader table from :func:`~hepatokit.evaluation.submission.read_readers`.
    method_aucs
        ``(method, cell key) → AUC`` (fraction) used to rank the methods.
    order
        Method order for ties.

    Returns
    -------
    reader_aucs : DataFrame
        ``Reader, setting, domain, subtask, cell, n_cases, AUC`` (AUC in percent).
    comparisons : DataFrame
        ``cell, role (best|median), method, Reader, n_cases, auc_method, auc_reader, delta,
        ci_low, ci_high, z, p_value, significant, direction`` (AUCs and deltas in percent).
    """
    names = list(dict.fromkeys(readers["Reader"]))
    auc_rows: list[dict[str, object]] = []
    cmp_rows: list[dict[str, object]] = []
    for cell in cells:
        aucs = {m: method_aucs.get((m, cell.key), np.nan) for m in cell.scores}
        roles = roles_of(rank_methods(cell, aucs, order))
        for reader in names:
            rs = reader_scores_for(
                readers,
                reader=reader,
                setting=cell.setting,
                subtask=cell.subtask,
                cases=list(cell.y.index),
            )
            if rs.empty:
                continue
            y = cell.y.loc[rs.index]
            auc_rows.append(
                {
                    "Reader": reader,
                    "setting": cell.setting,
                    "domain": cell.domain,
                    "subtask": cell.subtask,
                    "cell": cell.key,
                    "n_cases": len(rs),
                    "AUC": 100 * roc_auc(y.to_numpy(), rs.to_numpy()),
                }
            )
            for role, method in roles:
                row = _comparison_row(
                    cell, role, method, reader, y, rs, alpha=alpha, confidence=confidence
                )
                if row is not None:
                    cmp_rows.append(row)
    return (
        pd.DataFrame(auc_rows, columns=_AUC_COLUMNS),
        pd.DataFrame(cmp_rows, columns=_COMPARISON_COLUMNS),
    )
