"""Card figures (matplotlib, Agg): byte-stable PNGs (no software/date metadata)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from hepatokit.atomic import atomic_path

__all__ = ["grouped_bars_png"]


def grouped_bars_png(
    path: Path,
    values: Mapping[str, Mapping[str, float]],
    categories: Sequence[str],
    *,
    title: str,
    ylabel: str,
) -> Path:
    """A grouped bar chart: one group per category, one bar per series (``values[series]``).

    ``values`` maps a series (e.g. a split) to ``{category: value}``; written atomically.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    # a bare Figure on the Agg canvas: no pyplot (no global figure registry, lighter import)
    series = list(values)
    width = 0.8 / max(1, len(series))
    fig = Figure(figsize=(max(5.0, 0.9 * len(categories) + 2), 3.2), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for k, name in enumerate(series):
        xs = [i + (k - (len(series) - 1) / 2) * width for i in range(len(categories))]
        ax.bar(xs, [values[name].get(c, 0) for c in categories], width, label=name)
    ax.set_xticks(range(len(categories)), list(categories))
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize="small", frameon=False)
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", metadata={"Software": None})
    return path
