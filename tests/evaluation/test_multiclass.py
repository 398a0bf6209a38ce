"""Multi-class metrics against scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from hepatokit.errors import DataFormatError
from hepatokit.evaluation import MULTICLASS_METRICS, multiclass_metrics

CLASSES = ["TUM", "FIB", "INF", "NEC", "NOR", "REA", "STE"]


def _data(n: int = 400, seed: int = 0, k: int = 7):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    pred = np.where(rng.random(n) < 0.6, y, rng.integers(0, k, n))
    proba = rng.dirichlet(np.ones(k), n)
    proba[np.arange(n), pred] += 1.0
    proba /= proba.sum(axis=1, keepdims=True)
    return y, pred, proba


def test_every_metric_matches_sklearn():
    y, pred, proba = _data()
    names = np.array(CLASSES)
    r = multiclass_metrics(names[y], names[pred], classes=CLASSES, probabilities=proba)
    assert set(r.metrics) == set(MULTICLASS_METRICS)
    labels = list(range(7))
    expected = {
        "accuracy": skm.accuracy_score(y, pred),
        "balanced_accuracy": skm.balanced_accuracy_score(y, pred),
        "macro_precision": skm.precision_score(y, pred, average="macro"),
        "macro_recall": skm.recall_score(y, pred, average="macro"),
        "macro_f1": skm.f1_score(y, pred, average="macro"),
        "weighted_f1": skm.f1_score(y, pred, average="weighted"),
        "quadratic_kappa": skm.cohen_kappa_score(y, pred, weights="quadratic", labels=labels),
        "macro_auroc": skm.roc_auc_score(y, proba, multi_class="ovr", average="macro"),
    }
    for k, v in expected.items():
        assert r.metrics[k] == pytest.approx(v, abs=1e-12), k
    np.testing.assert_array_equal(r.confusion, skm.confusion_matrix(y, pred, labels=labels))
    f1 = skm.f1_score(y, pred, average=None, labels=labels)
    np.testing.assert_allclose(r.per_class["f1"], f1, atol=1e-12)
    assert r.per_class["support"].sum() == len(y)
    assert list(r.per_class["class"]) == CLASSES


def test_absent_class_follows_sklearn_defaults():
    y, pred, _ = _data(n=200, seed=3, k=5)  # classes REA and STE never occur
    r = multiclass_metrics(y, pred, classes=CLASSES)
    assert r.metrics["macro_f1"] == pytest.approx(skm.f1_score(y, pred, average="macro"))
    assert r.metrics["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, pred))
    assert np.isnan(r.metrics["macro_auroc"])  # no probabilities
    assert r.per_class.loc[r.per_class["class"] == "STE", "support"].item() == 0


def test_perfect_and_unknown_classes():
    y = np.array(["TUM", "FIB", "INF", "TUM"])
    r = multiclass_metrics(y, y, classes=CLASSES)
    assert r.metrics["accuracy"] == 1.0 and r.metrics["quadratic_kappa"] == 1.0
    with pytest.raises(DataFormatError, match="unknown class 'XYZ'"):
        multiclass_metrics(y, np.array(["TUM", "FIB", "XYZ", "TUM"]), classes=CLASSES)
    with pytest.raises(DataFormatError, match="shape"):
        multiclass_metrics(y, y, classes=CLASSES, probabilities=np.ones((4, 3)))
