"""Train one linear layer on frozen embeddings (the UNI paper's linear-probe protocol).

``lbfgs`` (default) follows the UNI code (``uni/downstream/eval_patch_features``):
zero-initialised ``nn.Linear(D, C)``, full-batch L-BFGS (lr 1) with strong-Wolfe line search,
``max_iter`` 1000, loss = mean cross-entropy + (1 / C_reg) · 0.5 · ‖W‖₂ — the *unsquared*
Frobenius norm of the weight (bias not penalised), exactly as that code computes it — with
C_reg = feature_dim × n_classes / 100; train and validation combined for the final fit
(``combine_trainval``, the UNI default).

``adamw`` is the eva variant: AdamW (lr 3e-4), mini-batches of 256, cross-entropy, early
stopping on validation loss (``patience`` epochs without improvement, at most ``max_epochs``),
best-validation weights kept.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from hepatokit.baselines.devices import DevicePlan
from hepatokit.baselines.heads import LinearHead
from hepatokit.errors import DataFormatError

__all__ = ["ProbeSettings", "regularisation_c", "train_linear_probe"]

log = logging.getLogger("hepatokit.baselines.linear_probe")
#: below this many feature values a CPU fit runs single-threaded (faster, and fair to
#: other processes on a busy machine)
SMALL_PROBLEM = 2_000_000


@dataclass(frozen=True)
class ProbeSettings:
    """How the head is trained (defaults: the UNI protocol; ``adamw``: the eva one)."""

    method: Literal["lbfgs", "adamw"] = "lbfgs"
    max_iter: int = 1000
    combine_trainval: bool = True
    lr: float = 3e-4
    batch_size: int = 256
    max_epochs: int = 1000
    patience: int = 20
    weight_decay: float = 0.0
    seed: int = 0
    #: ``balanced`` weights the cross-entropy by n / (k · n_class) (scikit-learn's rule), so a
    #: rare class (HepatoBench REA: ~1 %) is not sacrificed; ``none`` is the UNI protocol.
    class_weight: Literal["none", "balanced"] = "none"


def regularisation_c(feature_dim: int, n_classes: int) -> float:
    """The UNI cost: ``feature_dim * n_classes / 100`` (larger → weaker regularisation)."""
    return feature_dim * n_classes / 100.0


def _check(x: np.ndarray, y: np.ndarray, n_classes: int, what: str) -> None:
    if x.ndim != 2 or y.ndim != 1 or x.shape[0] != y.shape[0]:
        raise DataFormatError(f"{what}: features {x.shape} and labels {y.shape} do not match")
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        raise DataFormatError(f"{what}: labels outside 0..{n_classes - 1}")
    if not np.isfinite(x).all():
        raise DataFormatError(f"{what}: features contain NaN/inf", hint="check the encoder")


@contextlib.contextmanager
def _small_problem_threads(plan: DevicePlan, n_values: int) -> Iterator[None]:
    """One intra-op thread for small CPU problems (thread start-up/spin dominates them)."""
    import torch

    if plan.is_cuda or n_values > SMALL_PROBLEM:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _class_weights(y: np.ndarray, n_classes: int, s: ProbeSettings, device: Any) -> Any:
    """Per-class loss weights ``n / (k · n_c)`` for ``balanced``, else None (plain mean CE)."""
    import torch

    if s.class_weight == "none":
        return None
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    weights = np.where(counts > 0, len(y) / (n_classes * np.maximum(counts, 1)), 0.0)
    return torch.as_tensor(weights, dtype=torch.float32, device=device)


def _fit_lbfgs(
    x: np.ndarray, y: np.ndarray, n_classes: int, s: ProbeSettings, plan: DevicePlan
) -> tuple[np.ndarray, np.ndarray, dict[str, object]]:
    import torch

    device = plan.torch_device()
    xt = torch.as_tensor(x, dtype=torch.float32, device=device)
    yt = torch.as_tensor(y, dtype=torch.long, device=device)
    cost = regularisation_c(x.shape[1], n_classes)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(s.seed)
        layer = torch.nn.Linear(x.shape[1], n_classes, bias=True).to(device)
    torch.nn.init.zeros_(layer.weight)
    torch.nn.init.zeros_(layer.bias)
    ce = torch.nn.CrossEntropyLoss(weight=_class_weights(y, n_classes, s, device))
    opt = torch.optim.LBFGS(
        layer.parameters(), lr=1.0, max_iter=s.max_iter, line_search_fn="strong_wolfe"
    )
    losses: list[float] = []

    def objective() -> torch.Tensor:
        return ce(layer(xt), yt).mean() + (1.0 / cost) * 0.5 * layer.weight.norm(p=2)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = objective()
        loss.backward()
        losses.append(float(loss.detach()))
        return loss

    opt.step(closure)
    with torch.no_grad():
        final = float(objective())
    state = opt.state[next(iter(layer.parameters()))]
    info: dict[str, object] = {
        "C": cost,
        "initial_loss": losses[0] if losses else final,
        "final_loss": final,
        "function_evals": int(state.get("func_evals", len(losses))),
        "iterations": int(state.get("n_iter", 0)),
    }
    w = layer.weight.detach().cpu().numpy()
    b = layer.bias.detach().cpu().numpy()
    return w, b, info


def _fit_adamw(
    x: np.ndarray,
    y: np.ndarray,
    xv: np.ndarray | None,
    yv: np.ndarray | None,
    n_classes: int,
    s: ProbeSettings,
    plan: DevicePlan,
) -> tuple[np.ndarray, np.ndarray, dict[str, object]]:
    import torch

    device = plan.torch_device()
    xt = torch.as_tensor(x, dtype=torch.float32, device=device)
    yt = torch.as_tensor(y, dtype=torch.long, device=device)
    has_val = xv is not None and yv is not None and len(yv) > 0
    xvt = torch.as_tensor(xv, dtype=torch.float32, device=device) if has_val else None
    yvt = torch.as_tensor(yv, dtype=torch.long, device=device) if has_val else None
    layer = torch.nn.Linear(x.shape[1], n_classes, bias=True).to(device)
    torch.nn.init.zeros_(layer.weight)
    torch.nn.init.zeros_(layer.bias)
    opt = torch.optim.AdamW(layer.parameters(), lr=s.lr, weight_decay=s.weight_decay)
    ce = torch.nn.CrossEntropyLoss(weight=_class_weights(y, n_classes, s, device))
    gen = torch.Generator().manual_seed(s.seed)
    best = (float("inf"), layer.weight.detach().clone(), layer.bias.detach().clone(), 0)
    train_losses: list[float] = []
    val_losses: list[float] = []
    stale = 0
    from hepatokit.progress import track

    for epoch in track(range(s.max_epochs), "training the probe (epochs, early stop)"):
        order = torch.randperm(len(yt), generator=gen).to(device)
        total = 0.0
        for start in range(0, len(order), s.batch_size):
            idx = order[start : start + s.batch_size]
            opt.zero_grad()
            loss = ce(layer(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        train_losses.append(total / len(yt))
        with torch.no_grad():
            monitor = float(ce(layer(xvt), yvt)) if xvt is not None else train_losses[-1]
        val_losses.append(monitor)
        if monitor < best[0] - 1e-6:
            best = (monitor, layer.weight.detach().clone(), layer.bias.detach().clone(), epoch)
            stale = 0
        else:
            stale += 1
            if stale >= s.patience:
                break
    info: dict[str, object] = {
        "epochs": len(train_losses),
        "best_epoch": best[3],
        "initial_loss": train_losses[0] if train_losses else float("nan"),
        "final_loss": train_losses[-1] if train_losses else float("nan"),
        "train_losses": train_losses,
        "val_losses": val_losses,
    }
    return best[1].cpu().numpy(), best[2].cpu().numpy(), info


def train_linear_probe(
    train_x: np.ndarray,
    train_y: np.ndarray,
    *,
    classes: tuple[str, ...] | list[str],
    encoder_spec: str,
    encoder_identity: str,
    val_x: np.ndarray | None = None,
    val_y: np.ndarray | None = None,
    settings: ProbeSettings | None = None,
    plan: DevicePlan | None = None,
) -> LinearHead:
    """Fit a linear head on embeddings.

    Parameters
    ----------
    train_x, val_x:
        float ``[N, D]`` embeddings.
    train_y, val_y:
        int ``[N]`` class indices into ``classes``.
    classes:
        Class names; the head has one output per class (C_reg uses this count).
    encoder_spec, encoder_identity:
        Recorded in the head so that it is only ever applied to the same encoder.
    settings:
        Protocol (:class:`ProbeSettings`; default UNI L-BFGS).
    plan:
        Where to train (the whole problem sits on the device: full-batch).

    Returns
    -------
    LinearHead
        With ``info`` holding the method, the losses before/after, iterations.
    """
    s = settings or ProbeSettings()
    plan = plan or DevicePlan()
    n_classes = len(classes)
    x = np.asarray(train_x, dtype=np.float32)
    y = np.asarray(train_y, dtype=np.int64)
    _check(x, y, n_classes, "train")
    xv = None if val_x is None else np.asarray(val_x, dtype=np.float32)
    yv = None if val_y is None else np.asarray(val_y, dtype=np.int64)
    if xv is not None and yv is not None:
        _check(xv, yv, n_classes, "validation")
    if len(y) == 0:
        raise DataFormatError("no training embeddings", hint="check the train split")
    if s.method not in ("lbfgs", "adamw"):
        raise DataFormatError(f"unknown probe method {s.method!r}", hint="lbfgs or adamw")
    with _small_problem_threads(plan, x.size):
        if s.method == "lbfgs":
            if s.combine_trainval and xv is not None and yv is not None and len(yv):
                x, y = np.concatenate([x, xv]), np.concatenate([y, yv])
            w, b, info = _fit_lbfgs(x, y, n_classes, s, plan)
        else:
            w, b, info = _fit_adamw(x, y, xv, yv, n_classes, s, plan)
    info = {"method": s.method, "n_train": len(y), **info}
    if s.method == "lbfgs":
        info.update(max_iter=s.max_iter, combine_trainval=s.combine_trainval)
    else:
        info.update(lr=s.lr, batch_size=s.batch_size, patience=s.patience)
    log.info("%s probe: loss %.4f → %.4f", s.method, info["initial_loss"], info["final_loss"])
    return LinearHead(
        weight=w,
        bias=b,
        classes=tuple(classes),
        encoder_spec=encoder_spec,
        encoder_identity=encoder_identity,
        info=info,
    )
