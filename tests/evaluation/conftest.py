"""Shared helpers of the evaluation tests: the pROC / paper fixtures and a planted LiFS case."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

#: ../shared next to the repository (pROC reference values, the LiFS paper's Table 3)
SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"
DELONG_DIR = SHARED / "testdata" / "delong"
TABLE3_DIR = SHARED / "testdata" / "lifs_table3"

SUBMISSION_COLUMNS = ["Case", "Setting", "Subtask1_prob_S4", "Subtask2_prob_S1"]


def need(folder: Path) -> Path:
    """Skip (with the reason) when a shared test-data folder is absent."""
    if not folder.is_dir():
        pytest.skip(f"shared test data not found at {folder.resolve()} (../shared/testdata)")
    return folder


def make_truth(n_id: int = 60, n_ood: int = 40, seed: int = 0) -> pd.DataFrame:
    """A planted LiFS test truth. OOD is 90 % significant fibrosis (the Subtask-2 trap)."""
    rng = np.random.default_rng(seed)
    stages_id = rng.choice(["S1", "S2", "S3", "S4"], n_id, p=[0.35, 0.2, 0.15, 0.3])
    n_s1 = max(2, n_ood // 10)
    stages_ood = np.array(["S1"] * n_s1 + list(rng.choice(["S2", "S3", "S4"], n_ood - n_s1)))
    stages = np.concatenate([stages_id, stages_ood])
    # make sure every class appears in both domains
    stages[:4] = ["S1", "S2", "S3", "S4"]
    stages[n_id + n_s1 : n_id + n_s1 + 3] = ["S2", "S3", "S4"]
    domain = ["ID"] * n_id + ["OOD"] * n_ood
    return pd.DataFrame(
        {
            "Case": [f"case{i:03d}" for i in range(n_id + n_ood)],
            "split": ["test_id" if d == "ID" else "test_ood" for d in domain],
            "domain": domain,
            "stage": stages,
            "cirrhosis": (stages == "S4").astype(int),
            "significant_fibrosis": (stages != "S1").astype(int),
        }
    )


def submission(
    truth: pd.DataFrame,
    p_s4: np.ndarray,
    p_s1: np.ndarray,
    settings: tuple[str, ...] = ("Contrast", "NonContrast"),
) -> pd.DataFrame:
    """A 2025-format submission table for ``truth`` (same probabilities in every setting)."""
    frames = [
        pd.DataFrame(
            {
                "Case": truth["Case"],
                "Setting": s,
                "Subtask1_prob_S4": p_s4,
                "Subtask2_prob_S1": p_s1,
            }
        )
        for s in settings
    ]
    return pd.concat(frames, ignore_index=True)[SUBMISSION_COLUMNS]


def perfect(truth: pd.DataFrame) -> pd.DataFrame:
    return submission(
        truth,
        0.1 + 0.8 * truth["cirrhosis"].to_numpy(),
        0.9 - 0.8 * truth["significant_fibrosis"].to_numpy(),
    )


def noisy(truth: pd.DataFrame, seed: int = 1, signal: float = 0.35) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = len(truth)
    p4 = np.clip(signal * truth["cirrhosis"] + (1 - signal) * rng.random(n), 0, 1)
    p1 = np.clip(signal * (1 - truth["significant_fibrosis"]) + (1 - signal) * rng.random(n), 0, 1)
    return submission(truth, p4.to_numpy(), p1.to_numpy())


def all_majority(truth: pd.DataFrame, seed: int = 2) -> pd.DataFrame:
    """Subtask 2: P(S1) < 0.5 for every case (= everyone 'significant fibrosis'), random rank."""
    rng = np.random.default_rng(seed)
    n = len(truth)
    return submission(truth, rng.random(n), 0.05 + 0.4 * rng.random(n))


@pytest.fixture
def lifs_case(tmp_path: Path) -> dict[str, Path]:
    """truth.csv + submissions/{perfect,noisy,majority}.csv in ``tmp_path``."""
    truth = make_truth()
    subs = tmp_path / "submissions"
    subs.mkdir()
    truth.to_csv(tmp_path / "truth.csv", index=False)
    perfect(truth).to_csv(subs / "perfect.csv", index=False)
    noisy(truth).to_csv(subs / "noisy.csv", index=False)
    all_majority(truth).to_csv(subs / "majority.csv", index=False)
    return {"root": tmp_path, "truth": tmp_path / "truth.csv", "submissions": subs}
