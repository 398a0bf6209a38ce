"""Results-table analysis: what an organiser derives from all teams' scores (LiFS paper §5).

Input: the long results table (:mod:`hepatokit.evaluation.aggregate`), optionally a factors
table ``method,<factor>…[,kind]`` (the paper's Table 2). Output:

- best and median method per cell (setting × domain × subtask), ranked by AUC over the
  cohort: the methods whose ``kind`` is ``cohort_kind`` (default ``challenge``; organisers'
  baselines stay outside), or every method without a factors table. The median of ``n``
  methods is the ``(n + 1) // 2``-th by AUC (the 5th of 9); ties keep the order in which the
  methods first appear in the results table;
- aggregate score per method and domain, and the ID − OOD drop;
- mean ± sample SD (``ddof = 1``) of the ID aggregate and of the drop per factor level,
  over the cohort (the paper's Fig. 4d);
- the ACC-vs-AUC collapse pattern (:func:`~hepatokit.evaluation.collapse.collapse_pattern`);
- figures: ID→OOD slope chart, ACC vs AUC scatter, factor-group bars.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hepatokit.atomic import write_json_atomic, write_text_atomic
from hepatokit.errors import DataFormatError
from hepatokit.evaluation.aggregate import (
    aggregate_scores,
    ood_drop,
    read_results,
    validate_results,
)
from hepatokit.evaluation.collapse import collapse_pattern
from hepatokit.evaluation.tables import fmt, markdown_table, table_rows, write_csv

__all__ = ["ResultsSummary", "cell_key", "read_factors", "summarize_results"]

log = logging.getLogger("hepatokit.evaluation.summarize")
_SETTING_ORDER = ("Contrast", "NonContrast")
_DOMAIN_ORDER = ("ID", "OOD")


def cell_key(setting: str, domain: str, subtask: str | int) -> str:
    """``"Contrast/ID/1"``: the key of a leaderboard cell."""
    return f"{setting}/{domain}/{subtask}"


@dataclass
class ResultsSummary:
    """Everything :func:`summarize_results` derives; every number in percent points."""

    results: pd.DataFrame
    cohort: list[str]
    best_median: pd.DataFrame
    aggregates: pd.DataFrame
    factor_groups: pd.DataFrame
    collapse: pd.DataFrame
    files: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        def records(df: pd.DataFrame) -> list[dict[str, Any]]:
            return [
                {
                    str(k): (None if isinstance(v, float) and np.isnan(v) else v)
                    for k, v in r.items()
                }
                for r in df.to_dict(orient="records")
            ]

        return {
            "cohort": list(self.cohort),
            "best_median_auc": records(self.best_median),
            "aggregates": records(self.aggregates),
            "factor_groups": records(self.factor_groups),
            "collapse": records(self.collapse),
        }


def read_factors(path: str | Path) -> pd.DataFrame:
    """Read a factors CSV: a ``method`` column, factor columns, optional ``kind``."""
    p = Path(path)
    if not p.is_file():
        raise DataFormatError("factors table not found", path=p)
    table = pd.read_csv(p, dtype=str, keep_default_na=False)
    if "method" not in table.columns:
        raise DataFormatError("factors table needs a 'method' column", path=p)
    if table["method"].duplicated().any():
        dup = table.loc[table["method"].duplicated(), "method"].iloc[0]
        raise DataFormatError(f"method {dup!r} appears twice", path=p)
    return table.apply(lambda c: c.str.strip())


def _ordered(values: list[str], order: tuple[str, ...]) -> list[str]:
    return [v for v in order if v in values] + sorted(v for v in values if v not in order)


def _cells(results: pd.DataFrame) -> list[tuple[str, str, str]]:
    settings = _ordered(results["setting"].unique().tolist(), _SETTING_ORDER)
    domains = _ordered(results["domain"].unique().tolist(), _DOMAIN_ORDER)
    subtasks = sorted(results["subtask"].unique().tolist())
    present = set(zip(results["setting"], results["domain"], results["subtask"], strict=True))
    return [(s, d, t) for s in settings for d in domains for t in subtasks if (s, d, t) in present]


def _best_median(results: pd.DataFrame, cohort: list[str], order: dict[str, int]) -> pd.DataFrame:
    rows = []
    auc = results[(results["metric"] == "AUC") & results["method"].isin(cohort)]
    for s, d, t in _cells(results):
        cell = auc[(auc["setting"] == s) & (auc["domain"] == d) & (auc["subtask"] == t)]
        cell = cell.dropna(subset=["value"])
        if cell.empty:
            continue
        ranked = sorted(
            zip(cell["method"], cell["value"], strict=True),
            key=lambda mv: (-mv[1], order[mv[0]]),
        )
        med = ranked[(len(ranked) + 1) // 2 - 1]
        rows.append(
            {
                "cell": cell_key(s, d, t),
                "setting": s,
                "domain": d,
                "subtask": t,
                "best_method": ranked[0][0],
                "best_auc": float(ranked[0][1]),
                "second_method": ranked[1][0] if len(ranked) > 1 else None,
                "second_auc": float(ranked[1][1]) if len(ranked) > 1 else float("nan"),
                "median_method": med[0],
                "median_auc": float(med[1]),
                "n_cohort": len(ranked),
            }
        )
    return pd.DataFrame(rows)


def _factor_groups(drops: pd.DataFrame, factors: pd.DataFrame, cohort: list[str]) -> pd.DataFrame:
    rows = []
    table = factors[factors["method"].isin(cohort)].merge(drops, on="method", how="left")
    for factor in [c for c in factors.columns if c not in ("method", "kind")]:
        for level in sorted(table[factor].unique().tolist()):
            group = table[table[factor] == level]
            for quantity, col in (("ID", "ID"), ("OOD drop", "drop")):
                vals = group[col].dropna().to_numpy(dtype=float)
                rows.append(
                    {
                        "factor": factor,
                        "level": level,
                        "quantity": quantity,
                        "mean": float(vals.mean()) if vals.size else float("nan"),
                        "sd": float(vals.std(ddof=1)) if vals.size > 1 else float("nan"),
                        "n": int(vals.size),
                        "methods": ";".join(group.loc[group[col].notna(), "method"]),
                    }
                )
    return pd.DataFrame(rows, columns=["factor", "level", "quantity", "mean", "sd", "n", "methods"])


def _collapse(results: pd.DataFrame, majority_rates: Mapping[str, float] | None) -> pd.DataFrame:
    wide = results[results["metric"].isin(["ACC", "AUC"])].pivot_table(
        index=["method", "setting", "domain", "subtask"], columns="metric", values="value"
    )
    rows = []
    if {"ACC", "AUC"} <= set(wide.columns):
        for key, r in wide.iterrows():
            m, s, d, t = (str(x) for x in key)  # type: ignore[attr-defined]
            maj = None if majority_rates is None else majority_rates.get(cell_key(s, d, t))
            reasons = collapse_pattern(
                float(r["ACC"]) / 100,
                float(r["AUC"]) / 100,
                majority_rate=None if maj is None else maj / 100,
            )
            if reasons:
                rows.append(
                    {
                        "method": m,
                        "cell": cell_key(s, d, t),
                        "ACC": float(r["ACC"]),
                        "AUC": float(r["AUC"]),
                        "reasons": "; ".join(reasons),
                    }
                )
    return pd.DataFrame(rows, columns=["method", "cell", "ACC", "AUC", "reasons"])


def summarize_results(
    *,
    results: str | Path | pd.DataFrame,
    out: str | Path | None = None,
    factors: str | Path | pd.DataFrame | None = None,
    cohort_kind: str = "challenge",
    majority_rates: Mapping[str, float] | None = None,
    plots: bool = True,
) -> ResultsSummary:
    """Analyse a long results table (module docstring); write the report if ``out`` is given.

    Parameters
    ----------
    results
        Long table (path or DataFrame): ``method,setting,domain,subtask,metric,value``, percent.
    out
        Report folder: ``summary.md``, ``summary.json``, ``best_median.csv``,
        ``aggregates.csv``, ``factor_groups.csv``, ``collapse.csv``, ``figures/*.png``.
    factors
        Optional factors table (path or DataFrame) with ``method`` and, for the cohort, ``kind``.
    cohort_kind
        Value of ``kind`` that selects the ranked cohort.
    majority_rates
        Optional majority-class rate (percent) per cell key ``"Contrast/OOD/2"``, used by the
        collapse pattern.
    plots
        Write the figures (matplotlib, Agg).
    """
    if isinstance(results, pd.DataFrame):
        table = validate_results(results)
    else:
        table = read_results(results)
    if table.empty:
        raise DataFormatError("the results table has no rows")
    order = {m: i for i, m in enumerate(dict.fromkeys(table["method"]))}
    fac = None
    if factors is not None:
        fac = factors if isinstance(factors, pd.DataFrame) else read_factors(factors)
        fac = fac.astype(str)
    if fac is not None and "kind" in fac.columns:
        cohort = [m for m in order if m in set(fac.loc[fac["kind"] == cohort_kind, "method"])]
        if not cohort:
            raise DataFormatError(
                f"no method of kind {cohort_kind!r} in the factors table",
                hint="check the 'kind' column or pass another cohort kind",
            )
    else:
        cohort = list(order)
    aggregates = aggregate_scores(table)
    drops = ood_drop(aggregates)
    drops["in_cohort"] = drops["method"].isin(cohort)
    drops = drops.sort_values("method", key=lambda s: s.map(order)).reset_index(drop=True)
    summary = ResultsSummary(
        results=table,
        cohort=cohort,
        best_median=_best_median(table, cohort, order),
        aggregates=drops,
        factor_groups=_factor_groups(drops, fac, cohort) if fac is not None else pd.DataFrame(),
        collapse=_collapse(table, majority_rates),
    )
    if out is not None:
        _write(summary, Path(out), plots=plots)
    return summary


def _write(summary: ResultsSummary, out: Path, *, plots: bool) -> None:
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "best_median": write_csv(out / "best_median.csv", summary.best_median),
        "aggregates": write_csv(out / "aggregates.csv", summary.aggregates),
        "factor_groups": write_csv(out / "factor_groups.csv", summary.factor_groups),
        "collapse": write_csv(out / "collapse.csv", summary.collapse),
    }
    if plots:
        from hepatokit.evaluation import plots as plt_

        fig = out / "figures"
        files["id_ood_slope"] = plt_.id_ood_slope(summary.aggregates, fig / "id_ood_slope.png")
        files["acc_vs_auc"] = plt_.acc_vs_auc(
            summary.results, fig / "acc_vs_auc.png", collapsed=summary.collapse
        )
        if not summary.factor_groups.empty:
            files["factor_groups"] = plt_.factor_groups(
                summary.factor_groups, fig / "factor_groups.png"
            )
    summary.files = {k: str(Path(v).relative_to(out)) for k, v in files.items()}
    write_json_atomic(out / "summary.json", summary.as_dict())
    write_text_atomic(out / "summary.md", render_summary_markdown(summary))


def render_summary_markdown(summary: ResultsSummary) -> str:
    """The summary as a markdown report (numbers with two decimals, percent)."""
    lines = ["# Results-table analysis", ""]
    lines.append(f"Cohort ranked for best/median: {', '.join(summary.cohort)}.")
    lines += ["", "## Best and median method per cell (AUC, %)", ""]
    if not summary.best_median.empty:
        lines.append(
            markdown_table(
                ["cell", "best", "AUC", "median", "AUC", "n"],
                [
                    [
                        r.cell,
                        r.best_method,
                        fmt(r.best_auc),
                        r.median_method,
                        fmt(r.median_auc),
                        str(r.n_cohort),
                    ]
                    for r in table_rows(summary.best_median)
                ],
            )
        )
    lines += ["", "## Aggregate score (mean of ACC and AUC over settings × subtasks, %)", ""]
    lines.append(
        markdown_table(
            ["method", "ID", "OOD", "ID − OOD", "cohort"],
            [
                [r.method, fmt(r.ID), fmt(r.OOD), fmt(r.drop), "yes" if r.in_cohort else "no"]
                for r in table_rows(summary.aggregates)
            ],
        )
    )
    if not summary.factor_groups.empty:
        lines += ["", "## Design factors (cohort; mean ± sample SD, n)", ""]
        lines.append(
            markdown_table(
                ["factor", "level", "quantity", "mean ± SD", "n"],
                [
                    [r.factor, r.level, r.quantity, f"{fmt(r.mean)} ± {fmt(r.sd)}", str(r.n)]
                    for r in table_rows(summary.factor_groups)
                ],
            )
        )
    lines += ["", "## ACC-vs-AUC collapse pattern", ""]
    if summary.collapse.empty:
        lines.append("No cell shows a high ACC with a chance-level AUC.")
    else:
        lines.append(
            "High ACC with a chance-level AUC: the method predicts (nearly) the majority "
            "class; its ACC says nothing about its ranking."
        )
        lines.append("")
        lines.append(
            markdown_table(
                ["method", "cell", "ACC", "AUC", "why"],
                [
                    [r.method, r.cell, fmt(r.ACC), fmt(r.AUC), r.reasons]
                    for r in table_rows(summary.collapse)
                ],
            )
        )
    if summary.files:
        lines += ["", "## Files", ""]
        lines += [f"- `{v}`" for v in summary.files.values()]
    return "\n".join(lines) + "\n"
