"""DeLong's test against pROC's reference values (aSAH data) and its invariants."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st
from sklearn.metrics import roc_auc_score

from hepatokit.errors import DataFormatError
from hepatokit.evaluation import (
    delong_auc_variance,
    delong_test,
    delong_unpaired_test,
)
from tests.evaluation.conftest import DELONG_DIR, need

# pROC's roc.test(method = "delong") on aSAH, from ../shared/testdata/delong/README.md
PAIRED = [
    ("wfns", "s100b", 2.20898359144091, 0.0271757822291882, 0.0104061769564846, 0.174214419249478),
    ("wfns", "ndka", 2.79777591868904, 0.00514557970691098, 0.0634011709339876, 0.3600405634833566),
    (
        "ndka",
        "s100b",
        -1.39077002573558,
        0.164295175223054,
        -0.2876917446341914,
        0.0488706064228094,
    ),
]
AUCS = {"wfns": 0.8236789, "s100b": 0.7313686, "ndka": 0.611958}


@pytest.fixture(scope="module")
def asah() -> pd.DataFrame:
    return pd.read_csv(need(DELONG_DIR) / "aSAH.csv")


def _y(asah: pd.DataFrame) -> np.ndarray:
    return (asah["outcome"] == "Poor").astype(int).to_numpy()


@pytest.mark.parametrize(("a", "b", "z", "p", "lo", "hi"), PAIRED)
def test_paired_matches_proc(asah, a, b, z, p, lo, hi):
    r = delong_test(_y(asah), asah[a], asah[b])
    assert r.statistic == pytest.approx(z, abs=1e-9)
    assert r.p_value == pytest.approx(p, abs=1e-9)
    assert r.ci_low == pytest.approx(lo, abs=1e-9)
    assert r.ci_high == pytest.approx(hi, abs=1e-9)
    assert r.auc_a == pytest.approx(AUCS[a], abs=1e-7)
    assert r.auc_b == pytest.approx(AUCS[b], abs=1e-7)
    assert r.delta == pytest.approx(r.auc_a - r.auc_b)
    assert (r.n_positive, r.n_negative) == (41, 72)


def test_aucs_match_sklearn(asah):
    y = _y(asah)
    for col in AUCS:
        r = delong_test(y, asah[col], asah[col])
        assert r.auc_a == pytest.approx(roc_auc_score(y, asah[col]), abs=1e-12)


def test_one_sided_and_unpaired_match_proc(asah):
    y = _y(asah)
    greater = delong_test(y, asah["wfns"], asah["s100b"], alternative="greater")
    assert greater.p_value == pytest.approx(0.0135878911145941, abs=1e-9)
    less = delong_test(y, asah["wfns"], asah["s100b"], alternative="less")
    assert less.p_value == pytest.approx(1 - 0.0135878911145941, abs=1e-9)
    unpaired = delong_unpaired_test(y, asah["wfns"], y, asah["s100b"])
    assert unpaired.statistic == pytest.approx(1.43490640926908, abs=1e-9)
    assert unpaired.p_value == pytest.approx(0.152825378808796, abs=1e-9)
    assert not unpaired.paired and np.isfinite(unpaired.df)


def test_identical_curves_give_z0_p1(asah):
    y = _y(asah)
    r = delong_test(y, asah["wfns"], asah["wfns"])
    assert (r.statistic, r.p_value, r.delta, r.se) == (0.0, 1.0, 0.0, 0.0)
    # a monotone transform gives the same ROC curve: still no difference
    r2 = delong_test(y, asah["s100b"], np.log(asah["s100b"] + 1))
    assert r2.statistic == pytest.approx(0.0, abs=1e-12)
    assert r2.p_value == pytest.approx(1.0)


def test_single_class_is_a_clear_error():
    with pytest.raises(DataFormatError, match="positive and one negative"):
        delong_test(np.ones(5), np.arange(5.0), np.arange(5.0))


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.booleans(), st.integers(0, 6), st.integers(0, 6)), min_size=6, max_size=60
    )
)
def test_swapping_curves_negates_z(rows):
    y = np.array([r[0] for r in rows], dtype=int)
    if y.min() == y.max():
        y[0] = 1 - y[0]
    a = np.array([r[1] for r in rows], dtype=float)
    b = np.array([r[2] for r in rows], dtype=float)
    ab = delong_test(y, a, b)
    ba = delong_test(y, b, a)
    assert ab.delta == pytest.approx(-ba.delta, abs=1e-12)
    assert ab.p_value == pytest.approx(ba.p_value, abs=1e-12)
    assert ab.auc_a == pytest.approx(roc_auc_score(y, a), abs=1e-12)
    assert 0.0 <= ab.p_value <= 1.0
    auc, var = delong_auc_variance(y, a)
    assert auc == pytest.approx(ab.auc_a) and var >= 0
