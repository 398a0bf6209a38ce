"""The long-format results table and the aggregate score (LiFS paper §5.3).

A results table has one row per number: ``method, setting, domain, subtask, metric, value``
(e.g. ``UoN,Contrast,ID,1,AUC,83.39``), values in percent. The aggregate score of a method
in a domain is the mean over settings × subtasks × {ACC, AUC} (8 values for LiFS); the
OOD drop is ``aggregate(ID) - aggregate(OOD)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from hepatokit.errors import DataFormatError

__all__ = [
    "RESULT_COLUMNS",
    "aggregate_scores",
    "ood_drop",
    "read_results",
    "validate_results",
]

RESULT_COLUMNS: tuple[str, ...] = ("method", "setting", "domain", "subtask", "metric", "value")


def validate_results(table: pd.DataFrame, *, source: str = "<table>") -> pd.DataFrame:
    """Check and normalise a long results table (string keys, float values, no duplicates).

    Raises
    ------
    DataFormatError
        Missing columns, non-numeric values or a duplicated (method, cell, metric) key;
        the message names ``source`` and the offending line.
    """
    missing = [c for c in RESULT_COLUMNS if c not in table.columns]
    if missing:
        raise DataFormatError(
            f"results table lacks column(s) {', '.join(missing)}",
            path=source,
            hint=f"expected columns: {','.join(RESULT_COLUMNS)}",
        )
    out = table.loc[:, list(RESULT_COLUMNS)].copy()
    for col in ("method", "setting", "domain", "subtask", "metric"):
        out[col] = out[col].astype(str).str.strip()
    values = pd.to_numeric(out["value"], errors="coerce")
    bad = np.flatnonzero(values.isna().to_numpy() & out["value"].notna().to_numpy())
    if bad.size:
        raise DataFormatError(
            f"line {int(bad[0]) + 2}: value {out['value'].iloc[bad[0]]!r} is not a number",
            path=source,
        )
    out["value"] = values.astype(float)
    key = ["method", "setting", "domain", "subtask", "metric"]
    dup = out.duplicated(key, keep=False)
    if dup.any():
        first = int(np.flatnonzero(dup.to_numpy())[0])
        row = out.iloc[first]
        raise DataFormatError(
            f"line {first + 2}: duplicated entry {'/'.join(str(row[k]) for k in key)}",
            path=source,
        )
    return out.reset_index(drop=True)


def read_results(path: str | Path) -> pd.DataFrame:
    """Read and validate a long-format results CSV (see the module docstring)."""
    p = Path(path)
    if not p.is_file():
        raise DataFormatError("results table not found", path=p)
    try:
        table = pd.read_csv(p, dtype={"subtask": str, "method": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataFormatError(f"cannot read the results CSV: {exc}", path=p) from exc
    return validate_results(table, source=str(p))


def aggregate_scores(
    results: pd.DataFrame, *, metrics: Sequence[str] = ("ACC", "AUC")
) -> pd.DataFrame:
    """Aggregate score per method and domain: mean of ``metrics`` over settings × subtasks.

    Returns
    -------
    DataFrame
        Columns ``method, domain, aggregate, n_values`` (``n_values`` = how many numbers were
        averaged; a method missing a cell has fewer), sorted by method then domain.
    """
    sel = results[results["metric"].isin(list(metrics))].dropna(subset=["value"])
    grouped = sel.groupby(["method", "domain"], sort=True)["value"]
    out = grouped.agg(aggregate="mean", n_values="count").reset_index()
    out["n_values"] = out["n_values"].astype(int)
    return out


def ood_drop(
    aggregates: pd.DataFrame, *, id_domain: str = "ID", ood_domain: str = "OOD"
) -> pd.DataFrame:
    """Per method: ``ID``, ``OOD`` aggregate and ``drop = ID - OOD`` (NaN if one is missing)."""
    wide = aggregates.pivot(index="method", columns="domain", values="aggregate")
    for d in (id_domain, ood_domain):
        if d not in wide.columns:
            wide[d] = np.nan
    out = pd.DataFrame(
        {
            "method": wide.index.astype(str),
            "ID": wide[id_domain].to_numpy(dtype=float),
            "OOD": wide[ood_domain].to_numpy(dtype=float),
        }
    )
    out["drop"] = out["ID"] - out["OOD"]
    return out.reset_index(drop=True)
