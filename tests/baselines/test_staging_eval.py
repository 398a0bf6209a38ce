"""Selecting the best staging epoch: mean validation AUC, validation loss breaks ties."""

import math

import pytest

from hepatokit.baselines.staging_eval import selection_score


def _m(loss, auc4, auc_sig):
    return {"val_loss": loss, "val_auc_cirrhosis": auc4, "val_auc_significant_fibrosis": auc_sig}


def test_auc_selection_is_the_mean_auc_then_the_lower_loss():
    assert selection_score(_m(0.5, 0.8, 0.6), "auc") == pytest.approx((0.7, -0.5))
    # both epochs at AUC 1.0 (small validation set): the lower loss wins
    assert selection_score(_m(0.2, 1.0, 1.0), "auc") > selection_score(_m(0.3, 1.0, 1.0), "auc")
    # a higher AUC beats a lower loss
    assert selection_score(_m(0.9, 0.9, 0.9), "auc") > selection_score(_m(0.1, 0.8, 0.8), "auc")


def test_missing_aucs_fall_back_to_the_loss():
    assert selection_score(_m(0.4, math.nan, 0.6), "auc") == (0.6, -0.4)  # one finite AUC
    assert selection_score(_m(0.4, math.nan, math.nan), "auc") == (-0.4, -0.4)
    assert selection_score(_m(0.4, 0.9, 0.9), "loss") == (-0.4, -0.4)
