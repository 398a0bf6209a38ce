"""Staging predictions in the official LiFS submission format (no torch needed).

``LiFS_pred.csv``: ``Case,Setting,Subtask1_prob_S4,Subtask2_prob_S1`` with ``Setting`` in
{Contrast, NonContrast}. From the 4-class softmax ``p`` (S1–S4): Subtask 1 (cirrhosis) =
``p[S4]``; Subtask 2 = ``p[S1]``, the probability of the *non*-significant class, as the
challenge defines it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from hepatokit.atomic import write_text_atomic
from hepatokit.baselines.staging_config import SETTINGS
from hepatokit.errors import DataFormatError

__all__ = ["SUBMISSION_COLUMNS", "merge_submissions", "submission_frame", "write_submission"]

SUBMISSION_COLUMNS = ["Case", "Setting", "Subtask1_prob_S4", "Subtask2_prob_S1"]


def submission_frame(case_ids: Sequence[str], probs: np.ndarray, track: str) -> pd.DataFrame:
    """Rows of the submission for one track.

    Parameters
    ----------
    case_ids:
        The LiFS ``Case`` ids (``subject_id``), one per row of ``probs``.
    probs:
        float ``[N, 4]`` softmax over S1–S4 (rows sum to 1).
    track:
        ``contrast`` or ``noncontrast``.
    """
    if track not in SETTINGS:
        raise DataFormatError(f"unknown track {track!r}", hint="contrast or noncontrast")
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != 4 or p.shape[0] != len(case_ids):
        raise DataFormatError(f"expected [{len(case_ids)}, 4] probabilities, got {p.shape}")
    return pd.DataFrame(
        {
            "Case": [str(c) for c in case_ids],
            "Setting": SETTINGS[track],
            "Subtask1_prob_S4": np.clip(p[:, 3], 0.0, 1.0),
            "Subtask2_prob_S1": np.clip(p[:, 0], 0.0, 1.0),
        }
    )[SUBMISSION_COLUMNS]


def merge_submissions(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate track frames; a later frame replaces earlier rows of the same Setting."""
    kept: dict[str, pd.DataFrame] = {}
    for f in frames:
        for setting, part in f.groupby("Setting", sort=False):
            kept[str(setting)] = part
    if not kept:
        return pd.DataFrame(columns=SUBMISSION_COLUMNS)
    order = [s for s in ("Contrast", "NonContrast") if s in kept]
    merged = pd.concat([kept[s] for s in order], ignore_index=True)
    return merged.sort_values(["Setting", "Case"], kind="stable").reset_index(drop=True)


def write_submission(path: str | Path, frame: pd.DataFrame) -> Path:
    """Write ``frame`` as the submission CSV (fixed float format: byte-stable), atomically."""
    text = frame[SUBMISSION_COLUMNS].to_csv(index=False, float_format="%.6f", lineterminator="\n")
    return write_text_atomic(path, text)


def read_submission(path: str | Path) -> pd.DataFrame:
    """Read a submission CSV written by :func:`write_submission` (Case as text)."""
    return pd.read_csv(path, dtype={"Case": str, "Setting": str})
