"""Train the 3D staging baseline: seeded, checkpointed every epoch, resumable.

Datasets are map-style torch datasets whose item is ``(volume, label)``: ``volume`` float
``[n_seq, X, Y, Z]`` (early fusion; zeros for a missing sequence), ``label`` the stage index
0–3 (S1–S4). Loss: class-weighted cross-entropy (weights ``n / (K · count_k)`` from the
training labels). AdamW, linear warm-up then cosine decay (per epoch). On CUDA: autocast
(bf16, or fp16 with a gradient scaler) and ``channels_last_3d``.

Every epoch writes ``OUT/checkpoints/epoch-NNN.pt`` (model, optimiser, scheduler, scaler,
RNG state, history) atomically; the ``keep_last`` newest are kept. A new call with the same
``OUT`` resumes after the newest checkpoint (the shuffling order of epoch *e* depends only
on ``seed + e``, so a resumed run repeats what an uninterrupted run would have done). The
epoch with the best validation score is kept as ``OUT/checkpoints/best.pt``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from hepatokit.atomic import atomic_path
from hepatokit.baselines.devices import (
    DevicePlan,
    cpu_threads,
    peak_memory_bytes,
    reset_peak_memory,
)
from hepatokit.baselines.staging_config import StagingConfig
from hepatokit.baselines.staging_models import build_staging_model
from hepatokit.errors import BuildStateError, DataFormatError

__all__ = [
    "StagingRun",
    "class_weights",
    "load_best_model",
    "predict_staging",
    "train_staging",
]

log = logging.getLogger("hepatokit.baselines.staging")
N_STAGES = 4


@dataclass
class StagingRun:
    """What a training call did: per-epoch history and the selected epoch."""

    out_dir: Path
    model_name: str
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = -1
    best_score: tuple[float, float] = (-math.inf, -math.inf)
    resumed_from: int | None = None
    epochs_run: int = 0

    @property
    def best_path(self) -> Path:
        return self.out_dir / "checkpoints" / "best.pt"


def class_weights(labels: np.ndarray, n_classes: int = N_STAGES) -> np.ndarray:
    """Inverse-frequency weights ``n / (K · count_k)``; an absent class gets weight 0."""
    labels = np.asarray(labels, dtype=np.int64)
    counts = np.bincount(labels[labels >= 0], minlength=n_classes).astype(np.float64)
    present = counts > 0
    weights = np.zeros(n_classes)
    weights[present] = counts.sum() / (present.sum() * counts[present])
    return weights


def _labels_of(dataset: Dataset[Any]) -> np.ndarray:
    labels = getattr(dataset, "labels", None)
    if labels is None:
        labels = [int(dataset[i][1]) for i in range(len(dataset))]  # type: ignore[arg-type]
    return np.asarray(labels, dtype=np.int64)


def _run_key(model_name: str, cfg: StagingConfig, in_channels: int, seed: int) -> str:
    fixed = {k: v for k, v in asdict(cfg).items() if k not in ("epochs", "num_workers")}
    text = json.dumps({"m": model_name, "c": fixed, "in": in_channels, "s": seed}, default=list)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _lr_lambda(cfg: StagingConfig) -> Any:
    def factor(epoch: int) -> float:
        if epoch < cfg.warmup_epochs:
            return (epoch + 1) / (cfg.warmup_epochs + 1)
        span = max(1, cfg.epochs - cfg.warmup_epochs)
        progress = min(1.0, (epoch - cfg.warmup_epochs) / span)
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor


def _loader(
    ds: Dataset[Any], cfg: StagingConfig, plan: DevicePlan, *, shuffle: bool, seed: int
) -> DataLoader[Any]:
    return DataLoader(
        ds,
        batch_size=cfg.batch_size,
        shuffle=shuffle,
        num_workers=cfg.num_workers,
        pin_memory=plan.pin_memory,
        generator=torch.Generator().manual_seed(seed) if shuffle else None,
        drop_last=False,
    )


def _to_device(x: torch.Tensor, plan: DevicePlan) -> torch.Tensor:
    x = x.to(plan.torch_device(), non_blocking=plan.pin_memory).float()
    if plan.channels_last and x.ndim == 5:
        x = x.contiguous(memory_format=torch.channels_last_3d)
    return x


def _binary_auc(y: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC (scikit-learn); NaN when only one class is present."""
    from sklearn.metrics import roc_auc_score

    if len(np.unique(y)) < 2:
        return float("nan")
    return float(roc_auc_score(y, score))


def _evaluate(
    model: nn.Module, ds: Dataset[Any], cfg: StagingConfig, plan: DevicePlan, loss_fn: nn.Module
) -> dict[str, float]:
    probs, labels, total = [], [], 0.0
    model.eval()
    with torch.inference_mode():
        for x, y in _loader(ds, cfg, plan, shuffle=False, seed=0):
            with plan.autocast():
                logits = model(_to_device(x, plan))
            logits = logits.float()
            yt = torch.as_tensor(y).to(logits.device)
            total += float(loss_fn(logits, yt)) * len(yt)
            probs.append(logits.softmax(1).cpu().numpy())
            labels.append(yt.cpu().numpy())
    p = np.concatenate(probs)
    y_all = np.concatenate(labels)
    return {
        "val_loss": total / max(1, len(y_all)),
        "val_auc_cirrhosis": _binary_auc((y_all == 3).astype(int), p[:, 3]),
        "val_auc_significant_fibrosis": _binary_auc((y_all >= 1).astype(int), 1 - p[:, 0]),
        "val_acc": float((p.argmax(1) == y_all).mean()),
    }


def _score(metrics: dict[str, float], select_on: str) -> tuple[float, float]:
    """Selection key, larger is better: (mean validation AUC, -validation loss); the loss
    breaks ties (small validation sets often give several epochs AUC 1.0)."""
    tie = -metrics["val_loss"]
    if select_on == "auc":
        aucs = [metrics["val_auc_cirrhosis"], metrics["val_auc_significant_fibrosis"]]
        finite = [a for a in aucs if not math.isnan(a)]
        if finite:
            return float(np.mean(finite)), tie
    return tie, tie


def _save(obj: dict[str, Any], path: Path) -> None:
    with atomic_path(path, suffix=".pt") as tmp:
        torch.save(obj, tmp)


def _latest_checkpoint(folder: Path) -> Path | None:
    found = sorted(folder.glob("epoch-*.pt"))
    return found[-1] if found else None


def train_staging(
    train: Any,
    val: Any,
    *,
    model_name: str,
    config: StagingConfig,
    out_dir: str | Path,
    in_channels: int,
    plan: DevicePlan | None = None,
    seed: int = 0,
    resume: bool = True,
    keep_last: int = 2,
    stop_after: int | None = None,
) -> StagingRun:
    """Train (or resume training) a staging model; see the module docstring.

    Parameters
    ----------
    train, val:
        Datasets of ``(volume [C, X, Y, Z] float, stage index 0–3)``.
    model_name:
        ``resnet3d`` or ``vit3d``.
    config:
        Epochs, batch size, optimiser and architecture sizes.
    out_dir:
        Run folder: ``checkpoints/``, ``history.json``.
    in_channels:
        Number of fused sequences (the track's).
    resume:
        Continue from the newest checkpoint in ``out_dir`` (a finished run does nothing).
        Raising ``config.epochs`` on resume is allowed (the cosine schedule is then
        stretched from that point on).
    stop_after:
        Run at most this many epochs in this call (time-boxed jobs); a later call resumes.

    Raises
    ------
    BuildStateError
        ``out_dir`` holds checkpoints of a different model/config/seed.
    """
    plan = plan or DevicePlan()
    out = Path(out_dir)
    ckpt_dir = out / "checkpoints"
    key = _run_key(model_name, config, in_channels, seed)
    device = plan.torch_device()
    model = build_staging_model(
        model_name, in_channels=in_channels, n_classes=N_STAGES, config=config, seed=seed
    ).to(device)
    if plan.channels_last:
        model = model.to(memory_format=torch.channels_last_3d)  # type: ignore[call-overload]
    train_labels = _labels_of(train)
    if len(train_labels) == 0:
        raise DataFormatError("the training split is empty", hint="check the dataset's splits")
    weights = torch.tensor(class_weights(train_labels), dtype=torch.float32, device=device)
    loss_fn = nn.CrossEntropyLoss(weight=weights)
    val_loss_fn = nn.CrossEntropyLoss()
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _lr_lambda(config))
    scaler = torch.amp.GradScaler("cuda", enabled=plan.needs_grad_scaler)
    run = StagingRun(out_dir=out, model_name=model_name)
    start_epoch = 0
    latest = _latest_checkpoint(ckpt_dir) if resume else None
    if latest is not None:
        state = torch.load(latest, map_location=device, weights_only=False)
        if state["run_key"] != key:
            raise BuildStateError(
                f"checkpoints of another run (model/config/seed differ) in {ckpt_dir}",
                hint="use a fresh --out folder, or delete the old checkpoints",
            )
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        torch.set_rng_state(state["torch_rng"])
        run.history = list(state["history"])
        run.best_epoch = state["best_epoch"]
        run.best_score = (float(state["best_score"][0]), float(state["best_score"][1]))
        start_epoch = int(state["epoch"]) + 1
        run.resumed_from = int(state["epoch"])
        log.info("resuming %s from epoch %d (%s)", model_name, start_epoch, latest.name)
    else:
        torch.manual_seed(seed)
    with cpu_threads(plan, config.cpu_threads):
        end_epoch = (
            config.epochs if stop_after is None else min(config.epochs, start_epoch + stop_after)
        )
        from hepatokit.progress import track

        epochs = range(start_epoch, end_epoch)
        for epoch in track(epochs, f"training {model_name} (epochs)", total=len(epochs)):
            reset_peak_memory(plan)
            t0 = time.perf_counter()
            model.train()
            total, seen = 0.0, 0
            for x, y in _loader(train, config, plan, shuffle=True, seed=seed * 1000 + epoch):
                xb = _to_device(x, plan)
                yb = torch.as_tensor(y).to(device)
                opt.zero_grad(set_to_none=True)
                with plan.autocast():
                    logits = model(xb)
                loss = loss_fn(logits.float(), yb)
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
                total += float(loss.detach()) * len(yb)
                seen += len(yb)
            sched.step()
            train_seconds = time.perf_counter() - t0
            metrics = _evaluate(model, val, config, plan, val_loss_fn)
            row = {
                "epoch": epoch,
                "train_loss": total / max(1, seen),
                "lr": float(opt.param_groups[0]["lr"]),
                "epoch_seconds": train_seconds,
                "samples_per_second": seen / train_seconds if train_seconds > 0 else float("nan"),
                "peak_memory_bytes": float(peak_memory_bytes(plan) or 0),
                **metrics,
            }
            run.history.append(row)
            score = _score(metrics, config.select_on)
            if score > run.best_score:
                run.best_epoch, run.best_score = epoch, score
                _save(
                    {
                        "model": model.state_dict(),
                        "epoch": epoch,
                        "score": score,
                        "run_key": key,
                        "model_name": model_name,
                        "config": asdict(config),
                        "in_channels": in_channels,
                    },
                    ckpt_dir / "best.pt",
                )
            _save(
                {
                    "model": model.state_dict(),
                    "optimizer": opt.state_dict(),
                    "scheduler": sched.state_dict(),
                    "scaler": scaler.state_dict(),
                    "torch_rng": torch.get_rng_state(),
                    "history": run.history,
                    "epoch": epoch,
                    "best_epoch": run.best_epoch,
                    "best_score": run.best_score,
                    "run_key": key,
                },
                ckpt_dir / f"epoch-{epoch:03d}.pt",
            )
            for old in sorted(ckpt_dir.glob("epoch-*.pt"))[:-keep_last]:
                old.unlink()
            run.epochs_run += 1
            log.info(
                "epoch %d: train loss %.4f, val loss %.4f, val AUC S4 %.3f",
                epoch,
                row["train_loss"],
                row["val_loss"],
                row["val_auc_cirrhosis"],
            )
    return run


def load_best_model(run_dir: str | Path, plan: DevicePlan | None = None) -> nn.Module:
    """The selected (best-validation) model of a run folder, in eval mode."""
    plan = plan or DevicePlan()
    path = Path(run_dir) / "checkpoints" / "best.pt"
    if not path.is_file():
        raise BuildStateError("no best.pt checkpoint", path=path, hint="train the model first")
    state = torch.load(path, map_location=plan.torch_device(), weights_only=False)
    fields: dict[str, Any] = {
        k: tuple(v) if isinstance(v, list) else v for k, v in state["config"].items()
    }
    cfg = StagingConfig(**fields)
    model = build_staging_model(
        state["model_name"], in_channels=state["in_channels"], n_classes=N_STAGES, config=cfg
    )
    model.load_state_dict(state["model"])
    model.to(plan.torch_device()).eval()
    return model


def predict_staging(
    model: nn.Module, volumes: Any, *, plan: DevicePlan | None = None, batch_size: int = 4
) -> np.ndarray:
    """Softmax probabilities ``[N, 4]`` (S1–S4) for a dataset of ``(volume, _)`` items."""
    plan = plan or DevicePlan()
    loader = DataLoader(volumes, batch_size=batch_size, shuffle=False, pin_memory=plan.pin_memory)
    out: list[np.ndarray] = []
    model.eval()
    if plan.channels_last:
        model = model.to(memory_format=torch.channels_last_3d)  # type: ignore[call-overload]
    with torch.inference_mode():
        for x, _ in loader:
            with plan.autocast():
                logits = model(_to_device(x, plan))
            out.append(logits.float().softmax(1).cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, N_STAGES), dtype=np.float32)
