"""HepatoQuant: whole-slide tissue composition per tumor / non-tumor region.

slide ──tile (patho tiling: tissue detection, 20× tiles)──► tiles ──classify (encoder +
linear head)──► class per tile ──regions (GeoJSON / mask / none)──► composition per region
──► report.json, tissue_map.png, regions.png; many slides → report.csv.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hepatokit._version import __version__
from hepatokit.atomic import write_json_atomic, write_text_atomic
from hepatokit.errors import DataFormatError, RecipeError
from hepatokit.manifest import Manifest, excluded, kept, stable_id
from hepatokit.parallel import map_items
from hepatokit.quant.classifier import TileClassifier
from hepatokit.quant.composition import compose, tissue_map
from hepatokit.quant.figures import save_regions_figure, save_tissue_map
from hepatokit.quant.regions import RegionSource, load_regions
from hepatokit.quant.tiles import ClassifiedTiles, classify_tiles
from hepatokit.tables import formula_safe

__all__ = ["QuantSettings", "find_region_file", "quantify_slide", "quantify_slides"]

log = logging.getLogger("hepatokit.quant")
SLIDE_SUFFIXES = (".svs", ".tif", ".tiff", ".ndpi", ".mrxs", ".scn", ".bif", ".vms", ".svslide")


@dataclass(frozen=True)
class QuantSettings:
    """Tiling and region options shared by every slide of a run."""

    target_magnification: float = 20.0
    patch_size: int = 150
    tissue_threshold: float = 0.5
    mpp: float | None = None
    mask_downsample: float | None = None
    tumor_names: tuple[str, ...] = ("tumor",)
    batch_size: int = 64
    thumbnail_px: int = 1024
    #: 0 (default): one tile per map cell; f in (0, 1): tiles also read at a stride of
    #: ``s·(1 − f)`` and combined per cell (:mod:`hepatokit.quant.tiles`). Not in the repr,
    #: so the default run key (and report) stay what they were before the option existed.
    tile_overlap: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        if not 0 <= self.tile_overlap < 1:
            raise RecipeError(
                f"tile overlap must be in [0, 1), got {self.tile_overlap}",
                hint="0 disables it; 0.5 reads tiles at half a tile's stride",
            )


def _slide_id(path: Path) -> str:
    return path.stem


def _run_key(
    slide: Path, regions: str | None, settings: QuantSettings, ident: dict[str, Any]
) -> str:
    h = hashlib.sha256()
    st = slide.stat()
    h.update(f"{slide.name}|{st.st_size}|{st.st_mtime_ns}|{regions}|{settings}".encode())
    if settings.tile_overlap:
        h.update(f"|tile_overlap={settings.tile_overlap!r}".encode())
    h.update(json.dumps(ident, sort_keys=True).encode())
    return h.hexdigest()


def quantify_slide(
    slide: str | os.PathLike[str],
    *,
    classifier: TileClassifier,
    regions: str | os.PathLike[str] | RegionSource | None,
    out: str | os.PathLike[str],
    settings: QuantSettings | None = None,
    regions_from: str | None = None,
) -> dict[str, Any]:
    """Quantify one slide and write ``out/report.json``, ``tissue_map.png``, ``regions.png``.

    Resumable: if ``out/report.json`` holds the same run key (slide size/mtime, regions,
    settings, classifier identity) nothing is recomputed and the stored report is returned.
    ``regions_from`` (``annotation``, ``model``, ``none``) is recorded as the report's
    ``regions_from``; default: ``annotation`` when a region file is given, else ``none``.

    Returns
    -------
    dict
        The report (also written as JSON): slide id, mpp, magnification, tile size, tile
        counts, per-region proportions by count and by area, classifier identity, version.
    """
    s = settings or QuantSettings()
    slide = Path(slide)
    out = Path(out)
    region_file = str(regions) if isinstance(regions, str | os.PathLike) else None
    key = _run_key(slide, region_file, s, classifier.identity)
    report_path = out / "report.json"
    if report_path.is_file():
        old = json.loads(report_path.read_text())
        if old.get("run_key") == key:
            log.info("%s: already quantified, skipping", slide.name)
            return dict(old)
    source: RegionSource = (
        load_regions(region_file, mask_downsample=s.mask_downsample, tumor_names=s.tumor_names)
        if regions is None or region_file is not None
        else regions  # type: ignore[assignment]
    )
    tiles = classify_tiles(slide, classifier, s)
    centre = tiles.step / 2.0
    region_of_tile = source.region_of(tiles.xs + centre, tiles.ys + centre)
    tile_area_mm2 = (tiles.step * tiles.info.mpp / 1000.0) ** 2
    comp = compose(
        labels=tiles.labels,
        regions=region_of_tile,
        tissue_fraction=tiles.tissue_fraction,
        tile_area_mm2=tile_area_mm2,
        classes=classifier.classes,
    )
    grid, origin = tissue_map(
        x=tiles.xs, y=tiles.ys, labels=tiles.labels, tile_size_level0=tiles.step
    )
    out.mkdir(parents=True, exist_ok=True)
    sid = _slide_id(slide)
    save_tissue_map(out / "tissue_map.png", grid=grid, classes=classifier.classes,
                    thumbnail=tiles.thumbnail, title=f"{sid}: tissue map")  # fmt: skip
    save_regions_figure(
        out / "regions.png",
        thumbnail=tiles.thumbnail,
        tumor_mask=source.mask(tiles.thumbnail.shape[:2], tiles.thumbnail_downsample),
        title=f"{sid}: tumor region",
    )
    report = {
        "slide_id": sid,
        **_tile_facts(tiles, s, tile_area_mm2),
        "tissue_map_origin_level0": list(origin),
        "regions_source": getattr(source, "source", "") or type(source).__name__,
        "regions_from": regions_from or ("annotation" if region_file else "none"),
        "classes": list(classifier.classes),
        "regions": {name: c.as_dict() for name, c in comp.items()},
        "classifier": classifier.identity,
        "hepatokit": __version__,
        "run_key": key,
    }
    write_json_atomic(report_path, report)
    return report


def _tile_facts(tiles: ClassifiedTiles, s: QuantSettings, tile_area_mm2: float) -> dict[str, Any]:
    """The report's scanner and tiling fields, in the report's order."""
    return {
        "level0_mpp": tiles.info.mpp,
        "level0_magnification": tiles.info.magnification,
        "target_magnification": s.target_magnification,
        "tile_size_px": s.patch_size,
        "tile_size_level0_px": tiles.step,
        "tile_area_mm2": tile_area_mm2,
        "n_tiles": len(tiles.xs),
        **(
            {"tile_overlap": s.tile_overlap, "n_tiles_classified": tiles.n_classified}
            if s.tile_overlap
            else {}
        ),
    }


def find_region_file(regions: str | os.PathLike[str] | None, slide: Path) -> str | None:
    """Regions for one slide: ``none``, a file used for every slide, or a folder holding
    ``<slide stem>.geojson`` or ``<slide stem>_mask.png`` / ``<slide stem>.png``."""
    if regions is None or str(regions).lower() == "none":
        return None
    p = Path(regions)
    if not p.is_dir():
        return str(p)
    for name in (f"{slide.stem}.geojson", f"{slide.stem}.json", f"{slide.stem}_mask.png",
                 f"{slide.stem}.png"):  # fmt: skip
        if (p / name).is_file():
            return str(p / name)
    raise DataFormatError(
        f"no region file for slide {slide.name} in {p}",
        path=p,
        hint=f"add {slide.stem}.geojson (QuPath) or {slide.stem}_mask.png, or --regions none",
    )


@dataclass(frozen=True)
class _SlideJob:
    slide: str
    regions: str | None
    out: str
    settings: QuantSettings
    make_classifier: Callable[[], TileClassifier]
    regions_model: str | None = None
    device: str = "auto"


_CLASSIFIERS: dict[str, TileClassifier] = {}


def _run_job(job: _SlideJob) -> dict[str, Any]:
    # one classifier per worker process (loading an encoder is the expensive part); each job
    # arrives unpickled, so key on the factory's repr (its class and arguments), not its id
    key = repr(job.make_classifier)
    clf = _CLASSIFIERS.get(key)
    if clf is None:
        clf = _CLASSIFIERS[key] = job.make_classifier()
    out = Path(job.out) / _slide_id(Path(job.slide))
    regions, source = job.regions, "annotation" if job.regions else "none"
    if regions is None and job.regions_model is not None:
        regions, source = _predicted_regions(job, out / "predicted_regions"), "model"
    return quantify_slide(
        job.slide,
        classifier=clf,
        regions=regions,
        out=out,
        settings=job.settings,
        regions_from=source,
    )


def _predicted_regions(job: _SlideJob, out: Path) -> str:
    """Draw the slide's regions with the region model (resumable); the GeoJSON path."""
    from hepatokit.quant.segment.predict import PredictSettings, predict_regions

    assert job.regions_model is not None
    slide = Path(job.slide)
    summary = predict_regions([slide], model=job.regions_model, out=out, device=job.device,
                              settings=PredictSettings(mpp=job.settings.mpp))  # fmt: skip
    if summary["excluded"]:
        raise DataFormatError(
            f"region model could not draw the regions: {summary['excluded'][0]['error']}",
            path=slide.name,
        )
    return str(out / f"{slide.stem}.geojson")


def _list_slides(slides: Sequence[str | os.PathLike[str]]) -> list[Path]:
    found: list[Path] = []
    for item in slides:
        p = Path(item)
        if p.is_dir():
            here = sorted(q for q in p.iterdir() if q.suffix.lower() in SLIDE_SUFFIXES)
            if not here:
                raise DataFormatError(
                    "no slide in the folder",
                    path=p,
                    hint=f"slide files end in {', '.join(sorted(SLIDE_SUFFIXES))}",
                )
            found.extend(here)
        elif p.exists():
            found.append(p)
        else:
            raise DataFormatError("slide not found", path=p, hint="check the SLIDES paths")
    return found


def quantify_slides(
    slides: Sequence[str | os.PathLike[str]],
    *,
    make_classifier: Callable[[], TileClassifier],
    regions: str | os.PathLike[str] | None,
    out: str | os.PathLike[str],
    settings: QuantSettings | None = None,
    workers: int | None = 1,
    executor: Any = None,
    regions_model: str | os.PathLike[str] | None = None,
    device: str = "auto",
) -> dict[str, Any]:
    """Quantify many slides (files or folders of slides) in parallel, resumable per slide.

    ``make_classifier`` is a picklable zero-argument factory (e.g. ``functools.partial(
    ProbeTileClassifier, encoder_spec, head_path)``), called once per worker. An unreadable
    slide or a missing region file excludes that slide (``out/manifest``) and the batch
    report (``out/report.csv``, ``out/summary.json``) still covers the others.

    ``regions_model`` (a folder from ``quant regions-train``): a slide without a region file
    gets its regions drawn by that model (``out/<slide>/predicted_regions/``); the report's
    ``regions_source`` column says ``annotation``, ``model`` or ``none`` per slide.
    """
    s = settings or QuantSettings()
    out = Path(out)
    paths = _list_slides(slides)
    jobs, ledger = [], []
    for p in paths:
        try:
            region_file = find_region_file(regions, p)
        except DataFormatError as exc:  # missing region file: this slide only
            if regions_model is None:
                log.warning("%s: excluded: %s", p.name, exc.message)
                ledger.append(_excluded_slide(p, "missing_regions", exc.message))
                continue
            region_file = None
        model = None if regions_model is None else str(regions_model)
        jobs.append(_SlideJob(str(p), region_file, str(out), s, make_classifier, model, device))
    results = map_items(
        _run_job, jobs, workers=workers, executor=executor, description="quantifying slides"
    )
    rows = []
    for job, res in zip(jobs, results, strict=True):
        p = Path(job.slide)
        if res.ok and res.value is not None:
            rows.append(_csv_row(res.value))
            ledger.append(kept(stable_id("slide", p.name), kind="slide", stage="quant",
                               source=p.name))  # fmt: skip
        else:
            log.warning("%s: excluded: %s", p.name, res.error)
            ledger.append(_excluded_slide(p, "unreadable_slide", res.error or ""))
    Manifest(out).record("quant", ledger, introduces=True)
    _write_csv(out / "report.csv", rows)
    summary = {
        "slides": len(paths),
        "quantified": len(rows),
        "excluded": [
            {"slide": r.source, "error": r.detail} for r in ledger if r.outcome == "excluded"
        ],
    }
    write_json_atomic(out / "summary.json", summary)
    return summary


def _excluded_slide(p: Path, reason: str, detail: str) -> Any:
    return excluded(stable_id("slide", p.name), kind="slide", stage="quant", source=p.name,
                    reason=reason, detail=detail)  # fmt: skip


def _csv_row(report: dict[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {
        "slide_id": report["slide_id"],
        "level0_mpp": report["level0_mpp"],
        "n_tiles": report["n_tiles"],
        "regions_source": report.get("regions_from", ""),
    }
    for region, comp in sorted(report["regions"].items()):
        row[f"{region}_n_tiles"] = comp["n_tiles"]
        row[f"{region}_tissue_area_mm2"] = round(comp["tissue_area_mm2"], 6)
        for cls in report["classes"]:
            row[f"{region}_{cls}_by_count"] = round(comp["proportion_by_count"][cls], 6)
        for cls in report["classes"]:
            row[f"{region}_{cls}_by_area"] = round(comp["proportion_by_area"][cls], 6)
    return row


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    import csv
    import io

    columns: list[str] = []
    for r in rows:
        columns.extend(k for k in r if k not in columns)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: formula_safe(v) for k, v in r.items()} for r in rows)  # no formulas
    write_text_atomic(path, buf.getvalue())
