"""Stratified, seeded bootstrap confidence intervals.

Cases are resampled with replacement *within each stratum* (by default the true class), so
every resample keeps the class counts of the data and class-conditional metrics (AUC,
sensitivity, per-class recall) stay defined. The interval is the percentile interval of the
resampled statistic, widened if needed so that it always contains the point estimate (the
percentile interval of a skewed statistic can miss it by a hair). The same seed gives the
same resamples, hence the same interval, on every machine (numpy's PCG64).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from hepatokit.errors import DataFormatError
from hepatokit.evaluation.binary import (
    BINARY_METRICS,
    binary_metrics,
    binary_rates_batch,
    resampled_auc,
    to_binary_labels,
)

__all__ = [
    "ConfidenceInterval",
    "binary_bootstrap",
    "bootstrap_ci",
    "percentile_interval",
    "stratified_resample_indices",
]


@dataclass(frozen=True)
class ConfidenceInterval:
    """A point estimate with its bootstrap interval ``[low, high]`` (same units)."""

    estimate: float
    low: float
    high: float
    confidence: float = 0.95
    n_resamples: int = 0

    def as_dict(self) -> dict[str, float]:
        return {k: float(v) for k, v in asdict(self).items()}

    def covers(self, value: float) -> bool:
        return bool(self.low <= value <= self.high)


def stratified_resample_indices(
    strata: ArrayLike | None, n: int, *, n_resamples: int, seed: int
) -> NDArray[np.intp]:
    """Indices of ``n_resamples`` stratified bootstrap resamples, shape ``(n_resamples, n)``.

    ``strata`` (shape ``(n,)``, any hashable values) or None for plain resampling. Column
    order groups the strata (sorted by value), which no metric here depends on.
    """
    if n_resamples < 1:
        raise DataFormatError(f"n_resamples must be >= 1, got {n_resamples}")
    rng = np.random.default_rng(seed)
    if strata is None:
        return rng.integers(0, n, size=(n_resamples, n))
    s = np.asarray(strata)
    if s.shape != (n,):
        raise DataFormatError(f"strata: expected shape ({n},), got {s.shape}")
    _, codes = np.unique(s, return_inverse=True)
    blocks = []
    for code in range(int(codes.max(initial=-1)) + 1):
        members = np.flatnonzero(codes == code)
        blocks.append(members[rng.integers(0, members.size, size=(n_resamples, members.size))])
    return np.concatenate(blocks, axis=1) if blocks else np.zeros((n_resamples, 0), np.intp)


def percentile_interval(
    estimate: float, replicates: ArrayLike, *, confidence: float = 0.95
) -> ConfidenceInterval:
    """Percentile interval of ``replicates`` (NaN replicates ignored), containing ``estimate``."""
    if not 0 < confidence < 1:
        raise DataFormatError(f"confidence must be in (0, 1), got {confidence}")
    reps = np.asarray(replicates, dtype=np.float64).reshape(-1)
    finite = reps[np.isfinite(reps)]
    if finite.size == 0 or not np.isfinite(estimate):
        return ConfidenceInterval(float(estimate), float("nan"), float("nan"), confidence, 0)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(finite, [alpha, 1 - alpha])
    return ConfidenceInterval(
        estimate=float(estimate),
        low=float(min(low, estimate)),
        high=float(max(high, estimate)),
        confidence=confidence,
        n_resamples=int(finite.size),
    )


def bootstrap_ci(
    statistic: Callable[..., Mapping[str, float] | float],
    *arrays: ArrayLike,
    strata: ArrayLike | None = None,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, ConfidenceInterval]:
    """Stratified bootstrap CI of any statistic of paired arrays.

    Parameters
    ----------
    statistic
        ``statistic(*arrays)`` → a float or a mapping ``name → float``. Called once on the
        data (the point estimate) and once per resample with every array indexed by the
        same resampled rows (axis 0).
    *arrays
        Arrays with the same first dimension ``n`` (labels, predictions, probabilities...).
    strata
        Shape ``(n,)``; resample within each stratum (usually ``y_true``). None: plain.
    n_resamples, confidence, seed
        Number of resamples, interval level, and the seed (same seed → same interval).

    Returns
    -------
    dict
        ``name → ConfidenceInterval`` (a float statistic is returned under ``"statistic"``).
    """
    if not arrays:
        raise DataFormatError("bootstrap_ci needs at least one array")
    data = [np.asarray(a) for a in arrays]
    n = data[0].shape[0]
    if any(a.shape[0] != n for a in data):
        raise DataFormatError("bootstrap_ci: all arrays need the same first dimension")

    def as_mapping(value: Mapping[str, float] | float) -> dict[str, float]:
        if isinstance(value, Mapping):
            return {str(k): float(v) for k, v in value.items()}
        return {"statistic": float(value)}

    point = as_mapping(statistic(*data))
    idx = stratified_resample_indices(strata, n, n_resamples=n_resamples, seed=seed)
    reps: dict[str, list[float]] = {k: [] for k in point}
    for row in idx:
        value = as_mapping(statistic(*(a[row] for a in data)))
        for k in point:
            reps[k].append(value.get(k, float("nan")))
    return {k: percentile_interval(point[k], reps[k], confidence=confidence) for k in point}


def binary_bootstrap(
    y_true: ArrayLike,
    scores: ArrayLike,
    *,
    threshold: float = 0.5,
    y_pred: ArrayLike | None = None,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, ConfidenceInterval]:
    """Stratified bootstrap CIs of every metric of :func:`binary_metrics` (vectorised).

    Same arguments as :func:`binary_metrics` plus the bootstrap settings; resamples are
    stratified by ``y_true``. Returns ``name → ConfidenceInterval`` for the names in
    :data:`~hepatokit.evaluation.binary.BINARY_METRICS` (fractions in [0, 1]).
    """
    y = to_binary_labels(y_true)
    s = np.asarray(scores, dtype=np.float64)
    point = binary_metrics(y, s, threshold=threshold, y_pred=y_pred)
    pred = (s >= threshold) if y_pred is None else to_binary_labels(y_pred, name="y_pred")
    idx = stratified_resample_indices(y, y.shape[0], n_resamples=n_resamples, seed=seed)
    reps: dict[str, Any] = {k: [] for k in BINARY_METRICS}
    for start in range(0, n_resamples, 256):  # chunks bound memory for large cohorts
        rows = idx[start : start + 256]
        batch = binary_rates_batch(y[rows], pred[rows])
        batch["AUC"] = resampled_auc(y, s, rows)
        for k in BINARY_METRICS:
            reps[k].append(batch[k])
    return {
        k: percentile_interval(point[k], np.concatenate(reps[k]), confidence=confidence)
        for k in BINARY_METRICS
    }
