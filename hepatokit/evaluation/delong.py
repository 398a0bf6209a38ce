"""DeLong's test for the difference of two ROC AUCs (fast midrank algorithm).

Implements the structural components ("placements") of DeLong, DeLong & Clarke-Pearson
(1988) with the O(n log n) midrank algorithm of Sun & Xu (2014, IEEE Signal Processing
Letters 21:1389). It reproduces pROC's ``roc.test(method = "delong")``:

- paired (the same cases scored twice): ``Z = ΔAUC / sqrt(V1 + V2 - 2 C)``, p from the
  normal distribution, CI = ``ΔAUC ± z_{1-α/2} sqrt(V1 + V2 - 2 C)``;
- unpaired (independent samples): ``D = ΔAUC / sqrt(V1 + V2)``, p from Student's t with
  pROC's degrees of freedom ``(V1 + V2)² / (V1²/(N1 - 1) + V2²/(N2 - 1))``.

Covariances use the ``n - 1`` denominator, as pROC does. Identical curves (ΔAUC = 0 and
zero variance) give Z = 0 and p = 1. AUC direction: a higher score means "more likely
positive" (pROC's ``direction = "<"``); the test does not flip curves.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from hepatokit.errors import DataFormatError
from hepatokit.evaluation.binary import to_binary_labels

__all__ = [
    "DeLongResult",
    "delong_auc_variance",
    "delong_components",
    "delong_test",
    "delong_unpaired_test",
]

Alternative = Literal["two-sided", "greater", "less"]


@dataclass(frozen=True)
class DeLongResult:
    """Result of a DeLong comparison of AUC A against AUC B (fractions in [0, 1]).

    ``delta = auc_a - auc_b``; ``ci_low``/``ci_high`` bound ``delta`` (two-sided interval of
    level ``confidence``, whatever the alternative, like pROC); ``statistic`` is Z (paired)
    or D (unpaired); ``df`` is NaN for the paired test.
    """

    auc_a: float
    auc_b: float
    delta: float
    ci_low: float
    ci_high: float
    statistic: float
    p_value: float
    se: float
    alternative: str
    paired: bool
    confidence: float
    df: float = float("nan")
    n_positive: int = 0
    n_negative: int = 0

    def as_dict(self) -> dict[str, float | str | bool | int]:
        return asdict(self)


def _midrank(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """Midranks along the last axis (1-based; ties get the mean rank), Sun & Xu's step."""
    return np.asarray(stats.rankdata(x, method="average", axis=-1), dtype=np.float64)


def delong_components(
    y_true: ArrayLike, scores: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """AUCs and DeLong placements of ``k`` scorers on the same cases.

    Parameters
    ----------
    y_true
        0/1 labels, shape ``(n,)``.
    scores
        Shape ``(k, n)`` or ``(n,)``.

    Returns
    -------
    aucs : ndarray, shape (k,)
    v_pos : ndarray, shape (k, m)
        Placement of each positive among the negatives (pROC's ``X`` for cases).
    v_neg : ndarray, shape (k, n_neg)
        One minus the placement of each negative among the positives.
    """
    y = to_binary_labels(y_true).astype(bool)
    s = np.atleast_2d(np.asarray(scores, dtype=np.float64))
    if s.shape[1] != y.shape[0]:
        raise DataFormatError(f"scores: expected {y.shape[0]} values per row, got {s.shape[1]}")
    if not np.all(np.isfinite(s)):
        raise DataFormatError("scores: contains NaN or infinite values")
    m = int(y.sum())
    n = int(y.shape[0] - m)
    if m == 0 or n == 0:
        raise DataFormatError(
            "DeLong needs at least one positive and one negative case",
            hint="this cohort has a single class; the AUC is undefined",
        )
    pos = s[:, y]
    neg = s[:, ~y]
    tx = _midrank(pos)
    ty = _midrank(neg)
    tz = _midrank(np.concatenate([pos, neg], axis=1))
    aucs = (tz[:, :m].sum(axis=1) - m * (m + 1) / 2) / (m * n)
    v_pos = (tz[:, :m] - tx) / n
    v_neg = 1.0 - (tz[:, m:] - ty) / m
    return aucs, v_pos, v_neg


def _covariance(v: NDArray[np.float64]) -> NDArray[np.float64]:
    if v.shape[1] < 2:
        return np.zeros((v.shape[0], v.shape[0]))
    return np.atleast_2d(np.cov(v, ddof=1))


def delong_auc_variance(y_true: ArrayLike, scores: ArrayLike) -> tuple[float, float]:
    """AUC and its DeLong variance for one scorer (pROC's ``var(roc, method="delong")``)."""
    aucs, v_pos, v_neg = delong_components(y_true, scores)
    var = _covariance(v_pos)[0, 0] / v_pos.shape[1] + _covariance(v_neg)[0, 0] / v_neg.shape[1]
    return float(aucs[0]), float(var)


def _p_value(stat: float, alternative: Alternative, df: float | None = None) -> float:
    dist = stats.norm if df is None else stats.t(df)
    if alternative == "two-sided":
        return float(2 * dist.sf(abs(stat)))
    if alternative == "greater":
        return float(dist.sf(stat))
    if alternative == "less":
        return float(dist.cdf(stat))
    raise DataFormatError(
        f"alternative must be 'two-sided', 'greater' or 'less', got {alternative!r}"
    )


def _ratio(delta: float, var: float) -> float:
    """``delta / sqrt(var)`` with the 0/0 case (identical curves) defined as 0."""
    if var <= 0 or not np.isfinite(var):
        if abs(delta) < 1e-15:
            return 0.0
        return float(np.sign(delta) * np.inf)
    return float(delta / np.sqrt(var))


def delong_test(
    y_true: ArrayLike,
    scores_a: ArrayLike,
    scores_b: ArrayLike,
    *,
    alternative: Alternative = "two-sided",
    confidence: float = 0.95,
) -> DeLongResult:
    """Paired DeLong test: do two scorers of the same cases have different AUCs?

    Parameters
    ----------
    y_true
        0/1 labels of the ``n`` cases, shape ``(n,)``.
    scores_a, scores_b
        Scores of the two methods (or a method and a reader), shape ``(n,)``, aligned by case;
        higher = more likely positive.
    alternative
        ``"two-sided"``, ``"greater"`` (AUC A > AUC B) or ``"less"``.
    confidence
        Level of the CI of ``delta``.
    """
    if not 0 < confidence < 1:
        raise DataFormatError(f"confidence must be in (0, 1), got {confidence}")
    a = np.asarray(scores_a, dtype=np.float64)
    b = np.asarray(scores_b, dtype=np.float64)
    if a.shape != b.shape:
        raise DataFormatError(f"paired DeLong: score shapes differ ({a.shape} vs {b.shape})")
    aucs, v_pos, v_neg = delong_components(y_true, np.vstack([a, b]))
    m, n = v_pos.shape[1], v_neg.shape[1]
    cov = _covariance(v_pos) / m + _covariance(v_neg) / n
    var = float(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    delta = float(aucs[0] - aucs[1])
    if var < 0 and var > -1e-15:  # round-off of identical curves
        var = 0.0
    se = float(np.sqrt(max(var, 0.0)))
    z = _ratio(delta, var)
    p = 1.0 if z == 0.0 and alternative == "two-sided" else _p_value(z, alternative)
    q = float(stats.norm.ppf(1 - (1 - confidence) / 2))
    return DeLongResult(
        auc_a=float(aucs[0]),
        auc_b=float(aucs[1]),
        delta=delta,
        ci_low=delta - q * se,
        ci_high=delta + q * se,
        statistic=z,
        p_value=p,
        se=se,
        alternative=alternative,
        paired=True,
        confidence=confidence,
        n_positive=m,
        n_negative=n,
    )


def delong_unpaired_test(
    y_true_a: ArrayLike,
    scores_a: ArrayLike,
    y_true_b: ArrayLike,
    scores_b: ArrayLike,
    *,
    alternative: Alternative = "two-sided",
    confidence: float = 0.95,
) -> DeLongResult:
    """Unpaired DeLong test of two AUCs measured on independent samples (pROC's ``D``).

    The CI of ``delta`` uses the t quantile with the same degrees of freedom as the test.
    """
    if not 0 < confidence < 1:
        raise DataFormatError(f"confidence must be in (0, 1), got {confidence}")
    auc_a, var_a = delong_auc_variance(y_true_a, scores_a)
    auc_b, var_b = delong_auc_variance(y_true_b, scores_b)
    n_a = np.asarray(y_true_a).shape[0]
    n_b = np.asarray(y_true_b).shape[0]
    var = var_a + var_b
    delta = auc_a - auc_b
    stat = _ratio(delta, var)
    denom = var_a**2 / (n_a - 1) + var_b**2 / (n_b - 1)
    df = float(var**2 / denom) if denom > 0 else float("inf")
    if stat == 0.0 and alternative == "two-sided":
        p = 1.0
    else:
        p = _p_value(stat, alternative, df if np.isfinite(df) else None)
    q = float(stats.t.ppf(1 - (1 - confidence) / 2, df)) if np.isfinite(df) else 1.959963984540054
    se = float(np.sqrt(var))
    y_a = to_binary_labels(y_true_a)
    return DeLongResult(
        auc_a=auc_a,
        auc_b=auc_b,
        delta=delta,
        ci_low=delta - q * se,
        ci_high=delta + q * se,
        statistic=stat,
        p_value=p,
        se=se,
        alternative=alternative,
        paired=False,
        confidence=confidence,
        df=df,
        n_positive=int(y_a.sum()),
        n_negative=int(y_a.size - y_a.sum()),
    )
