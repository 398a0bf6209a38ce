"""Majority-collapse detection: a classifier that (almost) always predicts one class.

On an imbalanced test set such a classifier gets a high accuracy for free: the LiFS
out-of-distribution Subtask 2 cohort is 92.86 % significant fibrosis, so predicting
"significant" for everyone scores ACC 92.86 % with an AUC near 50 %. A leaderboard that
ranks by ACC alone rewards it; the flag makes it visible.

Two rules, either one flags:

1. ``one_class``: the most frequent predicted class covers at least ``share_threshold``
   (default 95 %) of the cases;
2. ``majority_rate``: ACC is within ``acc_tolerance`` (2 points) of the majority-class rate
   (or above it) while the AUC is within ``auc_tolerance`` (0.10) of 0.5.

Without the labels (a published results table), :func:`collapse_pattern` uses the pattern
that remains visible in the table: AUC within ``auc_tolerance`` of chance (or below it)
while ACC exceeds the AUC by at least ``gap`` (25 points), optionally with rule 2 when the
majority rate of the cell is known.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
from numpy.typing import ArrayLike

from hepatokit.evaluation.binary import to_binary_labels

__all__ = ["CollapseFlag", "collapse_flag", "collapse_pattern"]


@dataclass(frozen=True)
class CollapseFlag:
    """Whether a binary classifier collapsed onto one class, and why (fractions in [0, 1])."""

    collapsed: bool
    reasons: list[str] = field(default_factory=list)
    majority_rate: float = float("nan")
    predicted_share: float = float("nan")
    acc: float = float("nan")
    auc: float = float("nan")

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def collapse_flag(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    auc: float | None = None,
    share_threshold: float = 0.95,
    acc_tolerance: float = 0.02,
    auc_tolerance: float = 0.10,
) -> CollapseFlag:
    """Flag majority collapse of binary predictions.

    Parameters
    ----------
    y_true, y_pred
        0/1 labels and 0/1 predictions, shape ``(n,)``.
    auc
        The classifier's AUC (fraction); rule 2 needs it (skipped when None or NaN).
    share_threshold, acc_tolerance, auc_tolerance
        The thresholds of the two rules (see the module docstring).
    """
    y = to_binary_labels(y_true)
    pred = to_binary_labels(y_pred, name="y_pred")
    n = y.size
    if n == 0:
        return CollapseFlag(collapsed=False)
    pos_rate = float(y.mean())
    majority = max(pos_rate, 1 - pos_rate)
    pred_pos = float(pred.mean())
    share = max(pred_pos, 1 - pred_pos)
    acc = float((y == pred).mean())
    reasons: list[str] = []
    if share >= share_threshold:
        label = 1 if pred_pos >= 0.5 else 0
        reasons.append(f"one_class: predicts class {label} for {share:.1%} of cases")
    auc_value = float("nan") if auc is None else float(auc)
    if (
        np.isfinite(auc_value)
        and acc >= majority - acc_tolerance
        and abs(auc_value - 0.5) <= auc_tolerance
    ):
        reasons.append(
            f"majority_rate: ACC {acc:.2%} ≈ majority-class rate {majority:.2%} "
            f"with AUC {auc_value:.2%}"
        )
    return CollapseFlag(
        collapsed=bool(reasons),
        reasons=reasons,
        majority_rate=majority,
        predicted_share=share,
        acc=acc,
        auc=auc_value,
    )


def collapse_pattern(
    acc: float,
    auc: float,
    *,
    majority_rate: float | None = None,
    gap: float = 0.25,
    auc_tolerance: float = 0.10,
    acc_tolerance: float = 0.02,
) -> list[str]:
    """Reasons a (ACC, AUC) pair from a results table looks collapsed; empty if it does not.

    All values are fractions in [0, 1] (divide percentages by 100).
    """
    reasons: list[str] = []
    if not (np.isfinite(acc) and np.isfinite(auc)):
        return reasons
    if auc <= 0.5 + auc_tolerance and acc - auc >= gap:
        reasons.append(
            f"acc_auc_gap: ACC {acc:.2%} vs AUC {auc:.2%} (ranking no better than chance)"
        )
    if (
        majority_rate is not None
        and np.isfinite(majority_rate)
        and acc >= majority_rate - acc_tolerance
        and abs(auc - 0.5) <= auc_tolerance
    ):
        reasons.append(f"majority_rate: ACC {acc:.2%} ≈ majority-class rate {majority_rate:.2%}")
    return reasons
