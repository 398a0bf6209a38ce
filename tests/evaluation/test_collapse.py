"""Majority-collapse flag and the ACC-vs-AUC pattern of a results table."""

from __future__ import annotations

import numpy as np

from hepatokit.evaluation import collapse_flag, collapse_pattern, roc_auc


def test_all_majority_predictions_are_flagged():
    rng = np.random.default_rng(0)
    y = np.array([1] * 65 + [0] * 5)  # the OOD Subtask-2 cohort: 92.86 % positive
    scores = rng.random(70)
    flag = collapse_flag(y, np.ones(70, dtype=int), auc=roc_auc(y, scores))
    assert flag.collapsed
    assert flag.acc == flag.majority_rate == 65 / 70
    assert any(r.startswith("one_class") for r in flag.reasons)


def test_majority_rate_rule_alone():
    y = np.array([1] * 90 + [0] * 10)
    # 92 % predicted positive (below the 95 % share rule), ACC 94 % ≥ majority rate 90 %
    pred = np.array([1] * 88 + [0] * 2 + [1] * 4 + [0] * 6)
    flag = collapse_flag(y, pred, auc=0.52)
    assert flag.collapsed and [r.split(":")[0] for r in flag.reasons] == ["majority_rate"]
    assert not collapse_flag(y, pred, auc=0.85).collapsed


def test_a_good_classifier_is_not_flagged():
    y = np.array([1] * 40 + [0] * 30)
    pred = y.copy()
    pred[:5] = 0
    assert not collapse_flag(y, pred, auc=0.93).collapsed


def test_results_table_pattern():
    # the seed's trap: ResNet3D Contrast/OOD/2 ACC 92.86 % with AUC 54.77 %
    assert collapse_pattern(0.9286, 0.5477)
    assert collapse_pattern(0.9286, 0.5477, majority_rate=0.9286)[-1].startswith("majority_rate")
    assert not collapse_pattern(0.9143, 0.7969)  # UoB: high ACC with a real ranking
    assert not collapse_pattern(0.55, 0.52)  # poor, but not a majority pattern
