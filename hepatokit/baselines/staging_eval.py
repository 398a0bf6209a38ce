"""Validation of the staging baseline: batches on the device, validation metrics and the
score that selects the best epoch (:mod:`hepatokit.baselines.staging`)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from hepatokit.baselines.devices import DevicePlan
from hepatokit.baselines.staging_config import StagingConfig
from hepatokit.baselines.staging_feed import device_batches, to_device

__all__ = ["binary_auc", "evaluate", "selection_score", "to_device"]


def binary_auc(y: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC (scikit-learn); NaN when only one class is present."""
    from sklearn.metrics import roc_auc_score

    if len(np.unique(y)) < 2:
        return float("nan")
    return float(roc_auc_score(y, score))


def evaluate(
    model: nn.Module, ds: Dataset[Any], cfg: StagingConfig, plan: DevicePlan, loss_fn: nn.Module
) -> dict[str, float]:
    probs, labels, total = [], [], 0.0
    model.eval()
    with torch.inference_mode():
        for x, yt in device_batches(ds, batch_size=cfg.batch_size, num_workers=cfg.num_workers,
                                    plan=plan, shuffle=False, seed=0):  # fmt: skip
            with plan.autocast():
                logits = model(x)
            logits = logits.float()
            total += float(loss_fn(logits, yt)) * len(yt)
            probs.append(logits.softmax(1).cpu().numpy())
            labels.append(yt.cpu().numpy())
    p = np.concatenate(probs)
    y_all = np.concatenate(labels)
    return {
        "val_loss": total / max(1, len(y_all)),
        "val_auc_cirrhosis": binary_auc((y_all == 3).astype(int), p[:, 3]),
        "val_auc_significant_fibrosis": binary_auc((y_all >= 1).astype(int), 1 - p[:, 0]),
        "val_acc": float((p.argmax(1) == y_all).mean()),
    }


def selection_score(metrics: dict[str, float], select_on: str) -> tuple[float, float]:
    """Selection key, larger is better: (mean validation AUC, -validation loss); the loss
    breaks ties (small validation sets often give several epochs AUC 1.0)."""
    tie = -metrics["val_loss"]
    if select_on == "auc":
        aucs = [metrics["val_auc_cirrhosis"], metrics["val_auc_significant_fibrosis"]]
        finite = [a for a in aucs if not math.isnan(a)]
        if finite:
            return float(np.mean(finite)), tie
    return tie, tie
