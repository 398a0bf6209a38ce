"""``build_hepatobench``: the histology chain ingest (or tile) → qc → dedup in one call.

This is what ``hepatokit build recipes/hepatobench.yaml --raw ROOT --out BUILD`` runs (the
lead's pipeline command calls it); ``curated.parquet`` is its result.
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from hepatokit.contracts.hepatobench import CURATED
from hepatokit.curation.patho.config import (
    DedupConfig,
    IngestConfig,
    PatchQCConfig,
    TilingConfig,
    features_section,
)
from hepatokit.curation.patho.dedup.stage import DedupSummary, dedup_patches
from hepatokit.curation.patho.ingest.stage import IngestSummary, ingest_patches
from hepatokit.curation.patho.qc.stage import PatchQCSummary, qc_patches
from hepatokit.curation.patho.wsi.stage import TileSummary, tile_slides
from hepatokit.parallel import make_executor
from hepatokit.recipe import build_recipe

__all__ = ["HepatoBenchBuild", "build_hepatobench"]

log = logging.getLogger("hepatokit.pipelines.hepatobench")


@dataclass(frozen=True)
class HepatoBenchBuild:
    """Summaries of every stage and the path of the curated table."""

    source: str
    introduce: IngestSummary | TileSummary
    qc: PatchQCSummary
    dedup: DedupSummary
    curated: Path

    def __str__(self) -> str:
        return (
            f"{self.source}: {self.introduce}\nqc: {self.qc}\ndedup: {self.dedup}\n"
            f"curated table: {self.curated}"
        )


def _looks_like_slides(raw: Path) -> bool:
    if raw.is_file():
        return raw.suffix.lower() in (".svs", ".ndpi", ".mrxs", ".scn")
    if (raw / "slides").is_dir() and not (raw / "patches").is_dir():
        return True
    return any(p.suffix.lower() in (".svs", ".ndpi", ".mrxs") for p in raw.glob("*"))


def build_hepatobench(
    *,
    recipe: str | os.PathLike[str] | None,
    raw: str | os.PathLike[str],
    out: str | os.PathLike[str],
    workers: int | None = None,
    executor: Executor | None = None,
    source: Literal["auto", "patches", "slides"] = "auto",
    mpp: float | None = None,
    force_mpp: bool = False,
    allow_outside_root: bool = False,
    key_file: str | os.PathLike[str] | None = None,
) -> HepatoBenchBuild:
    """Run ingest (patch folders / table) or tile (slides), then qc and dedup.

    Parameters
    ----------
    recipe
        Recipe path or name (None: ``BUILD/recipe.yaml`` or the packaged hepatobench).
    raw
        Patch root (class folders), patch table, or a folder of slides.
    source
        ``auto`` picks ``slides`` for a folder of WSIs (or one with a ``slides/`` subfolder
        and no ``patches/``), else ``patches``.
    mpp
        Level-0 µm/px for slides without resolution metadata.
    force_mpp
        Apply ``mpp`` to every slide, overriding its metadata.
    allow_outside_root
        A patch table's paths may lead outside its folder (see :func:`ingest_patches`).
    key_file
        File holding the slide pseudonym key (see :func:`hepatokit.pseudonyms.build_key`).
    """
    raw_p, build = Path(raw), Path(out)
    kind = source if source != "auto" else ("slides" if _looks_like_slides(raw_p) else "patches")
    if executor is None and (workers is None or workers > 1):
        with make_executor(workers=workers) as pool:
            return build_hepatobench(recipe=recipe, raw=raw, out=out, workers=workers,
                                     executor=pool, source=kind, mpp=mpp,
                                     force_mpp=force_mpp,
                                     allow_outside_root=allow_outside_root,
                                     key_file=key_file)  # fmt: skip
    from hepatokit.buildlock import build_lock

    with build_lock(build):
        return _stages(raw_p, build, recipe, kind, workers, executor, mpp, force_mpp,
                       allow_outside_root, key_file)  # fmt: skip


def _stages(
    raw_p: Path,
    build: Path,
    recipe: str | os.PathLike[str] | None,
    kind: str,
    workers: int | None,
    executor: Executor | None,
    mpp: float | None,
    force_mpp: bool = False,
    allow_outside_root: bool = False,
    key_file: str | os.PathLike[str] | None = None,
) -> HepatoBenchBuild:
    """The stages in a row, each given its recipe sections (the recipe resolved once)."""
    rec = build_recipe(build, None if recipe is None else os.fspath(recipe), default="hepatobench")
    features = features_section(rec)
    first: IngestSummary | TileSummary
    if kind == "slides":
        slides = raw_p / "slides" if (raw_p / "slides").is_dir() else raw_p
        first = tile_slides(slides=slides, out=build, tiling=rec.section("tiling", TilingConfig),
                            mpp=mpp, force_mpp=force_mpp, workers=workers,
                            executor=executor, key_file=key_file)  # fmt: skip
    else:
        first = ingest_patches(
            root=raw_p,
            out=build,
            ingest=rec.section("ingest", IngestConfig),
            features=features,
            classes=rec.classes,
            workers=workers,
            executor=executor,
            allow_outside_root=allow_outside_root,
            key_file=key_file,
        )
    log.info("%s", first)
    qc = qc_patches(build=build, qc=rec.section("qc", PatchQCConfig), features=features,
                    workers=workers, executor=executor)  # fmt: skip
    log.info("qc: %s", qc)
    dd = dedup_patches(build=build, dedup=rec.section("dedup", DedupConfig), features=features,
                       workers=workers, executor=executor)  # fmt: skip
    log.info("dedup: %s", dd)
    return HepatoBenchBuild(kind, first, qc, dd, build / CURATED)
