"""Report figures (matplotlib, Agg backend, written atomically; same data → same PNG bytes).

- :func:`roc_curves`: ROC curves of methods (and reader operating curves) in one cell;
- :func:`auc_strip`: AUC of every method vs readers per cell (the LiFS paper's Fig. 3);
- :func:`id_ood_slope`: aggregate ID → OOD per method (Fig. 4a);
- :func:`acc_vs_auc`: ACC against AUC, collapsed cells highlighted (Fig. 4b);
- :func:`factor_groups`: mean ± SD of ID score and drop per design factor (Fig. 4d);
- :func:`confusion_matrix`: row-normalised confusion matrix with counts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from hepatokit.atomic import atomic_path
from hepatokit.evaluation.tables import table_rows

__all__ = [
    "acc_vs_auc",
    "auc_strip",
    "confusion_matrix",
    "factor_groups",
    "id_ood_slope",
    "roc_curves",
]

_METADATA = {"Software": None}


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: str | Path) -> Path:
    plt = _pyplot()
    target = Path(path)
    with atomic_path(target, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110, format="png", metadata=_METADATA, bbox_inches="tight")
    plt.close(fig)
    return target


def roc_curves(
    curves: Mapping[str, tuple[NDArray[np.float64], NDArray[np.float64], float]],
    path: str | Path,
    *,
    title: str,
    readers: Mapping[str, tuple[NDArray[np.float64], NDArray[np.float64], float]] | None = None,
) -> Path:
    """ROC curves: ``name → (fpr, tpr, auc)`` for methods (lines) and readers (dashed)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], color="0.7", lw=1, ls=":")
    for name, (fpr, tpr, auc) in curves.items():
        ax.plot(fpr, tpr, lw=1.5, label=f"{name} ({auc:.3f})")
    for name, (fpr, tpr, auc) in (readers or {}).items():
        ax.plot(fpr, tpr, lw=1.5, ls="--", marker="o", ms=3, label=f"{name} ({auc:.3f})")
    ax.set(xlabel="1 − specificity", ylabel="sensitivity", title=title, xlim=(0, 1), ylim=(0, 1))
    ax.legend(fontsize=7, loc="lower right")
    return _save(fig, path)


def auc_strip(points: pd.DataFrame, path: str | Path) -> Path:
    """AUC strip plot per cell. ``points``: ``cell, name, kind (method|reader), AUC`` (%)."""
    plt = _pyplot()
    cells = list(dict.fromkeys(points["cell"]))
    fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(cells)), 4))
    rng = np.random.default_rng(0)
    for i, cell in enumerate(cells):
        sub = points[points["cell"] == cell]
        methods = sub[sub["kind"] == "method"]
        jitter = rng.uniform(-0.15, 0.15, len(methods))
        ax.scatter(
            i + jitter,
            methods["AUC"],
            s=18,
            color="tab:blue",
            alpha=0.8,
            label="methods" if i == 0 else None,
        )
        if len(methods):
            ax.hlines(np.median(methods["AUC"]), i - 0.3, i + 0.3, color="tab:blue", lw=1)
        rd = sub[sub["kind"] == "reader"]
        ax.scatter(
            np.full(len(rd), i + 0.3),
            rd["AUC"],
            marker="D",
            s=26,
            color="tab:red",
            label="readers" if i == 0 and len(rd) else None,
        )
    ax.axhline(50, color="0.7", lw=1, ls=":")
    ax.set_xticks(range(len(cells)), cells, rotation=35, ha="right", fontsize=8)
    ax.set_ylabel("AUC (%)")
    ax.set_title("AUC per cell: methods vs readers")
    if len(points):
        ax.legend(fontsize=8)
    return _save(fig, path)


def id_ood_slope(aggregates: pd.DataFrame, path: str | Path) -> Path:
    """Slope chart of the aggregate score ID → OOD. ``aggregates``: ``method, ID, OOD``."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 5))
    for r in table_rows(aggregates):
        if not (np.isfinite(r.ID) and np.isfinite(r.OOD)):
            continue
        baseline = not getattr(r, "in_cohort", True)  # organisers' baselines: dashed
        ax.plot([0, 1], [r.ID, r.OOD], marker="o", lw=1.2, ls="--" if baseline else "-")
        ax.annotate(
            str(r.method),
            (1, r.OOD),
            xytext=(4, 0),
            textcoords="offset points",
            fontsize=7,
            va="center",
        )
    ax.set_xticks([0, 1], ["ID", "OOD"])
    ax.set_xlim(-0.2, 1.4)
    ax.set_ylabel("aggregate score (%)")
    ax.set_title("In-distribution → out-of-distribution")
    return _save(fig, path)


def acc_vs_auc(
    results: pd.DataFrame, path: str | Path, *, collapsed: pd.DataFrame | None = None
) -> Path:
    """ACC vs AUC of every method × cell; collapsed points circled in red."""
    plt = _pyplot()
    wide = results[results["metric"].isin(["ACC", "AUC"])].pivot_table(
        index=["method", "setting", "domain", "subtask"], columns="metric", values="value"
    )
    fig, ax = plt.subplots(figsize=(5.5, 5))
    if {"ACC", "AUC"} <= set(wide.columns):
        flat = wide.reset_index()
        for domain, marker in (("ID", "o"), ("OOD", "s")):
            sub = flat[flat["domain"] == domain]
            ax.scatter(sub["AUC"], sub["ACC"], marker=marker, s=20, alpha=0.75, label=domain)
        if collapsed is not None and not collapsed.empty:
            ax.scatter(
                collapsed["AUC"],
                collapsed["ACC"],
                s=90,
                facecolors="none",
                edgecolors="tab:red",
                lw=1.5,
                label="collapse pattern",
            )
    ax.plot([0, 100], [0, 100], color="0.7", lw=1, ls=":")
    ax.axvline(50, color="0.8", lw=1, ls="--")
    ax.set(xlabel="AUC (%)", ylabel="ACC (%)", title="ACC vs AUC")
    ax.legend(fontsize=8)
    return _save(fig, path)


def factor_groups(groups: pd.DataFrame, path: str | Path) -> Path:
    """Bars of mean ± SD per factor level, ID score and OOD drop side by side."""
    plt = _pyplot()
    groups = groups[groups["n"] > 0]
    labels = list(dict.fromkeys(f"{r.factor}={r.level}" for r in table_rows(groups)))
    fig, axes = plt.subplots(1, 2, figsize=(10, max(3, 0.35 * len(labels) + 1)), sharey=True)
    for ax, quantity in zip(axes, ("ID", "OOD drop"), strict=True):
        sub = groups[groups["quantity"] == quantity]
        pos = {lab: i for i, lab in enumerate(labels)}
        ys = [pos[f"{r.factor}={r.level}"] for r in table_rows(sub)]
        ax.barh(
            ys,
            sub["mean"],
            xerr=np.nan_to_num(sub["sd"].to_numpy(dtype=float)),
            color="tab:blue" if quantity == "ID" else "tab:orange",
            alpha=0.8,
        )
        ax.set_yticks(range(len(labels)), labels, fontsize=8)
        ax.set_xlabel(f"{quantity} (%)")
    fig.suptitle("Design factors: mean ± SD")
    return _save(fig, path)


def confusion_matrix(
    confusion: NDArray[np.int64], classes: Sequence[str], path: str | Path, *, title: str
) -> Path:
    """Confusion matrix (rows true, columns predicted), colour = row-normalised recall."""
    plt = _pyplot()
    cm = np.asarray(confusion, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        norm = np.nan_to_num(cm / cm.sum(axis=1, keepdims=True))
    k = len(classes)
    fig, ax = plt.subplots(figsize=(1.0 + 0.7 * k, 0.8 + 0.7 * k))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for i in range(k):
        for j in range(k):
            ax.text(
                j,
                i,
                f"{int(cm[i, j])}",
                ha="center",
                va="center",
                fontsize=7,
                color="white" if norm[i, j] > 0.6 else "black",
            )
    ax.set_xticks(range(k), list(classes), rotation=45, ha="right")
    ax.set_yticks(range(k), list(classes))
    ax.set(xlabel="predicted", ylabel="true", title=title)
    return _save(fig, path)
