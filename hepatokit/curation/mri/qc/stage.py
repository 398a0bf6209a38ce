"""``mri qc``: per-volume checks and the missing-modality matrix.

Per volume (``BUILD/qc/volume_qc.parquet``): shape, voxel spacing (mm), orientation code,
dtype, non-finite voxel count, empty (all zero) and constant volumes, intensity percentiles,
irregular slice spacing (from the source images' positions in the index: the largest
``|gap - median| / median``), corrupt slices (:func:`corrupt_slices`: a blank or noise slice
between two that agree, as a damaged compressed slice decodes), and tiny coverage (fewer
than ``min_slices`` slices or less than ``min_coverage_mm`` along the slice axis). Checks
named in the recipe's ``fail_on`` exclude the volume (its files get ``qc:<check>`` in the
ledger); the others are flags.

The missing-modality matrix (subjects × sequences, 1 = a volume that passed QC) goes to
``BUILD/qc/missing_modality.csv`` and ``BUILD/reports/missing_modality.png``.
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pandas as pd
import pyarrow as pa

from hepatokit.atomic import atomic_path, write_parquet_atomic, write_text_atomic
from hepatokit.curation.mri.config import MriQcConfig, mri_config
from hepatokit.errors import BuildStateError
from hepatokit.manifest import Manifest, excluded, kept, provenance
from hepatokit.parallel import map_items
from hepatokit.recipe import build_recipe

__all__ = ["QcSummary", "corrupt_slices", "missing_modality_matrix", "qc_volumes"]

log = logging.getLogger("hepatokit.curation.mri.qc.stage")

QC_SCHEMA = pa.schema(
    [
        ("subject_id", pa.string()),
        ("sequence", pa.string()),
        ("series_id", pa.string()),
        ("path", pa.string()),
        ("shape", pa.list_(pa.int64())),
        ("spacing", pa.list_(pa.float64())),
        ("orientation", pa.string()),
        ("dtype", pa.string()),
        ("n_nonfinite", pa.int64()),
        ("empty", pa.bool_()),
        ("constant", pa.bool_()),
        ("percentiles", pa.list_(pa.float64())),
        ("slice_gap_ratio", pa.float64()),
        ("irregular_spacing", pa.bool_()),
        ("coverage_mm", pa.float64()),
        ("tiny_coverage", pa.bool_()),
        ("corrupt_slices", pa.list_(pa.int64())),
        ("flags", pa.list_(pa.string())),
        ("qc_reason", pa.string()),
    ]
)


@dataclass(frozen=True)
class QcSummary:
    """Volumes checked, failed (excluded), and flagged (kept with a warning)."""

    volumes: int
    failed: int
    flagged: int
    qc_path: Path
    matrix_path: Path


def _slice_gap_ratio(positions: list[list[float]], orientation: list[float] | None) -> float:
    """Largest relative deviation of the slice gaps from their median (0 = regular)."""
    pts = [p for p in positions if p is not None]
    if len(pts) < 3 or orientation is None:
        return 0.0
    normal = np.cross(np.asarray(orientation[:3]), np.asarray(orientation[3:]))
    d = np.unique(np.round(np.asarray(pts) @ normal, 3))
    if len(d) < 3:
        return 0.0
    gaps = np.diff(d)
    med = float(np.median(gaps))
    return float(np.max(np.abs(gaps - med)) / med) if med > 0 else 0.0


#: a slice this many times farther from its neighbours' mean than they are from each other
#: is corrupt (anatomy and noise alike give 1.2-1.8)
JUMP_RATIO = 5.0


def corrupt_slices(data: np.ndarray) -> list[int]:
    """Interior slices (axis 2; every frame of a 4D volume) that break from both neighbours:
    constant (a slice the decoder could not read comes out blank) while both neighbours hold
    signal; uncorrelated with both neighbours while those two agree; or farther from the mean
    of its neighbours than :data:`JUMP_RATIO` times their distance from each other (a slice
    decoded into noise or a shifted intensity). Real anatomy changes smoothly from slice to
    slice; a corrupt compressed slice (JPEG 2000, JPEG-LS...) that a converter decodes
    without an error does not."""
    if data.ndim < 3 or data.shape[2] < 3:
        return []
    frames = data.reshape(*data.shape[:3], -1)
    bad: set[int] = set()
    for f in range(frames.shape[3]):
        vol = np.asarray(frames[..., f], dtype=np.float64)
        flat = vol.reshape(-1, vol.shape[2]).T  # one row per slice
        std = flat.std(axis=1)
        centred = flat - flat.mean(axis=1, keepdims=True)
        norm = np.sqrt((centred**2).sum(axis=1))
        norm[norm == 0] = np.inf
        unit = centred / norm[:, None]
        nxt = (unit[:-1] * unit[1:]).sum(axis=1)  # corr(k, k + 1)
        skip = (unit[:-2] * unit[2:]).sum(axis=1)  # corr(k - 1, k + 1)
        for k in range(1, flat.shape[0] - 1):
            if std[k - 1] == 0 or std[k + 1] == 0:
                continue
            noise = skip[k - 1] > 0.5 and max(nxt[k - 1], nxt[k]) < 0.1
            # how far the slice is from its neighbours' mean, against how far they are
            # from each other: ~1.2-1.8 for anatomy and for pure noise alike
            residual = np.abs(flat[k] - (flat[k - 1] + flat[k + 1]) / 2).mean()
            spread = np.abs(flat[k - 1] - flat[k + 1]).mean() / 2
            jump = residual > JUMP_RATIO * spread if spread > 0 else residual > 0
            if std[k] == 0 or noise or jump:
                bad.add(k)
    return sorted(bad)


def _check(job: tuple[str, str, dict[str, Any], MriQcConfig]) -> dict[str, Any]:
    build, rel, info, cfg = job
    img: Any = nib.load(str(Path(build) / rel))
    data = np.asanyarray(img.dataobj)
    zooms = [float(z) for z in img.header.get_zooms()[:3]]
    finite = np.isfinite(data) if data.dtype.kind == "f" else np.ones(data.shape, bool)
    n_bad = int(data.size - finite.sum())
    values = data[finite] if n_bad else data.ravel()
    vmax = float(values.max()) if values.size else 0.0
    vmin = float(values.min()) if values.size else 0.0
    pct = [float(v) for v in np.percentile(values, cfg.percentiles)] if values.size else []
    n_slices = int(data.shape[2]) if data.ndim >= 3 else 1
    coverage = n_slices * zooms[2]
    gap = _slice_gap_ratio(info["positions"], info["orientation"])
    broken = corrupt_slices(data) if not n_bad else []
    row = {
        **{k: info[k] for k in ("subject_id", "sequence", "series_id")},
        "path": rel,
        "shape": [int(s) for s in data.shape],
        "spacing": [round(z, 6) for z in zooms],
        "orientation": "".join(c or "?" for c in nib.aff2axcodes(img.affine)),  # ? = collapsed
        "dtype": str(img.get_data_dtype()),
        "n_nonfinite": n_bad,
        "empty": bool(values.size == 0 or (vmax == 0 and vmin == 0)),
        "constant": bool(values.size > 0 and vmax == vmin and vmax != 0),
        "percentiles": [round(v, 4) for v in pct],
        "slice_gap_ratio": round(gap, 4),
        "irregular_spacing": gap > cfg.max_slice_gap_ratio,
        "coverage_mm": round(coverage, 3),
        "tiny_coverage": n_slices < cfg.min_slices or coverage < cfg.min_coverage_mm,
        "corrupt_slices": broken,
    }
    checks = {
        "non_finite": n_bad > 0,
        "empty": row["empty"],
        "constant": row["constant"],
        "irregular_spacing": row["irregular_spacing"],
        "tiny_coverage": row["tiny_coverage"],
        "corrupt_slice": bool(broken),
    }
    failed = [c for c, bad in checks.items() if bad]
    row["flags"] = failed
    row["qc_reason"] = next((c for c in failed if c in cfg.fail_on), None)
    return row


def qc_volumes(
    *,
    build: str | os.PathLike[str],
    recipe: str | os.PathLike[str] | None = None,
    workers: int | None = None,
    executor: Executor | None = None,
) -> QcSummary:
    """Check every converted volume of ``build`` and write the missing-modality matrix."""
    build = Path(build)
    rec = build_recipe(build, None if recipe is None else os.fspath(recipe), default="lifs")
    mcfg = mri_config(rec)
    vol_path = build / "volumes.parquet"
    if not vol_path.is_file():
        raise BuildStateError("no volumes.parquet", path=build, hint="run `hepatokit mri convert`")
    vols = pd.read_parquet(vol_path)
    vols = vols[vols["status"] == "ok"].sort_values(["subject_id", "sequence"])
    series = pd.read_parquet(build / "series.parquet").set_index("series_id")
    inst = pd.read_parquet(
        build / "instances.parquet", columns=["item_id", "position", "orientation"]
    )
    inst = inst.set_index("item_id")
    jobs = []
    for v in vols.to_dict("records"):
        items = list(series.loc[v["series_id"], "item_ids"])
        sub = inst.loc[items]
        info = {
            "subject_id": v["subject_id"],
            "sequence": v["sequence"],
            "series_id": v["series_id"],
            "positions": [None if p is None else list(p) for p in sub["position"]],
            "orientation": None
            if sub["orientation"].iloc[0] is None
            else list(sub["orientation"].iloc[0]),
        }
        jobs.append((str(build), v["path"], info, mcfg.qc))
    results = map_items(_check, jobs, executor=executor, workers=workers, description="volume QC")
    rows, ledger = [], []
    for job, res in zip(jobs, results, strict=True):
        info = job[2]
        row = (
            res.value
            if res.ok and res.value
            else {
                **{k: info[k] for k in ("subject_id", "sequence", "series_id")},
                "path": job[1],
                "flags": ["unreadable"],
                "qc_reason": "unreadable",
            }
        )
        rows.append(row)
        for item in series.loc[info["series_id"], "item_ids"]:
            if row["qc_reason"]:
                ledger.append(
                    excluded(
                        item,
                        kind="file",
                        stage="qc",
                        reason=f"qc:{row['qc_reason']}",
                        detail=res.error or ", ".join(row["flags"]),
                    )
                )
            else:
                ledger.append(
                    kept(item, kind="file", stage="qc", detail=", ".join(row["flags"]) or None)
                )
    qc_path = write_parquet_atomic(
        build / "qc" / "volume_qc.parquet",
        pa.Table.from_pylist(
            [{k: r.get(k) for k in QC_SCHEMA.names} for r in rows], schema=QC_SCHEMA
        ),
    )
    Manifest(build).record(
        "qc", ledger, provenance_info=provenance(stage="mri.qc", recipe_sha256=rec.sha256)
    )
    passed = pd.DataFrame(
        [r for r in rows if not r["qc_reason"]], columns=["subject_id", "sequence"]
    )
    matrix = missing_modality_matrix(build, passed, mcfg.sequences)
    failed = sum(1 for r in rows if r["qc_reason"])
    flagged = sum(1 for r in rows if r["flags"] and not r["qc_reason"])
    log.info("qc: %d volumes, %d failed, %d flagged", len(rows), failed, flagged)
    return QcSummary(len(rows), failed, flagged, qc_path, matrix)


def missing_modality_matrix(build: Path, present: pd.DataFrame, sequences: tuple[str, ...]) -> Path:
    """Write ``qc/missing_modality.csv`` and ``reports/missing_modality.png``; return the CSV."""
    inst = pd.read_parquet(build / "instances.parquet", columns=["subject_id", "center", "vendor"])
    subjects = inst.drop_duplicates("subject_id").sort_values(["vendor", "subject_id"])
    have = set(zip(present["subject_id"], present["sequence"], strict=True))
    table = subjects[["subject_id", "center", "vendor"]].copy()
    for seq in sequences:
        table[seq] = [int((s, seq) in have) for s in table["subject_id"]]
    table["n_present"] = table[list(sequences)].sum(axis=1)
    csv_path = build / "qc" / "missing_modality.csv"
    write_text_atomic(csv_path, table.to_csv(index=False, lineterminator="\n"))
    _heatmap(build / "reports" / "missing_modality.png", table, sequences)
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
