"""The HepatoBench evaluator: multi-class metrics with bootstrap CIs, one column per encoder.

Truth: a CSV or parquet with ``id`` and ``label`` (or ``class``) — class names, or integer
indices into the class list — and optionally ``split`` (filter with ``split=``); the split
may also come from a ``splits.parquet`` (``id, group, split``; docs/contracts.md) given as
``splits=``, so ``BUILD/curated.parquet`` + ``BUILD/splits.parquet`` work as they are.
Predictions (docs/contracts.md): ``id,pred[,prob_<CLASS>…]``, ``pred`` a class name; the
probability columns are optional but, if present, one per class. One file per encoder
(the file stem is the encoder's name); a folder of ``*.csv`` compares several encoders.
A malformed predictions file is reported and excluded; the others are scored.

Report folder: ``report.md``, ``report.json``, ``comparison.md`` / ``.csv`` (metrics with
95 % CIs, best bold), ``per_class_<encoder>.csv``, ``figures/confusion_<encoder>.png``,
``manifest/evaluate_hepatobench.parquet``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from hepatokit.errors import DataFormatError, HepatokitError, SubmissionError
from hepatokit.evaluation.bootstrap import ConfidenceInterval
from hepatokit.evaluation.hepatobench_report import HepatoBenchReport, write_hepatobench_report
from hepatokit.evaluation.multiclass import (
    MULTICLASS_METRICS,
    MulticlassReport,
    encode_labels,
    multiclass_bootstrap,
    multiclass_metrics,
)

__all__ = [
    "HepatoBenchReport",
    "evaluate_hepatobench",
    "read_hepatobench_truth",
    "read_predictions",
]

log = logging.getLogger("hepatokit.evaluation.hepatobench")


def _read_table(path: Path, what: str) -> pd.DataFrame:
    if not path.is_file():
        raise DataFormatError(f"{what} not found", path=path)
    try:
        if path.suffix.lower() == ".parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    except Exception as exc:  # pandas/pyarrow raise many types for unreadable files
        raise DataFormatError(f"cannot read the {what}: {exc}", path=path) from exc


def read_hepatobench_truth(
    path: str | Path,
    *,
    classes: Sequence[str],
    split: str | None = None,
    splits: str | Path | None = None,
) -> pd.Series:
    """Truth labels: ``id → class name`` (index sorted), optionally one split only.

    ``splits``: optional ``splits.parquet``/CSV whose ``split`` column (joined on ``id``)
    replaces the truth table's own.
    """
    p = Path(path)
    table = _read_table(p, "truth table")
    label_col = (
        "label" if "label" in table.columns else "class" if "class" in table.columns else None
    )
    if "id" not in table.columns or label_col is None:
        raise DataFormatError("truth table needs columns id and label (or class)", path=p)
    if splits is not None:
        sp = _read_table(Path(splits), "splits table")
        if not {"id", "split"} <= set(sp.columns):
            raise DataFormatError("splits table needs columns id and split", path=splits)
        lookup = dict(zip(sp["id"].astype(str), sp["split"].astype(str), strict=True))
        table = table.assign(split=table["id"].astype(str).map(lookup))
    if split is not None:
        if "split" not in table.columns:
            raise DataFormatError("split requested but the truth table has no split column", path=p)
        table = table[table["split"].astype(str) == split]
        if table.empty:
            raise DataFormatError(f"no row of split {split!r} in the truth table", path=p)
    ids = table["id"].astype(str)
    if ids.duplicated().any():
        raise DataFormatError(f"duplicated id {ids[ids.duplicated()].iloc[0]!r}", path=p)
    raw = table[label_col]
    if raw.dtype.kind in "iu" or raw.astype(str).str.fullmatch(r"\d+").all():
        codes = encode_labels(raw.astype(int).to_numpy(), classes, name=f"{p.name}: {label_col}")
    else:
        codes = encode_labels(raw.astype(str).to_numpy(), classes, name=f"{p.name}: {label_col}")
    return pd.Series(np.asarray(classes)[codes], index=ids.to_numpy(), name="label").sort_index()


def read_predictions(
    path: str | Path, *, classes: Sequence[str], ids: Sequence[str]
) -> tuple[pd.Series, np.ndarray | None]:
    """Validate one predictions CSV against the truth ids.

    Returns
    -------
    pred : Series
        ``id → class name``, in the order of ``ids``.
    probabilities : ndarray of shape (n, K) or None
    """
    p = Path(path)
    table = _read_table(p, "predictions file").astype(str)
    if not {"id", "pred"} <= set(table.columns):
        raise SubmissionError(
            "predictions need columns id and pred",
            path=p,
            hint="id,pred[,prob_<CLASS>…] (docs/contracts.md)",
        )
    prob_cols = [c for c in table.columns if c.startswith("prob_")]
    problems: list[str] = []
    expected = [f"prob_{c}" for c in classes]
    if prob_cols and sorted(prob_cols) != sorted(expected):
        problems.append(f"probability columns must be exactly {', '.join(expected)}")
    known = set(ids)
    dup = table["id"].duplicated(keep="first")
    for i in np.flatnonzero(dup.to_numpy())[:10]:
        problems.append(f"line {i + 2}: duplicated id {table['id'].iloc[i]!r}")
    for i in np.flatnonzero(~table["id"].isin(known).to_numpy())[:10]:
        problems.append(f"line {i + 2}: unknown id {table['id'].iloc[i]!r}")
    for i in np.flatnonzero(~table["pred"].isin(list(classes)).to_numpy())[:10]:
        problems.append(f"line {i + 2}: unknown class {table['pred'].iloc[i]!r}")
    missing = sorted(known - set(table["id"]))
    if missing:
        problems.append(f"{len(missing)} id(s) without a prediction (e.g. {missing[0]!r})")
    proba = None
    if prob_cols and not problems:
        num = table[expected].apply(pd.to_numeric, errors="coerce")
        bad = ~np.isfinite(num.to_numpy(dtype=float)) | (num.to_numpy() < 0) | (num.to_numpy() > 1)
        for i in np.flatnonzero(bad.any(axis=1))[:10]:
            problems.append(f"line {i + 2}: probabilities must be numbers in [0, 1]")
        proba = num.to_numpy(dtype=float)
    if problems:
        raise SubmissionError(
            f"{len(problems)} problem(s):\n    " + "\n    ".join(problems), path=p
        )
    order = pd.Series(np.arange(len(table)), index=table["id"].to_numpy()).loc[list(ids)]
    pred = pd.Series(table["pred"].to_numpy()[order.to_numpy()], index=list(ids))
    return pred, None if proba is None else proba[order.to_numpy()]


def _prediction_paths(predictions: Path) -> list[Path]:
    if predictions.is_file():
        return [predictions]
    if not predictions.is_dir():
        raise SubmissionError("predictions file or folder not found", path=predictions)
    paths = sorted(p for p in predictions.glob("*.csv") if p.is_file())
    if not paths:
        raise SubmissionError("no *.csv predictions in the folder", path=predictions)
    return paths


def evaluate_hepatobench(
    *,
    truth: str | Path,
    predictions: str | Path,
    out: str | Path,
    classes: Sequence[str] | None = None,
    recipe: str | Path = "hepatobench",
    split: str | None = None,
    splits: str | Path | None = None,
    n_bootstrap: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    plots: bool = True,
) -> HepatoBenchReport:
    """Score HepatoBench predictions (one file per encoder) and write the report.

    Parameters
    ----------
    truth
        CSV/parquet with ``id`` and ``label`` (or ``class``), optional ``split``.
    predictions
        One predictions CSV or a folder of them (encoder name = file stem).
    out
        Report folder (module docstring).
    classes
        Class order; default: the recipe's ``classes``.
    recipe
        Recipe name or path used when ``classes`` is None.
    split
        Keep only truth rows of this split (e.g. ``test``).
    splits
        Optional ``splits.parquet`` giving each id's split (joined on ``id``).
    n_bootstrap, seed, confidence
        Stratified bootstrap CIs of every metric (0 disables them).
    plots
        Write the confusion-matrix PNGs.
    """
    if classes is None:
        from hepatokit.recipe import load_recipe

        classes = load_recipe(recipe).classes
    class_names = tuple(str(c) for c in classes)
    if len(class_names) < 2:
        raise DataFormatError("need at least two classes", hint="pass classes or a recipe")
    out_dir = Path(out)
    labels = read_hepatobench_truth(truth, classes=class_names, split=split, splits=splits)
    ids = list(labels.index)
    paths = _prediction_paths(Path(predictions))
    reports: dict[str, MulticlassReport] = {}
    intervals: dict[str, dict[str, ConfidenceInterval]] = {}
    errors: dict[str, str] = {}
    for path in paths:
        try:
            pred, proba = read_predictions(path, classes=class_names, ids=ids)
        except (HepatokitError, ValueError) as exc:
            errors[path.stem] = str(exc).replace(str(path), path.name)
            log.warning("rejected %s", errors[path.stem].splitlines()[0].rstrip(":"))
            continue
        reports[path.stem] = multiclass_metrics(
            labels.to_numpy(), pred.to_numpy(), classes=class_names, probabilities=proba
        )
        if n_bootstrap > 0:
            intervals[path.stem] = multiclass_bootstrap(
                labels.to_numpy(),
                pred.to_numpy(),
                classes=class_names,
                probabilities=proba,
                n_resamples=n_bootstrap,
                seed=seed,
                confidence=confidence,
            )
    report = HepatoBenchReport(
        out_dir, class_names, reports, intervals, _comparison(reports, intervals), errors
    )
    write_hepatobench_report(report, paths, plots=plots, n_cases=len(ids))
    return report


def _comparison(
    reports: dict[str, MulticlassReport], intervals: dict[str, dict[str, ConfidenceInterval]]
) -> pd.DataFrame:
    rows = []
    for enc, rep in reports.items():
        row: dict[str, object] = {"encoder": enc}
        for m in MULTICLASS_METRICS:
            row[m] = rep.metrics[m]
            ci = intervals.get(enc, {}).get(m)
            row[f"{m}_low"] = ci.low if ci else np.nan
            row[f"{m}_high"] = ci.high if ci else np.nan
        rows.append(row)
    cols = ["encoder"] + [f"{m}{s}" for m in MULTICLASS_METRICS for s in ("", "_low", "_high")]
    return pd.DataFrame(rows, columns=cols)
