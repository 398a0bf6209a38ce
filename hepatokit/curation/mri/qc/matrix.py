"""The missing-modality matrix of ``mri qc``: subjects × sequences, 1 = a volume that
passed QC (``BUILD/qc/missing_modality.csv`` and ``BUILD/reports/missing_modality.png``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from hepatokit.atomic import atomic_path, write_text_atomic
from hepatokit.contracts.lifs import INSTANCES, MISSING_MODALITY_CSV, MISSING_MODALITY_PNG

__all__ = ["missing_modality_matrix"]


def missing_modality_matrix(build: Path, present: pd.DataFrame, sequences: tuple[str, ...]) -> Path:
    """Write ``qc/missing_modality.csv`` and ``reports/missing_modality.png``; return the CSV."""
    inst = pd.read_parquet(build / INSTANCES, columns=["subject_id", "center", "vendor"])
    subjects = inst.drop_duplicates("subject_id").sort_values(["vendor", "subject_id"])
    have = set(zip(present["subject_id"], present["sequence"], strict=True))
    table = subjects[["subject_id", "center", "vendor"]].copy()
    for seq in sequences:
        table[seq] = [int((s, seq) in have) for s in table["subject_id"]]
    table["n_present"] = table[list(sequences)].sum(axis=1)
    csv_path = build / MISSING_MODALITY_CSV
    write_text_atomic(csv_path, table.to_csv(index=False, lineterminator="\n"))
    _heatmap(build / MISSING_MODALITY_PNG, table, sequences)
    return csv_path


def _heatmap(path: Path, table: pd.DataFrame, sequences: tuple[str, ...]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid = table[list(sequences)].to_numpy(dtype=float)
    height = max(2.5, min(0.12 * len(table) + 1.5, 30))
    fig, ax = plt.subplots(figsize=(1.0 + 0.8 * len(sequences), height), dpi=100)
    ax.imshow(
        grid if grid.size else np.zeros((1, len(sequences))),
        aspect="auto",
        cmap="Greens",
        vmin=0,
        vmax=1,
        interpolation="nearest",
    )
    ax.set_xticks(range(len(sequences)), list(sequences))
    ax.set_yticks([])
    ax.set_ylabel(f"{len(table)} subjects (by vendor)")
    rates = 1 - grid.mean(axis=0) if grid.size else np.zeros(len(sequences))
    ax.set_title(
        "missing: " + ", ".join(f"{s} {r:.0%}" for s, r in zip(sequences, rates, strict=True)),
        fontsize=7,
    )
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", metadata={"Software": None})
    plt.close(fig)
