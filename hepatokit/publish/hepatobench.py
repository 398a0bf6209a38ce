"""HepatoBench: the curated ``curated.parquet`` + patch files → rows of the published dataset.

One row per patch; the ``image`` cell holds the patch's pixels without any metadata
(:func:`hepatokit.imagemeta.scrub_image`: PNG, TIFF & co. re-encoded as PNG from the pixels,
JPEG rebuilt from the segments a decoder needs, so the pixels are identical), named
``<id>.<ext>`` so that no raw file name (which may carry a patient or slide name) reaches
the dataset; ``md5`` is that of the published bytes. ``slide_id`` is the keyed pseudonym
ingest / tile stored (:mod:`hepatokit.pseudonyms`; its original is only in
``BUILD/private/slide_pseudonyms.parquet``), published as it is; a build whose tables still
hold original slide ids (made before they were keyed at ingest) has them keyed here, with
the same function and key, and the map completed. The shard writer checks each file's size (and
MD5, ``verify_md5``) against the curated table before scrubbing it.
"""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hepatokit.contracts import read_table
from hepatokit.contracts.common import RAW_ROOT
from hepatokit.contracts.hepatobench import CURATED
from hepatokit.contracts.items import raw_patch_paths
from hepatokit.errors import BuildStateError, DataFormatError
from hepatokit.imagemeta import published_format
from hepatokit.pseudonyms import PublicSlideIds
from hepatokit.publish.cells import DigestOf, EmbeddedFile
from hepatokit.publish.features import hepatobench_features
from hepatokit.publish.plan import DatasetPlan, is_test_split
from hepatokit.publish.sections import PublishSection
from hepatokit.publish.splits_table import read_split_assignment
from hepatokit.recipe import Recipe

__all__ = ["collect_hepatobench", "resolve_raw_root"]

log = logging.getLogger("hepatokit.publish.hepatobench")

CONFIG = "default"


def resolve_raw_root(build: Path, raw_root: str | Path | None) -> Path | None:
    """The raw patch root: ``raw_root`` if given, else ``BUILD/private/raw_root.json``."""
    if raw_root is not None:
        return Path(raw_root)
    record = build / RAW_ROOT
    if record.is_file():
        try:
            return Path(json.loads(record.read_text(encoding="utf-8"))["raw_root"])
        except (ValueError, KeyError) as exc:
            raise DataFormatError(f"unreadable raw root record: {exc}", path=record) from exc
    return None


def _locate(rel: str, bases: Sequence[str]) -> tuple[str, int] | None:
    """A patch file and its size: relative to the first of ``bases`` that has it (the raw
    root for ingested patches, BUILD for tiles). Plain strings: called once per patch."""
    for base in bases:
        path = os.path.join(base, rel)  # noqa: PTH118 (hot loop)
        try:
            return path, os.stat(path).st_size  # noqa: PTH116 (hot loop)
        except OSError:
            continue
    return None


def _format(row: dict[str, Any]) -> str:
    """The patch's PIL format (from ingest; else from the file name's suffix)."""
    if row.get("format"):
        return str(row["format"]).upper()
    suffix = Path(str(row["path"])).suffix.lower()
    return "JPEG" if suffix in (".jpg", ".jpeg", ".jpe", ".jfif") else "PNG"


@dataclass(frozen=True)
class _Context:
    """What every patch's row is made with."""

    curated: Path  # the curated table (named in errors)
    classes: list[str]
    bases: list[str]  # where patch files are looked for, in order
    sources: dict[str, str]  # patch id → its raw path (private; the tables hold neutral names)
    tiled: bool
    slides: PublicSlideIds  # the build's slide id → the published one (the same when keyed)
    withhold_test_labels: bool


@dataclass
class _Rows:
    """The rows collected so far (one entry per patch with a split)."""

    per_split: dict[str, list[dict[str, Any]]]
    records: list[dict[str, Any]] = field(default_factory=list)
    truth: list[dict[str, Any]] = field(default_factory=list)
    sizes: Counter[tuple[int, int]] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)


def collect_hepatobench(
    build: Path,
    recipe: Recipe,
    section: PublishSection,
    *,
    withhold_test_labels: bool,
    raw_root: str | Path | None = None,
    verify_md5: bool = False,
) -> DatasetPlan:
    """Read ``BUILD/curated.parquet`` + ``splits.parquet`` into a :class:`DatasetPlan`.

    Raises
    ------
    BuildStateError
        ``curated.parquet`` or ``splits.parquet`` missing or disagreeing.
    DataFormatError
        A class outside the recipe's classes, a patch file that cannot be found or whose
        size or MD5 (checked while the shards are written, as every patch is read whole to
        be scrubbed; ``verify_md5`` is kept for the call's signature) differs from the
        curated table's.
    """
    path = build / CURATED
    if not path.is_file():
        raise BuildStateError(
            f"no {CURATED} in the build",
            path=build,
            hint="run `hepatokit patho dedup` (the last curation stage) before publishing",
        )
    curated = read_table(build, CURATED).to_pylist()
    classes = list(recipe.classes)
    if not classes:
        raise DataFormatError("the recipe lists no classes", path=recipe.source)
    root = resolve_raw_root(build, raw_root)
    split_of = read_split_assignment(build, [r["id"] for r in curated], allowed=section.splits)
    tiled = any(r.get("x") is not None for r in curated)
    features = hepatobench_features(classes, tiled=tiled)
    ctx = _Context(
        curated=path,
        classes=classes,
        bases=[str(b) for b in (root, build) if b is not None],
        sources=raw_patch_paths(build),
        tiled=tiled,
        slides=PublicSlideIds(build),
        withhold_test_labels=withhold_test_labels,
    )
    rows = _Rows(per_split={s: [] for s in section.splits})
    for row in sorted(curated, key=lambda r: r["id"]):
        if row["id"] in split_of:  # else left out by the split stage
            _add_patch(rows, row, split_of[row["id"]], ctx)
    if rows.problems:
        raise DataFormatError(
            f"{len(rows.problems)} curated patch file(s) missing or changed (looked under the "
            f"raw root and the build); first: {rows.problems[0]}",
            path=build,
            hint="pass --raw-root (where the patches were ingested from) or re-run ingest",
        )
    ctx.slides.save()  # only when original ids were keyed here
    return DatasetPlan(
        name=recipe.name,
        configs={CONFIG: rows.per_split},
        features={CONFIG: features},
        embedded={CONFIG: ["image"]},
        records=rows.records,
        truth_header=("id", "split", "label"),
        truth=rows.truth,
        meta=_meta(rows, section, ctx),
    )


def _add_patch(rows: _Rows, row: dict[str, Any], split: str, ctx: _Context) -> None:
    """One patch's row and summary record (and, labels withheld, its truth row); a patch
    file missing or changed is added to ``rows.problems``."""
    # ingested patches carry ``class``; tiles their region's class as ``label`` (or none)
    cls = row.get("class") if row.get("class") is not None else row.get("label")
    if cls is not None and cls not in ctx.classes:
        raise DataFormatError(
            f"patch {row['id']}: class {cls!r} is not one of {', '.join(ctx.classes)}",
            path=ctx.curated,
            hint="fix the recipe's classes or the ingest labels",
        )
    location = _locate(ctx.sources.get(row["id"], str(row["path"])), ctx.bases)
    if location is None:
        rows.problems.append(f"{row['path']}: not found")
        return
    if row.get("bytes") is not None and int(row["bytes"]) != location[1]:
        rows.problems.append(f"{row['path']}: size differs from the curated table's (changed)")
        return
    label: int | None = None if cls is None else ctx.classes.index(cls)
    if ctx.withhold_test_labels and is_test_split(split) and cls is not None:
        rows.truth.append({"id": row["id"], "split": split, "label": cls})
        label = None
    fmt = _format(row)
    slide = row.get("slide_id")
    if slide is not None:
        slide = ctx.slides(str(slide))
    out = {
        "id": row["id"],
        "image": EmbeddedFile(
            location[0],
            f"{row['id']}.{published_format(fmt)}",
            md5=row.get("md5"),  # always: the file is read whole to be scrubbed
            nbytes=location[1],
            scrub_format=fmt,
        ),
        "label": label,
        "slide_id": slide,
        "width": row.get("width"),
        "height": row.get("height"),
        "md5": DigestOf("image"),
        "phash": row.get("phash"),
    }
    if ctx.tiled:
        out["x"], out["y"] = row.get("x"), row.get("y")
    rows.per_split.setdefault(split, []).append(out)
    if row.get("width") and row.get("height"):
        rows.sizes[(int(row["width"]), int(row["height"]))] += 1
    rows.records.append(
        {
            "split": split,
            "domain": "all",
            "class": cls if label is not None else None,
            "slide_id": slide,
        }
    )


def _meta(rows: _Rows, section: PublishSection, ctx: _Context) -> dict[str, Any]:
    """``dataset_meta.json``'s dataset part."""
    (w, h), _ = rows.sizes.most_common(1)[0] if rows.sizes else ((0, 0), 0)
    return {
        "classes": ctx.classes,
        "patch_size_px": section.patch_size_px or max(w, h),
        "patch_sizes": {f"{a}x{b}": n for (a, b), n in sorted(rows.sizes.items())},
        "magnification": section.magnification,
        "tiled": ctx.tiled,
        "slides": len({r["slide_id"] for r in rows.records}),
        "labels_withheld": bool(ctx.withhold_test_labels),
    }
