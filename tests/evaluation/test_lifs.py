"""The LiFS evaluator on hand-made submissions with planted truth."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from hepatokit.errors import DataFormatError, SubmissionError
from hepatokit.evaluation import evaluate_lifs, read_submission
from tests.evaluation.conftest import make_truth, noisy, perfect


def _cells(report, method):
    return report.cells[report.cells["method"] == method].set_index("cell")


def _board_row(report, method, setting="Contrast"):
    text = (report.out / "leaderboard.md").read_text()
    section = text.split(f"### {setting}")[1].split("###")[0]
    return next(line for line in section.splitlines() if line.startswith(f"| {method} |"))


def test_perfect_submission_gets_auc_1_and_bold(lifs_case, tmp_path):
    report = evaluate_lifs(
        truth=lifs_case["truth"],
        submissions=lifs_case["submissions"],
        out=tmp_path / "report",
        n_bootstrap=50,
        plots=False,
    )
    assert report.errors == {}
    cells = _cells(report, "perfect")
    assert len(cells) == 8  # 2 settings x 2 domains x 2 subtasks
    assert (cells["AUC"] == 1.0).all() and (cells["ACC"] == 1.0).all()
    # Subtask 2 states P(S1): a correct direction gives 1, a flipped one would give 0
    assert cells.loc["Contrast/OOD/2", "AUC"] == 1.0
    row = _board_row(report, "perfect")
    assert row.count("**100.00") == 8
    assert "**" not in _board_row(report, "noisy").split("|")[2]  # noisy ACC is not best
    results = pd.read_csv(report.out / "results.csv")
    assert list(results.columns) == ["method", "setting", "domain", "subtask", "metric", "value"]
    assert results.query("method == 'perfect' and metric == 'AUC'")["value"].eq(100).all()
    # bootstrap CIs cover the estimate
    noisy_cells = _cells(report, "noisy")
    assert (noisy_cells["AUC_low"] <= noisy_cells["AUC"]).all()
    assert (noisy_cells["AUC"] <= noisy_cells["AUC_high"]).all()
    # the summary ranks them, and the aggregate of the perfect one is 100
    agg = report.summary.aggregates.set_index("method")
    assert agg.loc["perfect", "ID"] == pytest.approx(100.0)


def test_all_majority_subtask2_is_flagged(lifs_case, tmp_path):
    report = evaluate_lifs(
        truth=lifs_case["truth"],
        submissions=lifs_case["submissions"],
        out=tmp_path / "report",
        n_bootstrap=0,
        plots=False,
    )
    maj = _cells(report, "majority")
    for cell in ("Contrast/OOD/2", "NonContrast/OOD/2", "Contrast/ID/2"):
        assert maj.loc[cell, "collapsed"], cell
    assert maj.loc["Contrast/OOD/2", "ACC"] == pytest.approx(0.9)  # = the majority rate
    assert report.majority_rates["Contrast/OOD/2"] == pytest.approx(90.0)
    assert not maj.loc["Contrast/ID/1", "collapsed"]  # random Subtask-1 probabilities
    assert not _cells(report, "perfect")["collapsed"].any()
    assert "†" in _board_row(report, "majority").split("|")[8]  # OOD S2 ACC
    assert "majority" in (report.out / "report.md").read_text().split("## Majority collapse")[1]


def test_malformed_submissions_are_reported_and_the_rest_scored(lifs_case, tmp_path):
    truth = make_truth()
    subs = lifs_case["submissions"]
    good = perfect(truth)
    good.iloc[:-1].to_csv(subs / "missing_case.csv", index=False)
    pd.concat([good, good.iloc[[3]]]).to_csv(subs / "duplicate.csv", index=False)
    bad = good.copy()
    bad.loc[5, "Subtask1_prob_S4"] = 1.7
    bad.to_csv(subs / "out_of_range.csv", index=False)
    bad = good.astype(str)
    bad.loc[2, "Subtask2_prob_S1"] = "high"
    bad.to_csv(subs / "not_a_number.csv", index=False)
    bad = good.copy()
    bad.loc[bad["Setting"] == "NonContrast", "Setting"] = "T2only"
    bad.to_csv(subs / "unknown_setting.csv", index=False)
    (subs / "wrong_columns.csv").write_text("id,prob\ncase000,0.3\n")
    (subs / "empty.csv").write_text("")
    report = evaluate_lifs(
        truth=lifs_case["truth"], submissions=subs, out=tmp_path / "r", n_bootstrap=0, plots=False
    )
    assert sorted(report.methods) == ["majority", "noisy", "perfect"]
    err = report.errors
    assert set(err) == {
        "missing_case",
        "duplicate",
        "out_of_range",
        "not_a_number",
        "unknown_setting",
        "wrong_columns",
        "empty",
    }
    assert err["missing_case"].startswith("missing_case.csv:")
    assert "NonContrast: 1 test case(s) missing (case099)" in err["missing_case"]
    assert f"line {len(good) + 2}: duplicate of line 5" in err["duplicate"]
    assert "line 7: Subtask1_prob_S4 1.7 is outside [0, 1]" in err["out_of_range"]
    assert "line 4: Subtask2_prob_S1 'high' is not a number" in err["not_a_number"]
    assert "unknown Setting 'T2only'" in err["unknown_setting"]
    assert "unknown columns" in err["wrong_columns"]
    assert "empty" in err["empty"]
    ledger = pq.read_table(report.out / "manifest" / "evaluate_lifs.parquet").to_pandas()
    assert len(ledger) == 10
    assert (ledger["outcome"] == "excluded").sum() == 7
    assert set(ledger.loc[ledger["outcome"] == "excluded", "reason"]) == {"invalid_submission"}
    payload = json.loads((report.out / "report.json").read_text())
    status = {s["method"]: s["status"] for s in payload["submissions"]}
    assert status["perfect"] == "scored" and status["empty"] == "excluded"

    def no_nan(token):
        raise AssertionError(f"report.json is not strict JSON: {token}")

    json.loads((report.out / "report.json").read_text(), parse_constant=no_nan)
    assert "Rejected submissions" in (report.out / "report.md").read_text()


def test_2024_format_and_a_single_setting(tmp_path):
    truth = make_truth()
    truth.to_csv(tmp_path / "truth.csv", index=False)
    subs = tmp_path / "subs"
    subs.mkdir()
    old = perfect(truth)
    old = old[old["Setting"] == "Contrast"].drop(columns="Setting")
    old.columns = ["Case", "Task1_prob_S4", "Task2_prob_S1"]
    old.to_csv(subs / "team2024.csv", index=False)
    nc = noisy(truth)
    nc[nc["Setting"] == "NonContrast"].to_csv(subs / "nc_only.csv", index=False)
    report = evaluate_lifs(
        truth=tmp_path / "truth.csv",
        submissions=subs,
        out=tmp_path / "r",
        n_bootstrap=0,
        plots=False,
    )
    assert report.errors == {}
    assert set(_cells(report, "team2024").index) == {
        "Contrast/ID/1",
        "Contrast/ID/2",
        "Contrast/OOD/1",
        "Contrast/OOD/2",
    }
    assert (_cells(report, "team2024")["AUC"] == 1.0).all()
    assert set(_cells(report, "nc_only")["setting"]) == {"NonContrast"}
    sub = read_submission(subs / "team2024.csv", cases=set(truth["Case"]))
    assert sub.format == "2024" and sub.settings == ("Contrast",)


def test_readers_compared_with_paired_delong(lifs_case, tmp_path):
    truth = make_truth()
    rng = np.random.default_rng(5)
    stage = truth["stage"].str[1].astype(int).to_numpy()
    good = np.clip(np.round(1.5 * stage + rng.normal(0, 0.8, len(truth))), 1, 7)
    rand = rng.integers(1, 8, len(truth))
    readers = pd.concat(
        [
            pd.DataFrame({"Case": truth["Case"], "Reader": "R1", "score": good}),
            # R2 read 80 of the 100 cases
            pd.DataFrame({"Case": truth["Case"], "Reader": "R2", "score": rand}).iloc[:80],
        ]
    )
    readers.to_csv(tmp_path / "readers.csv", index=False)
    report = evaluate_lifs(
        truth=lifs_case["truth"],
        submissions=lifs_case["submissions"],
        readers=tmp_path / "readers.csv",
        out=tmp_path / "r",
        n_bootstrap=0,
        plots=False,
    )
    aucs = report.reader_aucs.set_index(["Reader", "cell"])
    assert aucs.loc[("R1", "Contrast/ID/1"), "AUC"] > 80
    assert aucs.loc[("R2", "Contrast/ID/1"), "n_cases"] == 60
    assert aucs.loc[("R2", "Contrast/OOD/1"), "n_cases"] == 20
    cmp = report.comparisons
    best = cmp[(cmp["role"] == "best") & (cmp["cell"] == "Contrast/ID/1")].set_index("Reader")
    assert set(best["method"]) == {"perfect"}
    assert best.loc["R2", "significant"] and best.loc["R2", "direction"] == "↑"
    assert best.loc["R2", "n_cases"] == 60
    assert best.loc["R2", "ci_low"] <= best.loc["R2", "delta"] <= best.loc["R2", "ci_high"]
    median = cmp[(cmp["role"] == "median") & (cmp["cell"] == "Contrast/ID/1")]
    assert set(median["method"]) == {"noisy"}  # 2nd of 3 by AUC
    assert "↑" in _board_row(report, "perfect")
    assert "*R1* (reader)" in (report.out / "leaderboard.md").read_text()


def test_reports_are_byte_identical_across_runs(lifs_case, tmp_path):
    outs = []
    for name in ("a", "b"):
        evaluate_lifs(
            truth=lifs_case["truth"],
            submissions=lifs_case["submissions"],
            out=tmp_path / name,
            n_bootstrap=40,
            seed=3,
            plots=False,
        )
        outs.append(tmp_path / name)
    files = sorted(p.relative_to(outs[0]) for p in outs[0].rglob("*") if p.is_file())
    assert files and files == sorted(
        p.relative_to(outs[1]) for p in outs[1].rglob("*") if p.is_file()
    )
    for rel in files:
        assert (outs[0] / rel).read_bytes() == (outs[1] / rel).read_bytes(), rel


def test_figures_are_written(lifs_case, tmp_path):
    report = evaluate_lifs(
        truth=lifs_case["truth"],
        submissions=lifs_case["submissions"],
        out=tmp_path / "r",
        n_bootstrap=20,
        plots=True,
    )
    figs = {p.name for p in (report.out / "figures").glob("*.png")}
    assert "auc_strip.png" in figs and "roc_Contrast_OOD_S2.png" in figs and len(figs) == 9
    assert (report.out / "summary" / "figures" / "id_ood_slope.png").is_file()
    assert (report.out / "summary" / "figures" / "acc_vs_auc.png").is_file()
    assert "![auc_strip](figures/auc_strip.png)" in (report.out / "report.md").read_text()


def test_bad_inputs_are_clear_errors(lifs_case, tmp_path):
    bad_truth = tmp_path / "t.csv"
    bad_truth.write_text("Case,stage\ncase000,S1\n")
    with pytest.raises(DataFormatError, match="lacks column"):
        evaluate_lifs(truth=bad_truth, submissions=lifs_case["submissions"], out=tmp_path / "r")
    empty = tmp_path / "none"
    empty.mkdir()
    with pytest.raises(SubmissionError, match=r"no \*\.csv"):
        evaluate_lifs(truth=lifs_case["truth"], submissions=empty, out=tmp_path / "r")
    readers = tmp_path / "readers.csv"
    readers.write_text("Case,Reader,score\ncase000,R1,high\nnobody,R1,3\n")
    with pytest.raises(DataFormatError, match=r"line 2: score 'high'.*line 3: unknown Case"):
        evaluate_lifs(
            truth=lifs_case["truth"],
            submissions=lifs_case["submissions"],
            readers=readers,
            out=tmp_path / "r",
        )


def test_a_run_folder_is_read_through_its_submissions_folder(lifs_case, tmp_path):
    """``run_staging(out=RUN)`` writes RUN/submissions/<model>.csv: RUN itself is accepted."""
    run = tmp_path / "runs" / "r3d"
    run.mkdir(parents=True)
    lifs_case["submissions"].rename(run / "submissions")
    kw = {"truth": lifs_case["truth"], "n_bootstrap": 0, "plots": False}
    by_run = evaluate_lifs(submissions=run, out=tmp_path / "a", **kw)
    by_subs = evaluate_lifs(submissions=run / "submissions", out=tmp_path / "b", **kw)
    assert sorted(by_run.cells["method"].unique()) == ["majority", "noisy", "perfect"]
    pd.testing.assert_frame_equal(by_run.cells, by_subs.cells)
    (tmp_path / "empty").mkdir()
    with pytest.raises(SubmissionError, match=r"no \*\.csv submission"):
        evaluate_lifs(submissions=tmp_path / "empty", out=tmp_path / "c", **kw)
