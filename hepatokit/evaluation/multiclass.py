"""Multi-class metrics (HepatoBench, linear probe): accuracy, macro/weighted scores, kappa, AUROC.

All metrics are computed from the confusion matrix with numpy (fast enough for 1000
bootstrap resamples); the tests check every one against scikit-learn. Conventions follow
scikit-learn's defaults: macro averages run over the classes present in ``y_true`` or
``y_pred``; balanced accuracy is the mean recall over the classes present in ``y_true``;
undefined precision (class never predicted) counts 0; the quadratic weighted kappa weights
``(i - j)**2`` use the class positions in ``classes``; the one-vs-rest macro AUROC averages
the per-class AUCs of ``probabilities[:, k]`` over the classes present in ``y_true`` (the
probabilities need not sum to 1).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from hepatokit.errors import DataFormatError
from hepatokit.evaluation.binary import fast_auc, resampled_auc
from hepatokit.evaluation.bootstrap import (
    ConfidenceInterval,
    percentile_interval,
    stratified_resample_indices,
)

__all__ = [
    "MULTICLASS_METRICS",
    "MulticlassReport",
    "encode_labels",
    "multiclass_bootstrap",
    "multiclass_metrics",
]

#: metric names of :class:`MulticlassReport.metrics`, in report order
MULTICLASS_METRICS: tuple[str, ...] = (
    "accuracy",
    "balanced_accuracy",
    "macro_precision",
    "macro_recall",
    "macro_f1",
    "weighted_f1",
    "quadratic_kappa",
    "macro_auroc",
)


@dataclass(frozen=True)
class MulticlassReport:
    """Multi-class evaluation of one classifier.

    Attributes
    ----------
    classes
        Class names; index ``k`` of every array is ``classes[k]``.
    metrics
        ``name → value`` for :data:`MULTICLASS_METRICS` (fractions in [0, 1]; kappa in
        [-1, 1]; ``macro_auroc`` NaN without probabilities).
    per_class
        One row per class: ``class, support, predicted, precision, recall, f1, auroc``.
    confusion
        ``(K, K)`` int64 counts; rows = true class, columns = predicted class.
    """

    classes: tuple[str, ...]
    metrics: dict[str, float]
    per_class: pd.DataFrame
    confusion: NDArray[np.int64]

    def as_dict(self) -> dict[str, Any]:
        return {
            "classes": list(self.classes),
            "metrics": dict(self.metrics),
            "per_class": self.per_class.to_dict(orient="records"),
            "confusion": self.confusion.tolist(),
        }


def encode_labels(
    values: ArrayLike, classes: Sequence[str], *, name: str = "labels"
) -> NDArray[np.intp]:
    """Class names (or integer indices into ``classes``) → int index array, shape ``(n,)``."""
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise DataFormatError(f"{name}: expected a 1-D array, got shape {arr.shape}")
    k = len(classes)
    if arr.dtype.kind in "iu":
        if arr.size and (arr.min() < 0 or arr.max() >= k):
            raise DataFormatError(f"{name}: class indices must be in 0..{k - 1}")
        return arr.astype(np.intp)
    lookup = {c: i for i, c in enumerate(classes)}
    out = np.empty(arr.shape[0], dtype=np.intp)
    for i, v in enumerate(arr.tolist()):
        code = lookup.get(str(v))
        if code is None:
            raise DataFormatError(
                f"{name}: unknown class {v!r} at position {i}",
                hint=f"known classes: {', '.join(classes)}",
            )
        out[i] = code
    return out


def _probabilities(p: ArrayLike | None, n: int, k: int) -> NDArray[np.float64] | None:
    if p is None:
        return None
    arr = np.asarray(p, dtype=np.float64)
    if arr.shape != (n, k):
        raise DataFormatError(f"probabilities: expected shape ({n}, {k}), got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise DataFormatError("probabilities: contains NaN or infinite values")
    return arr


def _confusion(t: NDArray[np.intp], p: NDArray[np.intp], k: int) -> NDArray[np.int64]:
    return np.bincount(t * k + p, minlength=k * k).reshape(k, k).astype(np.int64)


def _per_class(cm: NDArray[np.int64]) -> dict[str, NDArray[np.float64]]:
    tp = np.diag(cm).astype(np.float64)
    support = cm.sum(axis=1).astype(np.float64)
    predicted = cm.sum(axis=0).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(support > 0, tp / support, 0.0)
        denom = support + predicted
        f1 = np.where(denom > 0, 2 * tp / denom, 0.0)
    return {
        "support": support,
        "predicted": predicted,
        "precision": precision,
        "recall": recall,
        "f1": f1,
    }


def _scores(
    t: NDArray[np.intp], p: NDArray[np.intp], k: int, proba: NDArray[np.float64] | None
) -> tuple[dict[str, float], dict[str, NDArray[np.float64]], NDArray[np.int64]]:
    cm = _confusion(t, p, k)
    pc = _per_class(cm)
    n = float(cm.sum())
    present = (pc["support"] > 0) | (pc["predicted"] > 0)
    in_true = pc["support"] > 0
    # quadratic weighted kappa (weights on class positions)
    idx = np.arange(k, dtype=np.float64)
    w = (idx[:, None] - idx[None, :]) ** 2
    expected = np.outer(pc["support"], pc["predicted"]) / n
    denom = float((w * expected).sum())
    kappa = 1 - float((w * cm).sum()) / denom if denom > 0 else float("nan")
    auroc_k = np.full(k, np.nan)
    if proba is not None:
        for c in range(k):
            if 0 < pc["support"][c] < n:
                auroc_k[c] = float(fast_auc(t == c, proba[:, c]))
    metrics = {
        "accuracy": float(np.trace(cm)) / n,
        "balanced_accuracy": float(pc["recall"][in_true].mean()),
        "macro_precision": float(pc["precision"][present].mean()),
        "macro_recall": float(pc["recall"][present].mean()),
        "macro_f1": float(pc["f1"][present].mean()),
        "weighted_f1": float((pc["f1"] * pc["support"]).sum() / pc["support"].sum()),
        "quadratic_kappa": kappa,
        "macro_auroc": float(np.nanmean(auroc_k)) if np.isfinite(auroc_k).any() else np.nan,
    }
    pc["auroc"] = auroc_k
    return metrics, pc, cm


def _prepare(
    y_true: ArrayLike, y_pred: ArrayLike, classes: Sequence[str], probabilities: ArrayLike | None
) -> tuple[NDArray[np.intp], NDArray[np.intp], NDArray[np.float64] | None]:
    classes = tuple(str(c) for c in classes)
    if len(classes) < 2 or len(set(classes)) != len(classes):
        raise DataFormatError("classes: need at least two unique class names")
    t = encode_labels(y_true, classes, name="y_true")
    p = encode_labels(y_pred, classes, name="y_pred")
    if t.shape != p.shape:
        raise DataFormatError(f"y_pred: expected {t.shape[0]} predictions, got {p.shape[0]}")
    if t.size == 0:
        raise DataFormatError("no samples to evaluate")
    return t, p, _probabilities(probabilities, t.shape[0], len(classes))


def multiclass_metrics(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    classes: Sequence[str],
    probabilities: ArrayLike | None = None,
) -> MulticlassReport:
    """Multi-class metrics of one classifier.

    Parameters
    ----------
    y_true, y_pred
        Shape ``(n,)``: class names (strings in ``classes``) or integer indices into it.
    classes
        Class names in order (e.g. the recipe's ``TUM FIB INF NEC NOR REA STE``).
    probabilities
        Optional ``(n, K)`` scores in ``classes`` order, for the one-vs-rest AUROC.

    Returns
    -------
    MulticlassReport
    """
    t, p, proba = _prepare(y_true, y_pred, classes, probabilities)
    names = tuple(str(c) for c in classes)
    metrics, pc, cm = _scores(t, p, len(names), proba)
    table = pd.DataFrame({"class": list(names), **{k: v for k, v in pc.items()}})
    table["support"] = table["support"].astype("int64")
    table["predicted"] = table["predicted"].astype("int64")
    return MulticlassReport(classes=names, metrics=metrics, per_class=table, confusion=cm)


def multiclass_bootstrap(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    classes: Sequence[str],
    probabilities: ArrayLike | None = None,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, ConfidenceInterval]:
    """Stratified (by true class) bootstrap CIs of every metric of :func:`multiclass_metrics`.

    Returns ``name → ConfidenceInterval`` for :data:`MULTICLASS_METRICS` (``macro_auroc``
    has NaN bounds without probabilities). Same seed → same intervals.
    """
    t, p, proba = _prepare(y_true, y_pred, classes, probabilities)
    k = len(classes)
    point, _, _ = _scores(t, p, k, proba)
    idx = stratified_resample_indices(t, t.shape[0], n_resamples=n_resamples, seed=seed)
    chunks: list[dict[str, NDArray[np.float64]]] = []
    for start in range(0, n_resamples, 128):  # chunks bound memory for large test sets
        rows = idx[start : start + 128]
        batch = _scores_batch(t[rows], p[rows], k)
        if proba is not None:
            batch["macro_auroc"] = _macro_auroc_batch(t, proba, rows, k)
        chunks.append(batch)
    return {
        m: percentile_interval(
            point[m], np.concatenate([c[m] for c in chunks]), confidence=confidence
        )
        for m in MULTICLASS_METRICS
    }


def _macro_auroc_batch(
    t: NDArray[np.intp], proba: NDArray[np.float64], rows: NDArray[np.intp], k: int
) -> NDArray[np.float64]:
    """One-vs-rest macro AUROC of each resample ``rows`` (shape ``(b, n)``) of the data."""
    per_class = np.full((rows.shape[0], k), np.nan)
    for c in range(k):
        per_class[:, c] = resampled_auc(t == c, proba[:, c], rows)
    if not np.isfinite(per_class).any():
        return np.full(rows.shape[0], np.nan)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows stay NaN
        return np.asarray(np.nanmean(per_class, axis=1), dtype=np.float64)


def _scores_batch(
    t: NDArray[np.intp], p: NDArray[np.intp], k: int
) -> dict[str, NDArray[np.float64]]:
    """:func:`_scores`' metrics for ``b`` resamples at once (``t``, ``p``: shape ``(b, n)``)."""
    b, n = t.shape
    offsets = (np.arange(b) * k * k)[:, None]
    cm = np.bincount((offsets + t * k + p).ravel(), minlength=b * k * k).reshape(b, k, k)
    cm = cm.astype(np.float64)
    tp = np.diagonal(cm, axis1=1, axis2=2)
    support = cm.sum(axis=2)
    predicted = cm.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(support > 0, tp / support, 0.0)
        denom = support + predicted
        f1 = np.where(denom > 0, 2 * tp / denom, 0.0)
    present = (support > 0) | (predicted > 0)
    in_true = support > 0

    def masked_mean(values: NDArray[np.float64], mask: NDArray[np.bool_]) -> NDArray[np.float64]:
        return np.asarray((values * mask).sum(axis=1) / mask.sum(axis=1), dtype=np.float64)

    idx = np.arange(k, dtype=np.float64)
    w = (idx[:, None] - idx[None, :]) ** 2
    expected = support[:, :, None] * predicted[:, None, :] / n
    den = (w * expected).sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        kappa = np.where(den > 0, 1 - (w * cm).sum(axis=(1, 2)) / den, np.nan)
    out = {
        "accuracy": tp.sum(axis=1) / n,
        "balanced_accuracy": masked_mean(recall, in_true),
        "macro_precision": masked_mean(precision, present),
        "macro_recall": masked_mean(recall, present),
        "macro_f1": masked_mean(f1, present),
        "weighted_f1": (f1 * support).sum(axis=1) / support.sum(axis=1),
        "quadratic_kappa": kappa,
        "macro_auroc": np.full(b, np.nan),
    }
    return out
