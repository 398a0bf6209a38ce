"""Stratified bootstrap: reproducible with the seed, covering the estimate, stratified."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from hepatokit.evaluation import (
    BINARY_METRICS,
    binary_bootstrap,
    binary_metrics,
    bootstrap_ci,
    multiclass_bootstrap,
    multiclass_metrics,
    stratified_resample_indices,
)

CLASSES = ["A", "B", "C"]


def _binary(n=120, seed=0):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(int)
    s = np.clip(0.3 * y + 0.7 * rng.random(n), 0, 1)
    return y, s


def test_binary_bootstrap_is_reproducible_and_covers():
    y, s = _binary()
    a = binary_bootstrap(y, s, n_resamples=300, seed=7)
    b = binary_bootstrap(y, s, n_resamples=300, seed=7)
    c = binary_bootstrap(y, s, n_resamples=300, seed=8)
    point = binary_metrics(y, s)
    assert set(a) == set(BINARY_METRICS)
    for k in BINARY_METRICS:
        assert a[k] == b[k]
        assert a[k].covers(point[k])
        assert a[k].low < a[k].high
    assert any(a[k].low != c[k].low for k in BINARY_METRICS)


def test_resampling_keeps_the_class_counts():
    y = np.array([0] * 17 + [1] * 5)
    idx = stratified_resample_indices(y, y.size, n_resamples=50, seed=0)
    assert idx.shape == (50, 22)
    assert np.all(y[idx].sum(axis=1) == 5)


def test_generic_bootstrap_matches_vectorised_binary():
    y, s = _binary(seed=2)

    def stat(yy, ss):
        return {k: v for k, v in binary_metrics(yy, ss).items() if k in BINARY_METRICS}

    generic = bootstrap_ci(stat, y, s, strata=y, n_resamples=200, seed=3)
    fast = binary_bootstrap(y, s, n_resamples=200, seed=3)
    for k in BINARY_METRICS:
        assert generic[k].low == pytest.approx(fast[k].low, abs=1e-12)
        assert generic[k].high == pytest.approx(fast[k].high, abs=1e-12)
    mean_ci = bootstrap_ci(np.mean, s, n_resamples=100, seed=0)["statistic"]
    assert mean_ci.covers(float(np.mean(s)))


def test_multiclass_bootstrap_reproducible():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 150)
    pred = np.where(rng.random(150) < 0.7, y, rng.integers(0, 3, 150))
    proba = rng.dirichlet(np.ones(3), 150)
    a = multiclass_bootstrap(y, pred, classes=CLASSES, probabilities=proba, n_resamples=100, seed=1)
    b = multiclass_bootstrap(y, pred, classes=CLASSES, probabilities=proba, n_resamples=100, seed=1)
    point = multiclass_metrics(y, pred, classes=CLASSES, probabilities=proba).metrics
    for k, ci in a.items():
        assert ci == b[k]
        assert ci.covers(point[k]), k


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.tuples(st.booleans(), st.floats(0, 1)), min_size=4, max_size=40), st.integers(0, 99)
)
def test_intervals_always_contain_the_estimate(rows, seed):
    y = np.array([r[0] for r in rows], dtype=int)
    y[0], y[1] = 0, 1
    s = np.array([r[1] for r in rows])
    point = binary_metrics(y, s)
    for k, ci in binary_bootstrap(y, s, n_resamples=30, seed=seed).items():
        assert ci.covers(point[k]), k


def test_vectorised_multiclass_bootstrap_equals_the_generic_loop():
    rng = np.random.default_rng(4)
    y = rng.integers(0, 3, 90)
    pred = np.where(rng.random(90) < 0.6, y, rng.integers(0, 3, 90))
    proba = rng.dirichlet(np.ones(3), 90)
    fast = multiclass_bootstrap(
        y, pred, classes=CLASSES, probabilities=proba, n_resamples=150, seed=9
    )
    generic = bootstrap_ci(
        lambda t, p, pr: multiclass_metrics(t, p, classes=CLASSES, probabilities=pr).metrics,
        y,
        pred,
        proba,
        strata=y,
        n_resamples=150,
        seed=9,
    )
    for k, ci in fast.items():
        assert ci.low == pytest.approx(generic[k].low, abs=1e-12), k
        assert ci.high == pytest.approx(generic[k].high, abs=1e-12), k
