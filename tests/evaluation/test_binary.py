"""Binary metrics: AUC against scikit-learn, thresholded metrics on hand-made cases."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from sklearn.metrics import roc_auc_score

from hepatokit.errors import DataFormatError
from hepatokit.evaluation import binary_metrics, fast_auc, majority_rate, roc_auc
from hepatokit.evaluation.binary import resampled_auc


def test_hand_made_confusion():
    y = np.array([1, 1, 1, 0, 0, 0, 0, 0])
    s = np.array([0.9, 0.6, 0.4, 0.5, 0.2, 0.1, 0.3, 0.45])
    m = binary_metrics(y, s)  # predicted positive: 0.9, 0.6, 0.5 → TP 2, FP 1, TN 4, FN 1
    assert m["ACC"] == pytest.approx(6 / 8)
    assert m["sensitivity"] == pytest.approx(2 / 3)
    assert m["specificity"] == pytest.approx(4 / 5)
    assert m["balanced_accuracy"] == pytest.approx((2 / 3 + 4 / 5) / 2)
    assert m["AUC"] == pytest.approx(roc_auc_score(y, s))
    assert m["predicted_positive_rate"] == pytest.approx(3 / 8)
    # explicit predictions override the threshold; the threshold is inclusive
    assert binary_metrics(y, s, y_pred=np.zeros(8))["ACC"] == pytest.approx(5 / 8)
    assert binary_metrics(y, s, threshold=0.6)["sensitivity"] == pytest.approx(2 / 3)
    assert binary_metrics(y, s, threshold=0.61)["sensitivity"] == pytest.approx(1 / 3)


def test_single_class_auc_is_nan_and_bad_labels_error():
    assert np.isnan(roc_auc(np.ones(4), np.arange(4.0)))
    assert np.isnan(binary_metrics(np.ones(4), np.arange(4.0))["specificity"])
    with pytest.raises(DataFormatError, match="0/1"):
        binary_metrics(np.array([0, 2, 1]), np.array([0.1, 0.2, 0.3]))
    with pytest.raises(DataFormatError, match="NaN"):
        binary_metrics(np.array([0, 1]), np.array([0.1, np.nan]))
    assert majority_rate(np.array([1, 1, 1, 0])) == pytest.approx(0.75)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 5)), min_size=2, max_size=80))
def test_auc_matches_sklearn_with_ties(rows):
    y = np.array([r[0] for r in rows], dtype=int)
    if y.min() == y.max():
        y[0] = 1 - y[0]
    s = np.array([r[1] for r in rows], dtype=float) / 5
    expected = roc_auc_score(y, s)
    assert roc_auc(y, s) == pytest.approx(expected, abs=1e-12)
    assert fast_auc(y, s) == pytest.approx(expected, abs=1e-12)


def test_fast_auc_batches_rows():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, size=(5, 30))
    s = rng.random((5, 30))
    batch = fast_auc(y, s)
    assert batch.shape == (5,)
    for i in range(5):
        assert batch[i] == pytest.approx(roc_auc_score(y[i], s[i]))


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(st.booleans(), st.integers(0, 4)), min_size=2, max_size=40),
    st.integers(0, 1000),
)
def test_resampled_auc_equals_auc_of_the_resample(rows, seed):
    y = np.array([r[0] for r in rows], dtype=int)
    s = np.array([r[1] for r in rows], dtype=float)
    idx = np.random.default_rng(seed).integers(0, y.size, size=(6, y.size))
    expected = fast_auc(y[idx], s[idx])
    np.testing.assert_allclose(resampled_auc(y, s, idx), expected, atol=1e-12, equal_nan=True)
