"""The pure pieces of the LiFS evaluator: cell scoring, submission checks, reader roles."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from hepatokit.evaluation.lifs_cells import score_cells
from hepatokit.evaluation.reader_study import roles_of
from hepatokit.evaluation.submission import Submission, submission_problems
from tests.evaluation.conftest import make_truth, noisy


def _submission(table: pd.DataFrame) -> Submission:
    df = table.rename(columns={"Subtask1_prob_S4": "p_s4", "Subtask2_prob_S1": "p_s1"})
    return Submission(method="noisy", path=None, format="2025", table=df)  # type: ignore[arg-type]


def test_score_cells_matches_scikit_learn_per_cell():
    truth = make_truth().set_index("Case")
    sub_table = noisy(truth.reset_index())
    table, cells, majority = score_cells(
        truth, [_submission(sub_table)], n_bootstrap=0, seed=0, confidence=0.95
    )
    assert len(table) == 8 and len(cells) == 8  # 2 settings × 2 domains × 2 subtasks
    rows = sub_table[sub_table["Setting"] == "NonContrast"].set_index("Case")
    ood = truth[truth["domain"] == "OOD"].index
    y = truth.loc[ood, "significant_fibrosis"].to_numpy()
    score = 1.0 - rows.loc[ood, "Subtask2_prob_S1"].to_numpy()
    pred = (rows.loc[ood, "Subtask2_prob_S1"].to_numpy() < 0.5).astype(int)
    row = table.set_index("cell").loc["NonContrast/OOD/2"]
    assert np.isclose(row["AUC"], skm.roc_auc_score(y, score))
    assert np.isclose(row["ACC"], skm.accuracy_score(y, pred))
    assert row["n"] == len(ood) and row["n_positive"] == y.sum()
    assert np.isclose(majority["NonContrast/OOD/2"], 100 * max(y.mean(), 1 - y.mean()))


def test_submission_problems_name_every_planted_line():
    df = pd.DataFrame(
        {
            "Case": ["a", "b", "zz", "a", ""],
            "Setting": ["Contrast", "Contrast", "Contrast", "Contrast", "T2"],
            "p_s4": ["0.1", "1.5", "0.2", "0.3", "x"],
            "p_s1": ["0.9", "0.5", "0.5", "0.5", "0.5"],
        }
    )
    out, problems = submission_problems(df, {"a", "b", "c"})
    text = "\n".join(problems)
    assert "line 4: unknown Case 'zz'" in text
    assert "line 6: empty Case" in text
    assert "line 6: unknown Setting 'T2'" in text
    assert "line 3: Subtask1_prob_S4 1.5 is outside [0, 1]" in text
    assert "line 6: Subtask1_prob_S4 'x' is not a number" in text
    assert "line 5: duplicate of line 2 (Case 'a', Contrast)" in text
    assert "Contrast: 1 test case(s) missing (c)" in text
    assert len(problems) == 7
    assert out["p_s4"].dtype == float and df["p_s4"].tolist()[1] == "1.5"  # input left as is


def test_roles_best_and_median():
    assert roles_of([]) == []
    assert roles_of(["a"]) == [("best", "a"), ("median", "a")]
    assert roles_of(["a", "b", "c"]) == [("best", "a"), ("median", "b")]
    assert roles_of(["a", "b", "c", "d"]) == [("best", "a"), ("median", "b")]
    assert roles_of(list("abcde")) == [("best", "a"), ("median", "c")]
