"""``hepatokit quant regions-predict``: draw the tumor / non-tumor regions of whole slides.

Per slide ``<stem>``, in ``out``:

``<stem>_mask.png``
    8-bit tumor mask at the model's resolution (255 tumor, 0 elsewhere); its level-0
    downsample is in the PNG's ``hepatokit:downsample`` text chunk (read back by
    ``load_regions``) and in ``<stem>.regions.json``.
``<stem>_labels.png``
    0 background (no tissue), 1 non-tumor tissue, 2 tumor, same grid.
``<stem>.geojson``
    QuPath-readable FeatureCollection: ``Tumor`` and ``Non-tumor`` (Multi)Polygons in level-0 px.
``<stem>_overlay.png``
    Thumbnail with the tumor region outlined (the same figure as HepatoQuant's ``regions.png``).
``<stem>.regions.json``
    Run record: model, settings, downsample, windows run, areas; its ``run_key`` makes the
    run resumable (a slide whose record matches is skipped).

A slide that cannot be read is excluded (``out/manifest``) with its reason; the rest go on.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, PngImagePlugin
from scipy import ndimage

from hepatokit.atomic import write_bytes_atomic, write_json_atomic
from hepatokit.curation.patho.wsi.slides import SlideError
from hepatokit.errors import DataFormatError
from hepatokit.manifest import Manifest, excluded, kept, stable_id
from hepatokit.quant.segment.data import SlideImage, read_slide_image
from hepatokit.quant.segment.model import MODEL_FILE, load_region_model
from hepatokit.quant.segment.train import list_slides

__all__ = ["PredictSettings", "mask_polygons", "predict_regions", "predict_slide_regions"]

log = logging.getLogger("hepatokit.quant.segment")
DOWNSAMPLE_KEY = "hepatokit:downsample"


@dataclass(frozen=True)
class PredictSettings:
    """Sliding-window and clean-up options.

    ``overlap`` fraction of a window shared with its neighbour; ``blend`` ``gaussian`` or
    ``mean``; ``tta`` average each window over its four flips; ``fill_holes_um2`` non-tumor
    holes inside the tumor smaller than this are filled; ``min_tumor_um2`` tumor islands
    smaller than this are dropped (0 disables either).
    """

    overlap: float = 0.5
    blend: str = "gaussian"
    batch_size: int = 16
    tta: bool = False
    fill_holes_um2: float = 0.0
    min_tumor_um2: float = 0.0
    mpp: float | None = None
    thumbnail_px: int = 1024


def _png(array: np.ndarray, downsample: float) -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text(DOWNSAMPLE_KEY, repr(float(downsample)))
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, "PNG", pnginfo=info, compress_level=6)
    return buf.getvalue()


def mask_polygons(mask: np.ndarray, downsample: float) -> list[list[list[list[float]]]]:
    """Polygons (GeoJSON coordinates: rings of ``[x, y]``, outline first, then holes) of a
    boolean mask whose pixel ``(r, c)`` covers level-0 ``[c·ds, (c+1)·ds) × [r·ds, (r+1)·ds)``.

    Traced on pixel edges (exact: rasterising the polygons gives the mask back)."""
    import contourpy

    if not mask.any():
        return []
    m = np.pad(mask.astype(np.float64), 1)
    # upsample ×2 with nearest so that level 0.5 contours run along pixel edges
    z = np.kron(m, np.ones((2, 2)))
    gen = contourpy.contour_generator(z=z, fill_type=contourpy.FillType.OuterOffset,
                                      name="serial", corner_mask=False)  # fmt: skip
    filled: Any = gen.filled(0.5, 1.5)
    points, offsets = filled[0], filled[1]
    polys = []
    for pts, offs in zip(points, offsets, strict=True):
        rings = []
        for a, b in itertools.pairwise(offs):
            ring = pts[a:b]
            # z index i ↔ mask coordinate (i + 0.5) / 2 - 1 (pad); pixel edge e ↔ level-0 e·ds
            xy = ((ring + 0.5) / 2.0 - 1.0) * downsample
            rings.append([[round(float(x), 2), round(float(y), 2)] for x, y in xy])
        polys.append(rings)
    return polys


def _feature(name: str, colour: list[int], polys: list[Any]) -> dict[str, Any]:
    return {
        "type": "Feature",
        "geometry": {"type": "MultiPolygon", "coordinates": polys},
        "properties": {
            "objectType": "annotation",
            "name": name,
            "classification": {"name": name, "color": colour},
            "isLocked": False,
        },
    }


def _clean(tumor: np.ndarray, tissue: np.ndarray, px_um2: float, s: PredictSettings) -> np.ndarray:
    if s.min_tumor_um2 > 0:
        lab, n = ndimage.label(tumor)
        if n:
            areas = np.bincount(lab.ravel(), minlength=n + 1) * px_um2
            keep = areas >= s.min_tumor_um2
            keep[0] = False
            tumor = keep[lab]
    if s.fill_holes_um2 > 0:
        holes, n = ndimage.label(~tumor)
        if n:
            areas = np.bincount(holes.ravel(), minlength=n + 1) * px_um2
            border = np.unique(np.concatenate([holes[0], holes[-1], holes[:, 0], holes[:, -1]]))
            fill = areas < s.fill_holes_um2
            fill[0] = False
            fill[border] = False
            tumor = tumor | fill[holes]
    return tumor & tissue


def _run_key(slide: Path, model_dir: Path, s: PredictSettings) -> str:
    h = hashlib.sha256()
    st = slide.stat()
    h.update(f"{slide.name}|{st.st_size}|{st.st_mtime_ns}|{asdict(s)}".encode())
    h.update((model_dir / MODEL_FILE).read_bytes())
    return h.hexdigest()


def predict_slide_regions(
    slide_image: SlideImage, *, model: Any, window: int, settings: PredictSettings,
    plan: Any = None,
) -> tuple[np.ndarray, np.ndarray, int]:  # fmt: skip
    """(tumor mask, blended logits, windows run) of a slide already read at model resolution."""
    from hepatokit.quant.segment.window import predict_logits

    logits, n = predict_logits(model, slide_image.image, slide_image.tissue, window=window,
                               overlap=settings.overlap, blend=settings.blend,
                               batch_size=settings.batch_size, plan=plan,
                               tta=settings.tta)  # fmt: skip
    tumor = (np.nan_to_num(logits, nan=-1.0) > 0) & slide_image.tissue
    px_um2 = (slide_image.mpp * slide_image.downsample) ** 2
    return _clean(tumor, slide_image.tissue, px_um2, settings), logits, n


def predict_regions(
    slides: Sequence[str | os.PathLike[str]] | str | os.PathLike[str],
    *,
    model: str | os.PathLike[str],
    out: str | os.PathLike[str],
    settings: PredictSettings | None = None,
    device: str = "auto",
    threads: int | None = None,
) -> dict[str, Any]:
    """Predict the tumor / non-tumor regions of slides (files or folders) with a trained
    region model; resumable per slide, unreadable slides excluded (``out/manifest``).

    Returns
    -------
    dict
        ``{"slides": n, "predicted": n, "skipped": n, "excluded": [{slide, error}],
        "records": {stem: record}}``; also written to ``out/summary.json``.
    """
    import torch

    from hepatokit.baselines.devices import select_device
    from hepatokit.progress import track

    s = settings or PredictSettings()
    model_dir = Path(model)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = list_slides(slides)
    net, spec = load_region_model(model_dir)
    plan = select_device(device)
    net.to(plan.device)
    ledger, records, skipped, errors = [], {}, 0, []
    old_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        for p in track(paths, "predicting regions", total=len(paths)):
            sid = stable_id("slide", p.name)
            rec_path = out / f"{p.stem}.regions.json"
            try:
                key = _run_key(p, model_dir, s)
            except OSError as exc:
                ledger.append(excluded(sid, kind="slide", stage="regions_predict", source=p.name,
                                       reason="slide_missing", detail=str(exc)))  # fmt: skip
                errors.append({"slide": p.name, "error": str(exc)})
                continue
            if rec_path.is_file():
                old = json.loads(rec_path.read_text())
                if old.get("run_key") == key and (out / f"{p.stem}.geojson").is_file():
                    records[p.stem] = old
                    skipped += 1
                    ledger.append(kept(sid, kind="slide", stage="regions_predict", source=p.name))
                    continue
            try:
                img = read_slide_image(p, model_mpp=spec.model_mpp, mpp=s.mpp)
            except (SlideError, DataFormatError) as exc:
                reason = f"slide_{exc.reason}" if isinstance(exc, SlideError) else "unreadable"
                log.warning("%s: excluded: %s", p.name, exc.message)
                ledger.append(excluded(sid, kind="slide", stage="regions_predict", source=p.name,
                                       reason=reason, detail=exc.message))  # fmt: skip
                errors.append({"slide": p.name, "error": exc.message})
                continue
            records[p.stem] = _write_slide(p, img, net, spec, s, plan, out, key, model_dir)
            ledger.append(kept(sid, kind="slide", stage="regions_predict", source=p.name))
    finally:
        torch.set_num_threads(old_threads)
    Manifest(out).record("regions_predict", ledger, introduces=True)
    summary = {
        "slides": len(paths),
        "predicted": len(records) - skipped,
        "skipped": skipped,
        "excluded": errors,
        "records": records,
    }
    write_json_atomic(out / "summary.json", summary)
    return summary


def _write_slide(
    p: Path, img: SlideImage, net: Any, spec: Any, s: PredictSettings, plan: Any, out: Path,
    key: str, model_dir: Path,
) -> dict[str, Any]:  # fmt: skip
    from hepatokit.quant.figures import save_regions_figure

    tumor, _, n = predict_slide_regions(img, model=net, window=spec.window, settings=s, plan=plan)
    ds = img.downsample
    labels = np.where(img.tissue, np.where(tumor, 2, 1), 0).astype(np.uint8)
    write_bytes_atomic(out / f"{p.stem}_mask.png", _png((tumor * 255).astype(np.uint8), ds))
    write_bytes_atomic(out / f"{p.stem}_labels.png", _png(labels, ds))
    non_tumor = img.tissue & ~tumor
    geo = {
        "type": "FeatureCollection",
        "features": [
            _feature("Tumor", [200, 0, 0], mask_polygons(tumor, ds)),
            _feature("Non-tumor", [0, 150, 0], mask_polygons(non_tumor, ds)),
        ],
    }
    write_json_atomic(out / f"{p.stem}.geojson", geo)
    w0, h0 = img.level0_size
    thumb = img.image
    if max(thumb.shape[:2]) > s.thumbnail_px:
        f = s.thumbnail_px / max(thumb.shape[:2])
        size = (max(1, round(thumb.shape[1] * f)), max(1, round(thumb.shape[0] * f)))
        thumb = np.asarray(Image.fromarray(thumb).resize(size, Image.Resampling.BOX))
    small = np.asarray(
        Image.fromarray(tumor.astype(np.uint8) * 255).resize(
            (thumb.shape[1], thumb.shape[0]), Image.Resampling.NEAREST
        )
    )
    save_regions_figure(out / f"{p.stem}_overlay.png", thumbnail=thumb, tumor_mask=small > 0,
                        title=f"{p.stem}: predicted tumor region")  # fmt: skip
    px_mm2 = (img.mpp * ds / 1000.0) ** 2
    record = {
        "slide_id": p.stem,
        "model": str(model_dir.name),
        "model_weights_sha256": json.loads((model_dir / MODEL_FILE).read_text())["weights_sha256"],
        "encoder": spec.encoder,
        "model_mpp": spec.model_mpp,
        "mask_downsample": ds,
        "mask_size": [int(tumor.shape[1]), int(tumor.shape[0])],
        "level0_size": list(img.level0_size),
        "level0_mpp": img.mpp,
        "windows": n,
        "settings": asdict(s),
        "tumor_area_mm2": round(float(tumor.sum()) * px_mm2, 6),
        "non_tumor_area_mm2": round(float(non_tumor.sum()) * px_mm2, 6),
        "run_key": key,
    }
    del w0, h0
    write_json_atomic(out / f"{p.stem}.regions.json", record)
    return record
