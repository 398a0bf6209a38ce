"""The HepatoBench evaluator on planted predictions."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from hepatokit.errors import DataFormatError
from hepatokit.evaluation import evaluate_hepatobench

CLASSES = ["TUM", "FIB", "INF", "NEC", "NOR", "REA", "STE"]


def _predictions(y: np.ndarray, accuracy: float, seed: int, with_proba: bool) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = y.size
    pred = np.where(rng.random(n) < accuracy, y, rng.integers(0, 7, n))
    df = pd.DataFrame({"id": [f"p{i:04d}" for i in range(n)], "pred": np.array(CLASSES)[pred]})
    if with_proba:
        proba = rng.dirichlet(np.ones(7), n)
        proba[np.arange(n), pred] += 1.5
        proba /= proba.sum(axis=1, keepdims=True)
        for k, c in enumerate(CLASSES):
            df[f"prob_{c}"] = proba[:, k]
    return df.sample(frac=1.0, random_state=seed)  # row order must not matter


@pytest.fixture
def bench(tmp_path):
    rng = np.random.default_rng(0)
    n = 350
    y = rng.integers(0, 7, n)
    truth = pd.DataFrame(
        {"id": [f"p{i:04d}" for i in range(n)], "class": np.array(CLASSES)[y], "split": "test"}
    )
    extra = pd.DataFrame({"id": ["t0", "t1"], "class": ["TUM", "FIB"], "split": "train"})
    pd.concat([truth, extra]).to_parquet(tmp_path / "curated.parquet")
    preds = tmp_path / "preds"
    preds.mkdir()
    _predictions(y, 0.9, 1, True).to_csv(preds / "strong.csv", index=False)
    _predictions(y, 0.4, 2, False).to_csv(preds / "weak.csv", index=False)
    return tmp_path, y


def test_encoders_compared_with_cis(bench):
    root, y = bench
    report = evaluate_hepatobench(
        truth=root / "curated.parquet",
        predictions=root / "preds",
        out=root / "report",
        split="test",
        n_bootstrap=100,
    )
    assert report.classes == tuple(CLASSES)  # from the hepatobench recipe
    assert report.errors == {}
    strong = report.reports["strong"]
    pred = (
        pd.read_csv(root / "preds" / "strong.csv")
        .set_index("id")
        .loc[[f"p{i:04d}" for i in range(y.size)], "pred"]
    )
    codes = np.array([CLASSES.index(c) for c in pred])
    assert strong.metrics["macro_f1"] == pytest.approx(skm.f1_score(y, codes, average="macro"))
    assert strong.metrics["macro_auroc"] > 0.8
    assert np.isnan(report.reports["weak"].metrics["macro_auroc"])
    comp = report.comparison.set_index("encoder")
    assert comp.loc["strong", "macro_f1"] > comp.loc["weak", "macro_f1"]
    assert comp.loc["strong", "macro_f1_low"] <= comp.loc["strong", "macro_f1"]
    assert comp.loc["strong", "macro_f1"] <= comp.loc["strong", "macro_f1_high"]
    md = (root / "report" / "comparison.md").read_text()
    assert "| strong | **" in md
    assert (root / "report" / "figures" / "confusion_strong.png").is_file()
    assert (root / "report" / "per_class_weak.csv").is_file()
    data = json.loads((root / "report" / "report.json").read_text())
    assert data["n_cases"] == y.size
    assert data["encoders"]["strong"]["intervals"]["accuracy"]["low"] > 0.8


def test_bad_predictions_file_is_rejected_and_others_scored(bench):
    root, _ = bench
    (root / "preds" / "broken.csv").write_text("id,pred\np0000,CANCER\np0000,TUM\n")
    report = evaluate_hepatobench(
        truth=root / "curated.parquet",
        predictions=root / "preds",
        out=root / "report",
        split="test",
        n_bootstrap=0,
        plots=False,
    )
    assert set(report.reports) == {"strong", "weak"}
    msg = report.errors["broken"]
    assert msg.startswith("broken.csv:")
    assert "line 2: unknown class 'CANCER'" in msg and "line 3: duplicated id 'p0000'" in msg
    assert "without a prediction" in msg


def test_truth_errors(bench, tmp_path):
    root, _ = bench
    with pytest.raises(DataFormatError, match="no row of split 'val'"):
        evaluate_hepatobench(
            truth=root / "curated.parquet",
            predictions=root / "preds",
            out=tmp_path / "r",
            split="val",
        )
    bad = tmp_path / "truth.csv"
    bad.write_text("id,label\na,TUM\nb,KIDNEY\n")
    with pytest.raises(DataFormatError, match="unknown class 'KIDNEY'"):
        evaluate_hepatobench(truth=bad, predictions=root / "preds", out=tmp_path / "r")


def test_split_from_a_splits_table(bench):
    root, y = bench
    curated = pd.read_parquet(root / "curated.parquet").drop(columns="split")
    curated.to_parquet(root / "curated_nosplit.parquet")
    ids = curated["id"].tolist()
    pd.DataFrame(
        {"id": ids, "group": "g", "split": ["test"] * y.size + ["train", "train"]}
    ).to_parquet(root / "splits.parquet")
    report = evaluate_hepatobench(
        truth=root / "curated_nosplit.parquet",
        predictions=root / "preds" / "strong.csv",
        splits=root / "splits.parquet",
        split="test",
        out=root / "r2",
        n_bootstrap=0,
        plots=False,
    )
    assert set(report.reports) == {"strong"}
    assert report.reports["strong"].confusion.sum() == y.size
