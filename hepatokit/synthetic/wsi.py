"""Synthetic whole-slide images: ``hepatokit synth wsi OUT --slides N``.

Writes pyramidal tiled TIFFs (:mod:`hepatokit.synthetic.wsi_tiff`; level 0 ``subfiletype=0``,
reduced levels ``subfiletype=1``, resolution tags in pixels/cm, 256 px tiles, deflate) that
OpenSlide opens as ``generic-tiff`` with ``openslide.mpp-x``/``mpp-y`` set (no objective power:
derive it from the mpp). Tissue is laid out on the 20× 150 px tile grid
(:mod:`hepatokit.synthetic.wsi_layout`), same-class tiles textured continuously per 4×4-tile
cell (:mod:`hepatokit.synthetic.tissue`);
the tumor region is a QuPath-style GeoJSON polygon and a PNG mask at 1/32 of level 0.
Planted bad slides: a truncated file, a flat (stripped, single-level) TIFF and a slide without
resolution tags.
Everything planted is in ``OUT/truth.json`` (schema in ``docs/synthetic_patho.md``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from hepatokit._version import __version__
from hepatokit.atomic import write_bytes_atomic, write_json_atomic
from hepatokit.errors import HepatokitError
from hepatokit.parallel import map_items
from hepatokit.synthetic.tissue import CLASSES, Stain, compose_rgb, render_densities, slide_stain
from hepatokit.synthetic.wsi_layout import Layout, make_layout, tumor_geojson
from hepatokit.synthetic.wsi_plan import SlideSpec, plan_slides
from hepatokit.synthetic.wsi_tiff import write_tiff

__all__ = ["MASK_DOWNSAMPLE", "SlideSetSummary", "class_blocks", "generate_wsis", "render_block"]

log = logging.getLogger("hepatokit.synthetic.wsi")

SCHEMA = "hepatokit.synthetic.wsi/1"
MASK_DOWNSAMPLE = 32
_IN_MEMORY_LIMIT = 1 << 30
#: Tissue is rendered in continuous pieces of at most this many tiles per side (per class).
BLOCK_TILES = 4  # level 0 bigger than this (bytes) is rendered into a temp memmap


@dataclass
class SlideSetSummary:
    """What :func:`generate_wsis` wrote."""

    out: Path
    slides: list[str] = field(default_factory=list)
    bad: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return (
            f"{len(self.slides)} slides ({', '.join(self.slides)}) + {len(self.bad)} planted bad "
            f"slides in {self.out / 'slides'}; truth in {self.out / 'truth.json'}"
        )


def _render_level0(spec: SlideSpec, layout: Layout, tmpdir: str) -> np.ndarray:
    """Level-0 RGB pixels: glass everywhere, each tissue tile rendered with its class."""
    rng = np.random.default_rng([spec.seed, 31, spec.index])
    stain = slide_stain(rng)
    shape = (spec.height, spec.width, 3)
    arr: np.ndarray
    if np.prod(shape) > _IN_MEMORY_LIMIT:
        arr = np.lib.format.open_memmap(Path(tmpdir) / "level0.npy", "w+", np.uint8, shape)
    else:
        arr = np.empty(shape, np.uint8)
    _fill_glass(arr, stain.white, np.random.default_rng([spec.seed, 37, spec.index]))
    t = layout.tile
    for cls, (r0, c0, r1, c1), members in class_blocks(layout):
        rgb = render_block(spec.seed, spec.index, stain, cls, (r0, c0, r1, c1), t, spec.mpp)
        for r, c in members:
            y, x = (r - r0) * t, (c - c0) * t
            arr[r * t : (r + 1) * t, c * t : (c + 1) * t] = rgb[y : y + t, x : x + t]
    return arr


def class_blocks(
    layout: Layout, block: int = BLOCK_TILES
) -> list[tuple[str, tuple[int, int, int, int], list[tuple[int, int]]]]:
    """Pieces rendered as one continuous texture: per ``block``×``block`` cell of the tile grid
    and class, the bounding box ``(row0, col0, row1, col1)`` (exclusive ends) of that class's
    tiles in the cell and the member tiles ``(row, col)``. Seams fall only on cell and class
    borders."""
    out = []
    for br in range(0, layout.rows, block):
        for bc in range(0, layout.cols, block):
            cell = layout.classes[br : br + block, bc : bc + block]
            for cls in sorted({str(v) for v in cell.ravel() if v}):
                rr, cc = np.nonzero(cell == cls)
                box = (br + int(rr.min()), bc + int(cc.min()), br + int(rr.max()) + 1,
                       bc + int(cc.max()) + 1)  # fmt: skip
                members = [(br + int(r), bc + int(c)) for r, c in zip(rr, cc, strict=True)]
                out.append((cls, box, members))
    return out


def render_block(
    seed: int,
    index: int,
    stain: Stain,
    cls: str,
    box: tuple[int, int, int, int],
    tile: int,
    mpp: float,
) -> np.ndarray:
    """RGB pixels of one :func:`class_blocks` piece (level 0, ``uint8``)."""
    r0, c0, r1, c1 = box
    rng = np.random.default_rng([seed, 41, index, r0, c0, CLASSES.index(cls)])
    hd, e = render_densities(cls, rng, (r1 - r0) * tile, (c1 - c0) * tile, 0.5 / mpp)
    return compose_rgb(hd, e, stain, rng)


def _fill_glass(
    arr: np.ndarray, white: tuple[float, float, float], rng: np.random.Generator
) -> None:
    """Empty glass: the slide's white with a faint smooth illumination gradient (±2 levels),
    separable so that it is written in strips without a full-size float field."""
    h, w = arr.shape[:2]

    def profile(n: int) -> np.ndarray:
        knots = rng.uniform(-1, 1, 6)
        return np.interp(np.arange(n), np.linspace(0, n - 1, 6), knots).astype(np.float32)

    gy, gx = profile(h), profile(w)
    base = np.asarray(white, np.float32)
    for y0 in range(0, h, 1024):
        y1 = min(h, y0 + 1024)
        field_ = gy[y0:y1, None] + gx[None, :]
        arr[y0:y1] = np.clip(base + field_[..., None] + 0.5, 0, 255).astype(np.uint8)


def _mask_png(layout: Layout, width: int, height: int) -> bytes:
    import io

    size = (max(1, width // MASK_DOWNSAMPLE), max(1, height // MASK_DOWNSAMPLE))
    img = Image.new("L", size, 0)
    pts = [(x / MASK_DOWNSAMPLE - 0.5, y / MASK_DOWNSAMPLE - 0.5) for x, y in layout.polygon]
    ImageDraw.Draw(img).polygon(pts, fill=255)
    buf = io.BytesIO()
    img.save(buf, "PNG", compress_level=6)
    return buf.getvalue()


def _sha256(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _finished(spec: SlideSpec) -> dict[str, Any] | None:
    """The truth entry of a slide an interrupted run already completed, or None."""
    try:
        done = json.loads(Path(spec.marker).read_text())
        ok = all(_sha256(Path(spec.out) / rel) == h for rel, h in done["files"].items())
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return done["entry"] if ok else None


def _make_slide(spec: SlideSpec) -> dict[str, Any]:
    if spec.marker and (done := _finished(spec)) is not None:
        return done
    out = Path(spec.out)
    tile = round(150 * 0.5 / spec.mpp)
    layout = make_layout(
        np.random.default_rng([spec.seed, 29, spec.index]), spec.width, spec.height, tile
    )
    path = out / spec.file
    with tempfile.TemporaryDirectory(prefix="hk-wsi-") as tmpdir:
        level0 = _render_level0(spec, layout, tmpdir)
        dims = write_tiff(path, level0, spec)
        del level0
    if spec.kind == "truncated":
        data = path.read_bytes()
        write_bytes_atomic(path, data[: len(data) // 3])
    entry = _truth_entry(spec, layout, dims)
    if spec.kind != "truncated":
        write_json_atomic(out / entry["annotation"], tumor_geojson(layout, spec.name))
        write_bytes_atomic(out / entry["mask"]["path"], _mask_png(layout, spec.width, spec.height))
    if spec.marker:
        rels = [entry["file"], entry["annotation"], entry["mask"] and entry["mask"]["path"]]
        files = {rel: _sha256(out / rel) for rel in rels if rel}
        write_json_atomic(spec.marker, {"entry": entry, "files": files})
    return entry


def _remove_stale(out: Path, keep: set[str]) -> None:
    """Remove the files a previous run's ``truth.json`` lists that this plan does not write."""
    try:
        old = json.loads((out / "truth.json").read_text())["slides"]
    except (OSError, ValueError, KeyError, TypeError):
        return
    for s in old:
        rels = [s.get("file"), s.get("annotation"), (s.get("mask") or {}).get("path")]
        for rel in rels:
            if rel and rel not in keep:
                (out / rel).unlink(missing_ok=True)


def _truth_entry(spec: SlideSpec, layout: Layout, dims: list[list[int]]) -> dict[str, Any]:
    t = layout.tile
    tiles = []
    counts: dict[str, dict[str, int]] = {"tumor": {}, "non_tumor": {}, "all": {}}
    for r in range(layout.rows):
        for c in range(layout.cols):
            cls = layout.classes[r, c]
            if not cls:
                continue
            region = "tumor" if layout.tumor[r, c] else "non_tumor"
            tiles.append(
                {"x": c * t, "y": r * t, "col": c, "row": r, "class": cls, "region": region}
            )
            for key in (region, "all"):
                counts[key][cls] = counts[key].get(cls, 0) + 1
    props = {
        reg: {k: v / sum(cnt.values()) for k, v in sorted(cnt.items())} if cnt else {}
        for reg, cnt in counts.items()
    }
    no_files = spec.kind == "truncated"
    expected = {
        "ok": "ok",
        "truncated": "excluded",
        "flat": "fallback_or_excluded",
        "no_mpp": "needs_mpp",
    }[spec.kind]
    return {
        "name": spec.name,
        "file": spec.file,
        "format": "aperio" if spec.aperio else "generic-tiff",
        "has_objective_power_metadata": spec.aperio,
        "kind": spec.kind,
        "expected": expected,
        "mpp": spec.mpp,
        "has_mpp_metadata": spec.kind != "no_mpp",
        "objective_power": round(10.0 / spec.mpp) if spec.mpp else None,
        "pyramidal": spec.kind != "flat",
        "tiled": spec.kind != "flat",
        "level_count": len(dims),
        "level_dimensions": dims,
        "level_downsamples": [(dims[0][0] / d[0] + dims[0][1] / d[1]) / 2 for d in dims],
        "tile_size_level0": t,
        "tile_size": 150,
        "tile_mpp": 0.5,
        "grid": {"cols": layout.cols, "rows": layout.rows, "origin": [0, 0]},
        "annotation": None if no_files else f"annotations/{spec.name}.geojson",
        "mask": None
        if no_files
        else {
            "path": f"masks/{spec.name}_tumor_ds{MASK_DOWNSAMPLE}.png",
            "downsample": MASK_DOWNSAMPLE,
            "size": [max(1, spec.width // MASK_DOWNSAMPLE), max(1, spec.height // MASK_DOWNSAMPLE)],
        },
        "tumor_polygon": [list(p) for p in layout.polygon],
        "tissue_tiles": len(tiles),
        "counts": {k: dict(sorted(v.items())) for k, v in counts.items()},
        "proportions": props,
        "tiles": tiles,
    }


def generate_wsis(
    out: str | Path,
    *,
    slides: int = 2,
    seed: int = 0,
    workers: int | None = None,
    mpps: Sequence[float] = (0.25, 0.5),
    size_40x: tuple[int, int] = (6000, 4000),
    size_20x: tuple[int, int] = (3000, 2400),
    bad_slides: bool = True,
) -> SlideSetSummary:
    """Write synthetic pyramidal WSIs with planted tissue layout, tumor polygon and bad slides.

    Parameters
    ----------
    out
        Output folder: ``slides/*.tif``, ``annotations/*.geojson``, ``masks/*.png``,
        ``truth.json``.
    slides
        Number of good slides; their mpp cycles through ``mpps`` (default 40× then 20×).
    mpps
        Level-0 µm/px per slide (0.25 ≈ 40×, 0.5 ≈ 20×).
    size_40x, size_20x
        Level-0 (width, height) in pixels of 40× (mpp < 0.375) and 20× slides; a big 40× slide
        (e.g. 40000×30000 for benchmarks) is rendered through a temporary memmap.
    bad_slides
        Also plant a truncated slide, a flat stripped TIFF and a slide without resolution tags.
    """
    if slides < 1:
        raise HepatokitError(f"--slides must be at least 1, got {slides}")
    out = Path(out)
    for sub in ("slides", "annotations", "masks"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    specs = plan_slides(slides, seed, out, mpps, size_40x, size_20x, bad_slides)
    key = f"{SCHEMA}:{__version__}:{seed}:{slides}:{list(mpps)}:{size_40x}:{size_20x}:{bad_slides}"
    progress = out / ".synth-progress" / hashlib.sha256(key.encode()).hexdigest()[:16]
    specs = [replace(s, marker=str(progress / f"{s.name}.json")) for s in specs]
    names = [s.name for s in specs]
    _remove_stale(
        out,
        {s.file for s in specs}
        | {f"annotations/{n}.geojson" for n in names}
        | {f"masks/{n}_tumor_ds{MASK_DOWNSAMPLE}.png" for n in names},
    )
    results = map_items(_make_slide, specs, workers=workers, chunksize=1, description="synth WSIs")
    entries = []
    for res in results:
        if not res.ok:
            raise HepatokitError(f"could not write synthetic slide {res.item.name}: {res.error}")
        entries.append(res.value)
    truth = {
        "schema": SCHEMA,
        "seed": seed,
        "tile": {"size": 150, "mpp": 0.5, "magnification": 20},
        "mask_downsample": MASK_DOWNSAMPLE,
        "slides": entries,
    }
    write_json_atomic(out / "truth.json", truth)
    shutil.rmtree(out / ".synth-progress", ignore_errors=True)
    good = [s.name for s in specs if s.kind == "ok"]
    bad = [s.name for s in specs if s.kind != "ok"]
    log.info("wrote %s", json.dumps({"slides": good, "bad": bad}))
    return SlideSetSummary(out, good, bad)
