"""The slides of a synthetic WSI set: name, planted kind, resolution and size of each."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["SlideSpec", "plan_slides"]


@dataclass(frozen=True)
class SlideSpec:
    """One slide to write (picklable: a worker process writes it)."""

    name: str
    kind: str  # ok | truncated | flat | no_mpp
    mpp: float
    width: int
    height: int
    index: int
    seed: int
    out: str
    marker: str = ""  # JSON with the truth entry and file digests once the slide is complete
    aperio: bool = False  # Aperio-style SVS: mpp and AppMag in ImageDescription, no res. tags

    @property
    def file(self) -> str:
        return f"slides/{self.name}.{'svs' if self.aperio else 'tif'}"


def plan_slides(
    slides: int,
    seed: int,
    out: Path,
    mpps: Sequence[float],
    size_40x: tuple[int, int],
    size_20x: tuple[int, int],
    bad_slides: bool,
) -> list[SlideSpec]:
    """``slides`` good slides (mpp cycling through ``mpps``, every third an Aperio-style
    ``.svs``), then the planted bad ones: truncated, flat (stripped, single-level), no mpp."""

    def size(mpp: float) -> tuple[int, int]:
        return size_40x if mpp < 0.375 else size_20x

    specs = []
    for i in range(slides):
        mpp = float(mpps[i % len(mpps)])
        w, h = size(mpp)
        aperio = i % 3 == 2  # every third good slide is an Aperio-style .svs
        specs.append(
            SlideSpec(f"wsi-{i + 1:03d}", "ok", mpp, w, h, i, seed, str(out), aperio=aperio)
        )
    if bad_slides:
        w20, h20 = size_20x
        flat = (max(1200, int(w20 * 0.6)), max(1200, int(h20 * 0.6)))
        extra = [("truncated", 0.5, size_20x), ("flat", 0.5, flat), ("no_mpp", 0.5, size_20x)]
        for j, (kind, mpp, (w, h)) in enumerate(extra):
            i = slides + j
            specs.append(SlideSpec(f"wsi-{i + 1:03d}", kind, mpp, w, h, i, seed, str(out)))
    return specs
