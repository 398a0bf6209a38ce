"""``patho qc-calibrate``: score distributions per class and the extremes of every score.

Thresholds are a curator's decision, not a constant: run the build once with the default
recipe, then read the per-class percentiles this prints (and the fraction each threshold
would exclude) and look at the PNG of the lowest / highest scoring patches of each score.
Move a threshold into the gap between clean tissue and the failures you see, re-run
``patho qc`` (no decoding: scores are cached) and check again.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from hepatokit.contracts.hepatobench import QC_CALIBRATION_PNG
from hepatokit.contracts.items import read_items
from hepatokit.curation.patho.config import FeaturesConfig, PatchQCConfig, features_section
from hepatokit.curation.patho.features.table import ensure_features, item_file
from hepatokit.curation.patho.gallery import image_grid
from hepatokit.curation.patho.qc.measures import (
    QC_CHECKS,
    RELATIVE_BOUNDS,
    qc_reason,
    relative_configs,
)
from hepatokit.recipe import stage_section

__all__ = ["QCCalibration", "calibrate_qc"]

_PCTS = (1, 5, 50, 95, 99)


@dataclass(frozen=True)
class QCCalibration:
    """Per-class percentiles of every score, both modes' thresholds, and the PNG written."""

    table: pa.Table  # class, score, n, p1, p5, p50, p95, p99, failing
    png: Path
    text: str
    relative: pa.Table | None = None  # class, threshold, fixed, relative


def _limits(cfg: PatchQCConfig) -> dict[str, str]:
    return {
        "background": f"> {cfg.background_max}",
        "stain": f"> {cfg.stain_max}",
        "stain_intensity": f"< {cfg.stain_intensity_min}",  # with eosin_p90 low too
        "eosin_fraction": f"< {cfg.eosin_fraction_min}",
        "eosin_p90": f"> {cfg.eosin_p90_max}",
        "pen": f"> {cfg.pen_max}",
        "ink": f"> {cfg.ink_max}",
        "sharpness": f"< {cfg.sharpness_min}",
        "blocking": f"> {cfg.blocking_max}",
    }


def _failing(score: str, values: np.ndarray, cfg: PatchQCConfig) -> np.ndarray:
    op, limit = _limits(cfg)[score].split()
    return values > float(limit) if op == ">" else values < float(limit)


def calibrate_qc(
    *,
    build: str | os.PathLike[str],
    qc: PatchQCConfig | None = None,
    features: FeaturesConfig | None = None,
    recipe: str | os.PathLike[str] | None = None,
    per_score: int = 6,
    workers: int | None = None,
) -> QCCalibration:
    """Print-ready score distributions per class + ``reports/qc_calibration.png``.

    Parameters
    ----------
    build
        A build folder after ``patho ingest`` (or ``tile``).
    qc, features
        The recipe's ``qc`` and ``features`` sections; each not given is read from
        ``recipe`` (default ``BUILD/recipe.yaml``, else the packaged hepatobench).
    per_score
        Patches shown at each end of every score in the PNG.
    """
    build = Path(build)
    rec_path = None if recipe is None else os.fspath(recipe)
    cfg = stage_section(build, qc, rec_path, default="hepatobench",
                        pick=lambda rec: rec.section("qc", PatchQCConfig))  # fmt: skip
    feats = stage_section(build, features, rec_path, default="hepatobench", pick=features_section)
    items = read_items(build)
    _, scores, _ = ensure_features(build, items, dhash=feats.dhash, workers=workers)
    cls_of = dict(
        zip(items.column("id").to_pylist(), items.column("class").to_pylist(), strict=True)
    )
    rows, lines = score_percentiles(scores, cls_of, cfg)
    rel_rows, rel_lines = mode_thresholds(scores.to_pylist(), cls_of, cfg)
    png = _extremes_png(build, items, scores, per_score)
    lines += [*rel_lines, f"lowest / highest scoring patches: {png}"]
    return QCCalibration(
        table=pa.Table.from_pylist(rows),
        png=png,
        text="\n".join(lines),
        relative=pa.Table.from_pylist(rel_rows),
    )


def score_percentiles(
    scores: pa.Table, cls_of: dict[str, str | None], cfg: PatchQCConfig
) -> tuple[list[dict[str, Any]], list[str]]:
    """Per class and overall, every score's percentiles and the share failing its threshold:
    table rows and the printed lines."""
    ids = scores.column("id").to_pylist()
    classes = np.array([cls_of.get(i) or "-" for i in ids])
    rows, lines = [], []
    limits = _limits(cfg)
    header = f"{'score':<16}{'class':<6}{'n':>7}" + "".join(f"{'p' + str(p):>10}" for p in _PCTS)
    for score in QC_CHECKS:
        values = np.asarray(scores.column(score).to_numpy(zero_copy_only=False), dtype=float)
        lines.append(f"\n{score}  (fails {limits[score]})")
        lines.append(header + f"{'failing':>9}")
        for cls in [*sorted(set(classes.tolist())), "ALL"]:
            v = values if cls == "ALL" else values[classes == cls]
            if not v.size:
                continue
            pct = np.percentile(v, _PCTS)
            fail = float(_failing(score, v, cfg).mean())
            rows.append({"class": cls, "score": score, "n": int(v.size),
                         **{f"p{p}": float(x) for p, x in zip(_PCTS, pct, strict=True)},
                         "failing": fail})  # fmt: skip
            lines.append(
                f"{'':<16}{cls:<6}{v.size:>7}"
                + "".join(f"{x:>10.4g}" for x in pct)
                + f"{fail:>9.2%}"
            )
    return rows, lines


def mode_thresholds(
    records: list[dict[str, Any]], cls_of: dict[str, str | None], cfg: PatchQCConfig
) -> tuple[list[dict[str, Any]], list[str]]:
    """How many items fail in each mode, and the relative mode's thresholds per class next
    to the fixed ones: table rows and the printed lines."""
    ids = [r["id"] for r in records]
    fixed = dataclasses.replace(cfg, mode="fixed")
    n_fail = sum(qc_reason(r, fixed) is not None for r in records)
    lines = [f"\nfixed mode (the recipe's thresholds): {n_fail} of {len(ids)} items fail QC"]
    rel_cfg = dataclasses.replace(cfg, mode="relative")
    per_class = relative_configs(records, [cls_of.get(i) for i in ids], rel_cfg)
    rel_fail = sum(
        qc_reason(r, per_class.get(cls_of.get(i), per_class[None])) is not None
        for r, i in zip(records, ids, strict=True)
    )
    rel_rows = []
    lines.append(
        f"\nrelative mode (qc.mode: relative; median ± {rel_cfg.relative_k:g} robust SD per "
        f"class, clamped): {rel_fail} of {len(ids)} items fail QC"
    )
    names = list(RELATIVE_BOUNDS)
    lines.append(f"{'class':<8}" + "".join(f"{n:>21}" for n in names))
    lines.append(f"{'fixed':<8}" + "".join(f"{getattr(fixed, n):>21.4g}" for n in names))
    for cls, c in per_class.items():
        label = "ALL" if cls is None else str(cls)
        lines.append(f"{label:<8}" + "".join(f"{getattr(c, n):>21.4g}" for n in names))
        rel_rows += [
            {"class": label, "threshold": n, "fixed": float(getattr(fixed, n)),
             "relative": float(getattr(c, n))}
            for n in names
        ]  # fmt: skip
    return rel_rows, lines


def _extremes_png(build: Path, items: pa.Table, scores: pa.Table, k: int) -> Path:
    where = {
        i: item_file(build, kind, p)
        for i, kind, p in zip(
            items.column("id").to_pylist(),
            items.column("kind").to_pylist(),
            items.column("path").to_pylist(),
            strict=True,
        )
    }
    ids = scores.column("id").to_pylist()
    rows, labels = [], []
    for score in QC_CHECKS:
        v = np.asarray(scores.column(score).to_numpy(zero_copy_only=False), dtype=float)
        order = np.lexsort((np.array(ids), v))
        low, high = order[:k].tolist(), order[::-1][:k].tolist()
        rows.append([(where[ids[i]], f"{v[i]:.3g}") for i in low])
        labels.append(f"{score}\nlowest")
        rows.append([(where[ids[i]], f"{v[i]:.3g}") for i in high])
        labels.append(f"{score}\nhighest")
    return image_grid(
        rows, build / QC_CALIBRATION_PNG,
        title="QC scores: lowest and highest patches per score", row_labels=labels,
    )  # fmt: skip
