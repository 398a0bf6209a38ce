"""Training data of the region model: slides + tumor annotations → label maps at the model's
magnification, windows sampled from the tissue, and the slide-level split.

A slide is read once, whole, at the model's resolution (default 1.25×, 8 µm/px: a 20× 150 px
HepatoBench tile is ~9 px there, so a window of 96 px sees ~10 tiles of context). Labels:
``0`` non-tumor tissue, ``1`` tumor, ``255`` background (outside the tissue detector's mask;
ignored by the loss). Annotations are QuPath GeoJSON (class ``Tumor``) or label-mask images
(non-zero = tumor; the downsample from ``--mask-downsample`` or a ``_ds<N>`` name suffix).
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hepatokit.errors import DataFormatError, LeakageError
from hepatokit.quant.regions import RegionSource, load_regions

__all__ = [
    "IGNORE",
    "SlideImage",
    "WindowSampler",
    "find_annotation",
    "read_hepatobench_slides",
    "read_slide_image",
    "split_slides",
]

IGNORE = 255
_DS = re.compile(r"_ds(\d+(?:\.\d+)?)$")
#: a slide pseudonym (:func:`hepatokit.pseudonyms.slide_pseudonym`)
_PSEUDONYM = re.compile(r"slide-[0-9a-f]{16}")
ANNOTATION_SUFFIXES = (".geojson", ".json", ".png", ".tif", ".tiff")


@dataclass
class SlideImage:
    """One slide at the model's resolution.

    ``image`` RGB uint8 (H, W, 3); ``tissue`` bool (H, W) from the tissue detector;
    ``labels`` uint8 (H, W) (0 non-tumor, 1 tumor, 255 background) when annotated;
    ``downsample`` level-0 px per pixel; ``level0_size`` (width, height); ``mpp`` level 0.
    """

    slide_id: str
    image: np.ndarray
    tissue: np.ndarray
    downsample: float
    level0_size: tuple[int, int]
    mpp: float
    labels: np.ndarray | None = None


def read_slide_image(
    path: str | os.PathLike[str],
    *,
    model_mpp: float,
    mpp: float | None = None,
    regions: RegionSource | None = None,
) -> SlideImage:
    """Read a whole slide at ``model_mpp`` µm/px, detect its tissue, rasterise ``regions``.

    Raises
    ------
    hepatokit.curation.patho.SlideError
        Unreadable slide, no resolution metadata (pass ``mpp``)...
    """
    from hepatokit.curation.patho import detect_tissue, open_slide

    p = Path(path)
    with open_slide(p, mpp=mpp) as reader:
        info = reader.info
        image, ds = reader.thumbnail(model_mpp / info.mpp)
        size = info.dimensions
    image = np.ascontiguousarray(image)
    tissue = detect_tissue(image, mpp=info.mpp * ds)
    labels = None
    if regions is not None:
        tumor = regions.mask(image.shape[:2], ds)
        labels = np.where(tissue, tumor.astype(np.uint8), np.uint8(IGNORE)).astype(np.uint8)
    return SlideImage(p.stem, image, tissue, float(ds), (int(size[0]), int(size[1])),
                      float(info.mpp), labels)  # fmt: skip


def find_annotation(
    annotations: str | os.PathLike[str], slide: Path, *, mask_downsample: float | None = None
) -> RegionSource:
    """The tumor annotation of ``slide`` in folder ``annotations``: ``<stem>.geojson`` /
    ``<stem>.json`` (QuPath), else a mask ``<stem>_mask.png``, ``<stem>.png`` or
    ``<stem>_tumor_ds<N>.png`` (downsample ``N``, or ``mask_downsample``)."""
    folder = Path(annotations)
    candidates: list[Path] = []
    for sub in (folder, folder / "annotations", folder / "masks"):
        if sub.is_dir():
            candidates += sorted(
                q
                for q in sub.iterdir()
                if q.suffix.lower() in ANNOTATION_SUFFIXES
                and (q.stem == slide.stem or q.stem.startswith(slide.stem + "_"))
            )
    candidates.sort(key=lambda q: (q.suffix.lower() not in (".geojson", ".json"), str(q)))
    for q in candidates:
        if q.suffix.lower() in (".geojson", ".json"):
            if q.stem != slide.stem:
                continue
            return load_regions(q)
        m = _DS.search(q.stem)
        ds = float(m.group(1)) if m else mask_downsample
        if ds is None:
            raise DataFormatError(
                "a mask image needs its downsample", path=q, hint="pass --mask-downsample D"
            )
        return load_regions(q, mask_downsample=ds)
    raise DataFormatError(
        f"no annotation for slide {slide.name}",
        path=folder,
        hint=f"add {slide.stem}.geojson (QuPath export) or {slide.stem}_mask.png",
    )


def read_hepatobench_slides(path: str | os.PathLike[str]) -> set[str]:
    """Slide ids that built the HepatoBench patch set: a ``.txt`` (one per line), a ``.csv`` /
    ``.parquet`` table with a ``slide_id`` column (e.g. the build's patch table), or a build
    folder (its ``private/slide_pseudonyms.parquet``).

    A build's tables hold keyed slide pseudonyms: they are turned back into the slide ids
    they stand for through the build's private map (next to the table), so that they match
    the slide files' names.

    Raises
    ------
    DataFormatError
        No such file; no ``slide_id`` column; pseudonyms without the private map.
    """
    from hepatokit.pseudonyms import slide_originals

    p = Path(path)
    if p.is_dir():
        originals = slide_originals(p)
        if not originals:
            raise DataFormatError(
                "the build has no slide pseudonym map", path=p,
                hint="give the build folder after ingest / tile, or a table of slide ids",
            )  # fmt: skip
        return {Path(v).stem for v in originals.values()}
    if not p.is_file():
        raise DataFormatError("file not found", path=p, hint="give the HepatoBench patch table")
    if p.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(p, columns=["slide_id"])
        values: Iterable[object] = table.column("slide_id").to_pylist()
    elif p.suffix.lower() == ".csv":
        with p.open(newline="") as fh:
            reader = csv.DictReader(fh)
            if "slide_id" not in (reader.fieldnames or []):
                raise DataFormatError("no slide_id column", path=p)
            values = [row["slide_id"] for row in reader]
    else:
        values = [line.strip() for line in p.read_text().splitlines()]
    ids = {str(v) for v in values if v not in (None, "")}
    originals = slide_originals(p.parent)
    if not originals and any(_PSEUDONYM.fullmatch(v) for v in ids):
        raise DataFormatError(
            "the slide ids are keyed pseudonyms and the build's private map is not next to "
            "the table", path=p,
            hint="give the build folder, or the table inside it (BUILD/patches.parquet)",
        )  # fmt: skip
    return {Path(originals.get(v, v)).stem for v in ids}


def split_slides(
    slide_ids: Sequence[str],
    *,
    ratios: dict[str, float],
    seed: int = 0,
    hepatobench_slides: Iterable[str] = (),
) -> dict[str, str]:
    """Slide-level split (``hepatokit.splits``: one group per slide, seeded, quota-exact).

    Slides that built the HepatoBench patch set are pinned to ``train`` so that no segmentation
    test slide was seen by the patch classifier (the paper's rule against confounding); the
    result is checked and a violation raises :class:`~hepatokit.errors.LeakageError`.
    """
    import pyarrow as pa

    from hepatokit.splits import assign_splits

    ids = sorted(set(slide_ids))
    bench = {s for s in hepatobench_slides}
    weights = {k: v for k, v in ratios.items() if v > 0}
    pin_to = "train" if "train" in weights else next(iter(weights))
    previous = {s: pin_to for s in ids if s in bench}
    table = assign_splits(pa.table({"slide_id": ids}), group="slide_id", ratios=weights,
                          seed=seed, previous=previous)  # fmt: skip
    out = dict(zip(ids, table.column("split").to_pylist(), strict=True))
    check_test_slides(out, bench)
    return out


def check_test_slides(assignment: dict[str, str], hepatobench_slides: Iterable[str]) -> None:
    """Raise if a slide that built HepatoBench is a segmentation test slide."""
    bench = set(hepatobench_slides)
    leaked = sorted(s for s, split in assignment.items() if split.startswith("test") and s in bench)
    if leaked:
        raise LeakageError(
            f"HepatoBench slide(s) {', '.join(leaked)} are segmentation test slides",
            hint="keep the patch classifier's slides out of the region model's test set",
        )


class WindowSampler:
    """Training windows from annotated slides, balanced between tumor and non-tumor.

    Each item is a ``size``×``size`` crop (uint8 RGB, labels) whose centre is a tissue pixel
    drawn with equal probability from the tumor and the non-tumor pixels of a slide drawn
    uniformly; crops past the slide's edge are padded with white / ``IGNORE``. Flips and 90°
    rotations and a stain jitter (:func:`stain_jitter`) are applied. Deterministic per
    ``(seed, epoch, index)``.
    """

    def __init__(
        self, slides: Sequence[SlideImage], *, size: int, per_epoch: int, seed: int = 0
    ) -> None:
        self.slides = [s for s in slides if s.labels is not None]
        if not self.slides:
            raise DataFormatError("no annotated slide to train on")
        self.size = size
        self.per_epoch = per_epoch
        self.seed = seed
        self.epoch = 0
        self._pixels = []
        for s in self.slides:
            assert s.labels is not None
            flat = s.labels.ravel()
            self._pixels.append((np.flatnonzero(flat == 1), np.flatnonzero(flat == 0)))

    def __len__(self) -> int:
        return self.per_epoch

    def __getitem__(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng([self.seed, self.epoch, i])
        k = int(rng.integers(len(self.slides)))
        s = self.slides[k]
        assert s.labels is not None
        tumor, normal = self._pixels[k]
        pool = tumor if (rng.random() < 0.5 and len(tumor)) or not len(normal) else normal
        if not len(pool):
            pool = np.flatnonzero(s.tissue.ravel()) if s.tissue.any() else np.arange(1)
        centre = int(pool[rng.integers(len(pool))])
        cy, cx = divmod(centre, s.labels.shape[1])
        img = crop(s.image, cy - self.size // 2, cx - self.size // 2, self.size, 255)
        lab = crop(s.labels, cy - self.size // 2, cx - self.size // 2, self.size, IGNORE)
        rot, flip = int(rng.integers(4)), bool(rng.integers(2))
        img, lab = np.rot90(img, rot), np.rot90(lab, rot)
        if flip:
            img, lab = img[:, ::-1], lab[:, ::-1]
        return np.ascontiguousarray(stain_jitter(img, rng)), np.ascontiguousarray(lab)


def stain_jitter(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Stain augmentation in optical density (Beer–Lambert): the whole OD scaled by
    0.8–1.25 (staining strength), each channel's by ±6 % (stain hue), glass white ±4 %."""
    od = -np.log((img.astype(np.float32) + 1.0) / 256.0)
    od *= np.float32(rng.uniform(0.8, 1.25)) * rng.uniform(0.94, 1.06, 3).astype(np.float32)
    white = 256.0 * rng.uniform(0.96, 1.0) * rng.uniform(0.99, 1.01, 3).astype(np.float32)
    return np.clip(white * np.exp(-od) - 1.0 + 0.5, 0, 255).astype(np.uint8)


def crop(arr: np.ndarray, y: int, x: int, size: int, fill: int) -> np.ndarray:
    """``size``×``size`` crop at top-left ``(y, x)``, padded with ``fill`` past the edges."""
    h, w = arr.shape[:2]
    out = np.full((size, size, *arr.shape[2:]), fill, dtype=arr.dtype)
    y0, x0, y1, x1 = max(0, y), max(0, x), min(h, y + size), min(w, x + size)
    if y1 > y0 and x1 > x0:
        out[y0 - y : y1 - y, x0 - x : x1 - x] = arr[y0:y1, x0:x1]
    return out
