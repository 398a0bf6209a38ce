"""PNG galleries: the largest duplicate clusters, the lowest/highest QC scores."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
from PIL import Image

from hepatokit.atomic import atomic_path
from hepatokit.contracts.hepatobench import DEDUP_CLUSTERS_PNG
from hepatokit.curation.patho.features.table import item_file

if TYPE_CHECKING:
    from hepatokit.curation.patho.dedup.exact import DedupDecision

__all__ = ["cluster_gallery", "image_grid"]


def _thumb(path: Path, size: int = 96) -> np.ndarray:
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB").resize((size, size)))
    except Exception:  # an unreadable file shows as a grey square
        return np.full((size, size, 3), 128, np.uint8)


def image_grid(
    rows: Sequence[Sequence[tuple[Path, str]]], out: Path, *, title: str, row_labels: Sequence[str]
) -> Path:
    """Write a grid of thumbnails (one row per entry of ``rows``; captions under each)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ncols = max((len(r) for r in rows), default=1) or 1
    nrows = max(len(rows), 1)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(1.6 * ncols + 1, 1.8 * nrows + 0.6), squeeze=False
    )
    for ax in axes.ravel():
        ax.axis("off")
    for r, (row, label) in enumerate(zip(rows, row_labels, strict=True)):
        for c, (path, caption) in enumerate(row):
            ax = axes[r][c]
            ax.imshow(_thumb(path))
            ax.set_title(caption, fontsize=6)
        axes[r][0].text(-0.1, 0.5, label, transform=axes[r][0].transAxes, fontsize=7,
                        ha="right", va="center")  # fmt: skip
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    with atomic_path(out, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=90, format="png", metadata={"Software": None})
    plt.close(fig)
    return out


def cluster_gallery(
    build: Path, decisions: list[DedupDecision], items: pa.Table, *, max_clusters: int = 12,
    per_cluster: int = 8,
) -> Path:  # fmt: skip
    """``reports/dedup_clusters.png``: the largest clusters, representative first."""
    info = {
        i: (k, p)
        for i, k, p in zip(
            items.column("id").to_pylist(),
            items.column("kind").to_pylist(),
            items.column("path").to_pylist(),
            strict=True,
        )
    }
    by_cluster: dict[str, list[DedupDecision]] = defaultdict(list)
    for d in decisions:
        by_cluster[d.cluster_id].append(d)
    largest = sorted(by_cluster.items(), key=lambda kv: (-len(kv[1]), kv[0]))[:max_clusters]
    rows, labels = [], []
    for cid, members in largest:
        members = sorted(members, key=lambda d: (d.reason is not None, d.distance, d.id))
        row = []
        for d in members[:per_cluster]:
            kind, rel = info[d.id]
            tag = (
                "rep"
                if d.reason is None
                else ("conflict" if d.reason == "label_conflict" else f"d={d.distance}")
            )
            row.append((item_file(build, kind, rel), tag))
        rows.append(row)
        labels.append(f"{cid[:8]} (n={len(members)})")
    return image_grid(
        rows, Path(build) / DEDUP_CLUSTERS_PNG,
        title="Largest duplicate clusters (first: kept representative)", row_labels=labels,
    )  # fmt: skip
