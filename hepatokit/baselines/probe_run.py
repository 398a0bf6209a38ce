"""``hepatokit baseline probe``: frozen encoder(s) + linear head on a HepatoBench dataset.

For each encoder spec: embed the train / validation / test patches (cached by encoder
identity and image MD5 under ``OUT/cache``), fit the head (UNI L-BFGS protocol or the eva
AdamW variant), predict test, score it with :mod:`hepatokit.evaluation` (multi-class metrics
and stratified bootstrap CIs), and write::

    OUT/heads/<encoder>.npz            the head (reusable by HepatoQuant: load_head)
    OUT/predictions/<encoder>.csv      id,pred,prob_<CLASS>...  (the evaluator's input)
    OUT/metrics/<encoder>.json         metrics, CIs, embedding and training figures
    OUT/comparison.csv / .md           one row per encoder (the seed's Figure 2 table)
    OUT/test_truth.csv                 id,label of the labelled test patches, so that
                                       `hepatokit evaluate hepatobench --truth OUT/test_truth.csv
                                       --predictions OUT/predictions` scores the run
    OUT/logs/<encoder>.embedding.json  images computed / read from cache, images/s (run log)
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hepatokit.atomic import write_json_atomic, write_text_atomic
from hepatokit.baselines.devices import DevicePlan, select_device
from hepatokit.baselines.embeddings import EmbeddingCache, EmbeddingResult, embed_dataset
from hepatokit.baselines.heads import LinearHead, save_head
from hepatokit.baselines.linear_probe import ProbeSettings, train_linear_probe
from hepatokit.baselines.patch_data import PatchSplit, load_patch_splits
from hepatokit.errors import DataFormatError

__all__ = ["ProbeOutcome", "ProbeReport", "encoder_slug", "run_probe"]

log = logging.getLogger("hepatokit.baselines.probe")
HEADLINE = (
    "accuracy",
    "balanced_accuracy",
    "macro_f1",
    "weighted_f1",
    "quadratic_kappa",
    "macro_auroc",
)


@dataclass
class ProbeOutcome:
    """One encoder's result."""

    encoder: str
    head_path: Path
    predictions_path: Path
    metrics: dict[str, float]
    intervals: dict[str, tuple[float, float]]
    embedding: dict[str, dict[str, float]]
    head: LinearHead


@dataclass
class ProbeReport:
    out_dir: Path
    outcomes: list[ProbeOutcome] = field(default_factory=list)

    @property
    def comparison_path(self) -> Path:
        return self.out_dir / "comparison.csv"

    @property
    def heads(self) -> dict[str, Path]:
        """Encoder spec → saved head (``load_head``; HepatoQuant's input)."""
        return {o.encoder: o.head_path for o in self.outcomes}


def encoder_slug(spec: str) -> str:
    """File-safe name of an encoder spec: ``hf:MahmoodLab/UNI`` → ``hf-MahmoodLab-UNI``."""
    if spec.startswith("torchscript:"):
        spec = "torchscript:" + Path(spec.split(":", 1)[1]).stem
    return re.sub(r"[^A-Za-z0-9._-]+", "-", spec).strip("-")


def _embed_split(
    encoder: Any,
    split: PatchSplit,
    cache: EmbeddingCache,
    plan: DevicePlan,
    batch_size: int,
    num_workers: int,
) -> EmbeddingResult:
    return embed_dataset(
        encoder,
        split.images,
        split.md5s,
        cache=cache,
        plan=plan,
        batch_size=batch_size,
        num_workers=num_workers,
        image_key=split.image_key,
    )


def _metrics(
    y: np.ndarray,
    pred: np.ndarray,
    probs: np.ndarray,
    classes: Sequence[str],
    n_boot: int,
    seed: int,
) -> tuple[dict[str, float], dict[str, tuple[float, float]]]:
    from hepatokit.evaluation import multiclass_bootstrap, multiclass_metrics

    report = multiclass_metrics(y, pred, classes=classes, probabilities=probs)
    cis: dict[str, tuple[float, float]] = {}
    if n_boot > 0:
        for name, ci in multiclass_bootstrap(
            y, pred, classes=classes, probabilities=probs, n_resamples=n_boot, seed=seed
        ).items():
            cis[name] = (float(ci.low), float(ci.high))
    return {k: float(v) for k, v in report.metrics.items()}, cis


def _predictions_frame(
    ids: Sequence[str], probs: np.ndarray, classes: Sequence[str]
) -> pd.DataFrame:
    frame = pd.DataFrame({"id": list(ids), "pred": [classes[i] for i in probs.argmax(1)]})
    for k, c in enumerate(classes):
        frame[f"prob_{c}"] = probs[:, k]
    return frame


def _comparison(outcomes: Sequence[ProbeOutcome]) -> pd.DataFrame:
    rows = []
    for o in outcomes:
        row: dict[str, Any] = {"encoder": o.encoder}
        for m in HEADLINE:
            row[m] = o.metrics.get(m, float("nan"))
            lo, hi = o.intervals.get(m, (float("nan"), float("nan")))
            row[f"{m}_low"], row[f"{m}_high"] = lo, hi
        rows.append(row)
    return pd.DataFrame(rows)


def _markdown(table: pd.DataFrame) -> str:
    head = "| encoder | " + " | ".join(HEADLINE) + " |"
    sep = "|---|" + "---|" * len(HEADLINE)
    lines = ["# Linear probe: encoder comparison (test split, 95 % bootstrap CI)", "", head, sep]
    for _, r in table.iterrows():
        cells = []
        for m in HEADLINE:
            v, lo, hi = r[m], r[f"{m}_low"], r[f"{m}_high"]
            cells.append(
                "n/a"
                if pd.isna(v)
                else f"{100 * v:.1f}"
                + ("" if pd.isna(lo) else f" [{100 * lo:.1f}, {100 * hi:.1f}]")
            )
        lines.append(f"| {r['encoder']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def run_probe(
    *,
    data: str | Path | Mapping[str, PatchSplit],
    encoders: Sequence[str],
    out: str | Path,
    classes: Sequence[str] | None = None,
    settings: ProbeSettings | None = None,
    device: str = "auto",
    amp: bool | None = None,
    embed_batch_size: int = 128,
    num_workers: int = 0,
    cache_dir: str | Path | None = None,
    bootstrap: int = 1000,
    seed: int = 0,
) -> ProbeReport:
    """Run the linear probe for every encoder in ``encoders``; see the module docstring.

    Parameters
    ----------
    data:
        A published HepatoBench folder (HFDIR), or ``split → PatchSplit`` already loaded.
        Splits used: ``train``, ``validation`` (optional), ``test``.
    encoders:
        Encoder specs (``builtin:tiny-cnn``, ``timm:…``, ``hf:…``, ``torchscript:…``).
    out:
        Output folder.
    classes:
        Class names (default: those of the dataset).
    settings:
        Head-training protocol (default: UNI L-BFGS).
    device, amp:
        ``auto``/``cpu``/``cuda``; autocast override (default on for CUDA, bf16).
    cache_dir:
        Embedding cache (default ``OUT/cache``).
    bootstrap:
        Bootstrap resamples for the CIs (0: none).
    """
    from hepatokit.baselines.encoders import parse_encoder_spec

    if not encoders:
        raise DataFormatError("no encoder given", hint="--encoder builtin:tiny-cnn")
    for spec in encoders:
        parse_encoder_spec(spec)  # a typo fails before any data is read
    out_dir = Path(out)
    splits, names = load_patch_splits(data, classes=classes)
    if "train" not in splits or "test" not in splits:
        raise DataFormatError(
            f"the dataset needs train and test splits, has {sorted(splits)}",
            path=str(data) if not isinstance(data, Mapping) else None,
        )
    plan = select_device(device, amp=amp)
    cache = EmbeddingCache(cache_dir or out_dir / "cache")
    settings = settings or ProbeSettings(seed=seed)
    report = ProbeReport(out_dir=out_dir)
    for spec in encoders:
        outcome = _probe_encoder(
            spec, splits, names, out_dir=out_dir, plan=plan, cache=cache, settings=settings,
            embed=(embed_batch_size, num_workers), bootstrap=bootstrap, seed=seed,
        )  # fmt: skip
        report.outcomes.append(outcome)
        log.info("probe %s: macro-F1 %.3f", spec, outcome.metrics.get("macro_f1", float("nan")))
    _write_truth(out_dir / "test_truth.csv", splits["test"], names)
    table = _comparison(report.outcomes)
    write_text_atomic(
        report.comparison_path, table.to_csv(index=False, float_format="%.6f", lineterminator="\n")
    )
    write_text_atomic(out_dir / "comparison.md", _markdown(table))
    return report


def _probe_encoder(
    spec: str,
    splits: Mapping[str, PatchSplit],
    names: tuple[str, ...],
    *,
    out_dir: Path,
    plan: DevicePlan,
    cache: EmbeddingCache,
    settings: ProbeSettings,
    embed: tuple[int, int],
    bootstrap: int,
    seed: int,
) -> ProbeOutcome:
    """Embed the splits, train the head, predict and score the test split, write the
    encoder's head, predictions, metrics and embedding log."""
    from hepatokit.baselines.encoders import load_encoder

    slug = encoder_slug(spec)
    encoder = load_encoder(spec, device=plan.device)
    emb: dict[str, EmbeddingResult] = {
        name: _embed_split(encoder, split, cache, plan, *embed)
        for name, split in splits.items()
        if name in ("train", "validation", "test")
    }
    val = emb.get("validation")
    head = train_linear_probe(
        emb["train"].features,
        splits["train"].labels,
        val_x=None if val is None else val.features,
        val_y=None if val is None else splits["validation"].labels,
        classes=names,
        encoder_spec=spec,
        encoder_identity=encoder.identity,
        settings=settings,
        plan=plan,
    )
    head_path = save_head(head, out_dir / "heads" / f"{slug}.npz")
    test = splits["test"]
    probs = head.predict_proba(emb["test"].features)
    pred_path = out_dir / "predictions" / f"{slug}.csv"
    write_text_atomic(
        pred_path,
        _predictions_frame(test.ids, probs, names).to_csv(
            index=False, float_format="%.6f", lineterminator="\n"
        ),
    )
    labelled = test.labels >= 0
    metrics: dict[str, float] = {}
    cis: dict[str, tuple[float, float]] = {}
    if labelled.any():
        y, p = test.labels[labelled], probs[labelled]
        metrics, cis = _metrics(y, p.argmax(1), p, names, bootstrap, seed)
    embedding = _embedding_log(emb)
    write_json_atomic(
        out_dir / "metrics" / f"{slug}.json",
        {
            "encoder": encoder.describe(),
            "device": plan.describe(),
            "metrics": metrics,
            "ci95": {k: list(v) for k, v in cis.items()},
            "head": head.info | {"path": f"heads/{slug}.npz"},
            "n_test_labelled": int(labelled.sum()),
        },
    )
    # timings and cache hits differ between runs: kept apart from the results
    write_json_atomic(out_dir / "logs" / f"{slug}.embedding.json", embedding)
    return ProbeOutcome(spec, head_path, pred_path, metrics, cis, embedding, head)


def _embedding_log(emb: Mapping[str, EmbeddingResult]) -> dict[str, dict[str, float]]:
    """Per split: images embedded, taken from the cache, seconds and images per second."""
    return {
        k: {
            "computed": float(v.n_computed),
            "cached": float(v.n_cached),
            "seconds": v.seconds,
            "images_per_second": v.images_per_second,
        }
        for k, v in emb.items()
    }


def _write_truth(path: Path, test: PatchSplit, names: Sequence[str]) -> None:
    """``test_truth.csv`` (``id,label``) of the labelled test patches, if any."""
    labelled = test.labels >= 0
    if not labelled.any():
        return
    truth = pd.DataFrame(
        {
            "id": [i for i, ok in zip(test.ids, labelled, strict=True) if ok],
            "label": [names[k] for k in test.labels[labelled]],
        }
    )
    write_text_atomic(path, truth.to_csv(index=False, lineterminator="\n"))
