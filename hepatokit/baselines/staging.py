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
from torch.utils.data import Dataset

from hepatokit.atomic import atomic_path
from hepatokit.baselines.devices import (
    DevicePlan,
    cpu_threads,
    peak_memory_bytes,
    reset_peak_memory,
)
from hepatokit.baselines.staging_config import StagingConfig
from hepatokit.baselines.staging_eval import evaluate, selection_score
from hepatokit.baselines.staging_feed import augment_batch, device_batches
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
    fixed = {
        k: v
        for k, v in asdict(cfg).items()
        if k not in ("epochs", "num_workers") and not (k in _NEW_FIELDS and v == _NEW_FIELDS[k])
    }
    text = json.dumps({"m": model_name, "c": fixed, "in": in_channels, "s": seed}, default=list)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


#: fields added after the first release: left out of the run key at their defaults, so that
#: checkpoints written before them still resume
_NEW_FIELDS = {"cache": "off", "augment": False}


def _lr_lambda(cfg: StagingConfig) -> Any:
    def factor(epoch: int) -> float:
        if epoch < cfg.warmup_epochs:
            return (epoch + 1) / (cfg.warmup_epochs + 1)
        span = max(1, cfg.epochs - cfg.warmup_epochs)
        progress = min(1.0, (epoch - cfg.warmup_epochs) / span)
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor


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
    t = _setup(train, model_name=model_name, config=config, in_channels=in_channels,
               plan=plan, seed=seed)  # fmt: skip
    run = StagingRun(out_dir=out, model_name=model_name)
    latest = _latest_checkpoint(ckpt_dir) if resume else None
    start_epoch = 0
    if latest is not None:
        start_epoch = _resume(t, run, latest)
    else:
        torch.manual_seed(seed)
    with cpu_threads(plan, config.cpu_threads):
        end_epoch = (
            config.epochs if stop_after is None else min(config.epochs, start_epoch + stop_after)
        )
        from hepatokit.progress import track

        epochs = range(start_epoch, end_epoch)
        for epoch in track(epochs, f"training {model_name} (epochs)", total=len(epochs)):
            row = _epoch(t, train, val, epoch=epoch, config=config, plan=plan, seed=seed)
            run.history.append(row)
            score = selection_score(row, config.select_on)
            if score > run.best_score:
                run.best_epoch, run.best_score = epoch, score
                _save(_best_state(t, epoch, score, model_name, config, in_channels),
                      ckpt_dir / "best.pt")  # fmt: skip
            _save(_epoch_state(t, run, epoch), ckpt_dir / f"epoch-{epoch:03d}.pt")
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


@dataclass
class _Trainer:
    """The model being trained with its optimiser, schedule, scaler, losses and run key."""

    model: nn.Module
    opt: torch.optim.Optimizer
    sched: Any
    scaler: Any
    loss_fn: nn.Module
    val_loss_fn: nn.Module
    device: torch.device
    key: str


def _setup(
    train: Any,
    *,
    model_name: str,
    config: StagingConfig,
    in_channels: int,
    plan: DevicePlan,
    seed: int,
) -> _Trainer:
    """The seeded model on the plan's device, class-weighted loss, AdamW, warm-up + cosine."""
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
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    return _Trainer(
        model=model,
        opt=opt,
        sched=torch.optim.lr_scheduler.LambdaLR(opt, _lr_lambda(config)),
        scaler=torch.amp.GradScaler("cuda", enabled=plan.needs_grad_scaler),
        loss_fn=nn.CrossEntropyLoss(weight=weights),
        val_loss_fn=nn.CrossEntropyLoss(),
        device=device,
        key=_run_key(model_name, config, in_channels, seed),
    )


def _resume(t: _Trainer, run: StagingRun, latest: Path) -> int:
    """Load the newest checkpoint into ``t`` and ``run``; the epoch to start from."""
    state = torch.load(latest, map_location=t.device, weights_only=False)
    if state["run_key"] != t.key:
        raise BuildStateError(
            f"checkpoints of another run (model/config/seed differ) in {latest.parent}",
            hint="use a fresh --out folder, or delete the old checkpoints",
        )
    t.model.load_state_dict(state["model"])
    t.opt.load_state_dict(state["optimizer"])
    t.sched.load_state_dict(state["scheduler"])
    t.scaler.load_state_dict(state["scaler"])
    torch.set_rng_state(state["torch_rng"])
    run.history = list(state["history"])
    run.best_epoch = state["best_epoch"]
    run.best_score = (float(state["best_score"][0]), float(state["best_score"][1]))
    run.resumed_from = int(state["epoch"])
    log.info("resuming %s from epoch %d (%s)", run.model_name, run.resumed_from + 1, latest.name)
    return run.resumed_from + 1


def _epoch(
    t: _Trainer,
    train: Any,
    val: Any,
    *,
    epoch: int,
    config: StagingConfig,
    plan: DevicePlan,
    seed: int,
) -> dict[str, float]:
    """One training pass (shuffled by ``seed * 1000 + epoch``, augmented on the device by a
    generator seeded the same way when ``config.augment``), then validation: the history
    row of the epoch. The loss is summed on the device (no host sync per step)."""
    reset_peak_memory(plan)
    t0 = time.perf_counter()
    t.model.train()
    total = torch.zeros((), dtype=torch.float64, device=t.device)
    seen = 0
    aug = torch.Generator().manual_seed(seed * 1000 + epoch + 1)
    batches = device_batches(train, batch_size=config.batch_size, plan=plan, shuffle=True,
                             num_workers=config.num_workers, seed=seed * 1000 + epoch)  # fmt: skip
    for xb, yb in batches:
        if config.augment:
            xb = augment_batch(xb, aug)
        t.opt.zero_grad(set_to_none=True)
        with plan.autocast():
            logits = t.model(xb)
        loss = t.loss_fn(logits.float(), yb)
        t.scaler.scale(loss).backward()
        t.scaler.step(t.opt)
        t.scaler.update()
        total += loss.detach().double() * len(yb)
        seen += len(yb)
    t.sched.step()
    train_seconds = time.perf_counter() - t0
    metrics = evaluate(t.model, val, config, plan, t.val_loss_fn)
    return {
        "epoch": epoch,
        "train_loss": float(total) / max(1, seen),
        "lr": float(t.opt.param_groups[0]["lr"]),
        "epoch_seconds": train_seconds,
        "samples_per_second": seen / train_seconds if train_seconds > 0 else float("nan"),
        "peak_memory_bytes": float(peak_memory_bytes(plan) or 0),
        **metrics,
    }


def _best_state(
    t: _Trainer,
    epoch: int,
    score: tuple[float, float],
    model_name: str,
    config: StagingConfig,
    in_channels: int,
) -> dict[str, Any]:
    """``best.pt``: the model and what :func:`load_best_model` needs to rebuild it."""
    return {
        "model": t.model.state_dict(),
        "epoch": epoch,
        "score": score,
        "run_key": t.key,
        "model_name": model_name,
        "config": asdict(config),
        "in_channels": in_channels,
    }


def _epoch_state(t: _Trainer, run: StagingRun, epoch: int) -> dict[str, Any]:
    """``epoch-NNN.pt``: everything a resumed run needs (optimiser, schedule, RNG, history)."""
    return {
        "model": t.model.state_dict(),
        "optimizer": t.opt.state_dict(),
        "scheduler": t.sched.state_dict(),
        "scaler": t.scaler.state_dict(),
        "torch_rng": torch.get_rng_state(),
        "history": run.history,
        "epoch": epoch,
        "best_epoch": run.best_epoch,
        "best_score": run.best_score,
        "run_key": t.key,
    }


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
    out: list[np.ndarray] = []
    model.eval()
    if plan.channels_last:
        model = model.to(memory_format=torch.channels_last_3d)  # type: ignore[call-overload]
    with torch.inference_mode():
        for x, _ in device_batches(volumes, batch_size=batch_size, num_workers=0, plan=plan,
                                   shuffle=False, seed=0):  # fmt: skip
            with plan.autocast():
                logits = model(x)
            out.append(logits.float().softmax(1).cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, N_STAGES), dtype=np.float32)
