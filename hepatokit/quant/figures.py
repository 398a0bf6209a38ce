"""HepatoQuant figures: the tissue map (class colours + legend) and the region outlines."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from hepatokit.atomic import atomic_path

__all__ = ["CLASS_COLOURS", "save_regions_figure", "save_tissue_map"]

#: one colour per HepatoBench class (colour-blind-friendly tab10 picks)
CLASS_COLOURS: dict[str, str] = {
    "TUM": "#d62728",
    "FIB": "#1f77b4",
    "INF": "#9467bd",
    "NEC": "#7f7f7f",
    "NOR": "#2ca02c",
    "REA": "#ff7f0e",
    "STE": "#e7c000",
}


def _colour(name: str, i: int) -> str:
    import matplotlib
    from matplotlib.colors import to_hex

    return CLASS_COLOURS.get(name) or to_hex(matplotlib.colormaps["tab10"](i % 10))


def save_tissue_map(
    path: str | Path,
    *,
    grid: np.ndarray,
    classes: Sequence[str],
    thumbnail: np.ndarray | None = None,
    title: str = "",
) -> Path:
    """Write ``tissue_map.png``: the class of every tile (grid of class indices, -1 = none).

    ``thumbnail`` (H, W, 3) uint8, if given, is shown beside the map for orientation.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    colours = ["#ffffff"] + [_colour(c, i) for i, c in enumerate(classes)]
    cmap = ListedColormap(colours)
    ncols = 2 if thumbnail is not None else 1
    fig, axes = plt.subplots(1, ncols, figsize=(5 * ncols + 1.5, 5), squeeze=False)
    ax = axes[0, 0]
    ax.imshow(grid.astype(int) + 1, cmap=cmap, vmin=0, vmax=len(classes), interpolation="nearest")
    ax.set_title(title or "tissue map (one cell per tile)")
    ax.set_axis_off()
    if thumbnail is not None:
        axes[0, 1].imshow(thumbnail)
        axes[0, 1].set_title("slide")
        axes[0, 1].set_axis_off()
    handles = [Patch(color=colours[i + 1], label=c) for i, c in enumerate(classes)]
    fig.legend(handles=handles, loc="center right", frameon=False)
    fig.tight_layout(rect=(0, 0, 0.85, 1))
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=100, metadata={"Software": None})
    plt.close(fig)
    return Path(path)


def save_regions_figure(
    path: str | Path,
    *,
    thumbnail: np.ndarray,
    tumor_mask: np.ndarray,
    title: str = "",
) -> Path:
    """Write ``regions.png``: the slide thumbnail with the tumor region outlined.

    ``tumor_mask`` is a boolean array with the thumbnail's (H, W).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 6 * thumbnail.shape[0] / max(thumbnail.shape[1], 1)))
    ax.imshow(thumbnail)
    if tumor_mask.any():
        ax.contour(tumor_mask.astype(float), levels=[0.5], colors=["#d62728"], linewidths=2)
    ax.set_title(title or "tumor region (red outline)")
    ax.set_axis_off()
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=100, metadata={"Software": None})
    plt.close(fig)
    return Path(path)
