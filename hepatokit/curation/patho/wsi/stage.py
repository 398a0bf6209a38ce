"""``patho tile``: tile every slide of a folder into ``BUILD/tiles/<slide_id>/<x>_<y>.png``.

One slide is one work item (:func:`hepatokit.parallel.map_items`); a slide that cannot be
tiled (corrupt, no mpp, too large a flat TIFF...) is excluded with its reason and the run
goes on. Each finished slide leaves ``tiles/<slide_id>/_tiles.parquet`` keyed on the slide
file (size, mtime) and the tiling options, so a re-run skips it (resumable per slide).
Slide file names may carry patient data: a slide is known everywhere (tile folders and
paths, ``tiles.parquet``, the ledger, log lines) by its ``slide_id``, a keyed pseudonym
(:mod:`hepatokit.pseudonyms`) of the hash of its file name that earlier versions used as
the id (so published slide pseudonyms and tile ids are those published before); file
names and absolute paths are only in ``BUILD/private/slides.parquet`` and
``BUILD/private/slide_pseudonyms.parquet``.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from hepatokit.atomic import write_bytes_atomic, write_parquet_atomic
from hepatokit.contracts import start_build
from hepatokit.contracts.hepatobench import SLIDES, TILE_MARKER, TILES, TILES_DIR
from hepatokit.contracts.tables import write_table
from hepatokit.curation.patho.config import TilingConfig, stage_provenance
from hepatokit.curation.patho.wsi.slides import SlideError
from hepatokit.curation.patho.wsi.tiling import tile_slide
from hepatokit.errors import DataFormatError
from hepatokit.manifest import Manifest, ManifestRow, excluded, kept, stable_id
from hepatokit.parallel import ItemResult, map_items
from hepatokit.pseudonyms import build_key, record_slide_pseudonyms, slide_pseudonym
from hepatokit.recipe import stage_section

__all__ = [
    "SLIDE_EXTENSIONS",
    "SlideFile",
    "TileOutcome",
    "TileSummary",
    "tile_outcome",
    "tile_slides",
]

log = logging.getLogger("hepatokit.curation.patho.tile")
STAGE = "tile"
SLIDE_EXTENSIONS = (".svs", ".tif", ".tiff", ".ndpi", ".mrxs", ".scn", ".svslide", ".bif", ".vms")


@dataclass(frozen=True)
class TileSummary:
    """Counts of one tiling run."""

    slides: int
    tiled: int
    tiles: int
    excluded: dict[str, int]

    def __str__(self) -> str:
        ex = ", ".join(f"{k}={v}" for k, v in sorted(self.excluded.items())) or "none"
        return f"{self.slides} slides: {self.tiled} tiled into {self.tiles} tiles; excluded: {ex}"


@dataclass(frozen=True)
class _SlideJob:
    path: str
    slide_id: str  # the keyed pseudonym: folder, table, ledger
    tile_key: str  # what tile ids hash (the unkeyed id earlier versions had: ids unchanged)
    build: str
    annotation: str | None
    mpp: float | None
    force_mpp: bool
    config: TilingConfig
    key: str


def _job_key(
    path: Path, cfg: TilingConfig, mpp: float | None, annotation: str | None, force: bool
) -> str:
    st = path.stat()
    ann = Path(annotation).read_bytes() if annotation else b""
    blob = json.dumps(
        {"size": st.st_size, "mtime": st.st_mtime_ns, "cfg": asdict(cfg), "mpp": mpp,
         "ann": hashlib.sha256(ann).hexdigest(), **({"force_mpp": True} if force else {})},
        sort_keys=True,
    )  # fmt: skip
    return hashlib.sha256(blob.encode()).hexdigest()


def _tile_one(job: _SlideJob) -> dict[str, Any]:
    folder = Path(job.build) / TILES_DIR / job.slide_id
    done = folder / TILE_MARKER
    if done.is_file():
        meta = pq.read_schema(done).metadata or {}
        if meta.get(b"hepatokit.key") == job.key.encode():
            source = meta.get(b"hepatokit.mpp_source", b"").decode()
            return {"reason": None, "table": pq.read_table(done), "resumed": True,
                    "mpp_source": source}  # fmt: skip
    cfg = job.config
    try:
        tiling = tile_slide(
            job.path,
            target_magnification=cfg.target_magnification,
            patch_size=cfg.patch_size,
            mpp=job.mpp,
            force_mpp=job.force_mpp,
            tissue_threshold=cfg.tissue_threshold,
            annotations=job.annotation,
            config=cfg,
        )
    except SlideError as exc:
        return {"reason": exc.reason, "detail": str(exc).replace("\n", " ")}
    with tiling:
        source = tiling.reader.info.mpp_source
        paths, ids, labels = [], [], []
        aliases = {k.lower(): v for k, v in cfg.class_aliases.items()}
        for (x, y, arr), region in zip(
            tiling.iter_tiles(), tiling.table.column("region").to_pylist(), strict=True
        ):
            rel = f"tiles/{job.slide_id}/{x}_{y}.png"
            buf = io.BytesIO()
            Image.fromarray(arr, "RGB").save(buf, "PNG", compress_level=6)
            write_bytes_atomic(Path(job.build) / rel, buf.getvalue())
            paths.append(rel)
            ids.append(stable_id("tile", job.tile_key, str(x), str(y)))
            labels.append(aliases.get((region or "").lower()))
        t = tiling.table
        n = len(t)
        table = pa.table(
            {
                "id": pa.array(ids, pa.string()),
                "slide_id": pa.array([job.slide_id] * n, pa.string()),
                "path": pa.array(paths, pa.string()),
                **{c: t.column(c) for c in t.column_names},
                "label": pa.array(labels, pa.string()),
            }
        )
        table = table.replace_schema_metadata(
            {b"hepatokit.key": job.key.encode(), b"hepatokit.mpp_source": source.encode()}
        )
    write_parquet_atomic(done, table)
    return {"reason": None, "table": table, "resumed": False, "mpp_source": source}


def _find_slides(slides: Path) -> tuple[Path, list[Path]]:
    if not slides.exists():
        raise DataFormatError("slide folder does not exist", path=slides)
    if slides.is_file():
        return slides.parent, [slides]
    found = sorted(
        p for p in slides.rglob("*") if p.is_file() and p.suffix.lower() in SLIDE_EXTENSIONS
    )
    if not found:
        raise DataFormatError(
            "no slide files found", path=slides,
            hint=f"slides are files ending in {', '.join(SLIDE_EXTENSIONS)}",
        )  # fmt: skip
    return slides, found


def _annotation_for(slide: Path, folders: list[Path]) -> str | None:
    for folder in folders:
        for ext in (".geojson", ".json"):
            cand = folder / f"{slide.stem}{ext}"
            if cand.is_file():
                return str(cand)
    return None


def _without_name(detail: str | None, names: tuple[str, ...], shown: str) -> str | None:
    """An error detail without the slide's file name (reader errors quote the path)."""
    if not detail:
        return detail
    for name in sorted(set(names), key=len, reverse=True):
        if name:
            detail = detail.replace(name, shown)
    return detail


@dataclass(frozen=True)
class SlideFile:
    """What the ledger says of a slide file: its path relative to the slide folder, absolute
    path, size in bytes, and the forms of its name an error detail may quote."""

    rel: str
    absolute: str
    size: int
    names: tuple[str, ...]


@dataclass
class TileOutcome:
    """The ledger rows, tile tables, private slide rows and exclusions of one run."""

    rows: list[ManifestRow] = field(default_factory=list)
    tables: list[pa.Table] = field(default_factory=list)
    private: list[dict[str, str]] = field(default_factory=list)
    reasons: Counter[str] = field(default_factory=Counter)


def tile_slides(
    *,
    slides: str | os.PathLike[str],
    out: str | os.PathLike[str],
    tiling: TilingConfig | None = None,
    recipe: str | os.PathLike[str] | None = None,
    annotations: str | os.PathLike[str] | None = None,
    mpp: float | None = None,
    force_mpp: bool = False,
    workers: int | None = None,
    executor: Executor | None = None,
    key_file: str | os.PathLike[str] | None = None,
) -> TileSummary:
    """Tile every slide under ``slides`` into ``out`` (see the module docstring).

    Parameters
    ----------
    slides
        A slide file or a folder searched recursively.
    tiling
        The recipe's ``tiling`` section; read from ``recipe`` when not given (default
        ``BUILD/recipe.yaml``, else the packaged hepatobench).
    annotations
        Folder of GeoJSON files named like the slides (``<stem>.geojson``); default: the
        slide's own folder and a sibling ``annotations/`` folder.
    mpp
        Level-0 µm/px for slides without resolution metadata (neither mpp nor objective
        power); a slide with its own resolution keeps it, so a folder mixing 20× and 40×
        slides with one slide lacking metadata tiles each at its own scale.
    force_mpp
        Apply ``mpp`` to every slide, overriding its metadata; each overridden slide is
        logged and its manifest row says so.
    key_file
        File holding the pseudonym key of the slide ids (else ``$HEPATOKIT_DEID_KEY``, else
        the build's own key: :func:`hepatokit.pseudonyms.build_key`).
    """
    if force_mpp and mpp is None:
        raise DataFormatError(
            "force_mpp needs an mpp to force", hint="pass --mpp VALUE together with --force-mpp"
        )
    build = Path(out)
    build.mkdir(parents=True, exist_ok=True)
    rec_path = None if recipe is None else os.fspath(recipe)
    cfg = stage_section(build, tiling, rec_path, default="hepatobench",
                        pick=lambda rec: rec.section("tiling", TilingConfig))  # fmt: skip
    root, files = _find_slides(Path(slides))
    ann_dirs = [Path(annotations)] if annotations else [root, root.parent / "annotations"]
    secret = build_key(build, key_file)
    jobs, originals = [], {}
    for f in files:
        ann = _annotation_for(f, [*ann_dirs, f.parent])
        unkeyed = stable_id("slide", f.name)
        sid = slide_pseudonym(unkeyed, secret)
        originals[f.relative_to(root).as_posix()] = sid
        key = _job_key(f, cfg, mpp, ann, force_mpp)
        jobs.append(_SlideJob(str(f), sid, unkeyed, str(build), ann, mpp, force_mpp, cfg, key))
    record_slide_pseudonyms(build, STAGE, originals)  # before any file is named by them
    results = map_items(_tile_one, jobs, workers=workers, executor=executor, chunksize=1,
                        description="tile")  # fmt: skip
    facts = [_slide_file(f, root) for f in files]
    outcome = tile_outcome(facts, [j.slide_id for j in jobs], results, mpp)
    table = pa.concat_tables(outcome.tables) if outcome.tables else None
    if table is not None:
        write_table(build, TILES, table)
    write_parquet_atomic(build / SLIDES, pa.Table.from_pylist(outcome.private))
    start_build(build, "hepatobench")
    info = stage_provenance(build, stage=STAGE, extra={"tiling": asdict(cfg), "mpp_fill_in": mpp,
                                                       "force_mpp": force_mpp})  # fmt: skip
    Manifest(build).record(STAGE, outcome.rows, introduces=True, provenance_info=info)
    n_tiles = 0 if table is None else len(table)
    return TileSummary(len(files), len(outcome.tables), n_tiles, dict(outcome.reasons))


def _slide_file(f: Path, root: Path) -> SlideFile:
    rel = f.relative_to(root).as_posix()
    absolute = str(f.resolve())
    return SlideFile(rel, absolute, f.stat().st_size, (str(f), absolute, rel, f.name, f.stem))


def tile_outcome(
    slides: list[SlideFile],
    slide_ids: list[str],
    results: Sequence[ItemResult[Any, dict[str, Any]]],
    mpp: float | None,
) -> TileOutcome:
    """The ledger of a tiling run (pure): each slide kept with its tiles, or excluded with
    its reason (the detail without the file name, which may name a patient)."""
    out = TileOutcome()
    for f, sid, res in zip(slides, slide_ids, results, strict=True):
        out.private.append({"slide_id": sid, "file": f.rel, "absolute_path": f.absolute})
        r: dict[str, Any] = (
            res.value if res.ok and res.value else {"reason": "corrupt", "detail": res.error}
        )
        shown = f"slides/{sid}"  # the file name may name a patient: private only
        if r["reason"] is not None:
            out.reasons[r["reason"]] += 1
            detail = _without_name(r.get("detail"), f.names, shown)
            log.warning("slide %s excluded (%s): %s", sid, r["reason"], detail)
            out.rows.append(
                excluded(sid, kind="slide", stage=STAGE, reason=r["reason"], source=shown,
                         size=f.size, detail=detail)
            )  # fmt: skip
            continue
        t: pa.Table = r["table"].replace_schema_metadata(None)
        out.tables.append(t)
        source = r.get("mpp_source") or ""
        detail = f"{len(t)} tiles"
        if source in ("user", "user-forced"):
            why = "forced over its metadata" if source == "user-forced" else "no usable metadata"
            detail += f"; level-0 mpp {mpp} from the user ({why})"
            log.info("slide %s: level-0 mpp %s from the user (%s)", sid, mpp, why)
        out.rows.append(kept(sid, kind="slide", stage=STAGE, source=shown, size=f.size,
                             detail=detail))  # fmt: skip
        for tid, path in zip(t.column("id").to_pylist(), t.column("path").to_pylist(), strict=True):
            out.rows.append(kept(tid, kind="tile", stage=STAGE, source=path, detail=sid))
    return out
