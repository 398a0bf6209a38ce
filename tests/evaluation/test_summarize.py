"""The results-table analysis reproduces the LiFS paper (Table 3, §5.3, Fig. 4d)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from hepatokit.errors import DataFormatError
from hepatokit.evaluation import summarize_results
from tests.evaluation.conftest import TABLE3_DIR, need


@pytest.fixture(scope="module")
def paper(tmp_path_factory):
    folder = need(TABLE3_DIR)
    expected = json.loads((folder / "expected.json").read_text())
    out = tmp_path_factory.mktemp("summary")
    summary = summarize_results(
        results=folder / "results.csv", factors=folder / "factors.csv", out=out
    )
    return summary, expected, out


def test_best_and_median_per_cell(paper):
    summary, expected, _ = paper
    tol = 0.05
    table = summary.best_median.set_index("cell")
    assert set(table.index) == set(expected["best_median_auc"])
    for cell, want in expected["best_median_auc"].items():
        row = table.loc[cell]
        assert row["best_method"] == want["best"][1], cell
        assert row["best_auc"] == pytest.approx(want["best"][0], abs=tol)
        assert row["median_method"] == want["median"][1], cell
        assert row["median_auc"] == pytest.approx(want["median"][0], abs=tol)
        assert row["n_cohort"] == 9
    assert "ResNet3D" not in summary.cohort and "ViT3D" not in summary.cohort


def test_quoted_aggregates(paper):
    summary, expected, _ = paper
    agg = summary.aggregates.set_index("method")
    q = expected["quoted_aggregates"]
    assert agg.loc["UCL", "ID"] == pytest.approx(q["UCL ID"], abs=0.05)
    assert agg.loc["UCL", "drop"] == pytest.approx(q["UCL OOD drop"], abs=0.05)
    assert agg.loc["UoN", "ID"] == pytest.approx(q["UoN ID (early fusion)"], abs=0.05)
    assert agg.loc["UoN", "drop"] == pytest.approx(q["UoN OOD drop"], abs=0.05)
    r = summary.results
    acc = r[
        (r.method == "SJTU2")
        & (r.setting == "Contrast")
        & (r.domain == "OOD")
        & (r.subtask == "1")
        & (r.metric == "ACC")
    ]["value"].item()
    assert acc == pytest.approx(q["SJTU2 Contrast/OOD/1 ACC"], abs=0.05)


# One published SD cannot be recomputed from the published table to within 0.05: the late-fusion
# group is {SJTU1, NWU-CN}, whose drops from results.csv are 14.6775 and 9.40125, so the sample
# SD is |14.6775 - 9.40125| / sqrt(2) = 3.731, while the paper prints 3.79 (it needs an SJTU1
# drop of ~14.76; the paper's unrounded values differ by more than rounding can explain:
# rounding moves a drop by at most 0.01, hence this SD by at most 0.015). Its mean, and every
# other group containing SJTU1, do agree within 0.05. Checked here at 0.06, the gap observed.
SD_TOLERANCE = {"fusion=late OOD drop": 0.06}


def test_factor_groups_mean_sd(paper):
    summary, expected, _ = paper
    groups = summary.factor_groups.set_index(["factor", "level", "quantity"])
    for key, (mean, sd, n) in expected["quoted_factor_groups_mean_sd"].items():
        factor_level, quantity = key.split(" ", 1)
        factor, level = factor_level.split("=")
        row = groups.loc[(factor, level, quantity)]
        assert row["n"] == n, key
        assert row["mean"] == pytest.approx(mean, abs=0.05), key
        assert row["sd"] == pytest.approx(sd, abs=SD_TOLERANCE.get(key, 0.05)), key


def test_collapse_pattern_and_files(paper):
    summary, _, out = paper
    flagged = set(zip(summary.collapse["method"], summary.collapse["cell"], strict=True))
    assert ("ResNet3D", "Contrast/OOD/2") in flagged  # ACC 92.86 with AUC 54.77
    assert ("UoB", "Contrast/OOD/2") not in flagged  # ACC 91.43 with AUC 79.69
    for name in (
        "summary.md",
        "summary.json",
        "best_median.csv",
        "aggregates.csv",
        "factor_groups.csv",
        "figures/id_ood_slope.png",
        "figures/acc_vs_auc.png",
        "figures/factor_groups.png",
    ):
        assert (out / name).is_file(), name
    data = json.loads((out / "summary.json").read_text())
    assert data["cohort"] == summary.cohort
    assert "SJTU1" in (out / "summary.md").read_text()


def test_without_factors_every_method_is_ranked(tmp_path):
    table = pd.read_csv(need(TABLE3_DIR) / "results.csv")
    summary = summarize_results(results=table, plots=False)
    assert len(summary.cohort) == 11 and summary.factor_groups.empty
    assert (summary.best_median["n_cohort"] == 11).all()


def test_bad_tables_are_clear_errors(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("method,setting,domain,subtask,metric,value\nA,Contrast,ID,1,AUC,x\n")
    with pytest.raises(DataFormatError, match="line 2: value 'x' is not a number"):
        summarize_results(results=bad, plots=False)
    bad.write_text("method,setting,value\nA,Contrast,1\n")
    with pytest.raises(DataFormatError, match="lacks column"):
        summarize_results(results=bad, plots=False)
